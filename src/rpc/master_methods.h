// The master's unary methods, declared once. Everything that lists them
// derives from this table: the dispatcher's switch and handler
// declarations, the gRPC service adapters, the client's gRPC fallback,
// which calls a client may repeat, and which calls HA replicates and waits
// for. Adding a master method touches proto/master.proto (its messages, its
// body in MasterRequest/MasterResponse, its rpc), the logic
// (MasterService), its handler (RequestDispatcher) and its client stub,
// and one row here.
//
//   X(Method, Case, field, Request, Response, Effect)
//
// Method:   the rpc of `service MasterService` and the handler's name.
// Case:     the body's oneof case (rpc::MasterRequest::k<Case>); differs from
//           Method only where the field's spelling does (remount_segment).
// field:    the body's field in MasterRequest and MasterResponse.
// Request, Response: the messages (namespace rpc).
// Effect:   see MethodEffect.
#pragma once

#include "master.pb.h"

namespace mooncake {

enum class MethodEffect {
    // Changes nothing a client or a standby relies on: a client may send
    // it again after a broken connection. (Ping refreshes liveness only,
    // which is harmless to repeat and not replicated.)
    kReads,
    // Begins or abandons a change (put, copy and move starts, revokes):
    // replicated, but an answer does not wait for the standbys, since
    // losing one in a failover loses no answered object.
    kStarts,
    // Completes a change: answered only once the standbys hold it.
    kCompletes,
    // Changes state that is not replicated (offload, tasks): never repeated.
    kLocal,
};

#define MOONCAKE_MASTER_METHODS(X)                                                                 \
    X(PutStart, PutStart, put_start, PutStartRequest, PutStartResponse, kStarts)                   \
    X(PutEnd, PutEnd, put_end, KeyRequest, StatusResponse, kCompletes)                             \
    X(PutRevoke, PutRevoke, put_revoke, KeyRequest, StatusResponse, kStarts)                       \
    X(BatchPutStart, BatchPutStart, batch_put_start, BatchPutStartRequest, BatchPutStartResponse,  \
      kStarts)                                                                                     \
    X(BatchPutEnd, BatchPutEnd, batch_put_end, BatchKeysRequest, BatchStatusResponse, kCompletes)  \
    X(BatchPutRevoke, BatchPutRevoke, batch_put_revoke, BatchKeysRequest, BatchStatusResponse,     \
      kStarts)                                                                                     \
    X(GrantPutCredits, GrantPutCredits, grant_put_credits, GrantPutCreditsRequest,                 \
      GrantPutCreditsResponse, kLocal)                                                             \
    X(BatchPutCommit, BatchPutCommit, batch_put_commit, BatchPutCommitRequest,                     \
      BatchStatusResponse, kCompletes)                                                             \
    X(GetReplicaList, GetReplicaList, get_replica_list, KeyRequest, GetReplicaListResponse,        \
      kReads)                                                                                      \
    X(BatchGetReplicaList, BatchGetReplicaList, batch_get_replica_list, BatchKeysRequest,          \
      BatchGetReplicaListResponse, kReads)                                                         \
    X(GetReplicaListByRegex, GetReplicaListByRegex, get_replica_list_by_regex, RegexRequest,       \
      GetReplicaListByRegexResponse, kReads)                                                       \
    X(ExistKey, ExistKey, exist_key, KeyRequest, ExistKeyResponse, kReads)                         \
    X(BatchExistKey, BatchExistKey, batch_exist_key, BatchKeysRequest, BatchExistKeyResponse,      \
      kReads)                                                                                      \
    X(Remove, Remove, remove, KeyRequest, StatusResponse, kCompletes)                              \
    X(RemoveByRegex, RemoveByRegex, remove_by_regex, RegexRequest, CountResponse, kCompletes)      \
    X(RemoveAll, RemoveAll, remove_all, RemoveAllRequest, CountResponse, kCompletes)               \
    X(BatchReplicaClear, BatchReplicaClear, batch_replica_clear, BatchReplicaClearRequest,         \
      BatchReplicaClearResponse, kCompletes)                                                       \
    X(MountLocalDisk, MountLocalDisk, mount_local_disk, MountLocalDiskRequest, StatusResponse,     \
      kLocal)                                                                                      \
    X(UnmountLocalDisk, UnmountLocalDisk, unmount_local_disk, ClientIdRequest, StatusResponse,     \
      kLocal)                                                                                      \
    X(OffloadHeartbeat, OffloadHeartbeat, offload_heartbeat, OffloadHeartbeatRequest,              \
      OffloadHeartbeatResponse, kLocal)                                                            \
    X(NotifyOffloadSuccess, NotifyOffloadSuccess, notify_offload_success,                          \
      NotifyOffloadSuccessRequest, StatusResponse, kLocal)                                         \
    X(NotifyDiskEvicted, NotifyDiskEvicted, notify_disk_evicted, NotifyDiskEvictedRequest,         \
      StatusResponse, kLocal)                                                                      \
    X(MountSegment, MountSegment, mount_segment, MountSegmentRequest, StatusResponse, kCompletes)  \
    X(ReMountSegment, RemountSegment, remount_segment, ReMountSegmentRequest, StatusResponse,      \
      kCompletes)                                                                                  \
    X(UnmountSegment, UnmountSegment, unmount_segment, UnmountSegmentRequest, StatusResponse,      \
      kCompletes)                                                                                  \
    X(GetAllSegments, GetAllSegments, get_all_segments, GetAllSegmentsRequest,                     \
      GetAllSegmentsResponse, kReads)                                                              \
    X(QuerySegment, QuerySegment, query_segment, QuerySegmentRequest, QuerySegmentResponse,        \
      kReads)                                                                                      \
    X(Ping, Ping, ping, PingRequest, PingResponse, kReads)                                         \
    X(GetServiceInfo, GetServiceInfo, get_service_info, GetServiceInfoRequest,                     \
      GetServiceInfoResponse, kReads)                                                              \
    X(CreateCopyTask, CreateCopyTask, create_copy_task, CreateCopyTaskRequest, CreateTaskResponse, \
      kLocal)                                                                                      \
    X(CreateMoveTask, CreateMoveTask, create_move_task, CreateMoveTaskRequest, CreateTaskResponse, \
      kLocal)                                                                                      \
    X(QueryTask, QueryTask, query_task, QueryTaskRequest, QueryTaskResponse, kReads)               \
    X(FetchTasks, FetchTasks, fetch_tasks, FetchTasksRequest, FetchTasksResponse, kLocal)          \
    X(MarkTaskComplete, MarkTaskComplete, mark_task_complete, MarkTaskCompleteRequest,             \
      StatusResponse, kLocal)                                                                      \
    X(CopyStart, CopyStart, copy_start, CopyStartRequest, CopyStartResponse, kStarts)              \
    X(CopyEnd, CopyEnd, copy_end, KeyRequest, StatusResponse, kCompletes)                          \
    X(CopyRevoke, CopyRevoke, copy_revoke, KeyRequest, StatusResponse, kStarts)                    \
    X(MoveStart, MoveStart, move_start, MoveStartRequest, MoveStartResponse, kStarts)              \
    X(MoveEnd, MoveEnd, move_end, KeyRequest, StatusResponse, kCompletes)                          \
    X(MoveRevoke, MoveRevoke, move_revoke, KeyRequest, StatusResponse, kStarts)

// What a call of the method with body `body` does; kLocal for a body this
// build does not know.
constexpr MethodEffect EffectOf(rpc::MasterRequest::BodyCase body) {
    switch (body) {
#define MOONCAKE_METHOD_EFFECT(Method, Case, field, Request, Response, Effect) \
    case rpc::MasterRequest::k##Case:                                          \
        return MethodEffect::Effect;
        MOONCAKE_MASTER_METHODS(MOONCAKE_METHOD_EFFECT)
#undef MOONCAKE_METHOD_EFFECT
        default:
            return MethodEffect::kLocal;
    }
}

}  // namespace mooncake
