#include "client/dummy_client.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "client/client_config_util.h"
#include "client/dummy_rpc_protocol.h"
#include "common/cluster_auth.h"
#include "common/logging.h"
#include "common/net_util.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using SteadyClock = std::chrono::steady_clock;
using BodyCase = dummy_rpc::Response::BodyCase;

ErrorCode CodeFromWire(int32_t code) { return code == 0 ? ErrorCode::OK : ErrorCodeFromInt(code); }

}  // namespace

struct DummyClient::ItemPlan {
    // Set when the key is not sent (refused before the request).
    ErrorCode error = ErrorCode::OK;
    // (offset, length) in the shared memory; their concatenation is the value.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    uint64_t capacity = 0;  // gets: total length of the ranges
    // Gets: staged pieces, copied to the caller's memory after the read.
    struct StagedPiece {
        uint8_t* destination;
        const uint8_t* staged;
        uint64_t length;
        uint64_t object_offset;  // where the piece starts in the object
    };
    std::vector<StagedPiece> staged;
    // Staging (and get result) slices, held for the duration of the call.
    std::vector<std::shared_ptr<DummyMemorySlice>> slices;
    // Gets with report_sizes: the object's size when the ranges were too small.
    uint64_t reported_size = 0;
};

struct DummyClient::SizeAnswer {
    ErrorCode error = ErrorCode::OK;
    uint64_t size = 0;
};

namespace {

// Adds a DataItem (key and shared-memory ranges) to `items` for every key
// whose plan holds no error, and records the errors in `results`. Returns
// the positions sent, in request order.
template <typename Plan, typename ResultT>
std::vector<size_t> AddPlannedItems(const std::vector<std::string>& keys,
                                    const std::vector<Plan>& plans,
                                    google::protobuf::RepeatedPtrField<dummy_rpc::DataItem>* items,
                                    std::vector<ResultT>& results) {
    std::vector<size_t> sent;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (plans[i].error != ErrorCode::OK) {
            results[i] = Error(plans[i].error);
            continue;
        }
        dummy_rpc::DataItem* item = items->Add();
        item->set_key(keys[i]);
        for (const auto& [offset, length] : plans[i].ranges) {
            dummy_rpc::ShmRange* range = item->add_ranges();
            range->set_offset(offset);
            range->set_length(length);
        }
        sent.push_back(i);
    }
    return sent;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::ConnectDummy(const DummyClientConfig& config) {
    auto client = DummyClient::Connect(config);
    if (!client.has_value()) return Error(client.error());
    return std::unique_ptr<Client>(std::move(*client));
}

Result<std::unique_ptr<DummyClient>> DummyClient::Connect(const DummyClientConfig& config) {
    InitLoggingOnce("mooncake_dummy_client");
    std::unique_ptr<DummyClient> client(new DummyClient(config));
    Status ready = client->Setup();
    if (!ready.has_value()) {
        LOG(ERROR) << "Dummy client for the standalone client at '" << config.server_address
                   << "' failed: " << ErrorCodeName(ready.error());
        client->Close();
        return Error(ready.error());
    }
    return client;
}

DummyClient::DummyClient(const DummyClientConfig& config)
    : config_(config),
      rpc_timeout_(config.rpc_timeout_ms > 0 ? std::chrono::milliseconds(config.rpc_timeout_ms)
                                             : kDefaultRpcTimeout),
      session_id_(UUID::Generate()) {}

DummyClient::~DummyClient() { Close(); }

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
        std::lock_guard<std::mutex> memory_lock(memory_mutex_);
        pool_allocations_.clear();
    }
    registered_.Clear();
    ReleaseQuarantine();
    // Slices handed out by Get keep the mapping alive until they go.
    memory_.reset();
    if (!server_instance_.IsNil()) LOG(INFO) << "Dummy client of " << GetHostname() << " closed";
    return OkStatus();
}

std::string DummyClient::GetHostname() const {
    std::lock_guard<std::mutex> lock(server_mutex_);
    return segment_name_;
}

