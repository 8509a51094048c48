#include "client/dummy_client.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "client/client_config_util.h"
#include "client/dummy_call_plan.h"
#include "client/dummy_rpc_protocol.h"
#include "common/cluster_auth.h"
#include "common/logging.h"
#include "common/net_util.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using SteadyClock = std::chrono::steady_clock;
using BodyCase = dummy_rpc::Response::BodyCase;
using dummy_wire::AddPlannedItems;
using dummy_wire::CodeFromWire;

}  // namespace

Result<std::unique_ptr<Client>> Client::ConnectDummy(const DummyClientConfig& config) {
    return AsClient(DummyClient::Connect(config));
}

Result<std::unique_ptr<DummyClient>> DummyClient::Connect(const DummyClientConfig& config) {
    InitLoggingOnce("mooncake_dummy_client");
    return SetUpOrClose(
        std::unique_ptr<DummyClient>(new DummyClient(config)),
        "Dummy client for the standalone client at '" + config.server_address + "'");
}

DummyClient::DummyClient(const DummyClientConfig& config)
    : config_(config),
      rpc_timeout_(config.rpc_timeout_ms > 0 ? std::chrono::milliseconds(config.rpc_timeout_ms)
                                             : kDefaultRpcTimeout),
      session_id_(UUID::Generate()) {}

DummyClient::~DummyClient() { (void)Close(); }

