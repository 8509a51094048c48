// The master's gRPC control plane: every unary method of
// `service MasterService` (proto/master.proto) as a thin adapter over
// RequestDispatcher, plus the bidirectional Stream method, and the server
// that hosts them.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "common/cluster_auth.h"
#include "master.grpc.pb.h"
#include "master/request_dispatcher.h"

namespace mooncake {

// With a verifier (a cluster key is configured), a call must carry a valid
// token (common/cluster_auth.h): OK, or UNAUTHENTICATED (logged). The reply
// proves the secret back in its initial metadata. No verifier: OK.
grpc::Status CheckGrpcToken(auth::GrpcTokenVerifier* verifier, grpc::ServerContext* context);

class GrpcMasterService final : public rpc::MasterService::Service {
   public:
    // At most `max_streams` Stream calls are served at once; each holds a
    // server thread for its lifetime, so more are refused with
    // RESOURCE_EXHAUSTED instead of starving the unary calls.
    // With `key`, every call must carry a token (cluster_auth.h); others get
    // UNAUTHENTICATED.
    GrpcMasterService(RequestDispatcher& dispatcher, size_t max_streams,
                      auth::ClusterKeyPtr key = nullptr);

    size_t active_streams() const { return active_streams_.load(); }

    using Ctx = grpc::ServerContext;
    grpc::Status PutStart(Ctx*, const rpc::PutStartRequest*, rpc::PutStartResponse*) override;
    grpc::Status PutEnd(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;
    grpc::Status PutRevoke(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;
    grpc::Status BatchPutStart(Ctx*, const rpc::BatchPutStartRequest*,
                               rpc::BatchPutStartResponse*) override;
    grpc::Status BatchPutEnd(Ctx*, const rpc::BatchKeysRequest*,
                             rpc::BatchStatusResponse*) override;
    grpc::Status BatchPutRevoke(Ctx*, const rpc::BatchKeysRequest*,
                                rpc::BatchStatusResponse*) override;
    grpc::Status GetReplicaList(Ctx*, const rpc::KeyRequest*,
                                rpc::GetReplicaListResponse*) override;
    grpc::Status BatchGetReplicaList(Ctx*, const rpc::BatchKeysRequest*,
                                     rpc::BatchGetReplicaListResponse*) override;
    grpc::Status GetReplicaListByRegex(Ctx*, const rpc::RegexRequest*,
                                       rpc::GetReplicaListByRegexResponse*) override;
    grpc::Status ExistKey(Ctx*, const rpc::KeyRequest*, rpc::ExistKeyResponse*) override;
    grpc::Status BatchExistKey(Ctx*, const rpc::BatchKeysRequest*,
                               rpc::BatchExistKeyResponse*) override;
    grpc::Status Remove(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;
    grpc::Status RemoveByRegex(Ctx*, const rpc::RegexRequest*, rpc::CountResponse*) override;
    grpc::Status RemoveAll(Ctx*, const rpc::RemoveAllRequest*, rpc::CountResponse*) override;
    grpc::Status BatchReplicaClear(Ctx*, const rpc::BatchReplicaClearRequest*,
                                   rpc::BatchReplicaClearResponse*) override;
    grpc::Status MountLocalDisk(Ctx*, const rpc::MountLocalDiskRequest*,
                                rpc::StatusResponse*) override;
    grpc::Status UnmountLocalDisk(Ctx*, const rpc::ClientIdRequest*, rpc::StatusResponse*) override;
    grpc::Status OffloadHeartbeat(Ctx*, const rpc::OffloadHeartbeatRequest*,
                                  rpc::OffloadHeartbeatResponse*) override;
    grpc::Status NotifyOffloadSuccess(Ctx*, const rpc::NotifyOffloadSuccessRequest*,
                                      rpc::StatusResponse*) override;
    grpc::Status NotifyDiskEvicted(Ctx*, const rpc::NotifyDiskEvictedRequest*,
                                   rpc::StatusResponse*) override;
    grpc::Status MountSegment(Ctx*, const rpc::MountSegmentRequest*, rpc::StatusResponse*) override;
    grpc::Status ReMountSegment(Ctx*, const rpc::ReMountSegmentRequest*,
                                rpc::StatusResponse*) override;
    grpc::Status UnmountSegment(Ctx*, const rpc::UnmountSegmentRequest*,
                                rpc::StatusResponse*) override;
    grpc::Status GetAllSegments(Ctx*, const rpc::GetAllSegmentsRequest*,
                                rpc::GetAllSegmentsResponse*) override;
    grpc::Status QuerySegment(Ctx*, const rpc::QuerySegmentRequest*,
                              rpc::QuerySegmentResponse*) override;
    grpc::Status Ping(Ctx*, const rpc::PingRequest*, rpc::PingResponse*) override;
    grpc::Status GetServiceInfo(Ctx*, const rpc::GetServiceInfoRequest*,
                                rpc::GetServiceInfoResponse*) override;
    grpc::Status CreateCopyTask(Ctx*, const rpc::CreateCopyTaskRequest*,
                                rpc::CreateTaskResponse*) override;
    grpc::Status CreateMoveTask(Ctx*, const rpc::CreateMoveTaskRequest*,
                                rpc::CreateTaskResponse*) override;
    grpc::Status QueryTask(Ctx*, const rpc::QueryTaskRequest*, rpc::QueryTaskResponse*) override;
    grpc::Status FetchTasks(Ctx*, const rpc::FetchTasksRequest*, rpc::FetchTasksResponse*) override;
    grpc::Status MarkTaskComplete(Ctx*, const rpc::MarkTaskCompleteRequest*,
                                  rpc::StatusResponse*) override;
    grpc::Status CopyStart(Ctx*, const rpc::CopyStartRequest*, rpc::CopyStartResponse*) override;
    grpc::Status CopyEnd(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;
    grpc::Status CopyRevoke(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;
    grpc::Status MoveStart(Ctx*, const rpc::MoveStartRequest*, rpc::MoveStartResponse*) override;
    grpc::Status MoveEnd(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;
    grpc::Status MoveRevoke(Ctx*, const rpc::KeyRequest*, rpc::StatusResponse*) override;

    grpc::Status Stream(
        Ctx* context,
        grpc::ServerReaderWriter<rpc::MasterResponse, rpc::MasterRequest>* stream) override;

   private:
    RequestDispatcher& dispatcher_;
    const size_t max_streams_;
    const std::unique_ptr<auth::GrpcTokenVerifier> verifier_;  // null: no authentication
    std::atomic<size_t> active_streams_{0};
};

// Hosts GrpcMasterService on address:port.
class GrpcMasterServer {
   public:
    struct Options {
        std::string address = "0.0.0.0";
        uint16_t port = 50051;  // 0 picks a free port
        int threads = 4;        // pollers serving calls; more are added on demand
        size_t max_streams = 1024;
        auth::ClusterKeyPtr cluster_key;  // set: callers must authenticate
        // More services on the same port (HA replication); not owned.
        std::vector<grpc::Service*> extra_services;
    };

    GrpcMasterServer(RequestDispatcher& dispatcher, Options options);
    ~GrpcMasterServer();
    GrpcMasterServer(const GrpcMasterServer&) = delete;
    GrpcMasterServer& operator=(const GrpcMasterServer&) = delete;

    // Binds and starts serving. The error is one line naming address and port.
    std::expected<void, std::string> Start();
    // Stops taking calls; calls still running after `grace` are cancelled.
    void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

    uint16_t port() const { return bound_port_; }
    size_t active_streams() const { return service_.active_streams(); }

   private:
    Options options_;
    GrpcMasterService service_;
    std::unique_ptr<grpc::Server> server_;
    uint16_t bound_port_ = 0;
};

}  // namespace mooncake
