#include "master/ha_replication.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "master/state_image.h"

namespace mooncake {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kFollowerPause = std::chrono::milliseconds(200);
constexpr auto kLongPoll = std::chrono::milliseconds(1000);
// Generous: an image of millions of objects takes a while to send.
constexpr auto kFetchDeadline = std::chrono::seconds(30);
constexpr int kFailuresBeforeNewChannel = 5;

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
      serving_(std::move(serving)),
      epoch_(std::move(epoch)),
      marker_(std::move(marker)),
      ack_timeout_(ack_timeout) {}

bool ImageSource::DropFollower(const std::string& name, Follower& follower, uint64_t version) {
    // Held under mutex_: rare, and no change may be answered before the
    // mark is durable.
    if (marker_ && !marker_(name, false)) {
        LOG_EVERY_T(ERROR, 5.0) << "HA: follower " << name << " misses change " << version
                                << " and cannot be marked out of sync; still waiting";
        return false;
    }
    follower.keeping_up = false;
    LOG(WARNING) << "HA: follower " << name << " did not confirm change " << version << " within "
                 << ack_timeout_.count() << " ms; marked out of sync until it catches up";
    return true;
}

bool ImageSource::MustWaitFor(const Follower& follower, uint64_t version,
                              SteadyClock::time_point now) const {
    return follower.keeping_up && follower.acked < version && now - follower.seen < kFollowerGrace;
}

void ImageSource::Changed() {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t version = ++version_;
    changed_.notify_all();
    auto deadline = SteadyClock::now() + ack_timeout_;
    while (true) {
        const auto now = SteadyClock::now();
        bool waiting = false;
        for (auto& [name, follower] : followers_) {
            if (!MustWaitFor(follower, version, now)) continue;
            if (now >= deadline && DropFollower(name, follower, version)) continue;
            waiting = true;
        }
        if (!waiting) return;
        if (SteadyClock::now() >= deadline) deadline = SteadyClock::now() + ack_timeout_;
        changed_.wait_until(lock, deadline);
    }
}

ha::rpc::StateImage ImageSource::Fetch(const std::string& name, int64_t epoch,
                                       uint64_t have_version, std::chrono::milliseconds wait) {
    const int64_t my_epoch = epoch_();
    // Versions count per leader: another epoch's number means nothing here.
    const bool same_epoch = epoch == my_epoch;
    const uint64_t have = same_epoch ? have_version : 0;
    uint64_t version;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        Follower& follower = followers_[name];
        follower.seen = SteadyClock::now();
        follower.acked = std::max(follower.acked, have);
        if (!follower.keeping_up && follower.acked >= version_ &&
            (!marker_ || marker_(name, true))) {
            follower.keeping_up = true;
            LOG(INFO) << "HA: follower " << name << " caught up (version " << version_ << ")";
        }
        changed_.notify_all();  // changes waiting for this ack
        if (same_epoch) {
            changed_.wait_for(lock, wait, [&] { return version_ > have; });
        }
        version = version_;
        followers_[name].seen = SteadyClock::now();
    }
    ha::rpc::StateImage image;
    image.set_version(version);
    image.set_epoch(my_epoch);
    image.set_taken_at_ms(WallMs());
    if (same_epoch && version == have) {
        image.set_unchanged(true);
        return image;
    }
    ImageToProto(service_.ExportState(), &image);
    return image;
}

grpc::Status ImageSource::FetchState(grpc::ServerContext*,
                                     const ha::rpc::FetchStateRequest* request,
                                     ha::rpc::StateImage* image) {
    if (!serving_()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this master is not the leader");
    }
    const auto wait = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(request->wait_ms()), std::chrono::seconds(5));
    const std::string name =
        request->standby_address().empty() ? "standby" : request->standby_address();
    *image = Fetch(name, request->epoch(), request->have_version(), wait);
    // Fenced while waiting: the image may be older than the successor's.
    if (!serving_()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this master is not the leader");
    }
    return grpc::Status::OK;
}