Status DummyClient::Setup() {
    auto address = ParseHostPort(config_.server_address);
    if (!address.has_value() || !address->port.has_value()) {
        LOG(ERROR) << "Dummy client: server_address '" << config_.server_address
                   << "' is not 'host:port'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // The shared memory is populated up front: more than the machine has
    // would end in the OOM killer, not in an error.
    const uint64_t physical = PhysicalMemoryBytes();
    if (config_.mem_pool_size > kMaxClientMemorySize ||
        config_.local_buffer_size > kMaxClientMemorySize ||
        (physical > 0 && config_.mem_pool_size + config_.local_buffer_size > physical)) {
        LOG(ERROR) << "Dummy client: mem_pool_size " << config_.mem_pool_size
                   << " + local_buffer_size " << config_.local_buffer_size
                   << " is more than this machine's memory";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto addresses = ResolveFramedRpcHost(address->host);
    if (!addresses.has_value()) {
        LOG(ERROR) << "Dummy client: cannot resolve '" << address->host << "'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (config_.mem_pool_size + config_.local_buffer_size > 0) {
        auto memory = DummyMemory::Create(config_.mem_pool_size, config_.local_buffer_size);
        if (!memory.has_value()) return Error(memory.error());
        memory_ = std::move(*memory);
    }
    // MC_CLUSTER_SECRET(_FILE): the standalone client may require it.
    auto key = auth::LoadClusterKey();
    if (!key) return Error(key.error());
    pool_ = std::make_unique<FramedRpcPool>(kMaxConnections, kDummyProtocol, std::move(*key));
    pool_->SetTarget(std::move(*addresses), *address->port);

    // The first connection proves that a standalone client answers and can
    // map this process's memory.
    const SteadyClock::time_point now = SteadyClock::now();
    const SteadyClock::time_point deadline = now + rpc_timeout_;
    auto lease = pool_->Checkout(deadline, std::min(deadline, now + kConnectTimeout));
    if (!lease.has_value()) {
        LOG(ERROR) << "Dummy client: no standalone client (mooncake_client) answers at "
                   << config_.server_address;
        return Error(lease.error() == ErrorCode::INVALID_VERSION ? ErrorCode::INVALID_VERSION
                                                                 : ErrorCode::RPC_FAIL);
    }
    (*lease)->TakeFirstUse();
    if (Status attached = Attach(**lease, deadline); !attached.has_value()) {
        (*lease)->Close();
        return attached;
    }
    LOG(INFO) << "Dummy client attached to the standalone client " << GetHostname() << " at "
              << config_.server_address << ": memory pool " << config_.mem_pool_size
              << " bytes, local buffer " << config_.local_buffer_size << " bytes";
    return OkStatus();
}

Status DummyClient::Close() {
    auto lock = BeginClose();
    if (!lock.owns_lock()) return OkStatus();
    // Closing the connections ends the session: the standalone client
    // unregisters and unmaps the shared memory.
    pool_.reset();
    {
        MutexLock memory_lock(memory_mutex_);
        pool_allocations_.clear();
    }
    registered_.Clear();
    ReleaseQuarantine();
    // Slices handed out by Get keep the mapping alive until they go.
    memory_.reset();
    bool was_connected;
    {
        MutexLock server_lock(server_mutex_);
        was_connected = !server_instance_.IsNil();
    }
    if (was_connected) LOG(INFO) << "Dummy client of " << GetHostname() << " closed";
    return OkStatus();
}

std::string DummyClient::GetHostname() const {
    MutexLock lock(server_mutex_);
    return segment_name_;
}

uint64_t DummyClient::quarantined_bytes() const {
    MutexLock lock(server_mutex_);
    uint64_t bytes = 0;
    for (const auto& slice : quarantine_) bytes += slice->size();
    return bytes;
}

// ---- calls ------------------------------------------------------------------

Status DummyClient::Attach(FramedRpcConnection& connection, net::SteadyDeadline deadline) {
    dummy_rpc::Request request;
    request.set_request_id(next_request_id_.fetch_add(1, std::memory_order_relaxed) + 1);
    dummy_rpc::AttachRequest* attach = request.mutable_attach();
    ToProto(session_id_, attach->mutable_session_id());
    attach->set_pid(static_cast<int32_t>(::getpid()));
    attach->set_shm_fd(-1);
    if (memory_ != nullptr) {
        const ShmFileInfo& shm = memory_->file_info();
        attach->set_shm_fd(shm.fd);
        attach->set_shm_inode(shm.inode);
        attach->set_shm_size(shm.size);
    }
    dummy_rpc::Response response;
    if (!connection.Call(request, &response, deadline).has_value()) {
        return Error(ErrorCode::RPC_FAIL);
    }
    if (response.error_code() != 0) {
        const ErrorCode code = CodeFromWire(response.error_code());
        LOG_EVERY_T(WARNING, 10.0)
            << "Dummy client: the standalone client at " << config_.server_address
            << " refused this process's memory: " << ErrorCodeName(code);
        return Error(code);
    }
    if (!response.has_attach()) return Error(ErrorCode::RPC_FAIL);

    MutexLock lock(server_mutex_);
    if (connection.master_instance_id() != server_instance_) {
        if (!server_instance_.IsNil()) {
            LOG(INFO) << "Dummy client: the standalone client at " << config_.server_address
                      << " restarted; attached to it again";
            // The previous instance is gone: memory it might still have
            // touched is safe to reuse.
            quarantine_.clear();
        }
        server_instance_ = connection.master_instance_id();
    }
    segment_name_ = response.attach().segment_name();
    return OkStatus();
}

Status DummyClient::Call(dummy_rpc::Request* request, dummy_rpc::Response* response,
                         BodyCase expected, bool* maybe_delivered) {
    *maybe_delivered = false;
    const SteadyClock::time_point now = SteadyClock::now();
    const SteadyClock::time_point deadline = now + rpc_timeout_;
    auto lease = pool_->Checkout(deadline, std::min(deadline, now + kConnectTimeout));
    if (!lease.has_value()) {
        LOG_EVERY_T(WARNING, 10.0) << "Dummy client: the standalone client at "
                                   << config_.server_address << " does not answer";
        return Error(ErrorCode::RPC_FAIL);
    }
    if ((*lease)->TakeFirstUse()) {
        if (Status attached = Attach(**lease, deadline); !attached.has_value()) {
            (*lease)->Close();
            return attached;
        }
    }
    request->set_request_id(next_request_id_.fetch_add(1, std::memory_order_relaxed) + 1);
    request->set_timeout_ms(static_cast<uint32_t>(rpc_timeout_.count()));
    Status answered = (*lease)->Call(*request, response, deadline);
    if (!answered.has_value()) {
        // Too large to send: nothing left this process.
        if (answered.error() == ErrorCode::INVALID_PARAMS) return answered;
        *maybe_delivered = true;
        LOG_EVERY_T(WARNING, 10.0) << "Dummy client: lost the standalone client at "
                                   << config_.server_address << " during a call";
        return Error(ErrorCode::RPC_FAIL);
    }
    if (response->error_code() != 0) return Error(CodeFromWire(response->error_code()));
    if (expected != dummy_rpc::Response::BODY_NOT_SET && response->body_case() != expected) {
        LOG_EVERY_T(WARNING, 10.0) << "Dummy client: the standalone client at "
                                   << config_.server_address << " answered out of protocol";
        *maybe_delivered = true;
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

Status DummyClient::CallForEach(dummy_rpc::Request* request, dummy_rpc::Response* response,
                                BodyCase expected, size_t count, bool* maybe_delivered) {
    MC_RETURN_IF_ERROR(Call(request, response, expected, maybe_delivered));
    const auto is_count = [count](int size) { return static_cast<size_t>(size) == count; };
    bool answers_each = false;
    switch (response->body_case()) {
        case dummy_rpc::Response::kStatuses:
            answers_each = is_count(response->statuses().error_codes_size());
            break;
        case dummy_rpc::Response::kExists:
            answers_each = is_count(response->exists().error_codes_size()) &&
                           is_count(response->exists().exists_size());
            break;
        case dummy_rpc::Response::kSizes:
            answers_each = is_count(response->sizes().error_codes_size()) &&
                           is_count(response->sizes().sizes_size());
            break;
        case dummy_rpc::Response::kReplicas:
            answers_each = is_count(response->replicas().lists_size());
            break;
        default:
            break;
    }
    if (!answers_each) {
        // An answer to something else: what was asked may have been done.
        *maybe_delivered = true;
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

Status DummyClient::QueryKeys(dummy_rpc::KeysRequest* (dummy_rpc::Request::*body)(),
                              const std::vector<std::string>& keys, BodyCase expected,
                              dummy_rpc::Response* response) {
    dummy_rpc::Request request;
    dummy_rpc::KeysRequest* list = (request.*body)();
    for (const std::string& key : keys) list->add_keys(key);
    bool maybe_delivered = false;  // a query stages no memory to quarantine
    return CallForEach(&request, response, expected, keys.size(), &maybe_delivered);
}

void DummyClient::Quarantine(std::vector<ItemPlan>& plans) {
    MutexLock lock(server_mutex_);
    uint64_t bytes = 0;
    for (ItemPlan& plan : plans) {
        for (auto& slice : plan.slices) {
            bytes += slice->size();
            quarantine_.push_back(std::move(slice));
        }
        plan.slices.clear();
    }
    if (bytes > 0) {
        LOG(WARNING) << "Dummy client: " << bytes << " bytes of staging memory stay reserved "
                     << "until the standalone client at " << config_.server_address
                     << " restarts (it may still be using them)";
    }
}

void DummyClient::ReleaseQuarantine() {
    std::vector<std::shared_ptr<DummyMemorySlice>> released;
    {
        MutexLock lock(server_mutex_);
        released.swap(quarantine_);
    }
}

// ---- puts -------------------------------------------------------------------

Status DummyClient::PlanPutPiece(const void* data, size_t length, ItemPlan* plan) {
    if (data == nullptr || length == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (memory_ != nullptr && memory_->Contains(data, length)) {
        plan->ranges.emplace_back(memory_->OffsetOf(data), length);
        return OkStatus();
    }
    if (!IsRegisteredRange(data, length)) {
        LOG(WARNING) << "Zero-copy range " << data << "+" << length
                     << " is neither in the dummy's shared memory nor registered "
                     << "(RegisterBuffer it first)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (memory_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
    auto slice = memory_->Allocate(DummyMemory::Pool::kLocalBuffer, length);
    if (!slice.has_value()) return Error(slice.error());
    std::memcpy((*slice)->mutable_data(), data, length);
    plan->ranges.emplace_back((*slice)->offset(), length);
    plan->slices.push_back(std::move(*slice));
    return OkStatus();
}

std::vector<Status> DummyClient::PutPlanned(const std::vector<std::string>& keys,
                                            std::vector<ItemPlan>& plans,
                                            const ReplicateConfig& config) {
    std::vector<Status> results(keys.size(), OkStatus());
    dummy_rpc::Request request;
    dummy_rpc::PutRequest* put = request.mutable_put();
    ToProto(config, put->mutable_config());
    const std::vector<size_t> sent = AddPlannedItems(keys, plans, put->mutable_items(), results);
    if (sent.empty()) return results;
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    const Status called = CallForEach(&request, &response, dummy_rpc::Response::kStatuses,
                                      sent.size(), &maybe_delivered);
    if (!called.has_value()) {
        if (maybe_delivered) Quarantine(plans);
        for (size_t i : sent) results[i] = called;
        return results;
    }
    for (size_t k = 0; k < sent.size(); ++k) {
        const int32_t code = response.statuses().error_codes(static_cast<int>(k));
        if (code != 0) results[sent[k]] = Error(CodeFromWire(code));
    }
    return results;
}

Status DummyClient::DoPut(const std::string& key, std::span<const ConstBytes> parts, uint64_t size,
                          const ReplicateConfig& config) {
    const std::vector<std::string> keys{key};
    const std::vector<std::vector<ConstBytes>> values(
        1, std::vector<ConstBytes>(parts.begin(), parts.end()));
    std::vector<ItemPlan> plans(1);
    return BatchPutStaged(keys, values, {size}, plans, config)[0];
}

void DummyClient::DoBatchPut(const std::vector<std::string>& keys,
                             const std::vector<std::vector<ConstBytes>>& values,
                             const std::vector<uint64_t>& sizes, const ReplicateConfig& config,
                             std::vector<Status>& results) {
    std::vector<ItemPlan> plans(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) plans[i].error = results[i].error();
    }
    results = BatchPutStaged(keys, values, sizes, plans, config);
}

std::vector<Status> DummyClient::BatchPutStaged(const std::vector<std::string>& keys,
                                                const std::vector<std::vector<ConstBytes>>& values,
                                                const std::vector<uint64_t>& sizes,
                                                std::vector<ItemPlan>& plans,
                                                const ReplicateConfig& config) {
    for (size_t i = 0; i < keys.size(); ++i) {
        ItemPlan& plan = plans[i];
        if (plan.error != ErrorCode::OK) continue;
        if (memory_ == nullptr) {
            plan.error = ErrorCode::BUFFER_OVERFLOW;
            continue;
        }
        auto slice = memory_->Allocate(DummyMemory::Pool::kLocalBuffer, sizes[i]);
        if (!slice.has_value()) {
            plan.error = slice.error();
            continue;
        }
        CopyParts(values[i], (*slice)->mutable_data());
        plan.ranges.emplace_back((*slice)->offset(), sizes[i]);
        plan.slices.push_back(std::move(*slice));
    }
    return PutPlanned(keys, plans, config);
}

Status DummyClient::DoPutFrom(const std::string& key, const void* buffer, size_t size,
                              const ReplicateConfig& config) {
    std::vector<ItemPlan> plans(1);
    MC_RETURN_IF_ERROR(PlanPutPiece(buffer, size, &plans[0]));
    return PutPlanned({key}, plans, config)[0];
}

template <typename Buffers, typename Sizes>
void DummyClient::PutPieces(const std::vector<std::string>& keys, const Buffers& buffers,
                            const Sizes& sizes, const ReplicateConfig& config,
                            std::vector<Status>& results) {
    std::vector<ItemPlan> plans(keys.size());
    StagePutPieces(buffers, sizes, results, [&](size_t i, const void* data, size_t length) {
        return PlanPutPiece(data, length, &plans[i]);
    });
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) {
            plans[i] = ItemPlan{};  // gives back the staging of earlier pieces
            plans[i].error = results[i].error();
        }
    }
    results = PutPlanned(keys, plans, config);
}

void DummyClient::DoBatchPutFrom(const std::vector<std::string>& keys,
                                 const std::vector<const void*>& buffers,
                                 const std::vector<size_t>& sizes, const ReplicateConfig& config,
                                 std::vector<Status>& results) {
    PutPieces(keys, buffers, sizes, config, results);
}

void DummyClient::DoBatchPutFromMultiBuffers(const std::vector<std::string>& keys,
                                             const std::vector<std::vector<const void*>>& buffers,
                                             const std::vector<std::vector<size_t>>& sizes,
                                             const ReplicateConfig& config,
                                             std::vector<Status>& results) {
    PutPieces(keys, buffers, sizes, config, results);
}

// ---- memory -----------------------------------------------------------------

Status DummyClient::DoRegisterBuffer(void* buffer, size_t size) {
    // Empty, wrapping and overlapping ranges are refused, as by the real
    // client.
    RegisteredRegion region;
    region.address = reinterpret_cast<uintptr_t>(buffer);
    region.length = size;
    region.remote_accessible = false;
    return registered_.Add(std::move(region));
}

Status DummyClient::DoUnregisterBuffer(void* buffer) {
    auto removed = registered_.Remove(reinterpret_cast<uintptr_t>(buffer));
    if (!removed.has_value()) return Error(removed.error());
    return OkStatus();
}

Result<void*> DummyClient::DoAllocFromMemPool(size_t size) {
    if (memory_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
    auto slice = memory_->Allocate(DummyMemory::Pool::kMemPool, size);
    if (!slice.has_value()) return Error(slice.error());
    void* address = (*slice)->mutable_data();
    MutexLock memory_lock(memory_mutex_);
    pool_allocations_.push_back(std::move(*slice));
    return address;
}

// ---- queries ----------------------------------------------------------------

Result<bool> DummyClient::DoIsExist(const std::string& key) { return DoBatchIsExist({key})[0]; }

std::vector<Result<bool>> DummyClient::DoBatchIsExist(const std::vector<std::string>& keys) {
    dummy_rpc::Response response;
    const Status called = QueryKeys(&dummy_rpc::Request::mutable_is_exist, keys,
                                    dummy_rpc::Response::kExists, &response);
    const dummy_rpc::ExistList& exists = response.exists();
    if (!called.has_value()) return Filled<Result<bool>>(keys.size(), called.error());
    std::vector<Result<bool>> results;
    results.reserve(keys.size());
    for (int i = 0; i < exists.error_codes_size(); ++i) {
        const ErrorCode code = CodeFromWire(exists.error_codes(i));
        if (code != ErrorCode::OK) {
            results.emplace_back(Error(code));
        } else {
            results.emplace_back(exists.exists(i));
        }
    }
    return results;
}

Result<uint64_t> DummyClient::DoGetSize(const std::string& key) {
    const SizeAnswer answer = QuerySizes({key})[0];
    if (answer.error != ErrorCode::OK) return Error(answer.error);
    return answer.size;
}

std::vector<Result<std::vector<ReplicaDescriptor>>> DummyClient::DoBatchGetReplicaDesc(
    const std::vector<std::string>& keys) {
    using Entry = Result<std::vector<ReplicaDescriptor>>;
    dummy_rpc::Response response;
    const Status called = QueryKeys(&dummy_rpc::Request::mutable_get_replica_desc, keys,
                                    dummy_rpc::Response::kReplicas, &response);
    if (!called.has_value()) return Filled<Entry>(keys.size(), called.error());
    std::vector<Entry> results;
    results.reserve(keys.size());
    for (const dummy_rpc::ReplicaList& list : response.replicas().lists()) {
        if (list.error_code() != 0) {
            results.emplace_back(Error(CodeFromWire(list.error_code())));
        } else {
            results.emplace_back(FromProto(list.replicas()));
        }
    }
    return results;
}

Result<std::vector<ReplicaDescriptor>> DummyClient::DoGetReplicaDesc(const std::string& key) {
    return DoBatchGetReplicaDesc({key})[0];
}

Status DummyClient::DoRemove(const std::string& key, bool force) {
    dummy_rpc::Request request;
    request.mutable_remove()->set_key(key);
    request.mutable_remove()->set_force(force);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    return Call(&request, &response, dummy_rpc::Response::BODY_NOT_SET, &maybe_delivered);
}

Result<int64_t> DummyClient::DoRemoveByRegex(const std::string& regex, bool force) {
    dummy_rpc::Request request;
    request.mutable_remove_by_regex()->set_regex(regex);
    request.mutable_remove_by_regex()->set_force(force);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    MC_RETURN_IF_ERROR(Call(&request, &response, dummy_rpc::Response::kCount, &maybe_delivered));
    return response.count();
}

Result<int64_t> DummyClient::DoRemoveAll(bool force) {
    dummy_rpc::Request request;
    request.mutable_remove_all()->set_force(force);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    MC_RETURN_IF_ERROR(Call(&request, &response, dummy_rpc::Response::kCount, &maybe_delivered));
    return response.count();
}

// ---- copy / move tasks ------------------------------------------------------

Result<UUID> DummyClient::DoCreateCopyTask(const std::string& key,
                                           const std::vector<std::string>& targets) {
    dummy_rpc::Request request;
    dummy_rpc::CopyTaskRequest* copy = request.mutable_create_copy_task();
    copy->set_key(key);
    for (const std::string& target : targets) copy->add_targets(target);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    MC_RETURN_IF_ERROR(Call(&request, &response, dummy_rpc::Response::kTaskId, &maybe_delivered));
    return FromProto(response.task_id());
}

Result<UUID> DummyClient::DoCreateMoveTask(const std::string& key, const std::string& source,
                                           const std::string& target) {
    dummy_rpc::Request request;
    dummy_rpc::MoveTaskRequest* move = request.mutable_create_move_task();
    move->set_key(key);
    move->set_source(source);
    move->set_target(target);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    MC_RETURN_IF_ERROR(Call(&request, &response, dummy_rpc::Response::kTaskId, &maybe_delivered));
    return FromProto(response.task_id());
}

Result<TaskInfo> DummyClient::DoQueryTask(const UUID& task_id) {
    dummy_rpc::Request request;
    ToProto(task_id, request.mutable_query_task()->mutable_task_id());
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    MC_RETURN_IF_ERROR(Call(&request, &response, dummy_rpc::Response::kTask, &maybe_delivered));
    auto task = FromProto(response.task());
    if (!task.has_value()) return Error(ErrorCode::RPC_FAIL);
    return std::move(*task);
}

}  // namespace mooncake
