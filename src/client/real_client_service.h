// The dummy service of the standalone client (mooncake_client): serves
// dummy clients (setup_dummy) of this host with the process's real client.
//
// A dummy connects over TCP (loopback by default), attaches its shared
// memory, and sends framed requests (proto/real_client.proto) naming keys and
// ranges of that memory; the service runs them on the real client, whose
// transfers read and write the mapped memory directly. Each connection is
// served by its own thread; at most `threads` requests run at once, the others
// wait their turn (a request that waited longer than its dummy waits for the
// answer is dropped unserved).
//
// Requests are untrusted: ranges are checked against the dummy's memory, keys
// and configurations by the real client, and frames are bounded by the
// framing layer (framed_rpc_server.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "client/dummy_session.h"
#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "mooncake/client.h"
#include "mooncake/types.h"
#include "real_client.pb.h"
#include "rpc/framed_rpc_server.h"

namespace mooncake {

class RealClientService {
   public:
    struct Options {
        // Dummies share memory with this process, so they are on this host:
        // loopback is enough.
        std::string address = "127.0.0.1";
        uint16_t port = 50052;  // 0 picks a free port
        // Requests served at once, across all dummies.
        uint32_t threads = 1;
        size_t max_connections = 1024;
        // Set: dummies must prove the cluster secret (docs/authentication.md).
        auth::ClusterKeyPtr cluster_key;
    };

    // `client` serves every request and must outlive the service.
    RealClientService(Client& client, Options options);
    ~RealClientService();
    RealClientService(const RealClientService&) = delete;
    RealClientService& operator=(const RealClientService&) = delete;

    // Binds and starts accepting. The error is one line naming address:port.
    std::expected<void, std::string> Start();
    // Closes every connection and waits for the requests being served;
    // afterwards no dummy memory is mapped or registered any more.
    void Stop();

    uint16_t port() const { return server_.port(); }
    // Sent in the handshake; dummies notice a restart by its change.
    const UUID& instance_id() const { return instance_id_; }
    // Dummies with at least one open connection.
    size_t session_count() const;
    FramedRpcServer::Stats GetStats() const { return server_.GetStats(); }

   private:
    class ConnectionHandler;

    // The session of the dummy `request` describes: shared with its other
    // connections, or opened now.
    Result<std::shared_ptr<DummySession>> Attach(const dummy_rpc::AttachRequest& request,
                                                 const std::string& peer);

    // Waits until fewer than `threads` requests run, at most until
    // `deadline` (when given); false when it passed.
    bool AcquireSlot(std::optional<std::chrono::steady_clock::time_point> deadline);
    void ReleaseSlot();

    Client& client_;
    const Options options_;
    const UUID instance_id_;

    mutable Mutex sessions_mutex_;
    // Expired entries are swept at the next Attach.
    std::map<UUID, std::weak_ptr<DummySession>> sessions_;

    Mutex slots_mutex_;
    CondVar slot_freed_;
    uint32_t running_ MC_GUARDED_BY(slots_mutex_) = 0;

    FramedRpcServer server_;  // last: its threads use everything above
};

}  // namespace mooncake
