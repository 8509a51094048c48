#include "client/real_client.h"

#include <glog/logging.h>

#include <cstring>
#include <sstream>

#include "client/client_config_util.h"
#include "common/logging.h"

namespace mooncake {

namespace {

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

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(const ClientConfig& config) {
    return AsClient(RealClient::Create(config));
}

Result<std::unique_ptr<RealClient>> RealClient::Create(const ClientConfig& config) {
    InitLoggingOnce("mooncake_client");
    MC_RETURN_IF_ERROR(ValidateClientConfig(config));
    return SetUpOrClose(std::unique_ptr<RealClient>(new RealClient(config)),
                        "Client setup for '" + config.local_hostname + "'");
}

RealClient::RealClient(const ClientConfig& config) : config_(config) {}

RealClient::~RealClient() { (void)Close(); }

Status RealClient::Setup() {
    auto master = MasterClient::Connect(config_.master_server_address);
    if (!master.has_value()) return Error(master.error());
    master_ = std::move(*master);
    auto info = master_->GetServiceInfo();
    if (!info.has_value()) return Error(info.error());

    MC_RETURN_IF_ERROR(StartEngine());
    MC_RETURN_IF_ERROR(SetUpMemory());
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
    MC_RETURN_IF_ERROR(StartDiskTier());
    runtime_segments_ = std::make_unique<RuntimeSegments>(
        master_.get(), engine_.get(), context_.client_id, context_.segment_name);
    credits_ = std::make_unique<PutCredits>(master_.get(), context_.client_id);
    context_.credits = credits_.get();
    executor_ = std::make_unique<TaskExecutor>(context_);
    heartbeat_ = std::make_unique<Heartbeat>(
        master_.get(), context_.client_id, Heartbeat::IntervalFor(info->client_ttl_sec),
        [this] { return PrepareRemount(); },
        [this](std::vector<TaskAssignment> tasks) { executor_->Submit(std::move(tasks)); });
    heartbeat_->SetAfterPing([this] { credits_->ReleaseExpired(); });
    executor_->Start();
    heartbeat_->Start();
    LOG(INFO) << "Client " << context_.segment_name << " (" << context_.client_id.ToString()
              << ") ready: segment " << segment_.size << " bytes, local buffer "
              << (local_buffer_ ? local_buffer_->size() : 0) << " bytes, master "
              << config_.master_server_address << ", transport "
              << (engine_ ? engine_->protocol() : std::string("none (rpc_only)"));
    return OkStatus();
}

Status RealClient::StartEngine() {
    if (config_.engine) {
        engine_ = config_.engine;
    } else if (config_.protocol == "rpc_only") {
        // Master calls only: nothing to listen on, publish or register.
        context_.client_id = UUID::Generate();
        context_.segment_name = config_.local_hostname;
        context_.master = master_.get();
        return OkStatus();
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
    return OkStatus();
}

Status RealClient::SetUpMemory() {
    if (!engine_) {
        LOG_IF(WARNING, config_.global_segment_size > 0 || config_.local_buffer_size > 0)
            << "protocol rpc_only: no segment is mounted and no local buffer made "
               "(global_segment_size and local_buffer_size ignored)";
        return OkStatus();
    }
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
    return OkStatus();
}

Status RealClient::StartDiskTier() {
    if (!config_.enable_ssd_offload) {
        context_.disk = &remote_disk_;
        return OkStatus();
    }
    const std::string host = context_.segment_name.substr(0, context_.segment_name.rfind(':'));
    auto tier = OffloadTier::Start(context_, config_.ssd_offload_path, host);
    if (!tier.has_value()) return Error(tier.error());
    offload_ = std::move(*tier);
    context_.disk = offload_.get();
    return OkStatus();
}

Status RealClient::Close() {
    auto lock = BeginClose();
    if (!lock.owns_lock()) return OkStatus();
    // Threads first: a heartbeat after the unmount would mount it again.
    if (heartbeat_) heartbeat_->Stop();
    if (executor_) executor_->Stop();
    if (runtime_segments_) runtime_segments_->Stop();
    if (offload_) offload_->Stop();
    if (credits_) credits_->ReleaseAll();
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
        MutexLock memory_lock(memory_mutex_);
        pool_allocations_.clear();
        if (engine_) {
            for (void* buffer : user_buffers_) (void)engine_->UnregisterLocalMemory(buffer);
        }
        user_buffers_.clear();
    }
    // The master dropped the runtime segments with the client.
    if (runtime_segments_) runtime_segments_->ReleaseAll();
    if (engine_ && local_buffer_) (void)engine_->UnregisterLocalMemory(local_buffer_->base());
    // A shared engine outlives the client: give back the segment's memory
    // (an owned engine frees it as it goes).
    if (engine_ && config_.engine && segment_.size > 0) {
        (void)engine_->FreeSharedMemory(reinterpret_cast<void*>(segment_.base));
    }
    // Destroying the engine unpublishes its descriptor and frees the
    // segment's memory. The local buffer lives on while callers hold bytes
    // from it.
    context_.disk = nullptr;
    offload_.reset();
    context_.engine = nullptr;
    engine_.reset();
    context_.local_buffer.reset();
    local_buffer_.reset();
    context_.credits = nullptr;
    credits_.reset();
    context_.master = nullptr;
    master_.reset();
    if (!context_.client_id.IsNil()) LOG(INFO) << "Client " << context_.segment_name << " closed";
    return OkStatus();
}

std::string RealClient::GetHostname() const { return context_.segment_name; }

Status RealClient::CheckZeroCopyRange(const void* address, size_t size) const {
    if (address == nullptr || size == 0) {
        return Error(ErrorCode::INVALID_PARAMS, "a zero-copy buffer that is null or empty");
    }
    if (!engine_) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    if (!engine_->IsRegistered(address, size)) {
        std::ostringstream range;
        range << "the zero-copy range " << address << "+" << size
              << " is not registered (register_buffer it first)";
        return Error(ErrorCode::INVALID_PARAMS, range.str());
    }
    return OkStatus();
}

Status RealClient::AddZeroCopyPiece(const void* buffer, size_t size, PutSource* source) const {
    MC_RETURN_IF_ERROR(CheckZeroCopyRange(buffer, size));
    source->pieces.push_back(MemoryPiece{const_cast<void*>(buffer), size});
    source->size += size;
    return OkStatus();
}

std::vector<SegmentInfo> RealClient::MountedSegments() const {
    std::vector<SegmentInfo> segments;
    if (context_.has_segment) segments.push_back(segment_);
    if (runtime_segments_) {
        for (SegmentInfo& extra : runtime_segments_->Active()) segments.push_back(std::move(extra));
    }
    return segments;
}

std::vector<SegmentInfo> RealClient::PrepareRemount() {
    // A restarted master knows none of our credits (nor would it honour them).
    credits_->DropAll();
    // The master that asks for a re-mount may be a restarted one whose
    // embedded metadata server no longer holds our descriptor: without it
    // no peer could open our segment, whatever the master places there.
    Status published = engine_ ? engine_->RepublishDescriptor() : OkStatus();
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

Status RealClient::DoPut(const std::string& key, std::span<const ConstBytes> parts, uint64_t size,
                         const ReplicateConfig& config) {
    if (local_buffer_ == nullptr) return Error(NoStagingCode());
    auto staging = local_buffer_->Allocate(size);
    if (!staging.has_value()) return Error(staging.error());
    CopyParts(parts, (*staging)->mutable_data());
    const PutSource source{{MemoryPiece{(*staging)->mutable_data(), size}}, size};
    Status result = OkStatus();
    put_pipeline_.Run(std::span<const std::string>(&key, 1), std::span<const PutSource>(&source, 1),
                      config, std::span<Status>(&result, 1));
    return result;
}

void RealClient::DoBatchPut(const std::vector<std::string>& keys,
                            const std::vector<std::vector<ConstBytes>>& values,
                            const std::vector<uint64_t>& sizes, const ReplicateConfig& config,
                            std::vector<Status>& results) {
    std::vector<PutSource> sources(keys.size());
    std::vector<std::shared_ptr<LocalBufferSlice>> staging(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) continue;
        if (local_buffer_ == nullptr) {
            results[i] = Error(NoStagingCode());
            continue;
        }
        auto slice = local_buffer_->Allocate(sizes[i]);
        if (!slice.has_value()) {
            results[i] = Error(slice.error());
            continue;
        }
        staging[i] = std::move(*slice);
        CopyParts(values[i], staging[i]->mutable_data());
        sources[i] = PutSource{{MemoryPiece{staging[i]->mutable_data(), sizes[i]}}, sizes[i]};
    }
    put_pipeline_.Run(keys, sources, config, results);
}

Status RealClient::DoPutFrom(const std::string& key, const void* buffer, size_t size,
                             const ReplicateConfig& config) {
    PutSource source;
    MC_RETURN_IF_ERROR(AddZeroCopyPiece(buffer, size, &source));
    Status result = OkStatus();
    put_pipeline_.Run(std::span<const std::string>(&key, 1), std::span<const PutSource>(&source, 1),
                      config, std::span<Status>(&result, 1));
    return result;
}

void RealClient::DoBatchPutFrom(const std::vector<std::string>& keys,
                                const std::vector<const void*>& buffers,
                                const std::vector<size_t>& sizes, const ReplicateConfig& config,
                                std::vector<Status>& results) {
    std::vector<PutSource> sources(keys.size());
    StagePutPieces(buffers, sizes, results, [&](size_t i, const void* buffer, size_t size) {
        return AddZeroCopyPiece(buffer, size, &sources[i]);
    });
    put_pipeline_.Run(keys, sources, config, results);
}

void RealClient::DoBatchPutFromMultiBuffers(const std::vector<std::string>& keys,
                                            const std::vector<std::vector<const void*>>& buffers,
                                            const std::vector<std::vector<size_t>>& sizes,
                                            const ReplicateConfig& config,
                                            std::vector<Status>& results) {
    std::vector<PutSource> sources(keys.size());
    StagePutPieces(buffers, sizes, results, [&](size_t i, const void* buffer, size_t size) {
        return AddZeroCopyPiece(buffer, size, &sources[i]);
    });
    put_pipeline_.Run(keys, sources, config, results);
}

// ---- gets -------------------------------------------------------------------

Result<std::shared_ptr<Buffer>> RealClient::DoGet(const std::string& key) {
    if (local_buffer_ == nullptr) return Error(NoStagingCode());
    GetOutcome outcome;
    get_pipeline_.Run(std::span<const std::string>(&key, 1), {},
                      std::span<GetOutcome>(&outcome, 1));
    if (outcome.error != ErrorCode::OK) return Error(outcome.error);
    return std::shared_ptr<Buffer>(std::move(outcome.slice));
}

void RealClient::DoBatchGet(const std::vector<std::string>& keys,
                            std::vector<Result<std::shared_ptr<Buffer>>>& results) {
    if (local_buffer_ == nullptr) {
        results = Filled<Result<std::shared_ptr<Buffer>>>(keys.size(), NoStagingCode());
        return;
    }
    std::vector<GetOutcome> outcomes(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) outcomes[i].error = results[i].error();
    }
    get_pipeline_.Run(keys, {}, outcomes);
    for (size_t i = 0; i < keys.size(); ++i) {
        if (outcomes[i].error != ErrorCode::OK) {
            results[i] = Error(outcomes[i].error);
        } else {
            results[i] = std::shared_ptr<Buffer>(std::move(outcomes[i].slice));
        }
    }
}

Result<size_t> RealClient::DoGetInto(const std::string& key, void* buffer, size_t capacity) {
    MC_RETURN_IF_ERROR(CheckZeroCopyRange(buffer, capacity));
    const GetDestination destination{{MemoryPiece{buffer, capacity}}, capacity};
    GetOutcome outcome;
    get_pipeline_.Run(std::span<const std::string>(&key, 1),
                      std::span<const GetDestination>(&destination, 1),
                      std::span<GetOutcome>(&outcome, 1));
    if (outcome.error != ErrorCode::OK) return Error(outcome.error);
    return static_cast<size_t>(outcome.size);
}

void RealClient::RunGetsInto(const std::vector<std::string>& keys,
                             const std::vector<GetDestination>& destinations,
                             std::vector<Result<size_t>>& results) {
    std::vector<GetOutcome> outcomes(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) outcomes[i].error = results[i].error();
    }
    get_pipeline_.Run(keys, destinations, outcomes);
    results = SizesOf(outcomes);
}

