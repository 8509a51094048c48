// Client side of the framed protocol (rpc/framed_rpc_protocol.h): one
// connection, and a small pool of them shared by the threads of a
// MasterClient. Both take the framed_rpc::Protocol they speak: the dummy client
// (src/client/dummy_client.h) uses them for the standalone client's service,
// and an HA standby for the leader's replication stream.
//
// A connection serves one caller at a time: check out, write the request
// frame, read the response with poll() and the caller's deadline, check in.
// A call therefore costs one round trip and no thread hop. Any failure
// (timeout, peer close, protocol error) leaves the connection broken; the pool
// drops it and the next call opens a fresh one.
//
// A request may also be sent deferred (SendDeferred): the caller does not
// wait, and its response is read by whichever call uses the connection next,
// right after that call's own request went out. The master serves one
// connection's requests in order, so the next call on it is ordered after
// the deferred one; the pool keeps a thread's later calls behind its own
// deferred requests (FramedRpcPool::Checkout). This is how a put's PutEnd
// leaves the put's critical path (docs/performance.md).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "net/brief_spin.h"
#include "net/socket_util.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake {

// A resolved address of the master host (the port is set per connection).
struct FramedRpcAddress {
    sockaddr_storage address{};
    socklen_t length = 0;
};

// All addresses `host` resolves to, IPv4 first. INVALID_PARAMS when it does
// not resolve.
Result<std::vector<FramedRpcAddress>> ResolveFramedRpcHost(const std::string& host);

class FramedRpcConnection {
   public:
    // How a deferred request ended: OK with its response payload (valid for
    // the call only), or RPC_FAIL with no payload when the connection failed
    // or closed before the response was read.
    using DeferredReply = std::function<void(Status status, std::string_view payload)>;

    ~FramedRpcConnection();
    FramedRpcConnection(const FramedRpcConnection&) = delete;
    FramedRpcConnection& operator=(const FramedRpcConnection&) = delete;

    // Connects to the first of `addresses` that accepts on `port` and
    // completes the handshake of `protocol`, all before `deadline`. RPC_FAIL
    // otherwise (INVALID_VERSION when the server speaks another protocol
    // version). With `key`, the cluster authentication of
    // common/auth_handshake.h comes first (RPC_FAIL, logged, when it fails).
    static Result<std::unique_ptr<FramedRpcConnection>> Open(
        const std::vector<FramedRpcAddress>& addresses, uint16_t port, net::SteadyDeadline deadline,
        const framed_rpc::Protocol& protocol = framed_rpc::kMasterProtocol,
        const auth::ClusterKey* key = nullptr);

    // One round trip of request/response envelopes that carry a
    // request_id (MasterRequest/MasterResponse, or the dummy service's).
    // RPC_FAIL when the connection failed, the deadline passed or the
    // response does not echo the request's id (the connection is then
    // broken), INVALID_PARAMS when the request is too large to send (the
    // connection stays usable).
    template <typename Request, typename Response>
    Status Call(const Request& request, Response* response, net::SteadyDeadline deadline) {
        // How long the response takes depends on what was asked.
        if constexpr (requires { request.body_case(); }) {
            spin_.Expect(static_cast<uint32_t>(request.body_case()));
        }
        MC_RETURN_IF_ERROR(Exchange(request, response, deadline));
        if (response->request_id() != request.request_id()) return MismatchedResponse();
        return OkStatus();
    }

    // One round trip without the request_id check. The responses of
    // earlier deferred requests are read (and handed to their callbacks)
    // after the request is sent, before its own response.
    Status Exchange(const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, net::SteadyDeadline deadline);

    // Sends `request` without reading its response; `on_reply` gets it
    // later (see the top of this file). RPC_FAIL / INVALID_PARAMS as
    // Exchange, in which case `on_reply` is never called.
    Status SendDeferred(const google::protobuf::MessageLite& request, DeferredReply on_reply,
                        net::SteadyDeadline deadline);
    // Reads the responses of every deferred request.
    Status Drain(net::SteadyDeadline deadline);
    size_t deferred() const { return deferred_.size(); }

    // False once a call failed, or when the master closed the connection
    // (or sent bytes nobody asked for) while it sat idle. Costs a syscall.
    bool IsUsable();
    bool broken() const { return broken_; }
    // Closes it for good (it counts as broken): for callers that found it
    // unusable at their level, e.g. a session set-up the server refused.
    void Close() { (void)Fail(); }

    // The server's instance id from the handshake.
    const UUID& master_instance_id() const { return master_instance_id_; }
    // True the first time it is asked (a fresh connection), false after.
    bool TakeFirstUse() { return std::exchange(first_use_, false); }

   private:
    FramedRpcConnection(net::UniqueFd fd, UUID master_instance_id,
                        const framed_rpc::Protocol& protocol);

    Status Fail();
    Status MismatchedResponse();
    Status SendFrame(const google::protobuf::MessageLite& request, net::SteadyDeadline deadline);
    // The payload of the next response frame, valid until the next read.
    // Fails the connection on any error.
    Result<std::string_view> ReadFrame(net::SteadyDeadline deadline);
    bool ReadSome(size_t max_bytes, net::SteadyDeadline deadline);
    // Hands RPC_FAIL to the callbacks of every deferred request.
    void AbandonDeferred();

