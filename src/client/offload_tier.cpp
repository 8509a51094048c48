#include "client/offload_tier.h"

#include <glog/logging.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>

#include "client/put_pipeline.h"
#include "common/net_util.h"
#include "net/socket_util.h"

namespace mooncake {

namespace {

constexpr uint32_t kMaxKeyBytes = 4096;
constexpr int kRpcIoTimeoutMs = 10'000;
// Keys taken from the master per heartbeat.
constexpr size_t kWorkBatch = 256;

struct ReadReply {
    int32_t code = 0;
    uint64_t size = 0;
};

std::string ConnectableHost(const std::string& host) {
    return host == "localhost" ? std::string("127.0.0.1") : host;
}

}  // namespace

OffloadTier::OffloadTier(const ClientContext& context)
    : client_(context), worker_context_(context) {
    worker_context_.disk = nullptr;  // offloading reads memory replicas only
}

OffloadTier::~OffloadTier() { Stop(); }

Result<std::unique_ptr<OffloadTier>> OffloadTier::Start(const ClientContext& context,
                                                        const std::string& path,
                                                        const std::string& host) {
    offload::OffloadConfig config = offload::OffloadConfig::FromEnv();
    if (!path.empty()) config.storage_path = path;
    auto store = offload::DiskStore::Open(config);
    if (!store.has_value()) {
        LOG(ERROR) << "SSD offload: cannot open the store under '" << config.storage_path
                   << "': " << ErrorCodeName(store.error());
        return Error(store.error());
    }
    std::unique_ptr<OffloadTier> tier(new OffloadTier(context));
    tier->store_ = std::move(*store);
    auto staging = LocalBuffer::Create(config.staging_buffer_bytes);
    if (!staging.has_value()) return Error(staging.error());
    MC_RETURN_IF_ERROR(context.engine->RegisterLocalMemory((*staging)->base(), (*staging)->size(),
                                                           /*remote_accessible=*/false));
    tier->staging_ = std::move(*staging);
    tier->worker_context_.local_buffer = tier->staging_;
    tier->worker_reads_ = std::make_unique<GetPipeline>(tier->worker_context_);

    auto listener = net::ListenTcp("0.0.0.0", 0);
    if (!listener.has_value()) {
        LOG(ERROR) << "SSD offload: " << listener.error().message;
        (void)context.engine->UnregisterLocalMemory(tier->staging_->base());
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    tier->listener_ = std::move(*listener);
    tier->endpoint_ = host + ":" + std::to_string(net::LocalPort(tier->listener_.get()));
    OffloadTier* raw = tier.get();
    tier->store_->SetEvictListener([raw](const std::vector<std::string>& keys) {
        Status told = raw->client_.master->NotifyDiskEvicted(raw->client_.client_id, keys);
        LOG_IF(WARNING, !told.has_value())
            << "SSD offload: telling the master about " << keys.size()
            << " evicted files failed: " << ErrorCodeName(told.error());
    });
    Status mounted = tier->Mount();
    if (!mounted.has_value()) {
        (void)context.engine->UnregisterLocalMemory(tier->staging_->base());
        return Error(mounted.error());
    }
    tier->worker_ = std::thread([raw] { raw->WorkerLoop(); });
    tier->server_ = std::thread([raw] { raw->ServeLoop(); });
    LOG(INFO) << "SSD offload tier of " << context.segment_name << " ready: " << config.ObjectDir()
              << ", offload RPC " << tier->endpoint_;
    return tier;
}

void OffloadTier::Stop() {
    {
        MutexLock lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.NotifyAll();
    if (worker_.joinable()) worker_.join();
    DeleteRemovedFiles();
    if (server_.joinable()) server_.join();
    if (staging_ && client_.engine != nullptr)
        (void)client_.engine->UnregisterLocalMemory(staging_->base());
}

void OffloadTier::DeleteRemovedFiles() {
    // Objects removed since the last heartbeat still have their files here;
    // left behind, the rescan of a restart would report them and bring the
    // removed objects back. No offload work is taken (max 0): it would be
    // left unfinished.
    if (unmounted_.load()) return;
    auto work = client_.master->OffloadHeartbeat(client_.client_id, 0);
    if (!work.has_value()) {
        LOG(WARNING) << "SSD offload: could not fetch the files to delete before closing: "
                     << ErrorCodeName(work.error());
        return;
    }
    for (const std::string& key : work->remove) (void)store_->Remove(key);
}

Status OffloadTier::Mount() {
    MC_RETURN_IF_ERROR(client_.master->MountLocalDisk(
        client_.client_id, endpoint_, offloading_.load(), store_->GetStats().size_limit));
    return ReportAll();
}

Status OffloadTier::Unmount() {
    unmounted_.store(true);
    return client_.master->UnmountLocalDisk(client_.client_id);
}

Status OffloadTier::ReportAll() {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<offload::DiskObject> objects = store_->ListObjects();
    const size_t batch = std::max<uint64_t>(1, store_->config().scan_batch_keys);
    for (size_t begin = 0; begin < objects.size(); begin += batch) {
        std::vector<OffloadItem> items;
        for (size_t i = begin; i < std::min(objects.size(), begin + batch); ++i)
            items.push_back(
                {.key = objects[i].key, .size = objects[i].size, .value_id = objects[i].value_id});
        MC_RETURN_IF_ERROR(
            client_.master->NotifyOffloadSuccess(client_.client_id, items, /*from_rescan=*/true));
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    LOG(INFO) << "SSD offload: reported " << objects.size() << " objects on disk to the master in "
              << ms << " ms";
    return OkStatus();
}

void OffloadTier::WorkerLoop() {
    using Clock = std::chrono::steady_clock;
    const auto interval =
        std::chrono::seconds(std::max<uint64_t>(1, store_->config().heartbeat_interval_sec));
    // While puts keep the queue filled, ask again soon: a memory replica
    // waiting for its copy is pinned, and new puts may wait for its space.
    constexpr auto kBusyPoll = std::chrono::milliseconds(20);
    // A put wakes the worker (PutsDone), but heartbeats stay this far
    // apart: in on-evict mode puts queue nothing and the wake-ups are idle.
    constexpr auto kHintedPoll = std::chrono::milliseconds(5);
    Clock::time_point last_work = Clock::now() - interval;
    MutexLock lock(mutex_);
    while (!stopping_) {
        lock.Unlock();
        const Clock::time_point asked = Clock::now();
        const bool busy = WorkOnce();
        const Clock::time_point now = Clock::now();
        if (busy) last_work = now;
        lock.Lock();
        if (busy) continue;
        const auto wait = now - last_work < interval ? kBusyPoll : interval;
        idle_.store(true);
        const Clock::time_point idle_until = Clock::now() + wait;
        while (!stopping_ && !put_hint_.load() && wake_.WaitUntil(lock, idle_until)) {
        }
        idle_.store(false);
        if (put_hint_.exchange(false) && !stopping_) {
            while (!stopping_ && wake_.WaitUntil(lock, asked + kHintedPoll)) {
            }
        }
    }
}

void OffloadTier::PutsDone() {
    // Both flags are sequentially consistent: either the worker sees the
    // hint before it waits, or we see it idle and wake it.
    if (put_hint_.exchange(true) || !idle_.load()) return;
    MutexLock lock(mutex_);
    wake_.NotifyOne();
}

bool OffloadTier::WorkOnce() {
    if (unmounted_.load()) return false;
    const auto asked_at = std::chrono::steady_clock::now();
    auto work = client_.master->OffloadHeartbeat(client_.client_id, kWorkBatch);
    if (!work.has_value()) {
        if (work.error() == ErrorCode::SEGMENT_NOT_FOUND) {
            LOG(INFO) << "SSD offload: the master does not know our disk (restarted?); "
                         "mounting it again and re-reporting the files";
            Status mounted = Mount();
            LOG_IF(WARNING, !mounted.has_value())
                << "SSD offload: re-mount failed: " << ErrorCodeName(mounted.error());
        }
        return false;
    }
    for (const std::string& key : work->remove) (void)store_->Remove(key);
    // Reported a few at a time: each report ends the pins of its objects,
    // so memory frees up while the rest is still being written.
    constexpr size_t kReportBatch = 16;
    std::vector<OffloadItem> written;
    for (size_t i = 0; i < work->offload.size(); ++i) {
        WriteObject(work->offload[i], asked_at, &written);
        if (written.empty() || (written.size() < kReportBatch && i + 1 < work->offload.size()))
            continue;
        Status told = client_.master->NotifyOffloadSuccess(client_.client_id, written, false);
        LOG_IF(WARNING, !told.has_value()) << "SSD offload: reporting " << written.size()
                                           << " files failed: " << ErrorCodeName(told.error());
        written.clear();
    }
    for (const std::string& key : work->promote) Promote(key);
    return !work->offload.empty() || !work->remove.empty() || !work->promote.empty();
}

void OffloadTier::Promote(const std::string& key) {
    const std::optional<uint64_t> size = store_->SizeOf(key);
    if (!size) return;  // evicted from disk meanwhile: nothing to bring back
    auto slice = staging_->Allocate(*size);
    if (!slice.has_value()) {
        LOG(WARNING) << "SSD offload: no staging room to promote '" << key << "' (" << *size
                     << " bytes)";
        return;
    }
    Status read = store_->Get(key, std::span<uint8_t>((*slice)->mutable_data(), *size));
    if (!read.has_value()) {
        LOG(WARNING) << "SSD offload: reading '" << key
                     << "' to promote it failed: " << ErrorCodeName(read.error());
        return;
    }
    // An ordinary put of the verified bytes: placement, leases and eviction
    // treat the memory copy like any other; the master keeps the disk copy
    // and does not queue it for writing again.
    const std::string keys[] = {key};
    const PutSource sources[] = {{{MemoryPiece{(*slice)->mutable_data(), *size}}, *size}};
    Status result = OkStatus();
    PutPipeline(worker_context_)
        .Run(keys, sources, ReplicateConfig{}, std::span<Status>(&result, 1));
    if (result.has_value()) {
        promotions_.fetch_add(1, std::memory_order_relaxed);
        VLOG(1) << "SSD offload: promoted '" << key << "' back to memory";
    } else {
        LOG(WARNING) << "SSD offload: promoting '" << key
                     << "' failed: " << ErrorCodeName(result.error());
    }
}

void OffloadTier::WriteObject(const OffloadItem& item,
                              std::chrono::steady_clock::time_point asked_at,
                              std::vector<OffloadItem>* written) {
    const std::string keys[] = {item.key};
    GetOutcome outcome;
    // Read under the offload pin, without a lease: once the copy is
    // reported the memory is free to go, where a lease would hold it for a
    // whole TTL after the write. Late in a long batch the pin's promise may
    // be nearly used up: then (or when the read outlived it) through
    // GetReplicaList as any reader.
    const auto pin_until = asked_at + std::chrono::milliseconds(item.pin_ms * 9 / 10);
    bool read_under_pin = false;
    if (!item.sources.empty() && std::chrono::steady_clock::now() < pin_until) {
        std::vector<Result<GetReplicaListResult>> found;
        found.push_back(GetReplicaListResult{item.sources, item.pin_ms});
        worker_reads_->RunLocated(keys, std::move(found), asked_at,
                                  std::span<GetOutcome>(&outcome, 1));
        read_under_pin = outcome.error == ErrorCode::OK;
    }
    if (!read_under_pin) {
        outcome = GetOutcome{};
        worker_reads_->Run(keys, {}, std::span<GetOutcome>(&outcome, 1));
    }
    if (outcome.error != ErrorCode::OK) {
        LOG(WARNING) << "SSD offload: reading '" << item.key
                     << "' from memory failed: " << ErrorCodeName(outcome.error);
        return;
    }
    const std::vector<std::span<const uint8_t>> parts = {
        std::span<const uint8_t>(outcome.slice->data(), outcome.size)};
    Status put = store_->Put(item.key, parts, item.value_id);
    if (put.has_value()) {
        written->push_back({.key = item.key, .size = outcome.size, .value_id = item.value_id});
        return;
    }
    LOG(WARNING) << "SSD offload: writing '" << item.key
                 << "' failed: " << ErrorCodeName(put.error());
    // A limit that eviction cannot relieve, or a full volume it could not
    // make room on (DiskStore::Put already tried): the master stops queueing
    // copies for us, so new memory replicas are not pinned waiting for them.
    const bool disk_full = put.error() == ErrorCode::KEYS_ULTRA_LIMIT ||
                           (put.error() == ErrorCode::FILE_WRITE_FAIL && store_->VolumeIsFull());
    if (disk_full && offloading_.exchange(false)) {
        LOG(WARNING) << "SSD offload: disk limit reached or disk full; no more offloading to "
                        "this client (what is on disk stays readable)";
        (void)client_.master->MountLocalDisk(client_.client_id, endpoint_, false,
                                             store_->GetStats().size_limit);
    }
}

// ---- reads ---------------------------------------------------------------

Status OffloadTier::ReadDisk(const std::string& key, const ReplicaDescriptor& replica,
                             std::span<const MemoryPiece> pieces, uint64_t size) {
    if (!replica.is_local_disk_replica()) return Error(ErrorCode::INVALID_REPLICA);
    if (replica.local_disk().client_id == client_.client_id) return ReadLocal(key, pieces, size);
    return ReadOffloadRpc(key, replica.local_disk().transport_endpoint, pieces, size);
}

Status OffloadTier::ReadLocal(const std::string& key, std::span<const MemoryPiece> pieces,
                              uint64_t size) {
    if (pieces.size() == 1 && pieces[0].length >= size) {
        return store_->Get(key, std::span<uint8_t>(static_cast<uint8_t*>(pieces[0].address), size));
    }
    auto slice = staging_->Allocate(size);
    if (!slice.has_value()) return Error(slice.error());
    MC_RETURN_IF_ERROR(store_->Get(key, std::span<uint8_t>((*slice)->mutable_data(), size)));
    uint64_t offset = 0;
    for (const MemoryPiece& piece : pieces) {
        const uint64_t n = std::min(piece.length, size - offset);
        std::memcpy(piece.address, (*slice)->data() + offset, n);
        offset += n;
        if (offset == size) break;
    }
    return OkStatus();
}

Status ReadOffloadRpc(const std::string& key, const std::string& endpoint,
                      std::span<const MemoryPiece> pieces, uint64_t size) {
    auto where = ParseHostPort(endpoint);
    if (!where.has_value() || !where->port.has_value()) return Error(ErrorCode::INVALID_REPLICA);
    auto connected = net::ConnectTcp(ConnectableHost(where->host), *where->port, 2000);
    if (!connected.has_value()) return Error(connected.error());
    const int fd = connected->get();
    net::TuneDataSocket(fd, kRpcIoTimeoutMs);
    const auto key_bytes = static_cast<uint32_t>(key.size());
    MC_RETURN_IF_ERROR(net::SendAll(fd, &key_bytes, sizeof(key_bytes)));
    MC_RETURN_IF_ERROR(net::SendAll(fd, key.data(), key.size()));
    MC_RETURN_IF_ERROR(net::SendAll(fd, &size, sizeof(size)));
    ReadReply reply;
    MC_RETURN_IF_ERROR(net::RecvAll(fd, &reply.code, sizeof(reply.code)));
    MC_RETURN_IF_ERROR(net::RecvAll(fd, &reply.size, sizeof(reply.size)));
    if (reply.code != 0) return Error(ErrorCodeFromInt(reply.code));
    if (reply.size != size) return Error(ErrorCode::INVALID_REPLICA);
    uint64_t offset = 0;
    for (const MemoryPiece& piece : pieces) {
        const uint64_t n = std::min(piece.length, size - offset);
        MC_RETURN_IF_ERROR(net::RecvAll(fd, piece.address, n));
        offset += n;
        if (offset == size) break;
    }
    return OkStatus();
}

void OffloadTier::ServeLoop() {
    for (;;) {
        {
            MutexLock lock(mutex_);
            if (stopping_) return;
        }
        pollfd waiting{listener_.get(), POLLIN, 0};
        if (::poll(&waiting, 1, 200) <= 0) continue;
        const int fd = ::accept(listener_.get(), nullptr, nullptr);
        if (fd < 0) continue;
        UniqueFd connection(fd);
        ServeOne(connection.get());
    }
}

void OffloadTier::ServeOne(int fd) {
    net::TuneDataSocket(fd, kRpcIoTimeoutMs);
    uint32_t key_bytes = 0;
    if (!net::RecvAll(fd, &key_bytes, sizeof(key_bytes)).has_value() || key_bytes == 0 ||
        key_bytes > kMaxKeyBytes)
        return;
    std::string key(key_bytes, '\0');
    uint64_t size = 0;
    if (!net::RecvAll(fd, key.data(), key.size()).has_value() ||
        !net::RecvAll(fd, &size, sizeof(size)).has_value())
        return;
    ReadReply reply;
    std::shared_ptr<LocalBufferSlice> slice;
    const std::optional<uint64_t> stored = store_->SizeOf(key);
    if (!stored.has_value()) {
        reply.code = ToInt(ErrorCode::OBJECT_NOT_FOUND);
    } else if (*stored != size) {
        reply.code = ToInt(ErrorCode::INVALID_REPLICA);
    } else if (auto staged = staging_->Allocate(size); !staged.has_value()) {
        reply.code = ToInt(staged.error());
    } else {
        slice = std::move(*staged);
        Status read = store_->Get(key, std::span<uint8_t>(slice->mutable_data(), size));
        reply.code = read.has_value() ? 0 : ToInt(read.error());
    }
    reply.size = reply.code == 0 ? size : 0;
    if (!net::SendAll(fd, &reply.code, sizeof(reply.code)).has_value() ||
        !net::SendAll(fd, &reply.size, sizeof(reply.size)).has_value())
        return;
    if (reply.code == 0 && net::SendAll(fd, slice->data(), size).has_value())
        rpc_reads_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace mooncake
