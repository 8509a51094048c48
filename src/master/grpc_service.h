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
#include "rpc/master_methods.h"

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
    // One adapter per row of MOONCAKE_MASTER_METHODS (rpc/master_methods.h).
#define MOONCAKE_GRPC_METHOD(Method, Case, field, Request, Response, Effect) \
    grpc::Status Method(Ctx*, const rpc::Request*, rpc::Response*) override;
    MOONCAKE_MASTER_METHODS(MOONCAKE_GRPC_METHOD)
#undef MOONCAKE_GRPC_METHOD

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
