// The engine's TCP endpoint: serves peers' READ/WRITE requests straight from
// and into registered memory (no bounce buffer), hands out the segment
// descriptor (P2PHANDSHAKE) and relays transport control messages. One
// thread per connection: peers keep a few pooled connections each, and
// blocking I/O on a dedicated thread gives the lowest latency.
//
// Everything a peer sends is untrusted: header fields are bounded, every
// data request is checked against the owner's own registry, and garbage
// closes the connection without affecting others. A connection holds a
// thread and at most a control message (1 MiB) of buffer. At the connection
// cap (kMaxConnections) the connection idle the longest (between requests,
// or never having sent one) is closed to make room: peers retry a request
// that failed on a pooled connection once on a fresh one, so a flood of idle
// connections cannot lock honest peers out (docs/security.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "net/socket_util.h"
#include "transfer/memory_registry.h"
#include "transfer/wire_protocol.h"

namespace mooncake {

// What the server needs from the engine it serves.
class TcpRequestHandler {
   public:
    virtual ~TcpRequestHandler() = default;
    virtual const UUID& instance_id() const = 0;
    virtual const MemoryRegistry& memory() const = 0;
    // The current descriptor as JSON text.
    virtual std::string DescriptorJson() = 0;
    // UNAVAILABLE_IN_CURRENT_MODE when there is no transport of that name.
    virtual Result<nlohmann::json> HandleTransportControl(const std::string& transport,
                                                          const std::string& from,
                                                          const nlohmann::json& body) = 0;
    // With a key, every connection must pass the handshake of
    // common/auth_handshake.h before its first request.
    virtual const auth::ClusterKey* cluster_key() const { return nullptr; }
};

// Ports picked when the configuration names none.
inline constexpr uint16_t kFirstAutoPort = 12300;
inline constexpr uint16_t kLastAutoPort = 14300;
// Where a port is picked when none is given (both ends included).
struct PortRange {
    uint16_t first = kFirstAutoPort;
    uint16_t last = kLastAutoPort;
};
// Connections one engine serves at once.
inline constexpr size_t kMaxConnections = 4096;

class TcpServer {
   public:
    // Listens on bind_address:port. Without a port, tries the ports of
    // `auto_ports` from a random starting point.
    // INVALID_PARAMS (with a log line) when the port given is taken or the
    // address cannot be bound; INTERNAL_ERROR when no port is given and
    // every one of `auto_ports` is taken. `handler` must outlive the server.
    static Result<std::unique_ptr<TcpServer>> Start(const std::string& bind_address,
                                                    std::optional<uint16_t> port,
                                                    TcpRequestHandler* handler, int io_timeout_ms,
                                                    PortRange auto_ports = {});
    ~TcpServer();
    TcpServer(const TcpServer&) = delete;
    TcpServer& operator=(const TcpServer&) = delete;

    uint16_t port() const { return port_; }
    // Stops accepting, closes every connection, joins the threads.
    // Idempotent.
    void Stop();

    // Only Start can name the tag.
    struct ConstructionTag {
       private:
        friend class TcpServer;
        ConstructionTag() = default;
    };
    TcpServer(ConstructionTag, UniqueFd listener, uint16_t port, TcpRequestHandler* handler,
              int io_timeout_ms);

   private:
    struct Connection {
        UniqueFd fd;
        std::string peer;
        std::thread thread;
        std::atomic<bool> finished{false};
        std::atomic<bool> busy{false};  // a request is being served
        std::atomic<bool> evicted{false};
        std::atomic<int64_t> idle_since_ns{0};  // steady clock
    };

    void AcceptLoop();
    void Serve(Connection* connection);
    // Each returns false when the connection must be closed.
    // False, after a kBadRequest reply, for a length of 0 or over
    // `max_length`: the caller drops the connection, whose payload (if any)
    // cannot be skipped safely. `what` names the request in the log.
    bool CheckLength(Connection* connection, const wire::RequestHeader& request,
                     uint64_t max_length, const char* what);
    bool HandleRead(Connection* connection, const wire::RequestHeader& request);
    bool HandleWrite(Connection* connection, const wire::RequestHeader& request);
    bool HandleGetDescriptor(Connection* connection, const wire::RequestHeader& request);
    bool HandleTransportControl(Connection* connection, const wire::RequestHeader& request);
    bool Reply(Connection* connection, const wire::RequestHeader& request, wire::ReplyStatus status,
               ErrorCode error = ErrorCode::OK, const void* payload = nullptr,
               uint64_t payload_length = 0);
    void ReapFinishedLocked() MC_REQUIRES(mutex_);
    // Closes the connection idle the longest; false when none is idle.
    bool EvictIdleLocked() MC_REQUIRES(mutex_);

    UniqueFd listener_;
    UniqueFd wake_fd_;  // eventfd that interrupts the accept loop
    const uint16_t port_;
    TcpRequestHandler* const handler_;
    const int io_timeout_ms_;
    std::atomic<bool> stopping_{false};
    // Requests being served right now (net::ServingCount).
    std::atomic<int> serving_{0};
    std::thread accept_thread_;
    Mutex mutex_;
    std::list<std::unique_ptr<Connection>> connections_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
