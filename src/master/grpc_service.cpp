#include "master/grpc_service.h"

#include <glog/logging.h>

#include "common/net_util.h"
#include "rpc/hot_rpc_protocol.h"

namespace mooncake {

grpc::Status CheckGrpcToken(auth::GrpcTokenVerifier* verifier, grpc::ServerContext* context) {
    if (verifier == nullptr) return grpc::Status::OK;
    const auto& metadata = context->client_metadata();
    auto found = metadata.find(auth::kGrpcMetadataKey);
    std::string why = "no " + std::string(auth::kGrpcMetadataKey) + " token";
    if (found != metadata.end()) {
        const std::string_view token(found->second.data(), found->second.size());
        if (verifier->Verify(token, &why)) {
            context->AddInitialMetadata(auth::kGrpcReplyMetadataKey,
                                        auth::GrpcReplyProof(verifier->key(), token));
            return grpc::Status::OK;
        }
    }
    LOG_EVERY_T(WARNING, 1.0) << "refusing a gRPC call from " << context->peer()
                              << ": cluster authentication failed: " << why;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "cluster authentication failed: " + why);
}

namespace {

// Every unary method is the same adapter: the dispatcher does the work and
// reports failures inside the response, so the gRPC status is always OK
// (unless the caller is not authenticated).
template <typename Request, typename Response>
grpc::Status Serve(auth::GrpcTokenVerifier* verifier, grpc::ServerContext* context,
                   RequestDispatcher& dispatcher,
                   void (RequestDispatcher::*handler)(const Request&, Response*),
                   const Request* request, Response* response, std::string_view method) {
    if (grpc::Status allowed = CheckGrpcToken(verifier, context); !allowed.ok()) return allowed;
    // A standby, or a leader past its lease deadline (docs/ha.md).
    if (!dispatcher.Serving()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this master is not the leader");
    }
    (dispatcher.*handler)(*request, response);
    dispatcher.AfterCall(method);
    return grpc::Status::OK;
}

}  // namespace

GrpcMasterService::GrpcMasterService(RequestDispatcher& dispatcher, size_t max_streams,
                                     auth::ClusterKeyPtr key)
    : dispatcher_(dispatcher),
      max_streams_(max_streams),
      verifier_(key ? std::make_unique<auth::GrpcTokenVerifier>(std::move(key)) : nullptr) {}