ReplicationStats ImageSource::Stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    ReplicationStats stats;
    stats.version = version_;
    const auto now = SteadyClock::now();
    for (const auto& [name, follower] : followers_) {
        if (now - follower.seen >= kFollowerGrace) continue;
        if (follower.keeping_up) ++stats.followers;
        stats.lag_versions =
            std::max(stats.lag_versions, version_ - std::min(version_, follower.acked));
    }
    return stats;
}

// ---- standby -----------------------------------------------------------------------

ImageFollower::ImageFollower(std::function<std::string()> leader_address, std::string self_address)
    : leader_address_(std::move(leader_address)), self_address_(std::move(self_address)) {}

ImageFollower::~ImageFollower() { Stop(); }

void ImageFollower::Start() {
    thread_ = std::thread([this] { Run(); });
}

void ImageFollower::Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

std::optional<ha::rpc::StateImage> ImageFollower::Latest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return latest_;
}

ReplicationStats ImageFollower::Stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    ReplicationStats stats;
    stats.images_received = received_;
    stats.image_age_seconds = -1;
    if (latest_) {
        stats.version = latest_->version();
        stats.image_age_seconds =
            std::chrono::duration<double>(SteadyClock::now() - received_at_).count();
    }
    return stats;
}

void ImageFollower::Run() {
    std::string connected_to;
    std::unique_ptr<ha::rpc::HaReplication::Stub> stub;
    int failures = 0;
    while (!stop_.load()) {
        const std::string leader = leader_address_();
        if (leader.empty() || leader == self_address_) {
            std::this_thread::sleep_for(kFollowerPause);
            continue;
        }
        if (leader != connected_to || failures >= kFailuresBeforeNewChannel) {
            // A restarted leader on the same address is seen at once, not
            // after gRPC's reconnect back-off.
            grpc::ChannelArguments arguments;
            arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
            arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
            arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
            arguments.SetMaxReceiveMessageSize(-1);
            stub = ha::rpc::HaReplication::NewStub(
                grpc::CreateCustomChannel(leader, grpc::InsecureChannelCredentials(), arguments));
            connected_to = leader;
            failures = 0;
        }
        ha::rpc::FetchStateRequest request;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (latest_) {
                request.set_have_version(latest_->version());
                request.set_epoch(latest_->epoch());
            }
        }
        request.set_wait_ms(static_cast<uint32_t>(kLongPoll.count()));
        request.set_standby_address(self_address_);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + kFetchDeadline);
        ha::rpc::StateImage image;
        const grpc::Status status = stub->FetchState(&context, request, &image);
        if (!status.ok()) {
            ++failures;
            std::this_thread::sleep_for(kFollowerPause);
            continue;
        }
        failures = 0;
        std::lock_guard<std::mutex> lock(mutex_);
        received_at_ = SteadyClock::now();
        if (image.unchanged() && latest_) continue;
        if (!latest_ || latest_->epoch() != image.epoch()) {
            LOG(INFO) << "HA: following leader " << leader << " (epoch " << image.epoch() << ", "
                      << image.objects_size() << " objects)";
        }
        latest_ = std::move(image);
        ++received_;
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
    uint64_t have = 0;
    int64_t have_epoch = -1;
    auto written_at = SteadyClock::now() - interval_;
    while (!stop_.load()) {
        // Short polls so that Stop() is quick; the source answers "unchanged"
        // cheaply.
        const bool due = SteadyClock::now() - written_at >= interval_;
        ha::rpc::StateImage image =
            source_.Fetch(kSnapshotFollower, due ? -1 : have_epoch, have, kLongPoll);
        if (image.unchanged()) continue;
        if (auto written = WriteSnapshot(directory_, image, retention_); !written) {
            LOG_EVERY_T(ERROR, 10.0) << "snapshot: " << written.error();
            std::this_thread::sleep_for(kFollowerPause);
            continue;
        }
        have = image.version();
        have_epoch = image.epoch();
        written_at = SteadyClock::now();
        VLOG(1) << "snapshot: version " << have << ", " << image.objects_size() << " objects";
    }
}

}  // namespace mooncake
