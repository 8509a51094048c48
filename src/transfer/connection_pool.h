// Idle TCP connections to peers' engines, by endpoint ("ip:port"), so that a
// small transfer costs one round trip and no connect. A connection leased
// with Acquire returns to the pool when the lease ends, unless it was marked
// broken (then it is closed: its stream state is unknown).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "mooncake/result.h"
#include "net/socket_util.h"

namespace mooncake {

class ConnectionPool;

class PooledConnection {
   public:
    PooledConnection() = default;
    PooledConnection(ConnectionPool* pool, std::string endpoint, UniqueFd fd, bool reused)
        : pool_(pool), endpoint_(std::move(endpoint)), fd_(std::move(fd)), reused_(reused) {}
    ~PooledConnection();
    PooledConnection(PooledConnection&&) = default;
    PooledConnection& operator=(PooledConnection&& other) noexcept;
    PooledConnection(const PooledConnection&) = delete;
    PooledConnection& operator=(const PooledConnection&) = delete;

    int fd() const { return fd_.get(); }
    // True when the connection sat idle in the pool before: the peer may
    // have closed it meanwhile, so a failure before any reply is worth one
    // retry on a fresh connection.
    bool reused() const { return reused_; }
    void MarkBroken() { fd_.Reset(); }

   private:
    ConnectionPool* pool_ = nullptr;
    std::string endpoint_;
    UniqueFd fd_;
    bool reused_ = false;
};

class ConnectionPool {
   public:
    // With `key`, every new connection first passes the handshake of
    // common/auth_handshake.h; a peer that fails it is TRANSFER_FAIL.
    ConnectionPool(int connect_timeout_ms, int io_timeout_ms, size_t max_idle_per_endpoint,
                   auth::ClusterKeyPtr key = nullptr)
        : connect_timeout_ms_(connect_timeout_ms),
          io_timeout_ms_(io_timeout_ms),
          max_idle_per_endpoint_(max_idle_per_endpoint),
          key_(std::move(key)) {}

    // An idle connection to `endpoint`, or a new one. TRANSFER_FAIL when the
    // peer cannot be reached, INVALID_PARAMS for a malformed endpoint.
    Result<PooledConnection> Acquire(const std::string& endpoint);
    // Always a new connection (after a pooled one failed).
    Result<PooledConnection> AcquireFresh(const std::string& endpoint);

    // Closes the idle connections of one endpoint.
    void Drop(const std::string& endpoint);
    // Closes every idle connection; connections released later are closed
    // instead of pooled (engine shutdown).
    void Close();

   private:
    friend class PooledConnection;
    void Release(const std::string& endpoint, UniqueFd fd);

    const int connect_timeout_ms_;
    const int io_timeout_ms_;
    const size_t max_idle_per_endpoint_;
    const auth::ClusterKeyPtr key_;
    Mutex mutex_;
    bool closed_ MC_GUARDED_BY(mutex_) = false;
    std::unordered_map<std::string, std::vector<UniqueFd>> idle_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
