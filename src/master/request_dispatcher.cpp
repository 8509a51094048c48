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

void RequestDispatcher::CountCall(Body method) {
    const auto slot = static_cast<size_t>(method);
    if (slot < kMethodSlots) calls_[slot].fetch_add(1, std::memory_order_relaxed);
}

void RequestDispatcher::CountResult(ErrorCode code) {
    const int32_t slot = -ToInt(code);
    if (slot > 0 && slot < kErrorSlots) errors_[slot].fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::pair<std::string, uint64_t>> RequestDispatcher::CallCounts() const {
    std::vector<std::pair<std::string, uint64_t>> counts;
    const google::protobuf::OneofDescriptor* body =
        rpc::MasterRequest::descriptor()->FindOneofByName("body");
    for (int i = 0; i < body->field_count(); ++i) {
        const google::protobuf::FieldDescriptor* field = body->field(i);
        const auto slot = static_cast<size_t>(field->number());
        if (slot >= kMethodSlots) continue;
        counts.emplace_back(field->name(), calls_[slot].load(std::memory_order_relaxed));
    }
    return counts;
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
    switch (method) {
        // Starts and revokes: losing one in a failover loses no answered
        // object, so they do not wait for the followers.
        case Body::kPutStart:
        case Body::kPutRevoke:
        case Body::kBatchPutStart:
        case Body::kBatchPutRevoke:
        case Body::kCopyStart:
        case Body::kCopyRevoke:
        case Body::kMoveStart:
        case Body::kMoveRevoke:
            change_hook_(/*durable=*/false);
            return;
        case Body::kPutEnd:
        case Body::kBatchPutEnd:
        case Body::kRemove:
        case Body::kRemoveByRegex:
        case Body::kRemoveAll:
        case Body::kBatchReplicaClear:
        case Body::kMountSegment:
        case Body::kRemountSegment:
        case Body::kUnmountSegment:
        case Body::kCopyEnd:
        case Body::kMoveEnd:
            change_hook_(/*durable=*/true);
            return;
        default:
            return;
    }
}

void RequestDispatcher::AfterCall(std::string_view grpc_method) {
    if (!change_hook_) return;
    static constexpr std::string_view kStarts[] = {"PutStart",       "PutRevoke", "BatchPutStart",
                                                   "BatchPutRevoke", "CopyStart", "CopyRevoke",
                                                   "MoveStart",      "MoveRevoke"};
    static constexpr std::string_view kEnds[] = {
        "PutEnd",    "BatchPutEnd",  "Remove",           "RemoveByRegex",
        "RemoveAll", "MountSegment", "ReMountSegment",   "UnmountSegment",
        "CopyEnd",   "MoveEnd",      "BatchReplicaClear"};
    for (std::string_view name : kStarts) {
        if (name == grpc_method) return change_hook_(/*durable=*/false);
    }
    for (std::string_view name : kEnds) {
        if (name == grpc_method) return change_hook_(/*durable=*/true);
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
        case Body::kPutStart:
            return PutStart(request.put_start(), response->mutable_put_start());
        case Body::kPutEnd:
            return PutEnd(request.put_end(), response->mutable_put_end());
        case Body::kPutRevoke:
            return PutRevoke(request.put_revoke(), response->mutable_put_revoke());
        case Body::kBatchPutStart:
            return BatchPutStart(request.batch_put_start(), response->mutable_batch_put_start());
        case Body::kBatchPutEnd:
            return BatchPutEnd(request.batch_put_end(), response->mutable_batch_put_end());
        case Body::kBatchPutRevoke:
            return BatchPutRevoke(request.batch_put_revoke(), response->mutable_batch_put_revoke());
        case Body::kGetReplicaList:
            return GetReplicaList(request.get_replica_list(), response->mutable_get_replica_list());
        case Body::kBatchGetReplicaList:
            return BatchGetReplicaList(request.batch_get_replica_list(),
                                       response->mutable_batch_get_replica_list());
        case Body::kExistKey:
            return ExistKey(request.exist_key(), response->mutable_exist_key());
        case Body::kBatchExistKey:
            return BatchExistKey(request.batch_exist_key(), response->mutable_batch_exist_key());
        case Body::kRemove:
            return Remove(request.remove(), response->mutable_remove());
        case Body::kRemoveByRegex:
            return RemoveByRegex(request.remove_by_regex(), response->mutable_remove_by_regex());
        case Body::kRemoveAll:
            return RemoveAll(request.remove_all(), response->mutable_remove_all());
        case Body::kBatchReplicaClear:
            return BatchReplicaClear(request.batch_replica_clear(),
                                     response->mutable_batch_replica_clear());
        case Body::kMountLocalDisk:
            return MountLocalDisk(request.mount_local_disk(), response->mutable_mount_local_disk());
        case Body::kUnmountLocalDisk:
            return UnmountLocalDisk(request.unmount_local_disk(),
                                    response->mutable_unmount_local_disk());
        case Body::kOffloadHeartbeat:
            return OffloadHeartbeat(request.offload_heartbeat(),
                                    response->mutable_offload_heartbeat());
        case Body::kNotifyOffloadSuccess:
            return NotifyOffloadSuccess(request.notify_offload_success(),
                                        response->mutable_notify_offload_success());
        case Body::kNotifyDiskEvicted:
            return NotifyDiskEvicted(request.notify_disk_evicted(),
                                     response->mutable_notify_disk_evicted());
        case Body::kGetReplicaListByRegex:
            return GetReplicaListByRegex(request.get_replica_list_by_regex(),
                                         response->mutable_get_replica_list_by_regex());
        case Body::kPing:
            return Ping(request.ping(), response->mutable_ping());
        case Body::kMountSegment:
            return MountSegment(request.mount_segment(), response->mutable_mount_segment());
        case Body::kRemountSegment:
            return ReMountSegment(request.remount_segment(), response->mutable_remount_segment());
        case Body::kUnmountSegment:
            return UnmountSegment(request.unmount_segment(), response->mutable_unmount_segment());
        case Body::kGetServiceInfo:
            return GetServiceInfo(request.get_service_info(), response->mutable_get_service_info());
        case Body::kGetAllSegments:
            return GetAllSegments(request.get_all_segments(), response->mutable_get_all_segments());
        case Body::kQuerySegment:
            return QuerySegment(request.query_segment(), response->mutable_query_segment());
        case Body::kCreateCopyTask:
            return CreateCopyTask(request.create_copy_task(), response->mutable_create_copy_task());
        case Body::kCreateMoveTask:
            return CreateMoveTask(request.create_move_task(), response->mutable_create_move_task());
        case Body::kQueryTask:
            return QueryTask(request.query_task(), response->mutable_query_task());
        case Body::kFetchTasks:
            return FetchTasks(request.fetch_tasks(), response->mutable_fetch_tasks());
        case Body::kMarkTaskComplete:
            return MarkTaskComplete(request.mark_task_complete(),
                                    response->mutable_mark_task_complete());
        case Body::kCopyStart:
            return CopyStart(request.copy_start(), response->mutable_copy_start());
        case Body::kCopyEnd:
            return CopyEnd(request.copy_end(), response->mutable_copy_end());
        case Body::kCopyRevoke:
            return CopyRevoke(request.copy_revoke(), response->mutable_copy_revoke());
        case Body::kMoveStart:
            return MoveStart(request.move_start(), response->mutable_move_start());
        case Body::kMoveEnd:
            return MoveEnd(request.move_end(), response->mutable_move_end());
        case Body::kMoveRevoke:
            return MoveRevoke(request.move_revoke(), response->mutable_move_revoke());
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

ErrorCode CodeOfStatus(const Status& status) {
    return status.has_value() ? ErrorCode::OK : status.error();
}

}  // namespace

void RequestDispatcher::PutStart(const rpc::PutStartRequest& request,
                                 rpc::PutStartResponse* response) {
    CountCall(Body::kPutStart);
    auto result = service_.PutStart(FromProto(request.client_id()), request.key(),
                                    request.value_size(), FromProto(request.config()));
    CountResult(CodeOf(result));
    FillPutStart(result, response);
}

void RequestDispatcher::PutEnd(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kPutEnd);
    const ErrorCode code =
        CodeOfStatus(service_.PutEnd(FromProto(request.client_id()), request.key()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::PutRevoke(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kPutRevoke);
    const ErrorCode code =
        CodeOfStatus(service_.PutRevoke(FromProto(request.client_id()), request.key()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::BatchPutStart(const rpc::BatchPutStartRequest& request,
                                      rpc::BatchPutStartResponse* response) {
    CountCall(Body::kBatchPutStart);
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
    CountCall(Body::kBatchPutEnd);
    for (const Status& status :
         service_.BatchPutEnd(FromProto(request.client_id()), KeysOf(request.keys()))) {
        CountResult(CodeOfStatus(status));
        response->add_error_codes(CodeToWire(CodeOfStatus(status)));
    }
}

void RequestDispatcher::BatchPutRevoke(const rpc::BatchKeysRequest& request,
                                       rpc::BatchStatusResponse* response) {
    CountCall(Body::kBatchPutRevoke);
    for (const Status& status :
         service_.BatchPutRevoke(FromProto(request.client_id()), KeysOf(request.keys()))) {
        CountResult(CodeOfStatus(status));
        response->add_error_codes(CodeToWire(CodeOfStatus(status)));
    }
}

// ---- reads --------------------------------------------------------------------

void RequestDispatcher::GetReplicaList(const rpc::KeyRequest& request,
                                       rpc::GetReplicaListResponse* response) {
    CountCall(Body::kGetReplicaList);
    auto result = service_.GetReplicaList(request.key());
    CountResult(CodeOf(result));
    FillReplicaList(result, response);
}

void RequestDispatcher::BatchGetReplicaList(const rpc::BatchKeysRequest& request,
                                            rpc::BatchGetReplicaListResponse* response) {
    CountCall(Body::kBatchGetReplicaList);
    auto results = service_.BatchGetReplicaList(KeysOf(request.keys()));
    response->mutable_results()->Reserve(static_cast<int>(results.size()));
    for (const auto& result : results) {
        CountResult(CodeOf(result));
        FillReplicaList(result, response->add_results());
    }
}

void RequestDispatcher::GetReplicaListByRegex(const rpc::RegexRequest& request,
                                              rpc::GetReplicaListByRegexResponse* response) {
    CountCall(Body::kGetReplicaListByRegex);
    auto result = service_.GetReplicaListByRegex(request.regex());
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (!result) return;
    response->mutable_objects()->Reserve(static_cast<int>(result->size()));
    for (const auto& [key, replicas] : *result) {
        auto* object = response->add_objects();
        object->set_key(key);
        ToProto(replicas, object->mutable_replicas());
    }
}

void RequestDispatcher::ExistKey(const rpc::KeyRequest& request, rpc::ExistKeyResponse* response) {
    CountCall(Body::kExistKey);
    auto result = service_.ExistKey(request.key());
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    response->set_exists(result.value_or(false));
}

void RequestDispatcher::BatchExistKey(const rpc::BatchKeysRequest& request,
                                      rpc::BatchExistKeyResponse* response) {
    CountCall(Body::kBatchExistKey);
    auto results = service_.BatchExistKey(KeysOf(request.keys()));
    response->mutable_results()->Reserve(static_cast<int>(results.size()));
    for (const auto& result : results) {
        CountResult(CodeOf(result));
        auto* entry = response->add_results();
        entry->set_error_code(CodeToWire(CodeOf(result)));
        entry->set_exists(result.value_or(false));
    }
}

// ---- removal ------------------------------------------------------------------

void RequestDispatcher::Remove(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kRemove);
    const ErrorCode code = CodeOfStatus(service_.Remove(request.key(), request.force()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::RemoveByRegex(const rpc::RegexRequest& request,
                                      rpc::CountResponse* response) {
    CountCall(Body::kRemoveByRegex);
    auto result = service_.RemoveByRegex(request.regex(), request.force());
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    response->set_count(result.value_or(0));
}

void RequestDispatcher::RemoveAll(const rpc::RemoveAllRequest& request,
                                  rpc::CountResponse* response) {
    CountCall(Body::kRemoveAll);
    response->set_error_code(CodeToWire(ErrorCode::OK));
    response->set_count(service_.RemoveAll(request.force()));
}

void RequestDispatcher::BatchReplicaClear(const rpc::BatchReplicaClearRequest& request,
                                          rpc::BatchReplicaClearResponse* response) {
    CountCall(Body::kBatchReplicaClear);
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
    CountCall(Body::kMountSegment);
    const ErrorCode code = CodeOfStatus(
        service_.MountSegment(FromProto(request.client_id()), FromProto(request.segment())));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::ReMountSegment(const rpc::ReMountSegmentRequest& request,
                                       rpc::StatusResponse* response) {
    CountCall(Body::kRemountSegment);
    std::vector<SegmentInfo> segments;
    segments.reserve(request.segments_size());
    for (const rpc::Segment& segment : request.segments()) segments.push_back(FromProto(segment));
    const ErrorCode code =
        CodeOfStatus(service_.ReMountSegments(FromProto(request.client_id()), segments));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::UnmountSegment(const rpc::UnmountSegmentRequest& request,
                                       rpc::StatusResponse* response) {
    CountCall(Body::kUnmountSegment);
    const UUID client = FromProto(request.client_id());
    const ErrorCode code =
        CodeOfStatus(request.unregister_client()
                         ? service_.UnregisterClient(client)
                         : service_.UnmountSegment(client, FromProto(request.segment_id())));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::GetAllSegments(const rpc::GetAllSegmentsRequest& /*request*/,
                                       rpc::GetAllSegmentsResponse* response) {
    CountCall(Body::kGetAllSegments);
    response->set_error_code(CodeToWire(ErrorCode::OK));
    for (std::string& name : service_.GetAllSegments()) {
        response->add_segment_names(std::move(name));
    }
}

void RequestDispatcher::QuerySegment(const rpc::QuerySegmentRequest& request,
                                     rpc::QuerySegmentResponse* response) {
    CountCall(Body::kQuerySegment);
    auto result = service_.QuerySegment(request.name());
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (!result) return;
    response->set_used(result->used);
    response->set_capacity(result->capacity);
}

// ---- liveness and service information -----------------------------------------

void RequestDispatcher::Ping(const rpc::PingRequest& request, rpc::PingResponse* response) {
    CountCall(Body::kPing);
    auto result = service_.Ping(FromProto(request.client_id()));
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (!result) return;
    response->set_client_status(ToProto(result->status));
    for (const TaskAssignment& task : result->tasks) ToProto(task, response->add_tasks());
}

void RequestDispatcher::GetServiceInfo(const rpc::GetServiceInfoRequest& /*request*/,
                                       rpc::GetServiceInfoResponse* response) {
    CountCall(Body::kGetServiceInfo);
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
    CountCall(Body::kCreateCopyTask);
    const std::vector<std::string> targets(request.targets().begin(), request.targets().end());
    auto result = service_.CreateCopyTask(request.key(), targets);
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (result) ToProto(*result, response->mutable_task_id());
}

void RequestDispatcher::CreateMoveTask(const rpc::CreateMoveTaskRequest& request,
                                       rpc::CreateTaskResponse* response) {
    CountCall(Body::kCreateMoveTask);
    auto result = service_.CreateMoveTask(request.key(), request.source(), request.target());
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (result) ToProto(*result, response->mutable_task_id());
}

void RequestDispatcher::QueryTask(const rpc::QueryTaskRequest& request,
                                  rpc::QueryTaskResponse* response) {
    CountCall(Body::kQueryTask);
    auto result = service_.QueryTask(FromProto(request.task_id()));
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (result) ToProto(*result, response->mutable_task());
}

void RequestDispatcher::FetchTasks(const rpc::FetchTasksRequest& request,
                                   rpc::FetchTasksResponse* response) {
    CountCall(Body::kFetchTasks);
    response->set_error_code(CodeToWire(ErrorCode::OK));
    for (const TaskAssignment& task :
         service_.FetchTasks(FromProto(request.client_id()), request.max_tasks())) {
        ToProto(task, response->add_tasks());
    }
}

void RequestDispatcher::MarkTaskComplete(const rpc::MarkTaskCompleteRequest& request,
                                         rpc::StatusResponse* response) {
    CountCall(Body::kMarkTaskComplete);
    ErrorCode code = ErrorCode::OK;
    auto status = TaskStatusFromProto(request.status());
    if (!status) {
        code = status.error();
    } else {
        code = CodeOfStatus(service_.MarkTaskComplete(FromProto(request.client_id()),
                                                      FromProto(request.task_id()), *status,
                                                      request.message()));
    }
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::CopyStart(const rpc::CopyStartRequest& request,
                                  rpc::CopyStartResponse* response) {
    CountCall(Body::kCopyStart);
    const std::vector<std::string> targets(request.targets().begin(), request.targets().end());
    auto result = service_.CopyStart(FromProto(request.client_id()), request.key(), targets);
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (!result) return;
    ToProto(result->source, response->mutable_source());
    ToProto(result->targets, response->mutable_targets());
}

void RequestDispatcher::CopyEnd(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kCopyEnd);
    const ErrorCode code =
        CodeOfStatus(service_.CopyEnd(FromProto(request.client_id()), request.key()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::CopyRevoke(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kCopyRevoke);
    const ErrorCode code =
        CodeOfStatus(service_.CopyRevoke(FromProto(request.client_id()), request.key()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::MoveStart(const rpc::MoveStartRequest& request,
                                  rpc::MoveStartResponse* response) {
    CountCall(Body::kMoveStart);
    auto result = service_.MoveStart(FromProto(request.client_id()), request.key(),
                                     request.source(), request.target());
    CountResult(CodeOf(result));
    response->set_error_code(CodeToWire(CodeOf(result)));
    if (!result) return;
    ToProto(result->source, response->mutable_source());
    ToProto(result->target, response->mutable_target());
}

void RequestDispatcher::MoveEnd(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kMoveEnd);
    const ErrorCode code =
        CodeOfStatus(service_.MoveEnd(FromProto(request.client_id()), request.key()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

void RequestDispatcher::MoveRevoke(const rpc::KeyRequest& request, rpc::StatusResponse* response) {
    CountCall(Body::kMoveRevoke);
    const ErrorCode code =
        CodeOfStatus(service_.MoveRevoke(FromProto(request.client_id()), request.key()));
    CountResult(code);
    response->set_error_code(CodeToWire(code));
}

}  // namespace mooncake
