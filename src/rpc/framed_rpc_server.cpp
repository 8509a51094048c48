#include "rpc/framed_rpc_server.h"

#include <arpa/inet.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
// Answers held back while later requests are already received, at most.
constexpr size_t kMaxHeldReplyBytes = 1 << 20;

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

// Bytes received and not yet consumed: [begin, end) of a buffer that grows,
// doubling, as a frame's bytes arrive (never ahead of them: a peer announcing
// a large frame and sending little holds little), and shrinks back when it
// empties. Growth beyond the first kInboxInitialBytes is charged to the
// server's budget.
struct FramedRpcServer::Inbox {
    Inbox(std::atomic<size_t>* budget_used, size_t budget_max, std::chrono::microseconds spin,
          const std::atomic<int>* serving)
        : budget_used(budget_used), budget_max(budget_max), spin(spin), serving(serving) {}
    ~Inbox() { budget_used->fetch_sub(charged); }
    Inbox(const Inbox&) = delete;
    Inbox& operator=(const Inbox&) = delete;

    std::atomic<size_t>* const budget_used;
    const size_t budget_max;
    size_t charged = 0;
    bool over_budget = false;
    std::string reply;  // the frame answering the request being served
    std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(kInboxInitialBytes);
    size_t capacity = kInboxInitialBytes;
    size_t begin = 0;
    size_t end = 0;
    net::BriefSpin spin;                    // while the connection's next bytes are awaited
    const std::atomic<int>* const serving;  // FramedRpcServer::serving_

    size_t size() const { return end - begin; }
    const char* head() const { return data.get() + begin; }

    // A whole request frame is here already.
    bool HoldsWholeFrame() const {
        if (size() < framed_rpc::kFrameHeaderSize) return false;
        const uint32_t length =
            framed_rpc::DecodeFrameLength(reinterpret_cast<const uint8_t*>(head()));
        return size() >= framed_rpc::kFrameHeaderSize + length;
    }

    void Consume(size_t bytes) {
        begin += bytes;
        if (begin == end) {
            begin = end = 0;
            if (capacity > kInboxKeepBytes) {
                data = std::make_unique_for_overwrite<char[]>(kInboxInitialBytes);
                capacity = kInboxInitialBytes;
                Charge(0);
            }
        }
    }

    bool Charge(size_t extra) {
        if (extra > charged &&
            budget_used->fetch_add(extra - charged) + (extra - charged) > budget_max) {
            budget_used->fetch_sub(extra - charged);
            over_budget = true;
            return false;
        }
        if (extra < charged) budget_used->fetch_sub(charged - extra);
        charged = extra;
        return true;
    }

    // Makes room for `total` unconsumed bytes at least; false when the
    // budget cannot pay for it.
    bool Reserve(size_t total) {
        if (capacity - begin >= total) return true;
        if (capacity >= total) {
            std::memmove(data.get(), head(), size());
        } else {
            if (!Charge(total - kInboxInitialBytes)) return false;
            auto bigger = std::make_unique_for_overwrite<char[]>(total);
            std::memcpy(bigger.get(), head(), size());
            data = std::move(bigger);
            capacity = total;
        }
        end -= begin;
        begin = 0;
        return true;
    }

    // One recv() into the free tail, first growing toward `want` unconsumed
    // bytes when the tail is full. False on error, peer close, timeout or
    // budget refusal (over_budget).
    bool ReadSome(int fd, std::optional<net::SteadyDeadline> deadline, size_t want) {
        if (end == capacity && !Reserve(std::max(size() + 1, std::min(want, 2 * capacity)))) {
            return false;
        }
        // Only between requests: the rest of a started frame is due at once.
        if (size() == 0 && serving->load(std::memory_order_relaxed) == 0) (void)spin.Spin(fd);
        while (true) {
            if (deadline && !WaitReadable(fd, deadline)) return false;
            const ssize_t n = ::recv(fd, data.get() + end, capacity - end, 0);
            if (n > 0) {
                end += static_cast<size_t>(n);
                spin.Arrived();
                return true;
            }
            if (n < 0 && errno == EINTR) continue;
            return false;
        }
    }
};

