#include "master/grpc_service.h"

#include <glog/logging.h>

#include "common/net_util.h"
#include "rpc/framed_rpc_protocol.h"

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
                   RequestDispatcher& dispatcher, rpc::MasterRequest::BodyCase method,
                   void (RequestDispatcher::*handler)(const Request&, Response*),
                   const Request* request, Response* response) {
    if (grpc::Status allowed = CheckGrpcToken(verifier, context); !allowed.ok()) return allowed;
    // A standby, or a leader past its lease deadline (docs/ha.md).
    if (!dispatcher.Serving()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this master is not the leader");
    }
    dispatcher.CountCall(method);
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

#define MOONCAKE_GRPC_ADAPTER(Method, Case, field, Request, Response, Effect)            \
    grpc::Status GrpcMasterService::Method(Ctx* context, const rpc::Request* request,    \
                                           rpc::Response* response) {                    \
        return Serve(verifier_.get(), context, dispatcher_, rpc::MasterRequest::k##Case, \
                     &RequestDispatcher::Method, request, response);                     \
    }
MOONCAKE_MASTER_METHODS(MOONCAKE_GRPC_ADAPTER)
#undef MOONCAKE_GRPC_ADAPTER

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
    builder.SetMaxReceiveMessageSize(static_cast<int>(framed_rpc::kMaxRequestFrameBytes));
    builder.SetMaxSendMessageSize(static_cast<int>(framed_rpc::kMaxResponseFrameBytes));
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