grpc::Status GrpcMasterService::PutStart(Ctx* context, const rpc::PutStartRequest* request,
                                         rpc::PutStartResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::PutStart, request,
                 response, "PutStart");
}
grpc::Status GrpcMasterService::PutEnd(Ctx* context, const rpc::KeyRequest* request,
                                       rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::PutEnd, request,
                 response, "PutEnd");
}
grpc::Status GrpcMasterService::PutRevoke(Ctx* context, const rpc::KeyRequest* request,
                                          rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::PutRevoke, request,
                 response, "PutRevoke");
}
grpc::Status GrpcMasterService::BatchPutStart(Ctx* context,
                                              const rpc::BatchPutStartRequest* request,
                                              rpc::BatchPutStartResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::BatchPutStart, request,
                 response, "BatchPutStart");
}
grpc::Status GrpcMasterService::BatchPutEnd(Ctx* context, const rpc::BatchKeysRequest* request,
                                            rpc::BatchStatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::BatchPutEnd, request,
                 response, "BatchPutEnd");
}
grpc::Status GrpcMasterService::BatchPutRevoke(Ctx* context, const rpc::BatchKeysRequest* request,
                                               rpc::BatchStatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::BatchPutRevoke, request,
                 response, "BatchPutRevoke");
}
grpc::Status GrpcMasterService::GetReplicaList(Ctx* context, const rpc::KeyRequest* request,
                                               rpc::GetReplicaListResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::GetReplicaList, request,
                 response, "GetReplicaList");
}
grpc::Status GrpcMasterService::BatchGetReplicaList(Ctx* context,
                                                    const rpc::BatchKeysRequest* request,
                                                    rpc::BatchGetReplicaListResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::BatchGetReplicaList,
                 request, response, "BatchGetReplicaList");
}
grpc::Status GrpcMasterService::GetReplicaListByRegex(
    Ctx* context, const rpc::RegexRequest* request, rpc::GetReplicaListByRegexResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::GetReplicaListByRegex,
                 request, response, "GetReplicaListByRegex");
}
grpc::Status GrpcMasterService::ExistKey(Ctx* context, const rpc::KeyRequest* request,
                                         rpc::ExistKeyResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::ExistKey, request,
                 response, "ExistKey");
}
grpc::Status GrpcMasterService::BatchExistKey(Ctx* context, const rpc::BatchKeysRequest* request,
                                              rpc::BatchExistKeyResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::BatchExistKey, request,
                 response, "BatchExistKey");
}
grpc::Status GrpcMasterService::Remove(Ctx* context, const rpc::KeyRequest* request,
                                       rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::Remove, request,
                 response, "Remove");
}
grpc::Status GrpcMasterService::RemoveByRegex(Ctx* context, const rpc::RegexRequest* request,
                                              rpc::CountResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::RemoveByRegex, request,
                 response, "RemoveByRegex");
}
grpc::Status GrpcMasterService::RemoveAll(Ctx* context, const rpc::RemoveAllRequest* request,
                                          rpc::CountResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::RemoveAll, request,
                 response, "RemoveAll");
}
grpc::Status GrpcMasterService::BatchReplicaClear(Ctx* context,
                                                  const rpc::BatchReplicaClearRequest* request,
                                                  rpc::BatchReplicaClearResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::BatchReplicaClear,
                 request, response, "BatchReplicaClear");
}
grpc::Status GrpcMasterService::MountLocalDisk(Ctx* context,
                                               const rpc::MountLocalDiskRequest* request,
                                               rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::MountLocalDisk, request,
                 response, "MountLocalDisk");
}
grpc::Status GrpcMasterService::UnmountLocalDisk(Ctx* context, const rpc::ClientIdRequest* request,
                                                 rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::UnmountLocalDisk,
                 request, response, "UnmountLocalDisk");
}
grpc::Status GrpcMasterService::OffloadHeartbeat(Ctx* context,
                                                 const rpc::OffloadHeartbeatRequest* request,
                                                 rpc::OffloadHeartbeatResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::OffloadHeartbeat,
                 request, response, "OffloadHeartbeat");
}
grpc::Status GrpcMasterService::NotifyOffloadSuccess(
    Ctx* context, const rpc::NotifyOffloadSuccessRequest* request, rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::NotifyOffloadSuccess,
                 request, response, "NotifyOffloadSuccess");
}
grpc::Status GrpcMasterService::NotifyDiskEvicted(Ctx* context,
                                                  const rpc::NotifyDiskEvictedRequest* request,
                                                  rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::NotifyDiskEvicted,
                 request, response, "NotifyDiskEvicted");
}
grpc::Status GrpcMasterService::MountSegment(Ctx* context, const rpc::MountSegmentRequest* request,
                                             rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::MountSegment, request,
                 response, "MountSegment");
}
grpc::Status GrpcMasterService::ReMountSegment(Ctx* context,
                                               const rpc::ReMountSegmentRequest* request,
                                               rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::ReMountSegment, request,
                 response, "ReMountSegment");
}
grpc::Status GrpcMasterService::UnmountSegment(Ctx* context,
                                               const rpc::UnmountSegmentRequest* request,
                                               rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::UnmountSegment, request,
                 response, "UnmountSegment");
}
grpc::Status GrpcMasterService::GetAllSegments(Ctx* context,
                                               const rpc::GetAllSegmentsRequest* request,
                                               rpc::GetAllSegmentsResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::GetAllSegments, request,
                 response, "GetAllSegments");
}
grpc::Status GrpcMasterService::QuerySegment(Ctx* context, const rpc::QuerySegmentRequest* request,
                                             rpc::QuerySegmentResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::QuerySegment, request,
                 response, "QuerySegment");
}
grpc::Status GrpcMasterService::Ping(Ctx* context, const rpc::PingRequest* request,
                                     rpc::PingResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::Ping, request, response,
                 "Ping");
}
grpc::Status GrpcMasterService::GetServiceInfo(Ctx* context,
                                               const rpc::GetServiceInfoRequest* request,
                                               rpc::GetServiceInfoResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::GetServiceInfo, request,
                 response, "GetServiceInfo");
}
grpc::Status GrpcMasterService::CreateCopyTask(Ctx* context,
                                               const rpc::CreateCopyTaskRequest* request,
                                               rpc::CreateTaskResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::CreateCopyTask, request,
                 response, "CreateCopyTask");
}
grpc::Status GrpcMasterService::CreateMoveTask(Ctx* context,
                                               const rpc::CreateMoveTaskRequest* request,
                                               rpc::CreateTaskResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::CreateMoveTask, request,
                 response, "CreateMoveTask");
}
grpc::Status GrpcMasterService::QueryTask(Ctx* context, const rpc::QueryTaskRequest* request,
                                          rpc::QueryTaskResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::QueryTask, request,
                 response, "QueryTask");
}
grpc::Status GrpcMasterService::FetchTasks(Ctx* context, const rpc::FetchTasksRequest* request,
                                           rpc::FetchTasksResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::FetchTasks, request,
                 response, "FetchTasks");
}
grpc::Status GrpcMasterService::MarkTaskComplete(Ctx* context,
                                                 const rpc::MarkTaskCompleteRequest* request,
                                                 rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::MarkTaskComplete,
                 request, response, "MarkTaskComplete");
}
grpc::Status GrpcMasterService::CopyStart(Ctx* context, const rpc::CopyStartRequest* request,
                                          rpc::CopyStartResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::CopyStart, request,
                 response, "CopyStart");
}
grpc::Status GrpcMasterService::CopyEnd(Ctx* context, const rpc::KeyRequest* request,
                                        rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::CopyEnd, request,
                 response, "CopyEnd");
}
grpc::Status GrpcMasterService::CopyRevoke(Ctx* context, const rpc::KeyRequest* request,
                                           rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::CopyRevoke, request,
                 response, "CopyRevoke");
}
grpc::Status GrpcMasterService::MoveStart(Ctx* context, const rpc::MoveStartRequest* request,
                                          rpc::MoveStartResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::MoveStart, request,
                 response, "MoveStart");
}
grpc::Status GrpcMasterService::MoveEnd(Ctx* context, const rpc::KeyRequest* request,
                                        rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::MoveEnd, request,
                 response, "MoveEnd");
}
grpc::Status GrpcMasterService::MoveRevoke(Ctx* context, const rpc::KeyRequest* request,
                                           rpc::StatusResponse* response) {
    return Serve(verifier_.get(), context, dispatcher_, &RequestDispatcher::MoveRevoke, request,
                 response, "MoveRevoke");
}