void RealClient::DoBatchGetInto(const std::vector<std::string>& keys,
                                const std::vector<void*>& buffers,
                                const std::vector<size_t>& capacities,
                                std::vector<Result<size_t>>& results) {
    std::vector<GetDestination> destinations(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) continue;
        Status valid = CheckZeroCopyRange(buffers[i], capacities[i]);
        if (!valid.has_value()) {
            results[i] = Error(valid.error());
            continue;
        }
        destinations[i] = GetDestination{{MemoryPiece{buffers[i], capacities[i]}}, capacities[i]};
    }
    RunGetsInto(keys, destinations, results);
}

void RealClient::DoBatchGetIntoMultiBuffers(const std::vector<std::string>& keys,
                                            const std::vector<std::vector<void*>>& buffers,
                                            const std::vector<std::vector<size_t>>& sizes,
                                            std::vector<Result<size_t>>& results) {
    std::vector<GetDestination> destinations(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = OkStatus();
        if (!results[i].has_value()) continue;
        GetDestination destination;
        for (size_t p = 0; valid.has_value() && p < buffers[i].size(); ++p) {
            valid = CheckZeroCopyRange(buffers[i][p], sizes[i][p]);
            destination.pieces.push_back(MemoryPiece{buffers[i][p], sizes[i][p]});
            destination.capacity += sizes[i][p];
        }
        if (!valid.has_value()) {
            results[i] = Error(valid.error());
            continue;
        }
        destinations[i] = std::move(destination);
    }
    RunGetsInto(keys, destinations, results);
}