uint64_t DummyClient::quarantined_bytes() const {
    std::lock_guard<std::mutex> lock(server_mutex_);
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

    std::lock_guard<std::mutex> lock(server_mutex_);
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

void DummyClient::Quarantine(std::vector<ItemPlan>& plans) {
    std::lock_guard<std::mutex> lock(server_mutex_);
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
        std::lock_guard<std::mutex> lock(server_mutex_);
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
    Status called = Call(&request, &response, dummy_rpc::Response::kStatuses, &maybe_delivered);
    if (called.has_value() &&
        static_cast<size_t>(response.statuses().error_codes_size()) != sent.size()) {
        maybe_delivered = true;
        called = Error(ErrorCode::RPC_FAIL);
    }
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

void DummyClient::DoBatchPutFrom(const std::vector<std::string>& keys,
                                 const std::vector<const void*>& buffers,
                                 const std::vector<size_t>& sizes, const ReplicateConfig& config,
                                 std::vector<Status>& results) {
    std::vector<ItemPlan> plans(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = results[i];
        if (valid.has_value()) valid = PlanPutPiece(buffers[i], sizes[i], &plans[i]);
        if (!valid.has_value()) {
            plans[i] = ItemPlan{};
            plans[i].error = valid.error();
        }
    }
    results = PutPlanned(keys, plans, config);
}

void DummyClient::DoBatchPutFromMultiBuffers(const std::vector<std::string>& keys,
                                             const std::vector<std::vector<const void*>>& buffers,
                                             const std::vector<std::vector<size_t>>& sizes,
                                             const ReplicateConfig& config,
                                             std::vector<Status>& results) {
    std::vector<ItemPlan> plans(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = results[i];
        for (size_t p = 0; valid.has_value() && p < buffers[i].size(); ++p) {
            valid = PlanPutPiece(buffers[i][p], sizes[i][p], &plans[i]);
        }
        if (!valid.has_value()) {
            plans[i] = ItemPlan{};  // gives back the staging of earlier pieces
            plans[i].error = valid.error();
        }
    }
    results = PutPlanned(keys, plans, config);
}

// ---- gets -------------------------------------------------------------------

std::vector<DummyClient::SizeAnswer> DummyClient::QuerySizes(const std::vector<std::string>& keys) {
    std::vector<SizeAnswer> answers(keys.size());
    if (keys.empty()) return answers;
    dummy_rpc::Request request;
    for (const std::string& key : keys) request.mutable_get_size()->add_keys(key);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    Status called = Call(&request, &response, dummy_rpc::Response::kSizes, &maybe_delivered);
    const dummy_rpc::SizeList& sizes = response.sizes();
    if (called.has_value() && (static_cast<size_t>(sizes.error_codes_size()) != keys.size() ||
                               static_cast<size_t>(sizes.sizes_size()) != keys.size())) {
        called = Error(ErrorCode::RPC_FAIL);
    }
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!called.has_value()) {
            answers[i].error = called.error();
            continue;
        }
        answers[i].error = CodeFromWire(sizes.error_codes(static_cast<int>(i)));
        answers[i].size = sizes.sizes(static_cast<int>(i));
    }
    return answers;
}

