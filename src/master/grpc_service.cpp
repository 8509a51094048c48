#include "master/grpc_service.h"

#include <glog/logging.h>

#include "common/net_util.h"
#include "master/hot_rpc_protocol.h"

namespace mooncake {

namespace {

// Every unary method is the same adapter: the dispatcher does the work and
// reports failures inside the response, so the gRPC status is always OK.
template <typename Request, typename Response>
grpc::Status Serve(RequestDispatcher& dispatcher,
                   void (RequestDispatcher::*handler)(const Request&, Response*),
                   const Request* request, Response* response, std::string_view method) {
    // A standby, or a leader past its lease deadline (docs/ha.md).
    if (!dispatcher.Serving()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this master is not the leader");
    }
    (dispatcher.*handler)(*request, response);
    dispatcher.AfterCall(method);
    return grpc::Status::OK;
}

}  // namespace

GrpcMasterService::GrpcMasterService(RequestDispatcher& dispatcher, size_t max_streams)
    : dispatcher_(dispatcher), max_streams_(max_streams) {}

grpc::Status GrpcMasterService::PutStart(Ctx*, const rpc::PutStartRequest* request,
                                         rpc::PutStartResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::PutStart, request, response, "PutStart");
}
grpc::Status GrpcMasterService::PutEnd(Ctx*, const rpc::KeyRequest* request,
                                       rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::PutEnd, request, response, "PutEnd");
}
grpc::Status GrpcMasterService::PutRevoke(Ctx*, const rpc::KeyRequest* request,
                                          rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::PutRevoke, request, response, "PutRevoke");
}
grpc::Status GrpcMasterService::BatchPutStart(Ctx*, const rpc::BatchPutStartRequest* request,
                                              rpc::BatchPutStartResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::BatchPutStart, request, response,
                 "BatchPutStart");
}
grpc::Status GrpcMasterService::BatchPutEnd(Ctx*, const rpc::BatchKeysRequest* request,
                                            rpc::BatchStatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::BatchPutEnd, request, response, "BatchPutEnd");
}
grpc::Status GrpcMasterService::BatchPutRevoke(Ctx*, const rpc::BatchKeysRequest* request,
                                               rpc::BatchStatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::BatchPutRevoke, request, response,
                 "BatchPutRevoke");
}
grpc::Status GrpcMasterService::GetReplicaList(Ctx*, const rpc::KeyRequest* request,
                                               rpc::GetReplicaListResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::GetReplicaList, request, response,
                 "GetReplicaList");
}
grpc::Status GrpcMasterService::BatchGetReplicaList(Ctx*, const rpc::BatchKeysRequest* request,
                                                    rpc::BatchGetReplicaListResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::BatchGetReplicaList, request, response,
                 "BatchGetReplicaList");
}
grpc::Status GrpcMasterService::GetReplicaListByRegex(
    Ctx*, const rpc::RegexRequest* request, rpc::GetReplicaListByRegexResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::GetReplicaListByRegex, request, response,
                 "GetReplicaListByRegex");
}
grpc::Status GrpcMasterService::ExistKey(Ctx*, const rpc::KeyRequest* request,
                                         rpc::ExistKeyResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::ExistKey, request, response, "ExistKey");
}
grpc::Status GrpcMasterService::BatchExistKey(Ctx*, const rpc::BatchKeysRequest* request,
                                              rpc::BatchExistKeyResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::BatchExistKey, request, response,
                 "BatchExistKey");
}
grpc::Status GrpcMasterService::Remove(Ctx*, const rpc::KeyRequest* request,
                                       rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::Remove, request, response, "Remove");
}
grpc::Status GrpcMasterService::RemoveByRegex(Ctx*, const rpc::RegexRequest* request,
                                              rpc::CountResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::RemoveByRegex, request, response,
                 "RemoveByRegex");
}
grpc::Status GrpcMasterService::RemoveAll(Ctx*, const rpc::RemoveAllRequest* request,
                                          rpc::CountResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::RemoveAll, request, response, "RemoveAll");
}
grpc::Status GrpcMasterService::MountSegment(Ctx*, const rpc::MountSegmentRequest* request,
                                             rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::MountSegment, request, response, "MountSegment");
}
grpc::Status GrpcMasterService::ReMountSegment(Ctx*, const rpc::ReMountSegmentRequest* request,
                                               rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::ReMountSegment, request, response,
                 "ReMountSegment");
}
grpc::Status GrpcMasterService::UnmountSegment(Ctx*, const rpc::UnmountSegmentRequest* request,
                                               rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::UnmountSegment, request, response,
                 "UnmountSegment");
}
grpc::Status GrpcMasterService::GetAllSegments(Ctx*, const rpc::GetAllSegmentsRequest* request,
                                               rpc::GetAllSegmentsResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::GetAllSegments, request, response,
                 "GetAllSegments");
}
grpc::Status GrpcMasterService::QuerySegment(Ctx*, const rpc::QuerySegmentRequest* request,
                                             rpc::QuerySegmentResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::QuerySegment, request, response, "QuerySegment");
}
grpc::Status GrpcMasterService::Ping(Ctx*, const rpc::PingRequest* request,
                                     rpc::PingResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::Ping, request, response, "Ping");
}
grpc::Status GrpcMasterService::GetServiceInfo(Ctx*, const rpc::GetServiceInfoRequest* request,
                                               rpc::GetServiceInfoResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::GetServiceInfo, request, response,
                 "GetServiceInfo");
}
grpc::Status GrpcMasterService::CreateCopyTask(Ctx*, const rpc::CreateCopyTaskRequest* request,
                                               rpc::CreateTaskResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::CreateCopyTask, request, response,
                 "CreateCopyTask");
}
grpc::Status GrpcMasterService::CreateMoveTask(Ctx*, const rpc::CreateMoveTaskRequest* request,
                                               rpc::CreateTaskResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::CreateMoveTask, request, response,
                 "CreateMoveTask");
}
grpc::Status GrpcMasterService::QueryTask(Ctx*, const rpc::QueryTaskRequest* request,
                                          rpc::QueryTaskResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::QueryTask, request, response, "QueryTask");
}
grpc::Status GrpcMasterService::FetchTasks(Ctx*, const rpc::FetchTasksRequest* request,
                                           rpc::FetchTasksResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::FetchTasks, request, response, "FetchTasks");
}
grpc::Status GrpcMasterService::MarkTaskComplete(Ctx*, const rpc::MarkTaskCompleteRequest* request,
                                                 rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::MarkTaskComplete, request, response,
                 "MarkTaskComplete");
}
grpc::Status GrpcMasterService::CopyStart(Ctx*, const rpc::CopyStartRequest* request,
                                          rpc::CopyStartResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::CopyStart, request, response, "CopyStart");
}
grpc::Status GrpcMasterService::CopyEnd(Ctx*, const rpc::KeyRequest* request,
                                        rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::CopyEnd, request, response, "CopyEnd");
}
grpc::Status GrpcMasterService::CopyRevoke(Ctx*, const rpc::KeyRequest* request,
                                           rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::CopyRevoke, request, response, "CopyRevoke");
}
grpc::Status GrpcMasterService::MoveStart(Ctx*, const rpc::MoveStartRequest* request,
                                          rpc::MoveStartResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::MoveStart, request, response, "MoveStart");
}
grpc::Status GrpcMasterService::MoveEnd(Ctx*, const rpc::KeyRequest* request,
                                        rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::MoveEnd, request, response, "MoveEnd");
}
grpc::Status GrpcMasterService::MoveRevoke(Ctx*, const rpc::KeyRequest* request,
                                           rpc::StatusResponse* response) {
    return Serve(dispatcher_, &RequestDispatcher::MoveRevoke, request, response, "MoveRevoke");
}

grpc::Status GrpcMasterService::Stream(
    Ctx* context, grpc::ServerReaderWriter<rpc::MasterResponse, rpc::MasterRequest>* stream) {
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
    : options_(std::move(options)), service_(dispatcher, options_.max_streams) {}

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
