#include "master/request_dispatcher.h"

#include <glog/logging.h>

#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using Body = rpc::MasterRequest::BodyCase;

std::vector<std::string> KeysOf(const google::protobuf::RepeatedPtrField<std::string>& keys) {
    return std::vector<std::string>(keys.begin(), keys.end());
}

}  // namespace

RequestDispatcher::RequestDispatcher(MasterService& service)
    : service_(service), errors_(std::make_unique<std::atomic<uint64_t>[]>(kErrorSlots)) {
    // ErrorCodeFromInt maps numbers outside the table to INTERNAL_ERROR, so a
    // number is a code exactly when it maps back to itself.
    for (int32_t value = -1; value > -kErrorSlots; --value) {
        if (ToInt(ErrorCodeFromInt(value)) == value)
            known_codes_.push_back(ErrorCodeFromInt(value));
    }
}

void RequestDispatcher::SetIdentity(ServerIdentity identity) { identity_ = std::move(identity); }

namespace {
// The call this thread is serving (handlers run on the calling thread, one
// at a time), so that results are charged to their method: a call fails
// once, however many of its keys fail.
thread_local size_t current_call_slot = 0;
thread_local bool current_call_failed = false;
}  // namespace

void RequestDispatcher::CountCall(Body method) {
    const auto slot = static_cast<size_t>(method);
    current_call_slot = slot < kMethodSlots ? slot : 0;
    current_call_failed = false;
    if (slot < kMethodSlots) calls_[slot].fetch_add(1, std::memory_order_relaxed);
}

void RequestDispatcher::CountAlso(Body method, bool failed) {
    const auto slot = static_cast<size_t>(method);
    if (slot >= kMethodSlots) return;
    calls_[slot].fetch_add(1, std::memory_order_relaxed);
    if (failed) failed_calls_[slot].fetch_add(1, std::memory_order_relaxed);
}

void RequestDispatcher::CountResult(ErrorCode code) {
    const int32_t slot = -ToInt(code);
    if (slot > 0 && slot < kErrorSlots) errors_[slot].fetch_add(1, std::memory_order_relaxed);
    if (code != ErrorCode::OK && !current_call_failed && current_call_slot != 0) {
        current_call_failed = true;
        failed_calls_[current_call_slot].fetch_add(1, std::memory_order_relaxed);
    }
}

std::vector<std::pair<std::string, uint64_t>> RequestDispatcher::PerMethod(
    const std::array<std::atomic<uint64_t>, kMethodSlots>& slots) {
    std::vector<std::pair<std::string, uint64_t>> counts;
    const google::protobuf::OneofDescriptor* body =
        rpc::MasterRequest::descriptor()->FindOneofByName("body");
    for (int i = 0; i < body->field_count(); ++i) {
        const google::protobuf::FieldDescriptor* field = body->field(i);
        const auto slot = static_cast<size_t>(field->number());
        if (slot >= kMethodSlots) continue;
        counts.emplace_back(field->name(), slots[slot].load(std::memory_order_relaxed));
    }
    return counts;
}

std::vector<std::pair<std::string, uint64_t>> RequestDispatcher::CallCounts() const {
    return PerMethod(calls_);
}

std::vector<std::pair<std::string, uint64_t>> RequestDispatcher::FailedCallCounts() const {
    return PerMethod(failed_calls_);
}

std::vector<std::pair<ErrorCode, uint64_t>> RequestDispatcher::ErrorCounts() const {
    std::vector<std::pair<ErrorCode, uint64_t>> counts;
    counts.reserve(known_codes_.size());
    for (ErrorCode code : known_codes_) {
        counts.emplace_back(code, errors_[-ToInt(code)].load(std::memory_order_relaxed));
    }
    return counts;
}

uint64_t RequestDispatcher::TotalErrors() const {
    uint64_t total = 0;
    for (ErrorCode code : known_codes_)
        total += errors_[-ToInt(code)].load(std::memory_order_relaxed);
    return total;
}

