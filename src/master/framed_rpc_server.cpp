#include "master/framed_rpc_server.h"

#include <arpa/inet.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>

#include "common/auth_handshake.h"
#include "common/net_util.h"

namespace mooncake {

namespace {

// At most ten lines a second per call site about misbehaving peers, so that
// a flood of garbage cannot flood the log.
constexpr double kPeerLogInterval = 0.1;

// A frame above this leaves the inbox's buffer behind once it is served.
constexpr size_t kInboxKeepBytes = 1 << 20;
constexpr size_t kInboxInitialBytes = 64 << 10;

std::string PeerName(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
        return JoinHostPort(text, ntohs(v4->sin_port));
    }
    if (address.ss_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
        return JoinHostPort(text, ntohs(v6->sin6_port));
    }
    return "unknown peer";
}

// Waits until `fd` is readable. Without a deadline it waits for ever (Stop()
// shuts the socket down, which wakes it). False on timeout or error.
bool WaitReadable(int fd, std::optional<net::SteadyDeadline> deadline) {
    while (true) {
        pollfd entry{fd, POLLIN, 0};
        const int rc = ::poll(&entry, 1, deadline ? net::RemainingMs(*deadline) : -1);
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return false;
    }
}

bool SendAllBlocking(int fd, const char* data, size_t size) {
    size_t sent = 0;
    while (sent < size) {
        const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return false;  // error, or SO_SNDTIMEO ran out
        }
    }
    return true;
}

}  // namespace

// Bytes received and not yet consumed: [begin, end) of a buffer that grows to
// the largest frame seen and shrinks back when it empties.
struct FramedRpcServer::Inbox {
    std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(kInboxInitialBytes);
    size_t capacity = kInboxInitialBytes;
    size_t begin = 0;
    size_t end = 0;

    size_t size() const { return end - begin; }
    const char* head() const { return data.get() + begin; }

    void Consume(size_t bytes) {
        begin += bytes;
        if (begin == end) {
            begin = end = 0;
            if (capacity > kInboxKeepBytes) {
                data = std::make_unique_for_overwrite<char[]>(kInboxInitialBytes);
                capacity = kInboxInitialBytes;
            }
        }
    }

    // Makes room for `total` unconsumed bytes at least.
    void Reserve(size_t total) {
        if (capacity - begin >= total) return;
        if (capacity >= total) {
            std::memmove(data.get(), head(), size());
        } else {
            auto bigger = std::make_unique_for_overwrite<char[]>(total);
            std::memcpy(bigger.get(), head(), size());
            data = std::move(bigger);
            capacity = total;
        }
        end -= begin;
        begin = 0;
    }

    // One recv() into the free tail. False on error or peer close.
    bool ReadSome(int fd, std::optional<net::SteadyDeadline> deadline) {
        if (end == capacity) Reserve(size() + kInboxInitialBytes);
        while (true) {
            if (deadline && !WaitReadable(fd, deadline)) return false;
            const ssize_t n = ::recv(fd, data.get() + end, capacity - end, 0);
            if (n > 0) {
                end += static_cast<size_t>(n);
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            return false;
        }
    }
};

FramedRpcServer::FramedRpcServer(HandlerFactory factory, Options options)
    : factory_(std::move(factory)), options_(std::move(options)), name_(options_.protocol.name) {}

FramedRpcServer::~FramedRpcServer() { Stop(); }

std::expected<void, std::string> FramedRpcServer::Start() {
    auto listener = net::ListenTcp(options_.address, options_.port);
    if (!listener) return std::unexpected(listener.error() + " (" + name_ + " port)");
    wake_fd_ = net::UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_fd_.valid()) return std::unexpected("eventfd: " + net::ErrnoText(errno));
    listen_fd_ = std::move(*listener);
    bound_port_ = net::LocalPort(listen_fd_.get());
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return {};
}

void FramedRpcServer::Stop() {
    if (!accept_thread_.joinable()) return;
    stopping_.store(true);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof(one));
    accept_thread_.join();
    listen_fd_.Reset();
    {
        std::lock_guard<std::mutex> lock(connections_mutex_);
        // Wakes threads blocked in recv/send; each closes its own side.
        for (auto& connection : connections_) ::shutdown(connection->fd.get(), SHUT_RDWR);
    }
    ReapFinished(/*all=*/true);
}

