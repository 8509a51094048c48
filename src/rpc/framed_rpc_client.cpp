#include "rpc/framed_rpc_client.h"

#include <glog/logging.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/auth_handshake.h"
#include "common/net_util.h"

namespace mooncake {

namespace {

// Most responses fit; larger ones grow the buffer for that call.
constexpr size_t kRecvBufferBytes = 64 << 10;

void SetPortOf(FramedRpcAddress* address, uint16_t port) {
    if (address->address.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&address->address)->sin_port = htons(port);
    } else if (address->address.ss_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&address->address)->sin6_port = htons(port);
    }
}

// Non-blocking connect to one address, bounded by `deadline`.
net::UniqueFd ConnectOne(FramedRpcAddress address, uint16_t port, net::SteadyDeadline deadline) {
    SetPortOf(&address, port);
    net::UniqueFd fd(
        ::socket(address.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fd;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.address), address.length) ==
        0) {
        return fd;
    }
    if (errno != EINPROGRESS) return net::UniqueFd();
    while (true) {
        pollfd entry{fd.get(), POLLOUT, 0};
        const int rc = ::poll(&entry, 1, net::RemainingMs(deadline));
        if (rc > 0) break;
        if (rc == 0 || errno != EINTR) return net::UniqueFd();
    }
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
        return net::UniqueFd();
    }
    return fd;
}

}  // namespace

Result<std::vector<FramedRpcAddress>> ResolveFramedRpcHost(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    auto info = LookUpAddresses(host.c_str(), nullptr, hints);
    if (!info) return Error(ErrorCode::INVALID_PARAMS);
    std::vector<FramedRpcAddress> addresses;
    for (const addrinfo* entry = info->get(); entry != nullptr; entry = entry->ai_next) {
        if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) continue;
        FramedRpcAddress address;
        std::memcpy(&address.address, entry->ai_addr, entry->ai_addrlen);
        address.length = entry->ai_addrlen;
        addresses.push_back(address);
    }
    // A master bound to 0.0.0.0 listens on IPv4 only; try that first.
    std::stable_partition(addresses.begin(), addresses.end(), [](const FramedRpcAddress& address) {
        return address.address.ss_family == AF_INET;
    });
    if (addresses.empty()) return Error(ErrorCode::INVALID_PARAMS);
    return addresses;
}

// ---- connection -------------------------------------------------------------------

FramedRpcConnection::FramedRpcConnection(net::UniqueFd fd, UUID master_instance_id,
                                         const framed_rpc::Protocol& protocol)
    : fd_(std::move(fd)),
      master_instance_id_(master_instance_id),
      protocol_(protocol),
      recv_buffer_(std::make_unique_for_overwrite<char[]>(kRecvBufferBytes)),
      recv_capacity_(kRecvBufferBytes),
      spin_(net::BriefSpin::ProcessBudget()) {}

