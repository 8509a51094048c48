#include "master/ha_replication.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "common/net_util.h"
#include "master/grpc_service.h"
#include "master/state_image.h"
#include "rpc/framed_rpc_client.h"
#include "rpc/grpc_auth.h"

namespace mooncake {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kFollowerPause = std::chrono::milliseconds(200);
constexpr auto kLongPoll = std::chrono::milliseconds(1000);
// Generous: an image of millions of objects takes a while to send.
constexpr auto kFetchDeadline = std::chrono::seconds(30);
constexpr int kFailuresBeforeNewChannel = 5;

// Serves one standby's stream connection.
class StreamHandler final : public FramedRpcServer::FrameHandler {
   public:
    explicit StreamHandler(ImageSource& source) : source_(source) {}

    bool Handle(std::string_view payload, std::string* response_frame) override {
        ha::rpc::FetchStateRequest request;
        if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
            return false;
        }
        // Not the leader: closing makes the standby look again.
        ha::rpc::StateImage image;
        if (!source_.ServeFetch(request, &image)) return false;
        if (!framed_rpc::EncodeFrame(image, kReplicationProtocol.max_response_frame_bytes,
                                     response_frame)) {
            // An image too large for a frame: the standby falls back to gRPC.
            LOG_EVERY_T(WARNING, 10.0) << "HA: a reply of version " << image.version()
                                       << " does not fit in a stream frame; using gRPC";
            return false;
        }
        return true;
    }

   private:
    ImageSource& source_;
};

int64_t WallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// ---- leader ------------------------------------------------------------------------

ImageSource::ImageSource(MasterService& service, std::function<bool()> serving,
                         std::function<int64_t()> epoch, SyncMarker marker,
                         std::chrono::milliseconds ack_timeout)
    : service_(service),
      log_(service.EnableChangeLog()),
      serving_(std::move(serving)),
      epoch_(std::move(epoch)),
      marker_(std::move(marker)),
      ack_timeout_(ack_timeout) {}

ImageSource::~ImageSource() { Stop(); }

void ImageSource::Start() {
    flusher_ = std::thread([this] { RunFlusher(); });
}

void ImageSource::RequireClusterKey(auth::ClusterKeyPtr key) {
    cluster_key_ = key;
    if (key) verifier_ = std::make_unique<auth::GrpcTokenVerifier>(std::move(key));
}

std::expected<void, std::string> ImageSource::StartStream(const std::string& address,
                                                          std::chrono::microseconds spin) {
    FramedRpcServer::Options options;
    options.address = address;
    options.request_spin = spin;
    options.port = 0;
    // Standbys: a handful. The caps bound what a stranger can hold.
    options.max_connections = 64;
    options.max_buffered_bytes = 4u << 20;
    options.protocol = kReplicationProtocol;
    options.cluster_key = cluster_key_;
    stream_ = std::make_unique<FramedRpcServer>(
        [this](const std::string&) -> std::unique_ptr<FramedRpcServer::FrameHandler> {
            return std::make_unique<StreamHandler>(*this);
        },
        std::move(options));
    if (auto started = stream_->Start(); !started) {
        stream_.reset();
        return started;
    }
    stream_port_.store(stream_->port());
    return {};
}

void ImageSource::Stop() {
    {
        MutexLock lock(mutex_);
        stop_ = true;
    }
    changed_.NotifyAll();
    // Parked fetches see stop_ and answer, so its threads join.
    if (stream_) stream_->Stop();
    if (flusher_.joinable()) flusher_.join();
}

void ImageSource::RunFlusher() {
    MutexLock lock(mutex_);
    while (!stop_) {
        changed_.WaitFor(lock, kFlushPeriod);
        if (stop_) return;
        lock.Unlock();
        if (log_.HasNotes()) Flush();
        ReleaseFrees();
        lock.Lock();
    }
}

void ImageSource::Flush() {
    {
        MutexLock lock(mutex_);
        pending_ = false;
    }
    service_.FlushChanges();
    changed_.NotifyAll();
}