grpc::Status GrpcMasterService::Stream(
    Ctx* context, grpc::ServerReaderWriter<rpc::MasterResponse, rpc::MasterRequest>* stream) {
    // One token opens the stream; its messages need none.
    if (grpc::Status allowed = CheckGrpcToken(verifier_.get(), context); !allowed.ok())
        return allowed;
    if (active_streams_.fetch_add(1) >= max_streams_) {
        active_streams_.fetch_sub(1);
        LOG_EVERY_N(WARNING, 100) << "refusing a gRPC stream from " << context->peer() << ": "
                                  << max_streams_ << " streams are open already";
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many open streams");
    }
    rpc::MasterRequest request;
    rpc::MasterResponse response;
    while (stream->Read(&request)) {
        dispatcher_.Dispatch(request, &response);
        dispatcher_.AfterCall(request.body_case());
        if (!stream->Write(response)) break;
    }
    active_streams_.fetch_sub(1);
    return grpc::Status::OK;
}

// ---- server ---------------------------------------------------------------------

GrpcMasterServer::GrpcMasterServer(RequestDispatcher& dispatcher, Options options)
    : options_(std::move(options)),
      service_(dispatcher, options_.max_streams, options_.cluster_key) {}

GrpcMasterServer::~GrpcMasterServer() { Stop(std::chrono::milliseconds(0)); }

std::expected<void, std::string> GrpcMasterServer::Start() {
    const std::string where = JoinHostPort(options_.address, options_.port);
    grpc::ServerBuilder builder;
    int selected_port = 0;
    builder.AddListeningPort(where, grpc::InsecureServerCredentials(), &selected_port);
    // gRPC sets SO_REUSEPORT by default, which would let a second master
    // share the port silently instead of failing.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Notice clients that vanished (host down) so their streams end.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
    builder.SetMaxReceiveMessageSize(static_cast<int>(hot_rpc::kMaxRequestFrameBytes));
    builder.SetMaxSendMessageSize(static_cast<int>(hot_rpc::kMaxResponseFrameBytes));
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                                std::max(1, options_.threads));
    builder.RegisterService(&service_);
    for (grpc::Service* extra : options_.extra_services) builder.RegisterService(extra);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || selected_port == 0) {
        server_.reset();
        return std::unexpected("cannot listen on " + where + " (gRPC port)");
    }
    bound_port_ = static_cast<uint16_t>(selected_port);
    return {};
}

void GrpcMasterServer::Stop(std::chrono::milliseconds grace) {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    server_.reset();
}

}  // namespace mooncake