void FramedRpcServer::Connection::Enter(Phase next) {
    phase_since_ns.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                         std::memory_order_relaxed);
    phase.store(next, std::memory_order_relaxed);
}

FramedRpcServer::FramedRpcServer(HandlerFactory factory, Options options)
    : factory_(std::move(factory)), options_(std::move(options)), name_(options_.protocol.name) {}

FramedRpcServer::~FramedRpcServer() { Stop(); }

std::expected<void, std::string> FramedRpcServer::Start() {
    auto listener = net::ListenTcp(options_.address, options_.port);
    if (!listener) return std::unexpected(listener.error().message + " (" + name_ + " port)");
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
        MutexLock lock(connections_mutex_);
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
    stats.connections_evicted = connections_evicted_.load();
    stats.protocol_errors = protocol_errors_.load();
    stats.requests = requests_.load();
    return stats;
}

void FramedRpcServer::ReapFinished(bool all) {
    std::list<std::unique_ptr<Connection>> done;
    {
        MutexLock lock(connections_mutex_);
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
        if (connections_open_.load() >= options_.max_connections && !EvictOne()) {
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
        connection->Enter(kHandshake);
        Connection* raw = connection.get();
        MutexLock lock(connections_mutex_);
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

bool FramedRpcServer::EvictOne() {
    // Stalled handshakes first (nothing proven, over a second old), then the
    // longest idle, then fresh handshakes: an honest newcomer's hello is on
    // its way and must not lose its place to idle flood connections.
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    const int64_t stalled_ns = std::chrono::nanoseconds(std::chrono::seconds(1)).count();
    // A connection that served a request in the last 5 s goes last: its
    // client is likely to send on it again at once.
    const int64_t recent_ns = std::chrono::nanoseconds(std::chrono::seconds(5)).count();
    auto rank = [&](const Connection& c) {
        const int64_t age = now - c.phase_since_ns.load(std::memory_order_relaxed);
        if (c.phase.load(std::memory_order_relaxed) == kIdle) {
            const int64_t served = c.last_request_ns.load(std::memory_order_relaxed);
            return served != 0 && now - served < recent_ns ? 3 : 1;
        }
        return age > stalled_ns ? 0 : 2;
    };
    MutexLock lock(connections_mutex_);
    Connection* victim = nullptr;
    int victim_rank = 4;
    for (auto& connection : connections_) {
        if (connection->finished.load() || connection->evicted.load() ||
            connection->phase.load(std::memory_order_relaxed) == kBusy) {
            continue;
        }
        const int r = rank(*connection);
        if (victim == nullptr || r < victim_rank ||
            (r == victim_rank && connection->phase_since_ns.load(std::memory_order_relaxed) <
                                     victim->phase_since_ns.load(std::memory_order_relaxed))) {
            victim = connection.get();
            victim_rank = r;
        }
    }
    if (victim == nullptr) return false;
    victim->evicted.store(true);
    connections_evicted_.fetch_add(1);
    LOG_EVERY_T(WARNING, kPeerLogInterval)
        << name_ << ": " << options_.max_connections << " connections open; closing "
        << (victim->phase.load() == kHandshake ? "one still in its handshake" : "the longest idle")
        << ", from " << victim->peer;
    // Its thread sees the end of the stream and exits.
    ::shutdown(victim->fd.get(), SHUT_RDWR);
    return true;
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
        connection->Enter(kIdle);
        Inbox inbox(&buffered_bytes_, options_.max_buffered_bytes, options_.request_spin,
                    &serving_);
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
    std::string& reply = inbox->reply;
    // Between frames the peer may stay silent for ever; once a frame has
    // started, the rest must follow within frame_timeout.
    std::optional<net::SteadyDeadline> deadline;
    if (inbox->size() > 0) deadline = std::chrono::steady_clock::now() + options_.frame_timeout;
    while (inbox->size() < framed_rpc::kFrameHeaderSize) {
        if (!inbox->ReadSome(fd, deadline, framed_rpc::kFrameHeaderSize)) {
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
    connection->Enter(kBusy);
    const uint32_t length =
        framed_rpc::DecodeFrameLength(reinterpret_cast<const uint8_t*>(inbox->head()));
    if (length > options_.protocol.max_request_frame_bytes) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer << ": frame of " << length
            << " bytes exceeds the limit of " << options_.protocol.max_request_frame_bytes;
        return false;
    }
    const size_t frame_size = framed_rpc::kFrameHeaderSize + length;
    if (inbox->capacity - inbox->begin < frame_size && inbox->capacity >= frame_size) {
        inbox->Reserve(frame_size);  // compacts, costs nothing
    }
    while (inbox->size() < frame_size) {
        if (!inbox->ReadSome(fd, deadline, frame_size)) {
            protocol_errors_.fetch_add(1);
            LOG_EVERY_T(WARNING, kPeerLogInterval)
                << name_ << ": closing connection from " << connection->peer << ": frame of "
                << length << " bytes incomplete ("
                << (inbox->over_budget
                        ? "the buffer budget of " + std::to_string(options_.max_buffered_bytes) +
                              " bytes for unfinished frames is spent"
                        : "peer closed, or " + std::to_string(options_.frame_timeout.count()) +
                              " ms passed")
                << ")";
            return false;
        }
    }
    const std::string_view payload(inbox->head() + framed_rpc::kFrameHeaderSize, length);
    bool served;
    {
        const net::ServingCount serving(serving_);
        served = handler->Handle(payload, &reply);
    }
    inbox->spin.Expect(handler->last_request_kind());
    inbox->Consume(frame_size);
    if (!served) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer
            << ": malformed request frame of " << length << " bytes";
        return false;
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    return SendOrHoldReply(connection, inbox, outbox);
}

bool FramedRpcServer::SendOrHoldReply(Connection* connection, Inbox* inbox, std::string* outbox) {
    const int fd = connection->fd.get();
    const std::string& reply = inbox->reply;
    // A client that pipelines (FramedRpcConnection::SendDeferred) often has
    // its next request here already: answer both in one write, so that it
    // wakes once for the two answers.
    const bool more = inbox->HoldsWholeFrame();
    bool sent = true;
    if (!more && outbox->empty()) {
        sent = SendAllBlocking(fd, reply.data(), reply.size());
    } else {
        outbox->append(reply);
        if (more && outbox->size() < kMaxHeldReplyBytes) return true;
        sent = SendAllBlocking(fd, outbox->data(), outbox->size());
        outbox->clear();
    }
    connection->Enter(kIdle);
    connection->last_request_ns.store(connection->phase_since_ns.load(std::memory_order_relaxed),
                                      std::memory_order_relaxed);
    return sent;
}

bool FramedRpcServer::Handshake(Connection* connection) {
    const int fd = connection->fd.get();
    const auto deadline = std::chrono::steady_clock::now() + options_.handshake_timeout;
    std::array<uint8_t, framed_rpc::kClientHelloSize> hello{};
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
    auto version = framed_rpc::DecodeClientHello(hello, options_.protocol.magic);
    if (!version) {
        protocol_errors_.fetch_add(1);
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << name_ << ": closing connection from " << connection->peer << ": not a " << name_
            << " handshake (garbage bytes?)";
        return false;
    }
    framed_rpc::ServerHello reply;
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
    const auto bytes = framed_rpc::EncodeServerHello(reply, options_.protocol.magic);
    const bool sent =
        SendAllBlocking(fd, reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return sent && reply.status == ErrorCode::OK;
}

}  // namespace mooncake