bool ImageSource::Counted(const Follower& follower, SteadyClock::time_point now) const {
    return follower.counted && now - follower.seen < kFollowerGrace;
}

bool ImageSource::DropFollower(const std::string& name, Follower& follower, uint64_t version) {
    // Held under mutex_: rare, and nothing it misses may be relied on
    // (space reused, a change answered) before the mark is durable.
    if (marker_ && !marker_(name, false)) {
        LOG_EVERY_T(ERROR, 5.0) << "HA: follower " << name << " misses change " << version
                                << " and cannot be marked out of sync; still waiting";
        return false;
    }
    follower.in_sync = false;
    follower.counted = false;
    LOG(WARNING) << "HA: follower " << name << " is behind (holds " << follower.acked << " of "
                 << version << "); marked out of sync until it catches up";
    return true;
}

bool ImageSource::Behind(const Follower& follower, uint64_t version, uint64_t target) const {
    return follower.written < target ||
           version - std::min(version, follower.acked) > kMaxLagRecords ||
           log_.MembershipPending(follower.acked);
}

void ImageSource::Changed(bool durable) {
    uint64_t target = 0;
    if (durable) {
        // Records now: the version after this flush covers the caller's
        // notes (a flush running meanwhile drained them, or this one does).
        Flush();
        target = log_.version();
    }
    // A start (not durable) does not wake the followers: its records ride
    // with the next durable change's, or the flusher's tick, so that a put
    // costs one follower round trip, not two.
    MutexLock lock(mutex_);
    auto deadline = SteadyClock::now() + ack_timeout_;
    while (true) {
        const auto now = SteadyClock::now();
        const uint64_t version = log_.version();
        bool waiting = false;
        for (auto& [name, follower] : followers_) {
            if (!follower.in_sync || !Counted(follower, now) ||
                !Behind(follower, version, target)) {
                continue;
            }
            if (now >= deadline && DropFollower(name, follower, version)) continue;
            waiting = true;
        }
        if (!waiting || stop_) return;
        if (now >= deadline) deadline = now + ack_timeout_;
        // Short waits: the flusher, not a follower, may be what is due.
        changed_.WaitUntil(lock, std::min(deadline, now + kFlushPeriod));
    }
}

void ImageSource::ReleaseFrees() {
    uint64_t target;
    {
        MutexLock lock(mutex_);
        target = log_.version();
        const auto now = SteadyClock::now();
        for (auto& [name, follower] : followers_) {
            if (!follower.counted || follower.acked >= target) continue;
            // Not seen for a while: its copy must not be trusted before the
            // space it still names is reused.
            if (!Counted(follower, now) && DropFollower(name, follower, target)) continue;
            target = std::min(target, follower.acked);
        }
        if (target <= released_upto_) return;
        released_upto_ = target;
    }
    service_.ReleaseHeldFrees(target);
}

bool ImageSource::FillDelta(uint64_t have, ha::rpc::StateImage* image) {
    std::vector<ChangeRecord> records;
    uint64_t upto = have;
    if (!log_.Since(have, kMaxRecordsPerFetch, &records, &upto)) return false;
    image->set_version(upto);
    if (records.empty()) {
        image->set_unchanged(true);
        return true;
    }
    image->set_delta(true);
    image->mutable_records()->Reserve(static_cast<int>(records.size()));
    for (const ChangeRecord& record : records) RecordToProto(record, image->add_records());
    return true;
}

