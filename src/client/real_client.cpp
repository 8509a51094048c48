#include "client/real_client.h"

#include <glog/logging.h>

#include <cstring>

#include "client/client_config_util.h"
#include "common/logging.h"

namespace mooncake {

namespace {

// What every call on a closed client returns.
constexpr ErrorCode kClosed = ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS;

template <typename T>
std::vector<T> Filled(size_t count, ErrorCode code) {
    return std::vector<T>(count, Error(code));
}

// The bytes read per key of a get into caller buffers, or its error.
std::vector<Result<size_t>> SizesOf(const std::vector<GetOutcome>& outcomes) {
    std::vector<Result<size_t>> results;
    results.reserve(outcomes.size());
    for (const GetOutcome& outcome : outcomes) {
        if (outcome.error != ErrorCode::OK) {
            results.emplace_back(Error(outcome.error));
        } else {
            results.emplace_back(static_cast<size_t>(outcome.size));
        }
    }
    return results;
}

// OK when `data` may be read for `size` bytes: null is only allowed empty.
bool ValidPart(const void* data, size_t size) { return data != nullptr || size == 0; }

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(const ClientConfig& config) {
    auto client = RealClient::Create(config);
    if (!client.has_value()) return Error(client.error());
    return std::unique_ptr<Client>(std::move(*client));
}

Result<std::unique_ptr<RealClient>> RealClient::Create(const ClientConfig& config) {
    InitLoggingOnce("mooncake_client");
    MC_RETURN_IF_ERROR(ValidateClientConfig(config));
    std::unique_ptr<RealClient> client(new RealClient(config));
    Status ready = client->Setup();
    if (!ready.has_value()) {
        LOG(ERROR) << "Client setup for '" << config.local_hostname
                   << "' failed: " << ErrorCodeName(ready.error());
        client->Close();  // undoes whatever Setup got done
        return Error(ready.error());
    }
    return client;
}

RealClient::RealClient(const ClientConfig& config) : config_(config) {}

RealClient::~RealClient() { Close(); }

Status RealClient::Setup() {
    auto master = MasterClient::Connect(config_.master_server_address);
    if (!master.has_value()) {
        LOG(ERROR) << "Cannot reach the master at " << config_.master_server_address;
        return Error(master.error());
    }
    master_ = std::move(*master);
    auto info = master_->GetServiceInfo();
    if (!info.has_value()) return Error(info.error());

    if (config_.engine) {
        engine_ = config_.engine;
    } else {
        auto engine = TransferEngine::Create(TransferEngineConfig{
            .local_hostname = config_.local_hostname,
            .metadata_server = config_.metadata_server,
            .protocol = config_.protocol,
            .rdma_devices = config_.rdma_devices,
            .cluster_id = "",
        });
        if (!engine.has_value()) return Error(engine.error());
        engine_ = std::move(*engine);
    }

    context_.client_id = UUID::Generate();
    context_.segment_name = engine_->segment_name();
    context_.master = master_.get();
    context_.engine = engine_.get();

    if (config_.global_segment_size > 0) {
        const uint64_t size = RoundUpToPageSize(config_.global_segment_size);
        auto base = engine_->AllocateSharedMemory(size);
        if (!base.has_value()) {
            LOG(ERROR) << "Cannot allocate a segment of " << size << " bytes";
            return Error(base.error());
        }
        segment_ = SegmentInfo{
            .id = UUID::Generate(),
            .name = context_.segment_name,
            .base = reinterpret_cast<uint64_t>(*base),
            .size = size,
        };
        context_.has_segment = true;
    }
    if (config_.local_buffer_size > 0) {
        auto buffer = LocalBuffer::Create(config_.local_buffer_size);
        if (!buffer.has_value()) return Error(buffer.error());
        // Registered for RDMA's sake; peers never touch it.
        MC_RETURN_IF_ERROR(engine_->RegisterLocalMemory((*buffer)->base(), (*buffer)->size(),
                                                        /*remote_accessible=*/false));
        local_buffer_ = std::move(*buffer);
        context_.local_buffer = local_buffer_;
    }
    selector_ = std::make_unique<ReplicaSelector>(context_.segment_name);
    context_.selector = selector_.get();
    context_.unreachable = &unreachable_;

    if (context_.has_segment) {
        Status mounted = master_->MountSegment(context_.client_id, segment_);
        if (!mounted.has_value()) {
            LOG(ERROR) << "Mounting segment " << segment_.name
                       << " failed: " << ErrorCodeName(mounted.error());
            return mounted;
        }
        segment_mounted_ = true;
    }

    executor_ = std::make_unique<TaskExecutor>(context_);
    heartbeat_ = std::make_unique<Heartbeat>(
        master_.get(), context_.client_id, Heartbeat::IntervalFor(info->client_ttl_sec),
        [this] { return PrepareRemount(); },
        [this](std::vector<TaskAssignment> tasks) { executor_->Submit(std::move(tasks)); });
    executor_->Start();
    heartbeat_->Start();
    LOG(INFO) << "Client " << context_.segment_name << " (" << context_.client_id.ToString()
              << ") ready: segment " << segment_.size << " bytes, local buffer "
              << (local_buffer_ ? local_buffer_->size() : 0) << " bytes, master "
              << config_.master_server_address << ", transport " << engine_->protocol();
    return OkStatus();
}

Status RealClient::Close() {
    closing_.store(true, std::memory_order_relaxed);
    std::unique_lock<std::shared_mutex> lock(lifecycle_mutex_);
    if (closed_) return OkStatus();
    closed_ = true;
    // Threads first: a heartbeat after the unmount would mount it again.
    if (heartbeat_) heartbeat_->Stop();
    if (executor_) executor_->Stop();
    if (master_ && (segment_mounted_ || heartbeat_)) {
        // Unmounts the segment too, and the master forgets us now rather
        // than expiring us (logged and counted as a crash) after client_ttl.
        Status unregistered = master_->UnregisterClient(context_.client_id);
        if (!unregistered.has_value()) {
            LOG(WARNING) << "Unregistering client " << context_.client_id.ToString()
                         << " failed: " << ErrorCodeName(unregistered.error())
                         << "; the master expires it after client_ttl";
        }
        segment_mounted_ = false;
    }
    {
        std::lock_guard<std::mutex> memory_lock(memory_mutex_);
        pool_allocations_.clear();
        if (engine_) {
            for (void* buffer : user_buffers_) (void)engine_->UnregisterLocalMemory(buffer);
        }
        user_buffers_.clear();
    }
    if (engine_ && local_buffer_) (void)engine_->UnregisterLocalMemory(local_buffer_->base());
    // A shared engine outlives the client: give back the segment's memory
    // (an owned engine frees it as it goes).
    if (engine_ && config_.engine && segment_.size > 0) {
        (void)engine_->FreeSharedMemory(reinterpret_cast<void*>(segment_.base));
    }
    // Destroying the engine unpublishes its descriptor and frees the
    // segment's memory. The local buffer lives on while callers hold bytes
    // from it.
    context_.engine = nullptr;
    engine_.reset();
    context_.local_buffer.reset();
    local_buffer_.reset();
    context_.master = nullptr;
    master_.reset();
    if (!context_.client_id.IsNil()) LOG(INFO) << "Client " << context_.segment_name << " closed";
    return OkStatus();
}

std::string RealClient::GetHostname() const { return context_.segment_name; }

std::shared_lock<std::shared_mutex> RealClient::LockOpen() const {
    if (closing_.load(std::memory_order_relaxed)) return {};
    std::shared_lock<std::shared_mutex> lock(lifecycle_mutex_);
    if (closed_) lock.unlock();
    return lock;
}

Status RealClient::CheckZeroCopyRange(const void* address, size_t size) const {
    if (address == nullptr || size == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (!engine_->IsRegistered(address, size)) {
        LOG(WARNING) << "Zero-copy range " << address << "+" << size
                     << " is not registered (RegisterBuffer it first)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return OkStatus();
}

std::vector<SegmentInfo> RealClient::MountedSegments() const {
    if (!context_.has_segment) return {};
    return {segment_};
}

std::vector<SegmentInfo> RealClient::PrepareRemount() {
    // The master that asks for a re-mount may be a restarted one whose
    // embedded metadata server no longer holds our descriptor: without it
    // no peer could open our segment, whatever the master places there.
    Status published = engine_->RepublishDescriptor();
    if (!published.has_value()) {
        LOG(WARNING) << "Publishing the descriptor of " << context_.segment_name
                     << " again failed: " << ErrorCodeName(published.error())
                     << " (retried at the next re-mount request)";
    }
    return MountedSegments();
}

uint64_t RealClient::local_buffer_used_bytes() const {
    auto lock = LockOpen();
    return lock.owns_lock() && local_buffer_ ? local_buffer_->used_bytes() : 0;
}

// ---- puts -------------------------------------------------------------------

Status RealClient::Put(const std::string& key, std::span<const ConstBytes> parts,
                       const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    MC_RETURN_IF_ERROR(ValidateReplicateConfig(config));
    uint64_t size = 0;
    for (const ConstBytes& part : parts) {
        if (!ValidPart(part.data(), part.size())) return Error(ErrorCode::INVALID_PARAMS);
        size += part.size();
    }
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (local_buffer_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
    auto staging = local_buffer_->Allocate(size);
    if (!staging.has_value()) return Error(staging.error());
    uint8_t* cursor = (*staging)->mutable_data();
    for (const ConstBytes& part : parts) {
        if (part.empty()) continue;
        std::memcpy(cursor, part.data(), part.size());
        cursor += part.size();
    }
    const PutSource source{{MemoryPiece{(*staging)->mutable_data(), size}}, size};
    Status result = OkStatus();
    put_pipeline_.Run(std::span<const std::string>(&key, 1), std::span<const PutSource>(&source, 1),
                      config, std::span<Status>(&result, 1));
    return result;
}

std::vector<Status> RealClient::BatchPut(const std::vector<std::string>& keys,
                                         const std::vector<std::vector<ConstBytes>>& values,
                                         const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Status>(keys.size(), kClosed);
    if (keys.size() != values.size() || !ValidateReplicateConfig(config).has_value()) {
        return Filled<Status>(keys.size(), ErrorCode::INVALID_PARAMS);
    }
    std::vector<Status> results(keys.size(), OkStatus());
    std::vector<PutSource> sources(keys.size());
    std::vector<std::shared_ptr<LocalBufferSlice>> staging(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        uint64_t size = 0;
        for (const ConstBytes& part : values[i]) {
            if (!ValidPart(part.data(), part.size())) valid = Error(ErrorCode::INVALID_PARAMS);
            size += part.size();
        }
        if (valid.has_value() && size == 0) valid = Error(ErrorCode::INVALID_PARAMS);
        if (valid.has_value() && local_buffer_ == nullptr) {
            valid = Error(ErrorCode::BUFFER_OVERFLOW);
        }
        if (valid.has_value()) {
            auto slice = local_buffer_->Allocate(size);
            if (slice.has_value()) {
                staging[i] = std::move(*slice);
            } else {
                valid = Error(slice.error());
            }
        }
        if (!valid.has_value()) {
            results[i] = valid;
            continue;
        }
        uint8_t* cursor = staging[i]->mutable_data();
        for (const ConstBytes& part : values[i]) {
            if (part.empty()) continue;
            std::memcpy(cursor, part.data(), part.size());
            cursor += part.size();
        }
        sources[i] = PutSource{{MemoryPiece{staging[i]->mutable_data(), size}}, size};
    }
    put_pipeline_.Run(keys, sources, config, results);
    return results;
}

Status RealClient::PutFrom(const std::string& key, const void* buffer, size_t size,
                           const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    MC_RETURN_IF_ERROR(ValidateReplicateConfig(config));
    MC_RETURN_IF_ERROR(CheckZeroCopyRange(buffer, size));
    const PutSource source{{MemoryPiece{const_cast<void*>(buffer), size}}, size};
    Status result = OkStatus();
    put_pipeline_.Run(std::span<const std::string>(&key, 1), std::span<const PutSource>(&source, 1),
                      config, std::span<Status>(&result, 1));
    return result;
}

std::vector<Status> RealClient::BatchPutFrom(const std::vector<std::string>& keys,
                                             const std::vector<const void*>& buffers,
                                             const std::vector<size_t>& sizes,
                                             const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Status>(keys.size(), kClosed);
    if (keys.size() != buffers.size() || keys.size() != sizes.size() ||
        !ValidateReplicateConfig(config).has_value()) {
        return Filled<Status>(keys.size(), ErrorCode::INVALID_PARAMS);
    }
    std::vector<Status> results(keys.size(), OkStatus());
    std::vector<PutSource> sources(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        if (valid.has_value()) valid = CheckZeroCopyRange(buffers[i], sizes[i]);
        if (!valid.has_value()) {
            results[i] = valid;
            continue;
        }
        sources[i] = PutSource{{MemoryPiece{const_cast<void*>(buffers[i]), sizes[i]}}, sizes[i]};
    }
    put_pipeline_.Run(keys, sources, config, results);
    return results;
}

std::vector<Status> RealClient::BatchPutFromMultiBuffers(
    const std::vector<std::string>& keys, const std::vector<std::vector<const void*>>& buffers,
    const std::vector<std::vector<size_t>>& sizes, const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Status>(keys.size(), kClosed);
    if (keys.size() != buffers.size() || keys.size() != sizes.size() ||
        !ValidateReplicateConfig(config).has_value()) {
        return Filled<Status>(keys.size(), ErrorCode::INVALID_PARAMS);
    }
    std::vector<Status> results(keys.size(), OkStatus());
    std::vector<PutSource> sources(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        if (valid.has_value() && (buffers[i].empty() || buffers[i].size() != sizes[i].size())) {
            valid = Error(ErrorCode::INVALID_PARAMS);
        }
        PutSource source;
        for (size_t p = 0; valid.has_value() && p < buffers[i].size(); ++p) {
            valid = CheckZeroCopyRange(buffers[i][p], sizes[i][p]);
            source.pieces.push_back(MemoryPiece{const_cast<void*>(buffers[i][p]), sizes[i][p]});
            source.size += sizes[i][p];
        }
        if (!valid.has_value()) {
            results[i] = valid;
            continue;
        }
        sources[i] = std::move(source);
    }
    put_pipeline_.Run(keys, sources, config, results);
    return results;
}

// ---- gets -------------------------------------------------------------------

Result<std::shared_ptr<Buffer>> RealClient::Get(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    if (local_buffer_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
    GetOutcome outcome;
    get_pipeline_.Run(std::span<const std::string>(&key, 1), {},
                      std::span<GetOutcome>(&outcome, 1));
    if (outcome.error != ErrorCode::OK) return Error(outcome.error);
    return std::shared_ptr<Buffer>(std::move(outcome.slice));
}

std::vector<Result<std::shared_ptr<Buffer>>> RealClient::BatchGet(
    const std::vector<std::string>& keys) {
    using Entry = Result<std::shared_ptr<Buffer>>;
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Entry>(keys.size(), kClosed);
    if (local_buffer_ == nullptr) return Filled<Entry>(keys.size(), ErrorCode::BUFFER_OVERFLOW);
    std::vector<GetOutcome> outcomes(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        if (!valid.has_value()) outcomes[i].error = valid.error();
    }
    get_pipeline_.Run(keys, {}, outcomes);
    std::vector<Entry> results;
    results.reserve(keys.size());
    for (GetOutcome& outcome : outcomes) {
        if (outcome.error != ErrorCode::OK) {
            results.emplace_back(Error(outcome.error));
        } else {
            results.emplace_back(std::shared_ptr<Buffer>(std::move(outcome.slice)));
        }
    }
    return results;
}

Result<size_t> RealClient::GetInto(const std::string& key, void* buffer, size_t capacity) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    MC_RETURN_IF_ERROR(CheckZeroCopyRange(buffer, capacity));
    const GetDestination destination{{MemoryPiece{buffer, capacity}}, capacity};
    GetOutcome outcome;
    get_pipeline_.Run(std::span<const std::string>(&key, 1),
                      std::span<const GetDestination>(&destination, 1),
                      std::span<GetOutcome>(&outcome, 1));
    if (outcome.error != ErrorCode::OK) return Error(outcome.error);
    return static_cast<size_t>(outcome.size);
}

std::vector<Result<size_t>> RealClient::BatchGetInto(const std::vector<std::string>& keys,
                                                     const std::vector<void*>& buffers,
                                                     const std::vector<size_t>& capacities) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Result<size_t>>(keys.size(), kClosed);
    if (keys.size() != buffers.size() || keys.size() != capacities.size()) {
        return Filled<Result<size_t>>(keys.size(), ErrorCode::INVALID_PARAMS);
    }
    std::vector<GetOutcome> outcomes(keys.size());
    std::vector<GetDestination> destinations(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        if (valid.has_value()) valid = CheckZeroCopyRange(buffers[i], capacities[i]);
        if (!valid.has_value()) {
            outcomes[i].error = valid.error();
            continue;
        }
        destinations[i] = GetDestination{{MemoryPiece{buffers[i], capacities[i]}}, capacities[i]};
    }
    get_pipeline_.Run(keys, destinations, outcomes);
    return SizesOf(outcomes);
}

std::vector<Result<size_t>> RealClient::BatchGetIntoMultiBuffers(
    const std::vector<std::string>& keys, const std::vector<std::vector<void*>>& buffers,
    const std::vector<std::vector<size_t>>& sizes) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Result<size_t>>(keys.size(), kClosed);
    if (keys.size() != buffers.size() || keys.size() != sizes.size()) {
        return Filled<Result<size_t>>(keys.size(), ErrorCode::INVALID_PARAMS);
    }
    std::vector<GetOutcome> outcomes(keys.size());
    std::vector<GetDestination> destinations(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        if (valid.has_value() && (buffers[i].empty() || buffers[i].size() != sizes[i].size())) {
            valid = Error(ErrorCode::INVALID_PARAMS);
        }
        GetDestination destination;
        for (size_t p = 0; valid.has_value() && p < buffers[i].size(); ++p) {
            valid = CheckZeroCopyRange(buffers[i][p], sizes[i][p]);
            destination.pieces.push_back(MemoryPiece{buffers[i][p], sizes[i][p]});
            destination.capacity += sizes[i][p];
        }
        if (!valid.has_value()) {
            outcomes[i].error = valid.error();
            continue;
        }
        destinations[i] = std::move(destination);
    }
    get_pipeline_.Run(keys, destinations, outcomes);
    return SizesOf(outcomes);
}

// ---- memory -----------------------------------------------------------------

Status RealClient::RegisterBuffer(void* buffer, size_t size) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    if (buffer == nullptr || size == 0) return Error(ErrorCode::INVALID_PARAMS);
    std::lock_guard<std::mutex> memory_lock(memory_mutex_);
    // Only the local side of transfers: peers never read or write it.
    MC_RETURN_IF_ERROR(engine_->RegisterLocalMemory(buffer, size, /*remote_accessible=*/false));
    user_buffers_.insert(buffer);
    return OkStatus();
}

Status RealClient::UnregisterBuffer(void* buffer) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    std::lock_guard<std::mutex> memory_lock(memory_mutex_);
    // Only what RegisterBuffer added: the segment and the local buffer are
    // the client's own.
    if (user_buffers_.find(buffer) == user_buffers_.end()) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    MC_RETURN_IF_ERROR(engine_->UnregisterLocalMemory(buffer));
    user_buffers_.erase(buffer);
    return OkStatus();
}

Result<void*> RealClient::AllocFromMemPool(size_t size) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (local_buffer_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
    auto slice = local_buffer_->Allocate(size);
    if (!slice.has_value()) return Error(slice.error());
    void* address = (*slice)->mutable_data();
    std::lock_guard<std::mutex> memory_lock(memory_mutex_);
    pool_allocations_.push_back(std::move(*slice));
    return address;
}

// ---- queries ----------------------------------------------------------------

Result<bool> RealClient::IsExist(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return master_->ExistKey(key);
}

std::vector<Result<bool>> RealClient::BatchIsExist(const std::vector<std::string>& keys) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Result<bool>>(keys.size(), kClosed);
    std::vector<Result<bool>> results(keys.size(), false);
    const ValidKeys valid = SelectValidKeys(keys);
    for (const auto& [i, code] : valid.refused) results[i] = Error(code);
    if (valid.keys.empty()) return results;
    auto answers = master_->BatchExistKey(valid.keys);
    if (!answers.has_value() || answers->size() != valid.positions.size()) {
        const ErrorCode code = answers.has_value() ? ErrorCode::INTERNAL_ERROR : answers.error();
        for (size_t i : valid.positions) results[i] = Error(code);
        return results;
    }
    for (size_t k = 0; k < valid.positions.size(); ++k) {
        results[valid.positions[k]] = (*answers)[k];
    }
    return results;
}