// ---- memory -----------------------------------------------------------------

Status RealClient::DoRegisterBuffer(void* buffer, size_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (!engine_) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    MutexLock memory_lock(memory_mutex_);
    // Only the local side of transfers: peers never read or write it.
    MC_RETURN_IF_ERROR(engine_->RegisterLocalMemory(buffer, size, /*remote_accessible=*/false));
    user_buffers_.insert(buffer);
    return OkStatus();
}

Status RealClient::DoUnregisterBuffer(void* buffer) {
    MutexLock memory_lock(memory_mutex_);
    // Only what RegisterBuffer added: the segment and the local buffer are
    // the client's own.
    if (user_buffers_.find(buffer) == user_buffers_.end()) {
        return Error(ErrorCode::INVALID_PARAMS, "unregister of a buffer that was not registered");
    }
    if (!engine_) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    MC_RETURN_IF_ERROR(engine_->UnregisterLocalMemory(buffer));
    user_buffers_.erase(buffer);
    return OkStatus();
}

Result<void*> RealClient::DoAllocFromMemPool(size_t size) {
    if (local_buffer_ == nullptr) return Error(NoStagingCode());
    auto slice = local_buffer_->Allocate(size);
    if (!slice.has_value()) return Error(slice.error());
    void* address = (*slice)->mutable_data();
    MutexLock memory_lock(memory_mutex_);
    pool_allocations_.push_back(std::move(*slice));
    return address;
}