ha::rpc::StateImage ImageSource::Fetch(const std::string& name, int64_t epoch,
                                       uint64_t have_version, std::chrono::milliseconds wait,
                                       bool full, std::optional<uint64_t> synced_version) {
    const int64_t my_epoch = epoch_();
    // Versions count per leader: another epoch's number means nothing here.
    const bool same_epoch = epoch == my_epoch && have_version <= log_.version();
    const uint64_t have = same_epoch ? have_version : 0;
    bool need_image = !same_epoch;
    {
        MutexLock lock(mutex_);
        Follower& follower = followers_[name];
        follower.seen = SteadyClock::now();
        // Space named by records it lacks may have been reused already:
        // it starts over from an image.
        if (same_epoch && have < released_upto_) need_image = true;
        if (need_image) {
            // Holds back the frees from here until it acknowledges the image.
            follower.acked = released_upto_;
            follower.written = 0;
            follower.counted = true;
        } else {
            const uint64_t synced = std::min(have, synced_version.value_or(have));
            follower.acked = std::max(follower.acked, synced);
            follower.written = std::max(follower.written, have);
            follower.counted = true;
        }
        if (!follower.in_sync && !need_image &&
            log_.version() - std::min(log_.version(), follower.acked) <= kMaxLagRecords &&
            (!marker_ || marker_(name, true))) {
            follower.in_sync = true;
            LOG(INFO) << "HA: follower " << name << " caught up (version " << follower.acked << ")";
        }
        changed_.NotifyAll();  // changes waiting for this ack
        if (!need_image) {
            const auto deadline = SteadyClock::now() + wait;
            while (!stop_ && !pending_ && log_.version() <= have &&
                   changed_.WaitUntil(lock, deadline)) {
            }
        }
        followers_[name].seen = SteadyClock::now();
    }
    ReleaseFrees();
    ha::rpc::StateImage image;
    image.set_epoch(my_epoch);
    image.set_taken_at_ms(WallMs());
    if (!need_image) {
        Flush();
        if (!full && FillDelta(have, &image)) return image;
        if (full && log_.version() == have) {
            image.set_version(have);
            image.set_unchanged(true);
            return image;
        }
    }
    uint64_t version = 0;
    ImageToProto(service_.ExportState(&version), &image);
    image.set_version(version);
    if (need_image && !full && !synced_version) {
        // A standby that misses this image keeps a copy that is refused at
        // promotion anyway (another epoch, or marked out of sync), so the
        // frees need not wait for its next fetch. Snapshot files (which
        // report what is synced) do not count until written.
        MutexLock lock(mutex_);
        Follower& follower = followers_[name];
        if (follower.counted) {
            follower.acked = std::max(follower.acked, version);
            follower.written = std::max(follower.written, version);
        }
    }
    return image;
}

bool ImageSource::ServeFetch(const ha::rpc::FetchStateRequest& request,
                             ha::rpc::StateImage* image) {
    if (!serving_()) return false;
    const auto wait = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(request.wait_ms()), std::chrono::seconds(5));
    const std::string name =
        request.standby_address().empty() ? "standby" : request.standby_address();
    *image = Fetch(name, request.epoch(), request.have_version(), wait, request.full());
    image->set_stream_port(stream_port_.load());
    // Fenced while waiting: the reply may be older than the successor's.
    return serving_();
}

grpc::Status ImageSource::FetchState(grpc::ServerContext* context,
                                     const ha::rpc::FetchStateRequest* request,
                                     ha::rpc::StateImage* image) {
    if (grpc::Status allowed = CheckGrpcToken(verifier_.get(), context); !allowed.ok()) {
        return allowed;
    }
    if (!ServeFetch(*request, image)) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this master is not the leader");
    }
    return grpc::Status::OK;
}

ReplicationStats ImageSource::Stats() const {
    MutexLock lock(mutex_);
    ReplicationStats stats;
    stats.version = log_.version();
    const auto now = SteadyClock::now();
    for (const auto& [name, follower] : followers_) {
        if (now - follower.seen >= kFollowerGrace) continue;
        if (follower.counted && follower.in_sync) ++stats.followers;
        stats.lag_versions =
            std::max(stats.lag_versions, stats.version - std::min(stats.version, follower.acked));
    }
    return stats;
}

// ---- standby -----------------------------------------------------------------------

ImageFollower::ImageFollower(std::function<std::string()> leader_address, std::string self_address,
                             auth::ClusterKeyPtr key)
    : leader_address_(std::move(leader_address)),
      self_address_(std::move(self_address)),
      key_(std::move(key)) {}