FramedRpcServer::Stats FramedRpcServer::GetStats() const {
    Stats stats;
    stats.connections_open = connections_open_.load();
    stats.connections_accepted = connections_accepted_.load();
    stats.connections_refused = connections_refused_.load();
    stats.protocol_errors = protocol_errors_.load();
    stats.requests = requests_.load();
    return stats;
}

void FramedRpcServer::ReapFinished(bool all) {
    std::list<std::unique_ptr<Connection>> done;
    {
        std::lock_guard<std::mutex> lock(connections_mutex_);
        for (auto it = connections_.begin(); it != connections_.end();) {
            if (all || (*it)->finished.load()) {
                done.push_back(std::move(*it));
                it = connections_.erase(it);
            } else {
                ++it;
            }
        }
    }
    // Joined outside the lock: Stop() must not wait on a thread while holding
    // what that thread might need.
    for (auto& connection : done) {
        if (connection->thread.joinable()) connection->thread.join();
    }
}

void FramedRpcServer::AcceptLoop() {
    while (!stopping_.load()) {
        pollfd entries[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
        // The timeout only paces the reaping of finished connections.
        const int rc = ::poll(entries, 2, 1000);
        ReapFinished(/*all=*/false);
        if (stopping_.load()) break;
        if (rc <= 0 || !(entries[0].revents & POLLIN)) continue;

        sockaddr_storage address{};
        socklen_t length = sizeof(address);
        net::UniqueFd fd(::accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                                   SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
                LOG_EVERY_T(ERROR, 1.0) << name_ << ": accept failed: " << net::ErrnoText(errno);
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            continue;
        }
        const std::string peer = PeerName(address);
        if (connections_open_.load() >= options_.max_connections) {
            connections_refused_.fetch_add(1);
            LOG_EVERY_T(WARNING, kPeerLogInterval)
                << name_ << ": refusing connection from " << peer << ": "
                << options_.max_connections << " connections are open already";
            continue;  // `fd` closes here
        }
        connections_accepted_.fetch_add(1);
        connections_open_.fetch_add(1);
        auto connection = std::make_unique<Connection>();
        connection->fd = std::move(fd);
        connection->peer = peer;
        Connection* raw = connection.get();
        std::lock_guard<std::mutex> lock(connections_mutex_);
        try {
            raw->thread = std::thread([this, raw] { Serve(raw); });
        } catch (const std::system_error& error) {
            // Out of threads (ulimit -u, memory): refuse this peer, keep serving.
            connections_open_.fetch_sub(1);
            connections_refused_.fetch_add(1);
            LOG_EVERY_T(ERROR, 1.0)
                << name_ << ": cannot start a thread for " << peer << ": " << error.what();
            continue;  // `connection` closes here
        }
        connections_.push_back(std::move(connection));
    }
}

void FramedRpcServer::Serve(Connection* connection) {
    const int fd = connection->fd.get();
    net::SetNoDelay(fd);
    // A peer that stops reading its responses cannot pin this thread.
    timeval send_timeout{};
    send_timeout.tv_sec =
        std::chrono::duration_cast<std::chrono::seconds>(options_.frame_timeout).count();
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
    // Idle clients may stay connected for ever, but a client whose host died
    // (no FIN) must not hold a slot for ever: TCP keepalive notices it
    // within about two minutes and the blocked recv() then fails.
    const int keepalive = 1, idle_sec = 60, interval_sec = 10, probes = 6;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, sizeof(keepalive));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_sec, sizeof(idle_sec));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_sec, sizeof(interval_sec));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));

    std::string why;
    const bool authenticated =
        options_.cluster_key == nullptr || auth::AcceptPeer(fd, *options_.cluster_key, name_, &why);
    if (!authenticated) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": refusing connection from " << connection->peer << ": " << why;
    }
    if (authenticated && Handshake(connection)) {
        std::unique_ptr<FrameHandler> handler = factory_(connection->peer);
        Inbox inbox;
        std::string outbox;
        while (handler != nullptr && !stopping_.load() &&
               ServeOneFrame(connection, &inbox, &outbox, handler.get())) {
        }
    }
    // Tell the peer at once; the descriptor itself is closed when reaped.
    ::shutdown(fd, SHUT_RDWR);
    connections_open_.fetch_sub(1);
    connection->finished.store(true);
}