std::vector<Result<size_t>> DummyClient::GetIntoPlanned(const std::vector<std::string>& keys,
                                                        std::vector<ItemPlan>& plans,
                                                        bool report_sizes) {
    std::vector<Result<size_t>> results(keys.size(), size_t{0});
    dummy_rpc::Request request;
    dummy_rpc::GetIntoRequest* get = request.mutable_get_into();
    get->set_report_sizes(report_sizes);
    const std::vector<size_t> sent = AddPlannedItems(keys, plans, get->mutable_items(), results);
    if (sent.empty()) return results;
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    Status called = Call(&request, &response, dummy_rpc::Response::kSizes, &maybe_delivered);
    const dummy_rpc::SizeList& sizes = response.sizes();
    if (called.has_value() && (static_cast<size_t>(sizes.error_codes_size()) != sent.size() ||
                               static_cast<size_t>(sizes.sizes_size()) != sent.size())) {
        maybe_delivered = true;
        called = Error(ErrorCode::RPC_FAIL);
    }
    if (!called.has_value()) {
        if (maybe_delivered) Quarantine(plans);
        for (size_t i : sent) results[i] = Error(called.error());
        return results;
    }
    for (size_t k = 0; k < sent.size(); ++k) {
        ItemPlan& plan = plans[sent[k]];
        const ErrorCode code = CodeFromWire(sizes.error_codes(static_cast<int>(k)));
        const uint64_t size = sizes.sizes(static_cast<int>(k));
        if (code != ErrorCode::OK) {
            results[sent[k]] = Error(code);
            plan.reported_size = size;
            continue;
        }
        if (size > plan.capacity) {
            LOG_EVERY_T(ERROR, 10.0) << "Dummy client: the standalone client reported " << size
                                     << " bytes read into " << plan.capacity;
            results[sent[k]] = Error(ErrorCode::RPC_FAIL);
            continue;
        }
        for (const ItemPlan::StagedPiece& piece : plan.staged) {
            if (piece.object_offset >= size) break;
            std::memcpy(piece.destination, piece.staged,
                        std::min(piece.length, size - piece.object_offset));
        }
        results[sent[k]] = static_cast<size_t>(size);
    }
    return results;
}