Result<std::unique_ptr<FramedRpcConnection>> FramedRpcConnection::Open(
    const std::vector<FramedRpcAddress>& addresses, uint16_t port, net::SteadyDeadline deadline,
    const framed_rpc::Protocol& protocol, const auth::ClusterKey* key) {
    if (port == 0) return Error(ErrorCode::RPC_FAIL);
    for (const FramedRpcAddress& address : addresses) {
        net::UniqueFd fd = ConnectOne(address, port, deadline);
        if (!fd.valid()) continue;
        net::SetNoDelay(fd.get());
        std::string why;
        if (key != nullptr && !auth::ProveToPeer(fd.get(), *key, protocol.name, deadline, &why)) {
            LOG_EVERY_T(ERROR, 10.0) << protocol.name << ": cluster authentication with port "
                                     << port << " failed: " << why;
            return Error(ErrorCode::RPC_FAIL);
        }
        const auto hello = framed_rpc::EncodeClientHello(protocol.version, protocol.magic);
        std::array<uint8_t, framed_rpc::kServerHelloSize> reply{};
        if (!net::SendAllUntil(fd.get(), hello.data(), hello.size(), deadline) ||
            !net::RecvExactUntil(fd.get(), reply.data(), reply.size(), deadline)) {
            continue;
        }
        auto server_hello = framed_rpc::DecodeServerHello(reply, protocol.magic);
        if (!server_hello) {
            LOG_EVERY_T(WARNING, 10.0) << protocol.name << ": port " << port
                                       << " does not speak the " << protocol.name << " protocol";
            return Error(ErrorCode::RPC_FAIL);
        }
        if (server_hello->status != ErrorCode::OK || server_hello->version != protocol.version) {
            LOG_EVERY_T(WARNING, 10.0)
                << protocol.name << ": the server refused protocol version " << protocol.version
                << " (it speaks " << server_hello->version << ")";
            return Error(ErrorCode::INVALID_VERSION);
        }
        return std::unique_ptr<FramedRpcConnection>(
            new FramedRpcConnection(std::move(fd), server_hello->master_instance_id, protocol));
    }
    return Error(ErrorCode::RPC_FAIL);
}

FramedRpcConnection::~FramedRpcConnection() { AbandonDeferred(); }

void FramedRpcConnection::AbandonDeferred() {
    // Moved out first: a callback may not re-enter this queue.
    std::deque<DeferredReply> abandoned;
    abandoned.swap(deferred_);
    for (DeferredReply& on_reply : abandoned) on_reply(Error(ErrorCode::RPC_FAIL), {});
}

Status FramedRpcConnection::Fail() {
    broken_ = true;
    fd_.Reset();
    recv_begin_ = recv_end_ = 0;
    AbandonDeferred();
    return Error(ErrorCode::RPC_FAIL);
}

bool FramedRpcConnection::IsUsable() {
    if (broken_) return false;
    char byte;
    const ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    // Responses of deferred requests are expected bytes.
    if (n > 0 && !deferred_.empty()) return true;
    // 0: the master closed it (restart, shutdown); > 0: bytes nobody asked for.
    (void)Fail();
    return false;
}

