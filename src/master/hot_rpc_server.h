// The master's hot path: a FramedRpcServer speaking framed_rpc::kMasterProtocol
// whose frames carry MasterRequest envelopes. Each request is served inline
// by its connection's thread through the RequestDispatcher (the same one the
// gRPC Stream method uses), so a call costs one loopback round trip and no
// thread hop. Connection limits and protocol checks: framed_rpc_server.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>

#include "master/request_dispatcher.h"
#include "mooncake/types.h"
#include "rpc/framed_rpc_server.h"

namespace mooncake {

class HotRpcServer {
   public:
    // The framed server's options (framed_rpc_server.h); `protocol` is
    // always framed_rpc::kMasterProtocol, whatever it holds.
    using Options = FramedRpcServer::Options;

    // Counters for /metrics.
    using Stats = FramedRpcServer::Stats;

    HotRpcServer(RequestDispatcher& dispatcher, Options options);
    HotRpcServer(const HotRpcServer&) = delete;
    HotRpcServer& operator=(const HotRpcServer&) = delete;

    // Binds and starts accepting. The error is one line naming address:port.
    std::expected<void, std::string> Start() { return server_.Start(); }
    // Closes the listener and every connection, then joins their threads.
    void Stop() { server_.Stop(); }

    uint16_t port() const { return server_.port(); }
    Stats GetStats() const { return server_.GetStats(); }

   private:
    FramedRpcServer server_;
};

}  // namespace mooncake
