// A plain TCP listener speaking the framed protocol of framed_rpc_protocol.h,
// whatever the messages inside the frames: the master's hot path
// (HotRpcServer) and the standalone client's dummy service
// (src/client/real_client_service.h) are both built on it.
//
// One thread per connection reads a request frame, hands its payload to the
// connection's FrameHandler and writes the response frame, so a call costs
// one round trip and no thread hop.
//
// Untrusted peers are bounded: a connection cap, a handshake that must arrive
// within a few seconds, a maximum frame size, a deadline for the rest of a
// frame once its first byte arrived, and a budget for the bytes of
// unfinished frames all connections hold together (a frame's buffer grows as
// its bytes arrive, never ahead of them). A peer that breaks any of these is
// logged and disconnected; the server carries on. At the connection cap the
// connection stalled in its handshake (> 1 s), else the one idle the longest,
// is closed to make room: clients reopen pooled connections they find
// closed, so a flood of idle connections cannot lock honest clients out.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "mooncake/types.h"
#include "net/brief_spin.h"
#include "net/socket_util.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake {

class FramedRpcServer {
   public:
    struct Options {
        std::string address = "0.0.0.0";
        uint16_t port = 0;  // 0 picks a free port
        size_t max_connections = 4096;
        // Buffer bytes above each connection's first 64 KiB, all
        // connections together.
        size_t max_buffered_bytes = 256u << 20;
        framed_rpc::Protocol protocol = framed_rpc::kMasterProtocol;
        UUID instance_id;  // sent in the handshake
        // Time a new connection has to send its hello, and a started frame
        // to arrive in full.
        std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
        std::chrono::milliseconds frame_timeout{std::chrono::seconds(30)};
        // Set: a connection must pass common/auth_handshake.h (bound to
        // protocol.name) before its hello.
        auth::ClusterKeyPtr cluster_key;
        // How long a connection's thread busy-polls for the next request
        // before it blocks, when that connection's requests come back to
        // back (net/brief_spin.h); 0 never spins.
        std::chrono::microseconds request_spin = net::kDefaultRpcSpin;
    };

    struct Stats {
        uint64_t connections_open = 0;
        uint64_t connections_accepted = 0;
        uint64_t connections_refused = 0;  // over the cap
        uint64_t connections_evicted = 0;  // closed at the cap to make room
        uint64_t protocol_errors = 0;      // bad hello, oversized or malformed frames
        uint64_t requests = 0;
    };

    // Serves the requests of one connection, in order, on that connection's
    // thread; destroyed when the connection ends.
    class FrameHandler {
       public:
        virtual ~FrameHandler() = default;
        // Replaces `response_frame` with a whole frame (header + payload)
        // answering `payload`. False when the payload is malformed: the
        // server logs it and closes the connection.
        virtual bool Handle(std::string_view payload, std::string* response_frame) = 0;
        // The kind of request Handle last served (for example its oneof
        // case): the server predicts the wait for the next request per kind
        // (net/brief_spin.h).
        virtual uint32_t last_request_kind() const { return 0; }
    };
    // Called on the connection's thread once its handshake succeeded;
    // `peer` is "ip:port". nullptr refuses the connection.
    using HandlerFactory = std::function<std::unique_ptr<FrameHandler>(const std::string& peer)>;

    FramedRpcServer(HandlerFactory factory, Options options);
    ~FramedRpcServer();
    FramedRpcServer(const FramedRpcServer&) = delete;
    FramedRpcServer& operator=(const FramedRpcServer&) = delete;

    // Binds and starts accepting. The error is one line naming address:port.
    std::expected<void, std::string> Start();
    // Closes the listener and every connection, then joins their threads
    // (a request being served finishes first).
    void Stop();

    uint16_t port() const { return bound_port_; }
    Stats GetStats() const;

   private:
    enum Phase : int { kHandshake, kIdle, kBusy };
    struct Connection {
        net::UniqueFd fd;
        std::string peer;
        std::thread thread;
        std::atomic<bool> finished{false};
        std::atomic<bool> evicted{false};
        std::atomic<int> phase{kHandshake};
        std::atomic<int64_t> phase_since_ns{0};   // steady clock
        std::atomic<int64_t> last_request_ns{0};  // 0: none served yet

        void Enter(Phase next);
    };

    struct Inbox;  // bytes received and not yet served

    void AcceptLoop();
    void ReapFinished(bool all);
    // Closes the connection a newcomer may replace; false when none may go.
    bool EvictOne();
    void Serve(Connection* connection);
    bool Handshake(Connection* connection);
    // Reads one request frame, serves it and writes the response, or holds
    // the response in `outbox` while the next request is received already
    // (written with that one's); false when the connection should close
    // (peer gone, protocol error, stopping).
    bool ServeOneFrame(Connection* connection, Inbox* inbox, std::string* outbox,
                       FrameHandler* handler);
    // Sends the reply in the inbox, or holds it back while the next request
    // is already there (answered together). False when the send failed.
    bool SendOrHoldReply(Connection* connection, Inbox* inbox, std::string* outbox);

    const HandlerFactory factory_;
    const Options options_;
    const char* const name_;  // options_.protocol.name, for log lines
    net::UniqueFd listen_fd_;
    net::UniqueFd wake_fd_;  // eventfd that ends the accept loop
    uint16_t bound_port_ = 0;
    std::thread accept_thread_;
    std::atomic<bool> stopping_{false};
    // Requests being handled right now (net::ServingCount).
    std::atomic<int> serving_{0};

    mutable Mutex connections_mutex_;
    std::list<std::unique_ptr<Connection>> connections_ MC_GUARDED_BY(connections_mutex_);

    std::atomic<uint64_t> connections_open_{0};
    std::atomic<uint64_t> connections_accepted_{0};
    std::atomic<uint64_t> connections_refused_{0};
    std::atomic<uint64_t> connections_evicted_{0};
    std::atomic<size_t> buffered_bytes_{0};  // charged by the inboxes
    std::atomic<uint64_t> protocol_errors_{0};
    std::atomic<uint64_t> requests_{0};
};

}  // namespace mooncake