bool FramedRpcConnection::ReadSome(size_t max_bytes, net::SteadyDeadline deadline) {
    bool waited = false;
    while (true) {
        const ssize_t n = ::recv(fd_.get(), recv_buffer_.get() + recv_end_, max_bytes, 0);
        if (n > 0) {
            recv_end_ += static_cast<size_t>(n);
            spin_.Arrived();
            return true;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
        if (!std::exchange(waited, true) && spin_.Spin(fd_.get())) continue;
        pollfd entry{fd_.get(), POLLIN, 0};
        const int rc = ::poll(&entry, 1, net::RemainingMs(deadline));
        if (rc == 0) return false;
        if (rc < 0 && errno != EINTR) return false;
    }
}

Status FramedRpcConnection::MismatchedResponse() {
    LOG_EVERY_T(WARNING, 10.0) << protocol_.name
                               << ": response does not match its request; dropping the connection";
    return Fail();
}

Status FramedRpcConnection::SendFrame(const google::protobuf::MessageLite& request,
                                      net::SteadyDeadline deadline) {
    if (broken_) return Error(ErrorCode::RPC_FAIL);
    if (!framed_rpc::EncodeFrame(request, protocol_.max_request_frame_bytes, &send_buffer_)) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (!net::SendAllUntil(fd_.get(), send_buffer_.data(), send_buffer_.size(), deadline)) {
        return Fail();
    }
    return OkStatus();
}

Result<std::string_view> FramedRpcConnection::ReadFrame(net::SteadyDeadline deadline) {
    // What a previous frame left behind moves to the front.
    if (recv_begin_ > 0) {
        const size_t left = recv_end_ - recv_begin_;
        if (left > 0) std::memmove(recv_buffer_.get(), recv_buffer_.get() + recv_begin_, left);
        recv_begin_ = 0;
        recv_end_ = left;
        if (left == 0 && recv_capacity_ > kRecvBufferBytes) {
            recv_buffer_ = std::make_unique_for_overwrite<char[]>(kRecvBufferBytes);
            recv_capacity_ = kRecvBufferBytes;
        }
    }
    // The header and a small body usually arrive together: read what is
    // there, then the rest.
    while (recv_end_ < framed_rpc::kFrameHeaderSize) {
        if (!ReadSome(recv_capacity_ - recv_end_, deadline)) return Error(Fail().error());
    }
    const uint32_t length =
        framed_rpc::DecodeFrameLength(reinterpret_cast<const uint8_t*>(recv_buffer_.get()));
    if (length > protocol_.max_response_frame_bytes) {
        LOG_EVERY_T(WARNING, 10.0) << protocol_.name << ": response frame of " << length
                                   << " bytes exceeds the limit; dropping the connection";
        return Error(Fail().error());
    }
    const size_t frame_size = framed_rpc::kFrameHeaderSize + length;
    if (frame_size > recv_capacity_) {
        auto bigger = std::make_unique_for_overwrite<char[]>(frame_size);
        std::memcpy(bigger.get(), recv_buffer_.get(), recv_end_);
        recv_buffer_ = std::move(bigger);
        recv_capacity_ = frame_size;
    }
    while (recv_end_ < frame_size) {
        if (!ReadSome(recv_capacity_ - recv_end_, deadline)) return Error(Fail().error());
    }
    recv_begin_ = frame_size;
    return std::string_view(recv_buffer_.get() + framed_rpc::kFrameHeaderSize, length);
}

Status FramedRpcConnection::Drain(net::SteadyDeadline deadline) {
    while (!deferred_.empty()) {
        auto payload = ReadFrame(deadline);  // on failure the rest are abandoned
        if (!payload) return Error(payload.error());
        DeferredReply on_reply = std::move(deferred_.front());
        deferred_.pop_front();
        on_reply(OkStatus(), *payload);
    }
    return OkStatus();
}

Status FramedRpcConnection::SendDeferred(const google::protobuf::MessageLite& request,
                                         DeferredReply on_reply, net::SteadyDeadline deadline) {
    MC_RETURN_IF_ERROR(SendFrame(request, deadline));
    deferred_.push_back(std::move(on_reply));
    return OkStatus();
}

Status FramedRpcConnection::Exchange(const google::protobuf::MessageLite& request,
                                     google::protobuf::MessageLite* response,
                                     net::SteadyDeadline deadline) {
    MC_RETURN_IF_ERROR(SendFrame(request, deadline));
    MC_RETURN_IF_ERROR(Drain(deadline));
    auto payload = ReadFrame(deadline);
    if (!payload) return Error(payload.error());
    // Nothing is outstanding now, so any byte beyond the frame is one
    // nobody asked for.
    if (recv_end_ != recv_begin_ ||
        !response->ParseFromArray(payload->data(), static_cast<int>(payload->size()))) {
        LOG_EVERY_T(WARNING, 10.0)
            << protocol_.name << ": malformed response; dropping the connection";
        return Fail();
    }
    return OkStatus();
}

// ---- pool ---------------------------------------------------------------------------

namespace {

std::atomic<uint64_t> next_pool_serial{1};

// Per thread: the last deferred request it sent in each pool (by serial).
struct OwnDeferred {
    uint64_t pool_serial;
    uint64_t sequence;
};
thread_local std::vector<OwnDeferred> own_deferred;

}  // namespace

FramedRpcPool::FramedRpcPool(size_t max_connections, const framed_rpc::Protocol& protocol,
                             auth::ClusterKeyPtr key)
    : max_connections_(std::max<size_t>(1, max_connections)),
      protocol_(protocol),
      key_(std::move(key)),
      serial_(next_pool_serial.fetch_add(1)) {}

FramedRpcPool::~FramedRpcPool() {
    // The idle connections' deferred callbacks run now, while the pool they
    // report to is whole.
    std::vector<std::unique_ptr<FramedRpcConnection>> closing;
    {
        MutexLock lock(mutex_);
        closing.swap(idle_);
    }
}

uint64_t FramedRpcPool::OwnDeferredLocked() {
    for (auto it = own_deferred.begin(); it != own_deferred.end(); ++it) {
        if (it->pool_serial != serial_) continue;
        if (it->sequence > deferred_done_) return it->sequence;
        own_deferred.erase(it);
        return 0;
    }
    return 0;
}

std::unique_ptr<FramedRpcConnection> FramedRpcPool::TakeDeferredOwnerLocked() {
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (it->get() != deferred_owner_) continue;
        std::unique_ptr<FramedRpcConnection> owner = std::move(*it);
        idle_.erase(it);
        return owner;
    }
    return nullptr;
}