    net::UniqueFd fd_;
    UUID master_instance_id_;
    framed_rpc::Protocol protocol_;
    bool broken_ = false;
    bool first_use_ = true;
    std::string send_buffer_;
    // Received bytes not yet consumed lie in [recv_begin_, recv_end_): with
    // deferred requests, more than one response may arrive in one read.
    std::unique_ptr<char[]> recv_buffer_;
    size_t recv_capacity_ = 0;
    // Spins while a response is awaited (MC_RPC_SPIN_US, net/brief_spin.h).
    net::BriefSpin spin_;
    size_t recv_begin_ = 0;
    size_t recv_end_ = 0;
    std::deque<DeferredReply> deferred_;
};

// Connections to the master's hot port (or another server of `protocol`),
// at most `max_connections` at once. Thread-safe.
class FramedRpcPool {
   public:
    // With `key`, connections authenticate (FramedRpcConnection::Open).
    explicit FramedRpcPool(size_t max_connections,
                           const framed_rpc::Protocol& protocol = framed_rpc::kMasterProtocol,
                           auth::ClusterKeyPtr key = nullptr);
    ~FramedRpcPool();

    // Where new connections go. Connections to an earlier target are closed
    // as they come back. Port 0 means "no hot path".
    void SetTarget(std::vector<FramedRpcAddress> addresses, uint16_t port);
    void SetPort(uint16_t port);
    uint16_t port() const;

    // A checked-out connection, returned to the pool on destruction unless
    // it broke.
    class Lease {
       public:
        Lease() = default;
        Lease(FramedRpcPool* pool, std::unique_ptr<FramedRpcConnection> connection,
              uint64_t generation);
        ~Lease();
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

        FramedRpcConnection* operator->() const { return connection_.get(); }
        FramedRpcConnection& operator*() const { return *connection_; }

        // FramedRpcConnection::SendDeferred, when the pool allows it: at most
        // one connection of a pool holds deferred requests at a time (so
        // that they complete in the order they were sent), and at most
        // kMaxDeferred of them. UNAVAILABLE_IN_CURRENT_STATUS when not
        // allowed: the caller makes a plain call instead.
        Status SendDeferred(const google::protobuf::MessageLite& request,
                            FramedRpcConnection::DeferredReply on_reply,
                            net::SteadyDeadline deadline);

       private:
        void Release();
        FramedRpcPool* pool_ = nullptr;
        std::unique_ptr<FramedRpcConnection> connection_;
        uint64_t generation_ = 0;
    };

    static constexpr size_t kMaxDeferred = 8;

    // An idle connection that still looks alive, or a new one (opened with
    // `open_deadline`), waiting for one to come back when `max_connections`
    // are out. RPC_FAIL when none could be had before `deadline`. While the
    // calling thread has deferred requests whose responses are unread, it
    // gets the connection holding them (waiting for it if another thread
    // has it, until that thread read them), so its calls stay in order.
    Result<Lease> Checkout(net::SteadyDeadline deadline, net::SteadyDeadline open_deadline);

    // Returns once the calling thread's deferred requests were answered (or
    // failed): for a call about to take another route (gRPC) than this pool.
    Status AwaitOwnDeferred(net::SteadyDeadline deadline);

    // Closes the idle connections (the master is gone or moved).
    void DropIdle();

    size_t open_connections() const;

   private:
    void CheckIn(std::unique_ptr<FramedRpcConnection> connection, uint64_t generation);
    void DeferredDone();
    // The sequence number of the calling thread's last deferred request in
    // this pool, 0 when it has none unanswered.
    uint64_t OwnDeferredLocked() MC_REQUIRES(mutex_);
    // Takes the idle connection holding deferred requests, if it is idle.
    std::unique_ptr<FramedRpcConnection> TakeDeferredOwnerLocked() MC_REQUIRES(mutex_);

    const size_t max_connections_;
    const framed_rpc::Protocol protocol_;
    const auth::ClusterKeyPtr key_;
    mutable Mutex mutex_;
    CondVar returned_;
    std::vector<FramedRpcAddress> addresses_ MC_GUARDED_BY(mutex_);
    uint16_t port_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t generation_ MC_GUARDED_BY(mutex_) = 0;
    std::vector<std::unique_ptr<FramedRpcConnection>> idle_ MC_GUARDED_BY(mutex_);
    size_t open_ MC_GUARDED_BY(mutex_) = 0;  // idle + checked out + being opened
    // Deferred requests: the connection holding them (idle or checked
    // out), and how many were sent and answered so far. They complete in
    // sending order, since one connection holds them all.
    const uint64_t serial_;  // tells pools apart in the per-thread records
    const FramedRpcConnection* deferred_owner_ MC_GUARDED_BY(mutex_) = nullptr;
    uint64_t deferred_sent_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t deferred_done_ MC_GUARDED_BY(mutex_) = 0;
};

}  // namespace mooncake