Result<uint64_t> RealClient::GetSize(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    auto found = master_->GetReplicaList(key);
    if (!found.has_value()) return Error(found.error());
    for (const ReplicaDescriptor& replica : found->replicas) {
        if (replica.is_memory_replica()) return replica.memory().size;
        if (replica.is_disk_replica()) return replica.disk().object_size;
        if (replica.is_local_disk_replica()) return replica.local_disk().object_size;
    }
    return Error(ErrorCode::INVALID_REPLICA);
}

Result<std::vector<ReplicaDescriptor>> RealClient::GetReplicaDesc(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    auto found = master_->GetReplicaList(key);
    if (!found.has_value()) return Error(found.error());
    return std::move(found->replicas);
}

std::map<std::string, std::vector<ReplicaDescriptor>> RealClient::BatchGetReplicaDesc(
    const std::vector<std::string>& keys) {
    std::map<std::string, std::vector<ReplicaDescriptor>> descriptors;
    auto lock = LockOpen();
    if (!lock.owns_lock()) return descriptors;
    const std::vector<std::string> valid_keys = SelectValidKeys(keys).keys;
    if (valid_keys.empty()) return descriptors;
    auto answers = master_->BatchGetReplicaList(valid_keys);
    if (!answers.has_value() || answers->size() != valid_keys.size()) return descriptors;
    for (size_t k = 0; k < valid_keys.size(); ++k) {
        // Keys that are missing (or failed) are left out of the map.
        if ((*answers)[k].has_value()) {
            descriptors[valid_keys[k]] = std::move((*answers)[k]->replicas);
        }
    }
    return descriptors;
}

Status RealClient::Remove(const std::string& key, bool force) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return master_->Remove(key, force);
}

Result<int64_t> RealClient::RemoveByRegex(const std::string& regex, bool force) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    return master_->RemoveByRegex(regex, force);
}

Result<int64_t> RealClient::RemoveAll(bool force) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    return master_->RemoveAll(force);
}

// ---- copy / move tasks ------------------------------------------------------

Result<UUID> RealClient::CreateCopyTask(const std::string& key,
                                        const std::vector<std::string>& targets) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    if (targets.empty()) return Error(ErrorCode::INVALID_PARAMS);
    return master_->CreateCopyTask(key, targets);
}

Result<UUID> RealClient::CreateMoveTask(const std::string& key, const std::string& source,
                                        const std::string& target) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    if (source.empty() || target.empty()) return Error(ErrorCode::INVALID_PARAMS);
    return master_->CreateMoveTask(key, source, target);
}

Result<TaskInfo> RealClient::QueryTask(const UUID& task_id) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClosed);
    return master_->QueryTask(task_id);
}

}  // namespace mooncake