void FramedRpcPool::DeferredDone() {
    {
        MutexLock lock(mutex_);
        ++deferred_done_;
        if (deferred_done_ == deferred_sent_) deferred_owner_ = nullptr;
    }
    returned_.NotifyAll();
}

Status FramedRpcPool::AwaitOwnDeferred(net::SteadyDeadline deadline) {
    {
        MutexLock lock(mutex_);
        if (OwnDeferredLocked() == 0) return OkStatus();
    }
    auto lease = Checkout(deadline, deadline);
    if (!lease) return Error(lease.error());
    return (*lease)->Drain(deadline);
}

void FramedRpcPool::SetTarget(std::vector<FramedRpcAddress> addresses, uint16_t port) {
    std::vector<std::unique_ptr<FramedRpcConnection>> closing;
    {
        MutexLock lock(mutex_);
        addresses_ = std::move(addresses);
        port_ = port;
        ++generation_;
        open_ -= idle_.size();
        closing.swap(idle_);
    }
    returned_.NotifyAll();
}

void FramedRpcPool::SetPort(uint16_t port) {
    std::vector<std::unique_ptr<FramedRpcConnection>> closing;
    {
        MutexLock lock(mutex_);
        if (port == port_) return;
        port_ = port;
        ++generation_;
        open_ -= idle_.size();
        closing.swap(idle_);
    }
    returned_.NotifyAll();
}

uint16_t FramedRpcPool::port() const {
    MutexLock lock(mutex_);
    return port_;
}

void FramedRpcPool::DropIdle() {
    std::vector<std::unique_ptr<FramedRpcConnection>> closing;
    {
        MutexLock lock(mutex_);
        open_ -= idle_.size();
        closing.swap(idle_);
    }
    returned_.NotifyAll();
}

size_t FramedRpcPool::open_connections() const {
    MutexLock lock(mutex_);
    return open_;
}

Result<FramedRpcPool::Lease> FramedRpcPool::Checkout(net::SteadyDeadline deadline,
                                                     net::SteadyDeadline open_deadline) {
    MutexLock lock(mutex_);
    while (true) {
        if (port_ == 0) return Error(ErrorCode::RPC_FAIL);
        if (deferred_owner_ != nullptr) {
            // Whoever uses the holder of deferred requests reads their
            // responses first; a thread waiting for its own takes nothing
            // else.
            if (std::unique_ptr<FramedRpcConnection> owner = TakeDeferredOwnerLocked()) {
                const uint64_t generation = generation_;
                // IsUsable may fail it, whose callbacks take the lock.
                lock.Unlock();
                if (owner->IsUsable()) return Lease(this, std::move(owner), generation);
                owner.reset();
                lock.Lock();
                --open_;
                continue;
            }
            if (OwnDeferredLocked() != 0) {
                if (!returned_.WaitUntil(lock, deadline)) {
                    return Error(ErrorCode::RPC_FAIL);
                }
                continue;
            }
        }
        while (!idle_.empty()) {
            std::unique_ptr<FramedRpcConnection> connection = std::move(idle_.back());
            idle_.pop_back();
            if (connection->IsUsable()) return Lease(this, std::move(connection), generation_);
            --open_;  // stale: the master went away while it sat idle
        }
        if (open_ < max_connections_) break;
        if (!returned_.WaitUntil(lock, deadline)) {
            return Error(ErrorCode::RPC_FAIL);
        }
    }
    // Open a new one outside the lock; the slot is reserved meanwhile.
    ++open_;
    const std::vector<FramedRpcAddress> addresses = addresses_;
    const uint16_t port = port_;
    const uint64_t generation = generation_;
    lock.Unlock();
    auto opened = FramedRpcConnection::Open(addresses, port, std::min(deadline, open_deadline),
                                            protocol_, key_.get());
    if (!opened) {
        lock.Lock();
        --open_;
        lock.Unlock();
        returned_.NotifyOne();
        return Error(opened.error());
    }
    return Lease(this, std::move(*opened), generation);
}