bool FramedRpcServer::ServeOneFrame(Connection* connection, Inbox* inbox, std::string* outbox,
                                    FrameHandler* handler) {
    const int fd = connection->fd.get();
    // Between frames the peer may stay silent for ever; once a frame has
    // started, the rest must follow within frame_timeout.
    std::optional<net::SteadyDeadline> deadline;
    if (inbox->size() > 0) deadline = std::chrono::steady_clock::now() + options_.frame_timeout;
    while (inbox->size() < hot_rpc::kFrameHeaderSize) {
        if (!inbox->ReadSome(fd, deadline)) {
            if (inbox->size() > 0) {
                protocol_errors_.fetch_add(1);
                LOG_EVERY_T(WARNING, kPeerLogInterval)
                    << name_ << ": closing connection from " << connection->peer
                    << ": frame header incomplete";
            }
            return false;
        }
        if (!deadline) deadline = std::chrono::steady_clock::now() + options_.frame_timeout;
    }
    const uint32_t length =
        hot_rpc::DecodeFrameLength(reinterpret_cast<const uint8_t*>(inbox->head()));
    if (length > options_.protocol.max_request_frame_bytes) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer << ": frame of " << length
            << " bytes exceeds the limit of " << options_.protocol.max_request_frame_bytes;
        return false;
    }
    const size_t frame_size = hot_rpc::kFrameHeaderSize + length;
    inbox->Reserve(frame_size);
    while (inbox->size() < frame_size) {
        if (!inbox->ReadSome(fd, deadline)) {
            protocol_errors_.fetch_add(1);
            LOG_EVERY_T(WARNING, kPeerLogInterval)
                << name_ << ": closing connection from " << connection->peer << ": frame of "
                << length << " bytes incomplete (peer closed, or " << options_.frame_timeout.count()
                << " ms passed)";
            return false;
        }
    }
    const std::string_view payload(inbox->head() + hot_rpc::kFrameHeaderSize, length);
    const bool served = handler->Handle(payload, outbox);
    inbox->Consume(frame_size);
    if (!served) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer
            << ": malformed request frame of " << length << " bytes";
        return false;
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    return SendAllBlocking(fd, outbox->data(), outbox->size());
}

bool FramedRpcServer::Handshake(Connection* connection) {
    const int fd = connection->fd.get();
    const auto deadline = std::chrono::steady_clock::now() + options_.handshake_timeout;
    std::array<uint8_t, hot_rpc::kClientHelloSize> hello{};
    size_t received = 0;
    while (received < hello.size()) {
        if (!WaitReadable(fd, deadline)) {
            LOG_EVERY_T(WARNING, kPeerLogInterval)
                << name_ << ": closing connection from " << connection->peer
                << ": no handshake within " << options_.handshake_timeout.count() << " ms";
            protocol_errors_.fetch_add(1);
            return false;
        }
        const ssize_t n = ::recv(fd, hello.data() + received, hello.size() - received, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return false;  // peer went away: nothing to report
        }
        received += static_cast<size_t>(n);
    }
    auto version = hot_rpc::DecodeClientHello(hello, options_.protocol.magic);
    if (!version) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer << ": not a " << name_
            << " handshake (garbage bytes?)";
        return false;
    }
    hot_rpc::ServerHello reply;
    reply.version = options_.protocol.version;
    reply.master_instance_id = options_.instance_id;
    if (*version != options_.protocol.version) {
        reply.status = ErrorCode::INVALID_VERSION;
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer << ": protocol version "
            << *version << " not supported (this server speaks " << options_.protocol.version
            << ")";
    }
    const auto bytes = hot_rpc::EncodeServerHello(reply, options_.protocol.magic);
    const bool sent =
        SendAllBlocking(fd, reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return sent && reply.status == ErrorCode::OK;
}

}  // namespace mooncake
