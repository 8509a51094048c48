#include "transfer/connection_pool.h"

#include <glog/logging.h>

#include "common/auth_handshake.h"
#include "common/net_util.h"

namespace mooncake {

PooledConnection::~PooledConnection() {
    if (pool_ != nullptr && fd_.valid()) pool_->Release(endpoint_, std::move(fd_));
}

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
    if (this != &other) {
        if (pool_ != nullptr && fd_.valid()) pool_->Release(endpoint_, std::move(fd_));
        pool_ = std::exchange(other.pool_, nullptr);
        endpoint_ = std::move(other.endpoint_);
        fd_ = std::move(other.fd_);
        reused_ = other.reused_;
    }
    return *this;
}

Result<PooledConnection> ConnectionPool::Acquire(const std::string& endpoint) {
    {
        MutexLock lock(mutex_);
        auto it = idle_.find(endpoint);
        if (it != idle_.end() && !it->second.empty()) {
            UniqueFd fd = std::move(it->second.back());
            it->second.pop_back();
            return PooledConnection(this, endpoint, std::move(fd), /*reused=*/true);
        }
    }
    return AcquireFresh(endpoint);
}

Result<PooledConnection> ConnectionPool::AcquireFresh(const std::string& endpoint) {
    auto host_port = ParseHostPort(endpoint);
    if (!host_port || !host_port->port) return Error(ErrorCode::INVALID_PARAMS);
    auto fd = net::ConnectTcp(host_port->host, *host_port->port, connect_timeout_ms_);
    if (!fd) {
        VLOG(1) << "Cannot connect to " << endpoint;
        return Error(fd.error());
    }
    if (key_ != nullptr) {
        std::string why;
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::milliseconds(connect_timeout_ms_ + io_timeout_ms_);
        if (!auth::ProveToPeer(fd->get(), *key_, auth::kTransferService, deadline, &why)) {
            LOG_EVERY_N(ERROR, 100) << "Cluster authentication with the transfer engine at "
                                    << endpoint << " failed: " << why;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
    }
    net::TuneDataSocket(fd->get(), io_timeout_ms_);
    return PooledConnection(this, endpoint, std::move(*fd), /*reused=*/false);
}

void ConnectionPool::Release(const std::string& endpoint, UniqueFd fd) {
    MutexLock lock(mutex_);
    if (closed_) return;
    std::vector<UniqueFd>& idle = idle_[endpoint];
    if (idle.size() < max_idle_per_endpoint_) idle.push_back(std::move(fd));
}

void ConnectionPool::Drop(const std::string& endpoint) {
    std::vector<UniqueFd> dropped;
    MutexLock lock(mutex_);
    auto it = idle_.find(endpoint);
    if (it == idle_.end()) return;
    dropped = std::move(it->second);
    idle_.erase(it);
}

void ConnectionPool::Close() {
    MutexLock lock(mutex_);
    closed_ = true;
    idle_.clear();
}

}  // namespace mooncake