Status DummyClient::PlanGetPieces(const std::vector<void*>& buffers,
                                  const std::vector<size_t>& sizes, uint64_t limit,
                                  ItemPlan* plan) {
    if (buffers.empty() || buffers.size() != sizes.size()) return Error(ErrorCode::INVALID_PARAMS);
    for (size_t p = 0; p < buffers.size(); ++p) {
        if (buffers[p] == nullptr || sizes[p] == 0) return Error(ErrorCode::INVALID_PARAMS);
        const bool shared = memory_ != nullptr && memory_->Contains(buffers[p], sizes[p]);
        if (!shared && !IsRegisteredRange(buffers[p], sizes[p])) {
            LOG(WARNING) << "Zero-copy range " << buffers[p] << "+" << sizes[p]
                         << " is neither in the dummy's shared memory nor registered "
                         << "(RegisterBuffer it first)";
            return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    uint64_t object_offset = 0;
    for (size_t p = 0; p < buffers.size() && object_offset < limit; ++p) {
        auto* destination = static_cast<uint8_t*>(buffers[p]);
        const uint64_t length = std::min<uint64_t>(sizes[p], limit - object_offset);
        if (memory_ != nullptr && memory_->Contains(destination, length)) {
            plan->ranges.emplace_back(memory_->OffsetOf(destination), length);
        } else {
            if (memory_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
            auto slice = memory_->Allocate(DummyMemory::Pool::kLocalBuffer, length);
            if (!slice.has_value()) return Error(slice.error());
            plan->ranges.emplace_back((*slice)->offset(), length);
            plan->staged.push_back({destination, (*slice)->data(), length, object_offset});
            plan->slices.push_back(std::move(*slice));
        }
        object_offset += length;
        plan->capacity += length;
    }
    return OkStatus();
}

std::vector<Result<size_t>> DummyClient::GetIntoPieces(
    const std::vector<std::string>& keys, const std::vector<std::vector<void*>>& buffers,
    const std::vector<std::vector<size_t>>& sizes, const std::vector<Result<size_t>>& checked) {
    std::vector<ItemPlan> plans(keys.size());
    // Keys whose staging for the whole capacity did not fit: staged again
    // for the object's size only, once it is known.
    std::vector<size_t> restage;
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = checked[i].has_value() ? OkStatus() : Status(Error(checked[i].error()));
        if (valid.has_value()) {
            valid = PlanGetPieces(buffers[i], sizes[i], std::numeric_limits<uint64_t>::max(),
                                  &plans[i]);
        }
        if (!valid.has_value()) {
            plans[i] = ItemPlan{};
            plans[i].error = valid.error();
            if (valid.error() == ErrorCode::BUFFER_OVERFLOW && memory_ != nullptr) {
                restage.push_back(i);
            }
        }
    }
    if (!restage.empty()) {
        std::vector<std::string> restage_keys;
        for (size_t i : restage) restage_keys.push_back(keys[i]);
        const std::vector<SizeAnswer> answers = QuerySizes(restage_keys);
        for (size_t k = 0; k < restage.size(); ++k) {
            const size_t i = restage[k];
            uint64_t capacity = 0;
            for (size_t length : sizes[i]) capacity += length;
            ItemPlan plan;
            if (answers[k].error != ErrorCode::OK) {
                plan.error = answers[k].error;
            } else if (answers[k].size > capacity) {
                plan.error = ErrorCode::INVALID_PARAMS;
            } else if (Status staged = PlanGetPieces(buffers[i], sizes[i], answers[k].size, &plan);
                       !staged.has_value()) {
                plan = ItemPlan{};
                plan.error = staged.error();
            }
            plans[i] = std::move(plan);
        }
    }
    return GetIntoPlanned(keys, plans);
}

Result<size_t> DummyClient::DoGetInto(const std::string& key, void* buffer, size_t capacity) {
    return GetIntoPieces({key}, {{buffer}}, {{capacity}}, {size_t{0}})[0];
}

void DummyClient::DoBatchGetInto(const std::vector<std::string>& keys,
                                 const std::vector<void*>& buffers,
                                 const std::vector<size_t>& capacities,
                                 std::vector<Result<size_t>>& results) {
    std::vector<std::vector<void*>> pieces(keys.size());
    std::vector<std::vector<size_t>> lengths(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        pieces[i] = {buffers[i]};
        lengths[i] = {capacities[i]};
    }
    results = GetIntoPieces(keys, pieces, lengths, results);
}

void DummyClient::DoBatchGetIntoMultiBuffers(const std::vector<std::string>& keys,
                                             const std::vector<std::vector<void*>>& buffers,
                                             const std::vector<std::vector<size_t>>& sizes,
                                             std::vector<Result<size_t>>& results) {
    results = GetIntoPieces(keys, buffers, sizes, results);
}

std::vector<Result<std::shared_ptr<Buffer>>> DummyClient::GetIntoSlices(
    const std::vector<std::string>& keys, const std::vector<SizeAnswer>& sizes) {
    using Entry = Result<std::shared_ptr<Buffer>>;
    std::vector<Entry> results(keys.size(), Error(ErrorCode::INTERNAL_ERROR));
    std::vector<ItemPlan> plans(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        ItemPlan& plan = plans[i];
        if (sizes[i].error != ErrorCode::OK) {
            plan.error = sizes[i].error;
            continue;
        }
        if (memory_ == nullptr) {
            plan.error = ErrorCode::BUFFER_OVERFLOW;
            continue;
        }
        auto slice = memory_->Allocate(DummyMemory::Pool::kLocalBuffer, sizes[i].size);
        if (!slice.has_value()) {
            plan.error = slice.error();
            continue;
        }
        plan.ranges.emplace_back((*slice)->offset(), sizes[i].size);
        plan.capacity = sizes[i].size;
        plan.slices.push_back(std::move(*slice));
    }
    std::vector<Result<size_t>> read = GetIntoPlanned(keys, plans);
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!read[i].has_value()) {
            results[i] = Error(read[i].error());
            continue;
        }
        std::shared_ptr<DummyMemorySlice> slice = std::move(plans[i].slices.front());
        slice->Truncate(*read[i]);
        results[i] = std::shared_ptr<Buffer>(std::move(slice));
    }
    return results;
}