ImageFollower::~ImageFollower() { Stop(); }

void ImageFollower::Start() {
    thread_ = std::thread([this] { Run(); });
}

void ImageFollower::Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

std::optional<ha::rpc::StateImage> ImageFollower::Latest() const {
    MutexLock lock(mutex_);
    if (!holds_) return std::nullopt;
    ha::rpc::StateImage image;
    ImageToProto(shadow_.ToImage(), &image);
    image.set_version(version_);
    image.set_epoch(epoch_);
    return image;
}

ReplicationStats ImageFollower::Stats() const {
    MutexLock lock(mutex_);
    ReplicationStats stats;
    stats.images_received = received_;
    stats.image_age_seconds = -1;
    if (holds_) {
        stats.version = version_;
        stats.image_age_seconds =
            std::chrono::duration<double>(SteadyClock::now() - received_at_).count();
    }
    return stats;
}

ha::rpc::FetchStateRequest ImageFollower::NextRequestLocked() const {
    ha::rpc::FetchStateRequest request;
    if (holds_) {
        request.set_have_version(version_);
        request.set_epoch(epoch_);
    }
    request.set_wait_ms(static_cast<uint32_t>(kLongPoll.count()));
    request.set_standby_address(self_address_);
    return request;
}

bool ImageFollower::Apply(ha::rpc::StateImage& reply, const Acknowledge& acknowledge) {
    MutexLock lock(mutex_);
    received_at_ = SteadyClock::now();
    if (reply.unchanged() && holds_) {
        if (acknowledge) acknowledge(NextRequestLocked());
        return true;
    }
    if (reply.delta()) {
        // Records apply only over what this follower holds.
        if (!holds_ || reply.epoch() != epoch_) return false;
        version_ = reply.version();
        // Acknowledged on receipt: the lock keeps Latest() (a promotion)
        // from seeing the version before its records are applied.
        if (acknowledge) acknowledge(NextRequestLocked());
        for (const ha::rpc::LogRecord& proto : reply.records()) {
            auto record = RecordFromProto(proto);
            if (!record) {
                LOG(ERROR) << "HA: unreadable change record; fetching an image";
                holds_ = false;
                return false;
            }
            shadow_.Apply(*record);
        }
        return true;
    }
    if (!holds_ || epoch_ != reply.epoch()) {
        LOG(INFO) << "HA: following the leader of epoch " << reply.epoch() << " ("
                  << reply.objects_size() << " objects)";
    }
    shadow_.Reset(ImageFromProto(reply));
    version_ = reply.version();
    epoch_ = reply.epoch();
    holds_ = true;
    ++received_;
    return true;
}

namespace {

// A connection to the leader's replication stream, or nullptr.
std::unique_ptr<FramedRpcConnection> OpenStream(const std::string& leader, uint16_t port,
                                                const auth::ClusterKey* key) {
    auto host = ParseHostPort(leader);
    if (!host) return nullptr;
    auto addresses = ResolveFramedRpcHost(host->host);
    if (!addresses) return nullptr;
    auto connection = FramedRpcConnection::Open(
        *addresses, port, SteadyClock::now() + std::chrono::seconds(2), kReplicationProtocol, key);
    if (!connection) {
        LOG_EVERY_T(WARNING, 10.0) << "HA: cannot open the replication stream of " << leader
                                   << " (port " << port << "); fetching over gRPC";
        return nullptr;
    }
    return std::move(*connection);
}

// A standby's way to the leader: a gRPC channel, and the framed stream the
// leader's last gRPC reply offered (the fast path).
class LeaderChannel {
   public:
    explicit LeaderChannel(const auth::ClusterKey* key) : key_(key) {}