// ---- change hook (HA, snapshots) ----------------------------------------------

void RequestDispatcher::AfterCall(Body method) {
    if (!change_hook_) return;
    switch (EffectOf(method)) {
        case MethodEffect::kStarts:
            change_hook_(/*durable=*/false);
            return;
        case MethodEffect::kCompletes:
            change_hook_(/*durable=*/true);
            return;
        case MethodEffect::kReads:
        case MethodEffect::kLocal:
            return;
    }
}

// ---- envelopes --------------------------------------------------------------

void RequestDispatcher::Dispatch(const rpc::MasterRequest& request, rpc::MasterResponse* response) {
    response->Clear();
    response->set_request_id(request.request_id());
    if (!Serving()) {
        response->mutable_error()->set_error_code(ToInt(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE));
        return;
    }
    switch (request.body_case()) {
#define MOONCAKE_DISPATCH(Method, Case, field, Request, Response, Effect) \
    case Body::k##Case:                                                   \
        CountCall(Body::k##Case);                                         \
        return Method(request.field(), response->mutable_##field());
        MOONCAKE_MASTER_METHODS(MOONCAKE_DISPATCH)
#undef MOONCAKE_DISPATCH
        case Body::BODY_NOT_SET:
            break;
    }
    // Unknown fields of a newer client end up here as "no body".
    CountResult(ErrorCode::INVALID_PARAMS);
    response->mutable_error()->set_error_code(CodeToWire(ErrorCode::INVALID_PARAMS));
}

// ---- puts ---------------------------------------------------------------------

namespace {

void FillPutStart(const Result<std::vector<ReplicaDescriptor>>& result,
                  rpc::PutStartResponse* response) {
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (result) ToProto(*result, response->mutable_replicas());
}

void FillReplicaList(const Result<GetReplicaListResult>& result,
                     rpc::GetReplicaListResponse* response) {
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (!result) return;
    ToProto(result->replicas, response->mutable_replicas());
    response->set_lease_ttl_ms(result->lease_ttl_ms);
}

}  // namespace

void RequestDispatcher::AnswerClientKeyCall(ClientKeyCall call, const rpc::KeyRequest& request,
                                            rpc::StatusResponse* response) {
    response->set_error_code(
        Counted((service_.*call)(FromProto(request.client_id()), request.key())));
}

void RequestDispatcher::PutStart(const rpc::PutStartRequest& request,
                                 rpc::PutStartResponse* response) {
    auto result = service_.PutStart(FromProto(request.client_id()), request.key(),
                                    request.value_size(), FromProto(request.config()));
    CountResult(CodeOf(result));
    FillPutStart(result, response);
}

void RequestDispatcher::PutEnd(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    AnswerClientKeyCall(&MasterService::PutEnd, request, response);
}

void RequestDispatcher::PutRevoke(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    AnswerClientKeyCall(&MasterService::PutRevoke, request, response);
}

void RequestDispatcher::BatchPutStart(const rpc::BatchPutStartRequest& request,
                                      rpc::BatchPutStartResponse* response) {
    if (request.keys_size() != request.value_sizes_size()) {
        // One answer per key, so that the caller can still match them up.
        for (int i = 0; i < request.keys_size(); ++i) {
            CountResult(ErrorCode::INVALID_PARAMS);
            response->add_results()->set_error_code(CodeToWire(ErrorCode::INVALID_PARAMS));
        }
        return;
    }
    const std::vector<uint64_t> sizes(request.value_sizes().begin(), request.value_sizes().end());
    auto results = service_.BatchPutStart(FromProto(request.client_id()), KeysOf(request.keys()),
                                          sizes, FromProto(request.config()));
    response->mutable_results()->Reserve(static_cast<int>(results.size()));
    for (const auto& result : results) {
        CountResult(CodeOf(result));
        FillPutStart(result, response->add_results());
    }
}

void RequestDispatcher::BatchPutEnd(const rpc::BatchKeysRequest& request,
                                    rpc::BatchStatusResponse* response) {
    for (const Status& status :
         service_.BatchPutEnd(FromProto(request.client_id()), KeysOf(request.keys()))) {
        response->add_error_codes(Counted(status));
    }
}

void RequestDispatcher::GrantPutCredits(const rpc::GrantPutCreditsRequest& request,
                                        rpc::GrantPutCreditsResponse* response) {
    const std::vector<uint64_t> release(request.release().begin(), request.release().end());
    auto grant = service_.GrantPutCredits(FromProto(request.client_id()), request.value_size(),
                                          request.count(), request.replica_num(), release);
    response->set_error_code(Counted(grant));
    if (!grant) return;
    response->set_usable_ms(grant->usable_ms);
    response->mutable_credits()->Reserve(static_cast<int>(grant->credits.size()));
    for (const PutCredit& credit : grant->credits) {
        rpc::PutCredit* out = response->add_credits();
        out->set_id(credit.id);
        ToProto(credit.replicas, out->mutable_replicas());
    }
}

void RequestDispatcher::BatchPutCommit(const rpc::BatchPutCommitRequest& request,
                                       rpc::BatchStatusResponse* response) {
    const std::vector<uint64_t> credits(request.credits().begin(), request.credits().end());
    bool failed = false;
    for (const Status& status :
         service_.BatchPutCommit(FromProto(request.client_id()), KeysOf(request.keys()), credits,
                                 FromProto(request.config()))) {
        failed = failed || !status.has_value();
        response->add_error_codes(Counted(status));
    }
    // Request counts (the summary line, rpc_calls_total) show the puts a
    // user made, whichever way they reached the master.
    const bool single = request.keys_size() == 1;
    CountAlso(single ? Body::kPutStart : Body::kBatchPutStart, failed);
    CountAlso(single ? Body::kPutEnd : Body::kBatchPutEnd, failed);
}

void RequestDispatcher::BatchPutRevoke(const rpc::BatchKeysRequest& request,
                                       rpc::BatchStatusResponse* response) {
    for (const Status& status :
         service_.BatchPutRevoke(FromProto(request.client_id()), KeysOf(request.keys()))) {
        response->add_error_codes(Counted(status));
    }
}

// ---- reads --------------------------------------------------------------------

void RequestDispatcher::GetReplicaList(const rpc::KeyRequest& request,
                                       rpc::GetReplicaListResponse* response) {
    auto result = service_.GetReplicaList(request.key());
    CountResult(CodeOf(result));
    FillReplicaList(result, response);
}

void RequestDispatcher::BatchGetReplicaList(const rpc::BatchKeysRequest& request,
                                            rpc::BatchGetReplicaListResponse* response) {
    auto results = service_.BatchGetReplicaList(KeysOf(request.keys()));
    response->mutable_results()->Reserve(static_cast<int>(results.size()));
    for (const auto& result : results) {
        CountResult(CodeOf(result));
        FillReplicaList(result, response->add_results());
    }
}

void RequestDispatcher::GetReplicaListByRegex(const rpc::RegexRequest& request,
                                              rpc::GetReplicaListByRegexResponse* response) {
    auto result = service_.GetReplicaListByRegex(request.regex());
    response->set_error_code(Counted(result));
    if (!result) return;
    response->mutable_objects()->Reserve(static_cast<int>(result->size()));
    for (const auto& [key, replicas] : *result) {
        auto* object = response->add_objects();
        object->set_key(key);
        ToProto(replicas, object->mutable_replicas());
    }
}

void RequestDispatcher::ExistKey(const rpc::KeyRequest& request, rpc::ExistKeyResponse* response) {
    auto result = service_.ExistKey(request.key());
    response->set_error_code(Counted(result));
    response->set_exists(result.value_or(false));
}

void RequestDispatcher::BatchExistKey(const rpc::BatchKeysRequest& request,
                                      rpc::BatchExistKeyResponse* response) {
    auto results = service_.BatchExistKey(KeysOf(request.keys()));
    response->mutable_results()->Reserve(static_cast<int>(results.size()));
    for (const auto& result : results) {
        auto* entry = response->add_results();
        entry->set_error_code(Counted(result));
        entry->set_exists(result.value_or(false));
    }
}

// ---- removal ------------------------------------------------------------------

void RequestDispatcher::Remove(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    response->set_error_code(Counted(service_.Remove(request.key(), request.force())));
}

void RequestDispatcher::RemoveByRegex(const rpc::RegexRequest& request,
                                      rpc::CountResponse* response) {
    auto result = service_.RemoveByRegex(request.regex(), request.force());
    response->set_error_code(Counted(result));
    response->set_count(result.value_or(0));
}

void RequestDispatcher::RemoveAll(const rpc::RemoveAllRequest& request,
                                  rpc::CountResponse* response) {
    response->set_error_code(CodeToWire(ErrorCode::OK));
    response->set_count(service_.RemoveAll(request.force()));
}

void RequestDispatcher::BatchReplicaClear(const rpc::BatchReplicaClearRequest& request,
                                          rpc::BatchReplicaClearResponse* response) {
    const std::vector<std::string> keys(request.keys().begin(), request.keys().end());
    response->set_error_code(CodeToWire(ErrorCode::OK));
    for (std::string& key :
         service_.BatchReplicaClear(FromProto(request.client_id()), keys, request.segment_name())) {
        response->add_cleared_keys(std::move(key));
    }
}

// ---- segments -----------------------------------------------------------------

void RequestDispatcher::MountSegment(const rpc::MountSegmentRequest& request,
                                     rpc::StatusResponse* response) {
    response->set_error_code(Counted(
        service_.MountSegment(FromProto(request.client_id()), FromProto(request.segment()))));
}

void RequestDispatcher::ReMountSegment(const rpc::ReMountSegmentRequest& request,
                                       rpc::StatusResponse* response) {
    std::vector<SegmentInfo> segments;
    segments.reserve(request.segments_size());
    for (const rpc::Segment& segment : request.segments()) segments.push_back(FromProto(segment));
    response->set_error_code(
        Counted(service_.ReMountSegments(FromProto(request.client_id()), segments)));
}

void RequestDispatcher::UnmountSegment(const rpc::UnmountSegmentRequest& request,
                                       rpc::StatusResponse* response) {
    const UUID client = FromProto(request.client_id());
    response->set_error_code(
        Counted(request.unregister_client()
                    ? service_.UnregisterClient(client)
                    : service_.UnmountSegment(client, FromProto(request.segment_id()),
                                              request.grace_period_seconds())));
}

void RequestDispatcher::GetAllSegments(const rpc::GetAllSegmentsRequest& /*request*/,
                                       rpc::GetAllSegmentsResponse* response) {
    response->set_error_code(CodeToWire(ErrorCode::OK));
    for (std::string& name : service_.GetAllSegments()) {
        response->add_segment_names(std::move(name));
    }
}

void RequestDispatcher::QuerySegment(const rpc::QuerySegmentRequest& request,
                                     rpc::QuerySegmentResponse* response) {
    auto result = service_.QuerySegment(request.name());
    response->set_error_code(Counted(result));
    if (!result) return;
    response->set_used(result->used);
    response->set_capacity(result->capacity);
}

// ---- liveness and service information -----------------------------------------

void RequestDispatcher::Ping(const rpc::PingRequest& request, rpc::PingResponse* response) {
    auto result = service_.Ping(FromProto(request.client_id()));
    response->set_error_code(Counted(result));
    if (!result) return;
    response->set_client_status(ToProto(result->status));
    for (const TaskAssignment& task : result->tasks) ToProto(task, response->add_tasks());
}

void RequestDispatcher::GetServiceInfo(const rpc::GetServiceInfoRequest& /*request*/,
                                       rpc::GetServiceInfoResponse* response) {
    const MasterConfig& config = service_.config();
    response->set_error_code(CodeToWire(ErrorCode::OK));
    response->set_version(identity_.version);
    ToProto(identity_.instance_id, response->mutable_master_instance_id());
    response->set_hot_rpc_port(identity_.hot_rpc_port);
    response->set_default_kv_lease_ttl_ms(config.default_kv_lease_ttl_ms);
    response->set_client_ttl_sec(config.client_ttl_sec);
    response->set_cluster_id(config.cluster_id);
    response->set_replicates_commits(identity_.replicates_commits);
}

// ---- copy / move tasks --------------------------------------------------------

void RequestDispatcher::CreateCopyTask(const rpc::CreateCopyTaskRequest& request,
                                       rpc::CreateTaskResponse* response) {
    const std::vector<std::string> targets(request.targets().begin(), request.targets().end());
    auto result = service_.CreateCopyTask(request.key(), targets);
    response->set_error_code(Counted(result));
    if (result) ToProto(*result, response->mutable_task_id());
}

void RequestDispatcher::CreateMoveTask(const rpc::CreateMoveTaskRequest& request,
                                       rpc::CreateTaskResponse* response) {
    auto result = service_.CreateMoveTask(request.key(), request.source(), request.target());
    response->set_error_code(Counted(result));
    if (result) ToProto(*result, response->mutable_task_id());
}

void RequestDispatcher::QueryTask(const rpc::QueryTaskRequest& request,
                                  rpc::QueryTaskResponse* response) {
    auto result = service_.QueryTask(FromProto(request.task_id()));
    response->set_error_code(Counted(result));
    if (result) ToProto(*result, response->mutable_task());
}

void RequestDispatcher::FetchTasks(const rpc::FetchTasksRequest& request,
                                   rpc::FetchTasksResponse* response) {
    response->set_error_code(CodeToWire(ErrorCode::OK));
    for (const TaskAssignment& task :
         service_.FetchTasks(FromProto(request.client_id()), request.max_tasks())) {
        ToProto(task, response->add_tasks());
    }
}

void RequestDispatcher::MarkTaskComplete(const rpc::MarkTaskCompleteRequest& request,
                                         rpc::StatusResponse* response) {
    const auto status = TaskStatusFromProto(request.status());
    if (!status) {
        response->set_error_code(Counted(status));
        return;
    }
    response->set_error_code(Counted(service_.MarkTaskComplete(
        FromProto(request.client_id()), FromProto(request.task_id()), *status, request.message())));
}

void RequestDispatcher::CopyStart(const rpc::CopyStartRequest& request,
                                  rpc::CopyStartResponse* response) {
    const std::vector<std::string> targets(request.targets().begin(), request.targets().end());
    auto result = service_.CopyStart(FromProto(request.client_id()), request.key(), targets);
    response->set_error_code(Counted(result));
    if (!result) return;
    ToProto(result->source, response->mutable_source());
    ToProto(result->targets, response->mutable_targets());
}

void RequestDispatcher::CopyEnd(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    AnswerClientKeyCall(&MasterService::CopyEnd, request, response);
}

void RequestDispatcher::CopyRevoke(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    AnswerClientKeyCall(&MasterService::CopyRevoke, request, response);
}

void RequestDispatcher::MoveStart(const rpc::MoveStartRequest& request,
                                  rpc::MoveStartResponse* response) {
    auto result = service_.MoveStart(FromProto(request.client_id()), request.key(),
                                     request.source(), request.target());
    response->set_error_code(Counted(result));
    if (!result) return;
    ToProto(result->source, response->mutable_source());
    ToProto(result->target, response->mutable_target());
}

void RequestDispatcher::MoveEnd(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    AnswerClientKeyCall(&MasterService::MoveEnd, request, response);
}

void RequestDispatcher::MoveRevoke(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    AnswerClientKeyCall(&MasterService::MoveRevoke, request, response);
}

}  // namespace mooncake