void FramedRpcPool::CheckIn(std::unique_ptr<FramedRpcConnection> connection, uint64_t generation) {
    std::unique_ptr<FramedRpcConnection> closing;
    bool wake_all = false;
    {
        MutexLock lock(mutex_);
        if (connection->broken() || generation != generation_) {
            // Broken, or aimed at a master that has since moved: close it.
            closing = std::move(connection);
            --open_;
        } else {
            idle_.push_back(std::move(connection));
        }
        // Threads may be waiting for the holder of deferred requests.
        wake_all = deferred_owner_ != nullptr;
    }
    if (wake_all) {
        returned_.NotifyAll();
    } else {
        returned_.NotifyOne();
    }
}

// ---- lease ----------------------------------------------------------------------------

FramedRpcPool::Lease::Lease(FramedRpcPool* pool, std::unique_ptr<FramedRpcConnection> connection,
                            uint64_t generation)
    : pool_(pool), connection_(std::move(connection)), generation_(generation) {}

FramedRpcPool::Lease::~Lease() { Release(); }

Status FramedRpcPool::Lease::SendDeferred(const google::protobuf::MessageLite& request,
                                          FramedRpcConnection::DeferredReply on_reply,
                                          net::SteadyDeadline deadline) {
    uint64_t sequence = 0;
    {
        MutexLock lock(pool_->mutex_);
        if ((pool_->deferred_owner_ != nullptr && pool_->deferred_owner_ != connection_.get()) ||
            connection_->deferred() >= kMaxDeferred) {
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
        }
        pool_->deferred_owner_ = connection_.get();
        sequence = ++pool_->deferred_sent_;
    }
    FramedRpcPool* pool = pool_;
    Status sent = connection_->SendDeferred(
        request,
        [pool, on_reply = std::move(on_reply)](Status status, std::string_view payload) {
            pool->DeferredDone();
            on_reply(status, payload);
        },
        deadline);
    if (!sent) {
        // Never queued: count it as answered so that the sequence moves on.
        pool_->DeferredDone();
        return sent;
    }
    MutexLock lock(pool_->mutex_);
    for (OwnDeferred& own : own_deferred) {
        if (own.pool_serial == pool_->serial_) {
            own.sequence = sequence;
            return OkStatus();
        }
    }
    own_deferred.push_back({pool_->serial_, sequence});
    return OkStatus();
}

FramedRpcPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      generation_(other.generation_) {}

FramedRpcPool::Lease& FramedRpcPool::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        Release();
        pool_ = std::exchange(other.pool_, nullptr);
        connection_ = std::move(other.connection_);
        generation_ = other.generation_;
    }
    return *this;
}

void FramedRpcPool::Lease::Release() {
    if (pool_ != nullptr && connection_ != nullptr) {
        pool_->CheckIn(std::move(connection_), generation_);
    }
    pool_ = nullptr;
}

}  // namespace mooncake