    // Points the channel at `leader`: a new gRPC channel when the leader
    // changed or failed too often, so a restarted leader on the same address
    // is seen at once, not after gRPC's reconnect back-off.
    void Follow(const std::string& leader) {
        if (leader == leader_ && failures_ < kFailuresBeforeNewChannel) return;
        grpc::ChannelArguments arguments;
        arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
        arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
        arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        arguments.SetMaxReceiveMessageSize(-1);
        stub_ = ha::rpc::HaReplication::NewStub(
            grpc::CreateCustomChannel(leader, grpc::InsecureChannelCredentials(), arguments));
        leader_ = leader;
        failures_ = 0;
        CloseStream();
        stream_port_ = 0;
    }

    void CloseStream() {
        stream_.reset();
        fetch_sent_ = false;
    }

    // One reply to `request`, on the stream when there is one, else over
    // gRPC; false (counted as a failure) when neither answered. `on_stream`
    // says where it came from.
    bool Fetch(const ha::rpc::FetchStateRequest& request, ha::rpc::StateImage* reply,
               bool* on_stream) {
        *on_stream = FetchOnStream(request, reply);
        if (*on_stream || FetchOverGrpc(request, reply)) {
            failures_ = 0;
            return true;
        }
        ++failures_;
        return false;
    }

    // Sends the next fetch on the stream now: it acknowledges the reply just
    // received before that reply's records are applied.
    void SendNextOnStream(const ha::rpc::FetchStateRequest& next) {
        fetch_sent_ =
            stream_->SendDeferred(next, Parser(), SteadyClock::now() + kFetchDeadline).has_value();
    }

   private:
    // A stream reply, parsed when it is read.
    FramedRpcConnection::DeferredReply Parser() {
        return [this](Status status, std::string_view payload) {
            streamed_.Clear();
            streamed_ok_ =
                status.has_value() &&
                streamed_.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
        };
    }

    bool FetchOnStream(const ha::rpc::FetchStateRequest& request, ha::rpc::StateImage* reply) {
        if (!stream_ && stream_port_ != 0) {
            stream_ = OpenStream(leader_, stream_port_, key_);
            if (!stream_) stream_port_ = 0;  // learnt again from the next gRPC reply
        }
        if (!stream_) return false;
        const auto deadline = SteadyClock::now() + kFetchDeadline;
        const bool sent =
            fetch_sent_ || stream_->SendDeferred(request, Parser(), deadline).has_value();
        fetch_sent_ = false;
        streamed_ok_ = false;
        if (sent && stream_->Drain(deadline).has_value() && streamed_ok_) {
            reply->Swap(&streamed_);
            return true;
        }
        // The leader closed it (not leading any more, or stopped): gRPC
        // tells which.
        stream_.reset();
        stream_port_ = 0;
        return false;
    }

    bool FetchOverGrpc(const ha::rpc::FetchStateRequest& request, ha::rpc::StateImage* reply) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + kFetchDeadline);
        const std::string token = auth::AttachGrpcToken(key_, &context);
        const grpc::Status status = stub_->FetchState(&context, request, reply);
        // The leader's proof: a stranger on its address cannot feed this
        // standby a made-up state.
        if (!status.ok() || !auth::ServerProvedKey(key_, context, token)) {
            LOG_EVERY_T(WARNING, 10.0)
                << "HA: fetch from " << leader_ << " failed: "
                << (status.ok() ? "the leader did not prove the cluster secret"
                                : status.error_message());
            return false;
        }
        stream_port_ = static_cast<uint16_t>(reply->stream_port());
        return true;
    }

    const auth::ClusterKey* const key_;
    // Declared before `stream_`, whose destruction may still call back.
    ha::rpc::StateImage streamed_;
    bool streamed_ok_ = false;
    std::string leader_;
    std::unique_ptr<ha::rpc::HaReplication::Stub> stub_;
    std::unique_ptr<FramedRpcConnection> stream_;
    // The next fetch is on the stream already: sent, as the
    // acknowledgement, when the last reply arrived.
    bool fetch_sent_ = false;
    uint16_t stream_port_ = 0;  // the leader's, from its last gRPC reply
    int failures_ = 0;
};

}  // namespace