// ---- queries ----------------------------------------------------------------

Result<bool> RealClient::DoIsExist(const std::string& key) { return master_->ExistKey(key); }

std::vector<Result<bool>> RealClient::DoBatchIsExist(const std::vector<std::string>& keys) {
    auto answers = master_->BatchExistKey(keys);
    if (!answers.has_value() || answers->size() != keys.size()) {
        const ErrorCode code =
            answers.has_value() ? ErrorCode::INTERNAL_ERROR : answers.error().code();
        return Filled<Result<bool>>(keys.size(), code);
    }
    return std::move(*answers);
}

Result<uint64_t> RealClient::DoGetSize(const std::string& key) {
    auto found = master_->GetReplicaList(key);
    if (!found.has_value()) return Error(found.error());
    for (const ReplicaDescriptor& replica : found->replicas) {
        if (replica.is_memory_replica()) return replica.memory().size;
        if (replica.is_disk_replica()) return replica.disk().object_size;
        if (replica.is_local_disk_replica()) return replica.local_disk().object_size;
    }
    return Error(ErrorCode::INVALID_REPLICA);
}

Result<std::vector<ReplicaDescriptor>> RealClient::DoGetReplicaDesc(const std::string& key) {
    auto found = master_->GetReplicaList(key);
    if (!found.has_value()) return Error(found.error());
    return std::move(found->replicas);
}

std::vector<Result<std::vector<ReplicaDescriptor>>> RealClient::DoBatchGetReplicaDesc(
    const std::vector<std::string>& keys) {
    using Entry = Result<std::vector<ReplicaDescriptor>>;
    auto answers = master_->BatchGetReplicaList(keys);
    if (!answers.has_value()) return Filled<Entry>(keys.size(), answers.error());
    if (answers->size() != keys.size()) return Filled<Entry>(keys.size(), ErrorCode::RPC_FAIL);
    std::vector<Entry> found;
    found.reserve(keys.size());
    for (auto& answer : *answers) {
        if (answer.has_value()) {
            found.emplace_back(std::move(answer->replicas));
        } else {
            found.emplace_back(Error(answer.error()));
        }
    }
    return found;
}

Status RealClient::DoRemove(const std::string& key, bool force) {
    return master_->Remove(key, force);
}

Result<int64_t> RealClient::DoRemoveByRegex(const std::string& regex, bool force) {
    return master_->RemoveByRegex(regex, force);
}

Result<int64_t> RealClient::DoRemoveAll(bool force) { return master_->RemoveAll(force); }

// ---- copy / move tasks ------------------------------------------------------

Result<UUID> RealClient::DoCreateCopyTask(const std::string& key,
                                          const std::vector<std::string>& targets) {
    return master_->CreateCopyTask(key, targets);
}

Result<UUID> RealClient::DoCreateMoveTask(const std::string& key, const std::string& source,
                                          const std::string& target) {
    return master_->CreateMoveTask(key, source, target);
}

Result<TaskInfo> RealClient::DoQueryTask(const UUID& task_id) {
    return master_->QueryTask(task_id);
}

}  // namespace mooncake