Result<std::shared_ptr<Buffer>> DummyClient::DoGet(const std::string& key) {
    const std::vector<std::string> keys{key};
    std::vector<SizeAnswer> sizes;
    auto speculative = memory_ != nullptr ? memory_->Allocate(DummyMemory::Pool::kLocalBuffer,
                                                              kSpeculativeGetBytes)
                                          : Error(ErrorCode::BUFFER_OVERFLOW);
    if (speculative.has_value()) {
        std::vector<ItemPlan> plans(1);
        plans[0].ranges.emplace_back((*speculative)->offset(), kSpeculativeGetBytes);
        plans[0].capacity = kSpeculativeGetBytes;
        // The plan holds the only reference: a call of unknown outcome keeps
        // the slice aside.
        plans[0].slices.push_back(std::move(*speculative));
        const Result<size_t> read = GetIntoPlanned(keys, plans, /*report_sizes=*/true)[0];
        if (read.has_value()) {
            std::shared_ptr<DummyMemorySlice> slice = std::move(plans[0].slices.front());
            slice->Truncate(*read);
            return std::shared_ptr<Buffer>(std::move(slice));
        }
        if (read.error() != ErrorCode::INVALID_PARAMS ||
            plans[0].reported_size <= kSpeculativeGetBytes) {
            return Error(read.error());
        }
        sizes.push_back(SizeAnswer{ErrorCode::OK, plans[0].reported_size});
    } else {
        sizes = QuerySizes(keys);
    }
    std::vector<Result<std::shared_ptr<Buffer>>> got = GetIntoSlices(keys, sizes);
    // Removed and put again larger in between: once more.
    if (!got[0].has_value() && got[0].error() == ErrorCode::INVALID_PARAMS) {
        got = GetIntoSlices(keys, QuerySizes(keys));
    }
    return std::move(got[0]);
}

void DummyClient::DoBatchGet(const std::vector<std::string>& keys,
                             std::vector<Result<std::shared_ptr<Buffer>>>& results) {
    std::vector<std::string> valid_keys;
    std::vector<size_t> positions;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) continue;
        valid_keys.push_back(keys[i]);
        positions.push_back(i);
    }
    if (valid_keys.empty()) return;
    auto got = GetIntoSlices(valid_keys, QuerySizes(valid_keys));
    for (size_t k = 0; k < positions.size(); ++k) {
        if (!got[k].has_value() && got[k].error() == ErrorCode::INVALID_PARAMS) {
            const std::vector<std::string> retry{valid_keys[k]};
            got[k] = GetIntoSlices(retry, QuerySizes(retry))[0];
        }
        results[positions[k]] = std::move(got[k]);
    }
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
    std::lock_guard<std::mutex> memory_lock(memory_mutex_);
    pool_allocations_.push_back(std::move(*slice));
    return address;
}

// ---- queries ----------------------------------------------------------------

Result<bool> DummyClient::DoIsExist(const std::string& key) { return DoBatchIsExist({key})[0]; }

std::vector<Result<bool>> DummyClient::DoBatchIsExist(const std::vector<std::string>& keys) {
    dummy_rpc::Request request;
    for (const std::string& key : keys) request.mutable_is_exist()->add_keys(key);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    Status called = Call(&request, &response, dummy_rpc::Response::kExists, &maybe_delivered);
    const dummy_rpc::ExistList& exists = response.exists();
    if (called.has_value() && (static_cast<size_t>(exists.error_codes_size()) != keys.size() ||
                               static_cast<size_t>(exists.exists_size()) != keys.size())) {
        called = Error(ErrorCode::RPC_FAIL);
    }
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
    dummy_rpc::Request request;
    for (const std::string& key : keys) request.mutable_get_replica_desc()->add_keys(key);
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    Status called = Call(&request, &response, dummy_rpc::Response::kReplicas, &maybe_delivered);
    if (called.has_value() &&
        static_cast<size_t>(response.replicas().lists_size()) != keys.size()) {
        called = Error(ErrorCode::RPC_FAIL);
    }
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