void ImageFollower::Run() {
    LeaderChannel channel(key_.get());
    const Acknowledge acknowledge_on_stream = [&](const ha::rpc::FetchStateRequest& next) {
        channel.SendNextOnStream(next);
    };
    while (!stop_.load()) {
        const std::string leader = leader_address_();
        if (leader.empty() || leader == self_address_) {
            channel.CloseStream();
            std::this_thread::sleep_for(kFollowerPause);
            continue;
        }
        channel.Follow(leader);
        ha::rpc::FetchStateRequest request;
        {
            MutexLock lock(mutex_);
            request = NextRequestLocked();
        }
        ha::rpc::StateImage reply;
        bool on_stream = false;
        if (!channel.Fetch(request, &reply, &on_stream)) {
            std::this_thread::sleep_for(kFollowerPause);
            continue;
        }
        // On the stream the next fetch, which acknowledges this reply, goes
        // out before the records are applied: the leader's durable changes
        // wait for the acknowledgement only.
        if (!Apply(reply, on_stream ? acknowledge_on_stream : Acknowledge())) {
            MutexLock lock(mutex_);
            holds_ = false;
        }
    }
}

// ---- snapshots ---------------------------------------------------------------------

SnapshotWriter::SnapshotWriter(ImageSource& source, std::string directory,
                               std::chrono::seconds interval, int retention)
    : source_(source),
      directory_(std::move(directory)),
      interval_(interval),
      retention_(retention) {}

SnapshotWriter::~SnapshotWriter() { Stop(); }

void SnapshotWriter::Start() {
    thread_ = std::thread([this] { Run(); });
}

void SnapshotWriter::Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

void SnapshotWriter::Run() {
    uint64_t have = 0;        // written to the log
    uint64_t synced = 0;      // synced to disk
    int64_t have_epoch = -1;  // -1: next fetch is a full image
    std::optional<SnapshotLog> log;
    auto written_at = SteadyClock::now();
    auto synced_at = SteadyClock::now();
    while (!stop_.load()) {
        // A new image every interval, or when the log outgrew it; between
        // them, the changes are appended to the image's log.
        const bool due =
            !log || SteadyClock::now() - written_at >= interval_ || log->bytes() > kMaxLogBytes;
        const auto wait = log && log->dirty() ? SnapshotLog::kSyncPeriod : kLongPoll;
        ha::rpc::StateImage reply = source_.Fetch(kSnapshotFollower, due ? -1 : have_epoch, have,
                                                  wait, /*full=*/false, synced);
        std::expected<void, std::string> stored;
        if (reply.delta()) {
            stored = log->Append(reply);
        } else if (!reply.unchanged()) {
            stored = StartImage(reply, &log);
            if (stored) {
                written_at = SteadyClock::now();
                synced = reply.version();
            }
        }
        if (!stored) {
            LOG_EVERY_T(ERROR, 10.0) << "snapshot: " << stored.error();
            log.reset();  // start over from an image
            std::this_thread::sleep_for(kFollowerPause);
            continue;
        }
        if (!reply.unchanged()) {
            have = reply.version();
            have_epoch = reply.epoch();
        }
        if (log && log->dirty() && SteadyClock::now() - synced_at >= SnapshotLog::kSyncPeriod) {
            if (auto done = log->Sync(); !done) {
                LOG_EVERY_T(ERROR, 10.0) << "snapshot: " << done.error();
                continue;
            }
            synced = have;
            synced_at = SteadyClock::now();
        }
    }
    if (log && log->Sync()) VLOG(1) << "snapshot: log synced at version " << have;
}

std::expected<void, std::string> SnapshotWriter::StartImage(const ha::rpc::StateImage& image,
                                                            std::optional<SnapshotLog>* log) {
    auto path = WriteSnapshot(directory_, image, retention_);
    if (!path) return std::unexpected(path.error());
    auto created = SnapshotLog::Create(*path);
    if (!created) return std::unexpected(created.error());
    log->emplace(std::move(*created));
    VLOG(1) << "snapshot: image " << *path << " at version " << image.version() << ", "
            << image.objects_size() << " objects";
    return {};
}

}  // namespace mooncake
