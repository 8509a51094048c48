#include "net/http_listener.h"

#include <arpa/inet.h>
#include <glog/logging.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <thread>
#include <unordered_map>

#include "common/mutex.h"
#include "common/net_util.h"
#include "net/http_parser.h"
#include "net/socket_util.h"

namespace mooncake {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadChunk = 64 << 10;
// Connections accepted per wake-up, so that a connection flood cannot keep
// the loop from serving the connections it has.
constexpr int kAcceptsPerWake = 256;
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
// After an error reply the peer's remaining input is read and dropped this
// long, so that closing with unread bytes (a TCP reset) cannot destroy the
// reply before the peer read it.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr double kPeerLogInterval = 1.0;

std::string PeerAddressOf(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "unknown";
    char text[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
        ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
        return JoinHostPort(text, ntohs(v4->sin_port));
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    return JoinHostPort(text, ntohs(v6->sin6_port));
}

const char* ReasonPhrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        case 507:
            return "Insufficient Storage";
        default:
            return "Unknown";
    }
}

std::string FormatResponse(const HttpResponse& response, bool keep_alive) {
    std::string out =
        "HTTP/1.1 " + std::to_string(response.status) + " " + ReasonPhrase(response.status) +
        "\r\nContent-Type: " + response.content_type +
        "\r\nContent-Length: " + std::to_string(response.body.size()) +
        (keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
    out.reserve(out.size() + response.body.size());
    out += response.body;
    return out;
}

enum class Phase {
    kIdle,       // between requests
    kReading,    // a request has started and is not complete
    kHandling,   // the request runs on a worker
    kWriting,    // its response is being sent
    kLingering,  // an error reply was sent; dropping input until close
};

struct Connection {
    UniqueFd fd;
    uint64_t id = 0;
    std::string peer;
    HttpRequestParser parser;
    Phase phase = Phase::kIdle;
    Clock::time_point since;     // start of the phase (eviction picks the oldest)
    Clock::time_point deadline;  // end of the phase (not while kHandling)
    std::string pending;         // bytes received after the request being served
    std::string out;
    size_t out_sent = 0;
    bool close_after_write = false;
    bool linger_after_write = false;
    size_t handling_bytes = 0;  // body of the request on a worker
    size_t charged = 0;         // bytes counted in the listener's budget
    uint32_t events = 0;        // epoll interest

    Connection(size_t max_header, size_t max_body) : parser(max_header, max_body) {}
};

}  // namespace

class HttpListener::Loop {
   public:
    Loop(const HttpLimits& limits, const Routes& routes, UniqueFd listener, std::string what);
    ~Loop();
    std::expected<void, std::string> Start();

   private:
    struct Done {
        uint64_t id;
        std::string bytes;
        bool close;
    };

    void Run();
    void Work();
    void AcceptAll();
    bool EvictOne();
    void OnEvent(uint64_t id, uint32_t events);
    bool OnReadable(Connection* c);
    bool Ingest(Connection* c, std::string_view data);
    bool Dispatch(Connection* c);
    bool Respond(Connection* c, std::string bytes, bool close);
    bool Fail(Connection* c, int status, const std::string& reason);
    Connection* LargestUnfinished();
    // Charges `c`, failing the largest unfinished requests until the budget
    // holds it; false when only `c` itself could make way.
    bool MakeRoom(Connection* c);
    bool Flush(Connection* c);
    bool OnResponseSent(Connection* c);
    void TakeCompletions();
    void Sweep(Clock::time_point now);
    bool Charge(Connection* c);
    void UpdateInterest(Connection* c);
    void Close(Connection* c);

    const HttpLimits limits_;
    const Routes& routes_;
    UniqueFd listener_;
    const std::string what_;
    UniqueFd epoll_;
    UniqueFd wake_;
    std::atomic<bool> stopping_{false};
    std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
    uint64_t next_id_ = 2;
    size_t buffered_ = 0;  // sum of Connection::charged
    std::unique_ptr<char[]> read_buffer_ = std::make_unique<char[]>(kReadChunk);
    std::thread thread_;

    Mutex jobs_mutex_;
    CondVar jobs_wake_;
    std::deque<std::function<void()>> jobs_ MC_GUARDED_BY(jobs_mutex_);
    bool workers_stopping_ MC_GUARDED_BY(jobs_mutex_) = false;
    std::vector<std::thread> workers_;

    Mutex done_mutex_;
    std::vector<Done> done_ MC_GUARDED_BY(done_mutex_);
};

HttpListener::Loop::Loop(const HttpLimits& limits, const Routes& routes, UniqueFd listener,
                         std::string what)
    : limits_(limits), routes_(routes), listener_(std::move(listener)), what_(std::move(what)) {}

std::expected<void, std::string> HttpListener::Loop::Start() {
    epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epoll_.valid() || !wake_.valid()) {
        return std::unexpected("epoll/eventfd: " + net::ErrnoText(errno) + " (" + what_ + ")");
    }
    net::SetNonBlocking(listener_.get(), true);
    epoll_event listen_event{EPOLLIN, {.u64 = kListenId}};
    epoll_event wake_event{EPOLLIN, {.u64 = kWakeId}};
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &listen_event) != 0 ||
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &wake_event) != 0) {
        return std::unexpected("epoll_ctl: " + net::ErrnoText(errno) + " (" + what_ + ")");
    }
    for (size_t i = 0; i < std::max<size_t>(1, limits_.worker_threads); ++i) {
        workers_.emplace_back([this] { Work(); });
    }
    thread_ = std::thread([this] { Run(); });
    return {};
}

HttpListener::Loop::~Loop() {
    stopping_.store(true);
    if (thread_.joinable()) {
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t ignored = ::write(wake_.get(), &one, sizeof(one));
        thread_.join();
    }
    {
        MutexLock lock(jobs_mutex_);
        workers_stopping_ = true;
        jobs_.clear();  // requests not started yet are dropped with their connections
    }
    jobs_wake_.NotifyAll();
    for (auto& worker : workers_) worker.join();
}

void HttpListener::Loop::Work() {
    while (true) {
        std::function<void()> job;
        {
            MutexLock lock(jobs_mutex_);
            while (!workers_stopping_ && jobs_.empty()) jobs_wake_.Wait(lock);
            if (workers_stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

void HttpListener::Loop::Run() {
    constexpr int kMaxEvents = 256;
    epoll_event events[kMaxEvents];
    auto next_sweep = Clock::now() + kSweepInterval;
    while (!stopping_.load()) {
        const int n = ::epoll_wait(epoll_.get(), events, kMaxEvents,
                                   static_cast<int>(kSweepInterval.count()));
        if (n < 0 && errno != EINTR) {
            PLOG(ERROR) << what_ << ": epoll_wait failed";
            break;
        }
        for (int i = 0; i < n; ++i) OnEvent(events[i].data.u64, events[i].events);
        const auto now = Clock::now();
        if (now >= next_sweep) {
            Sweep(now);
            next_sweep = now + kSweepInterval;
        }
    }
    connections_.clear();
}

void HttpListener::Loop::OnEvent(uint64_t id, uint32_t events) {
    if (id == kListenId) return AcceptAll();
    if (id == kWakeId) {
        uint64_t count = 0;
        [[maybe_unused]] ssize_t ignored = ::read(wake_.get(), &count, sizeof(count));
        return TakeCompletions();
    }
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    Connection* c = it->second.get();
    if ((events & EPOLLOUT) && !Flush(c)) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (c->phase == Phase::kHandling || c->phase == Phase::kWriting) {
            // Not reading now; a reset or hang-up peer cannot take the
            // response (and would make epoll report it again and again).
            if (events & (EPOLLERR | EPOLLHUP)) Close(c);
            return;
        }
        OnReadable(c);
    }
}

void HttpListener::Loop::AcceptAll() {
    for (int i = 0; i < kAcceptsPerWake; ++i) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno == EMFILE || errno == ENFILE) {
                // Out of descriptors: make room for the next one.
                LOG_EVERY_T(WARNING, kPeerLogInterval) << what_ << ": out of file descriptors";
                if (EvictOne()) continue;
            }
            return;
        }
        if (connections_.size() >= limits_.max_connections && !EvictOne()) continue;
        net::SetNoDelay(fd.get());
        auto connection =
            std::make_unique<Connection>(limits_.max_header_bytes, limits_.max_body_bytes);
        connection->id = next_id_++;
        connection->peer = PeerAddressOf(fd.get());
        connection->fd = std::move(fd);
        connection->since = Clock::now();
        // A fresh connection must start its request soon, an idle
        // keep-alive one may wait longer.
        connection->deadline = connection->since + limits_.request_timeout;
        connection->events = EPOLLIN;
        epoll_event event{EPOLLIN, {.u64 = connection->id}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, connection->fd.get(), &event) != 0) continue;
        connections_.emplace(connection->id, std::move(connection));
    }
}

bool HttpListener::Loop::EvictOne() {
    Connection* oldest = nullptr;
    for (auto& [id, c] : connections_) {
        if (c->phase == Phase::kHandling) continue;
        // Lingering connections are closing anyway; otherwise the one whose
        // idle time or unfinished request is the oldest goes.
        const bool better =
            oldest == nullptr ||
            (c->phase == Phase::kLingering) > (oldest->phase == Phase::kLingering) ||
            ((c->phase == Phase::kLingering) == (oldest->phase == Phase::kLingering) &&
             c->since < oldest->since);
        if (better) oldest = c.get();
    }
    if (oldest == nullptr) return false;
    LOG_EVERY_T(WARNING, kPeerLogInterval)
        << what_ << ": " << connections_.size() << " connections open (limit "
        << limits_.max_connections << "); closing the oldest idle one, from " << oldest->peer;
    Close(oldest);
    return true;
}

bool HttpListener::Loop::OnReadable(Connection* c) {
    const ssize_t n = ::recv(c->fd.get(), read_buffer_.get(), kReadChunk, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n <= 0) {
        Close(c);
        return false;
    }
    if (c->phase == Phase::kLingering) return true;
    return Ingest(c, std::string_view(read_buffer_.get(), static_cast<size_t>(n)));
}

bool HttpListener::Loop::Ingest(Connection* c, std::string_view data) {
    const size_t used = c->parser.Feed(data);
    if (c->parser.started() && c->phase == Phase::kIdle) {
        c->phase = Phase::kReading;
        c->since = Clock::now();
        c->deadline = c->since + limits_.request_timeout;
    }
    if (const auto& failure = c->parser.failure()) {
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << what_ << ": refusing a request from " << c->peer << ": " << failure->reason;
        return Fail(c, failure->status, failure->reason);
    }
    if (c->parser.TakeContinue()) {
        c->out += "HTTP/1.1 100 Continue\r\n\r\n";
        if (!Flush(c)) return false;
    }
    if (c->parser.complete()) {
        c->pending.assign(data.substr(used));
        return Dispatch(c);
    }
    if (!MakeRoom(c)) {
        c->parser.Discard();
        return Fail(c, 503, "server busy: too many unfinished requests");
    }
    return true;
}

bool HttpListener::Loop::MakeRoom(Connection* c) {
    while (!Charge(c)) {
        // The budget is spent: the unfinished request holding the most goes
        // first, so that slow large uploads cannot starve small requests.
        Connection* hog = LargestUnfinished();
        if (hog == nullptr || hog == c) return false;
        if (c->phase == Phase::kReading && hog->charged <= c->charged) return false;
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << what_ << ": buffer budget of " << limits_.max_buffered_bytes
            << " bytes spent; refusing the unfinished request of " << hog->charged << " bytes from "
            << hog->peer;
        hog->parser.Discard();
        Fail(hog, 503, "server busy: too many unfinished requests");
    }
    return true;
}

bool HttpListener::Loop::Dispatch(Connection* c) {
    const bool keep_alive = c->parser.keep_alive();
    HttpRequest request = c->parser.TakeRequest();
    request.peer = c->peer;
    auto path = routes_.find(request.path);
    if (path == routes_.end()) {
        return Respond(c, FormatResponse({404, "text/plain", "not found\n"}, keep_alive),
                       !keep_alive);
    }
    auto route = path->second.find(request.method);
    if (route == path->second.end()) {
        return Respond(c, FormatResponse({405, "text/plain", "method not allowed\n"}, keep_alive),
                       !keep_alive);
    }
    c->phase = Phase::kHandling;
    c->handling_bytes = request.body.capacity();
    MakeRoom(c);  // a complete request runs even over budget; readers make way
    UpdateInterest(c);
    const HttpHandler* handler = &route->second;
    auto job = [this, id = c->id, handler, keep_alive, request = std::move(request)] {
        HttpResponse response;
        try {
            response = (*handler)(request);
        } catch (const std::exception& error) {
            LOG(ERROR) << what_ << ": handler of " << request.path << " failed: " << error.what();
            response = {500, "text/plain", "internal error\n"};
        }
        Done done{id, FormatResponse(response, keep_alive), !keep_alive};
        {
            MutexLock lock(done_mutex_);
            done_.push_back(std::move(done));
        }
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t ignored = ::write(wake_.get(), &one, sizeof(one));
    };
    {
        MutexLock lock(jobs_mutex_);
        jobs_.push_back(std::move(job));
    }
    jobs_wake_.NotifyOne();
    return true;
}

void HttpListener::Loop::TakeCompletions() {
    std::vector<Done> done;
    {
        MutexLock lock(done_mutex_);
        done.swap(done_);
    }
    for (auto& item : done) {
        auto it = connections_.find(item.id);
        if (it == connections_.end()) continue;  // closed while its request ran
        Respond(it->second.get(), std::move(item.bytes), item.close);
    }
}

bool HttpListener::Loop::Respond(Connection* c, std::string bytes, bool close) {
    c->handling_bytes = 0;
    c->phase = Phase::kWriting;
    c->since = Clock::now();
    c->deadline = c->since + limits_.request_timeout;
    c->close_after_write = close;
    if (c->out.empty()) {
        c->out = std::move(bytes);
    } else {
        c->out += bytes;  // after an unsent "100 Continue"
    }
    if (!MakeRoom(c)) {
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << what_ << ": buffer budget of " << limits_.max_buffered_bytes
            << " bytes spent; refusing a response to " << c->peer;
        FreeString(c->out);
        c->out_sent = 0;
        return Fail(c, 503, "server busy: too many unread responses");
    }
    return Flush(c);
}

bool HttpListener::Loop::Fail(Connection* c, int status, const std::string& reason) {
    FreeString(c->pending);
    c->phase = Phase::kWriting;
    c->since = Clock::now();
    c->deadline = c->since + limits_.request_timeout;
    c->close_after_write = true;
    c->linger_after_write = true;
    c->out += FormatResponse({status, "text/plain", reason + "\n"}, /*keep_alive=*/false);
    Charge(c);
    return Flush(c);
}

bool HttpListener::Loop::Flush(Connection* c) {
    while (c->out_sent < c->out.size()) {
        const ssize_t n = ::send(c->fd.get(), c->out.data() + c->out_sent,
                                 c->out.size() - c->out_sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            UpdateInterest(c);
            return true;
        } else {
            Close(c);
            return false;
        }
    }
    FreeString(c->out);
    c->out_sent = 0;
    if (c->phase == Phase::kWriting) return OnResponseSent(c);
    Charge(c);
    UpdateInterest(c);
    return true;
}

bool HttpListener::Loop::OnResponseSent(Connection* c) {
    if (c->linger_after_write) {
        ::shutdown(c->fd.get(), SHUT_WR);
        c->phase = Phase::kLingering;
        c->since = Clock::now();
        c->deadline = c->since + kLingerTime;
        Charge(c);
        UpdateInterest(c);
        return true;
    }
    if (c->close_after_write) {
        Close(c);
        return false;
    }
    c->phase = Phase::kIdle;
    c->since = Clock::now();
    c->deadline = c->since + limits_.idle_timeout;
    Charge(c);
    UpdateInterest(c);
    if (c->pending.empty()) return true;
    // A pipelined request arrived with the previous one.
    const std::string pending = std::exchange(c->pending, std::string());
    return Ingest(c, pending);
}

Connection* HttpListener::Loop::LargestUnfinished() {
    Connection* largest = nullptr;
    for (auto& [id, c] : connections_) {
        if (c->phase == Phase::kReading && (largest == nullptr || c->charged > largest->charged)) {
            largest = c.get();
        }
    }
    return largest;
}

void HttpListener::Loop::Sweep(Clock::time_point now) {
    std::vector<Connection*> expired;
    for (auto& [id, c] : connections_) {
        if (c->phase != Phase::kHandling && c->deadline <= now) expired.push_back(c.get());
    }
    for (Connection* c : expired) {
        if (c->phase == Phase::kReading) {
            LOG_EVERY_T(WARNING, kPeerLogInterval)
                << what_ << ": closing the connection from " << c->peer << ": request not complete"
                << " within " << limits_.request_timeout.count() << " ms";
        }
        Close(c);
    }
}

bool HttpListener::Loop::Charge(Connection* c) {
    const size_t held =
        c->parser.buffered_bytes() + c->pending.capacity() + c->out.capacity() + c->handling_bytes;
    buffered_ = buffered_ - c->charged + held;
    c->charged = held;
    return buffered_ <= limits_.max_buffered_bytes;
}

void HttpListener::Loop::UpdateInterest(Connection* c) {
    uint32_t events = 0;
    if (c->phase == Phase::kIdle || c->phase == Phase::kReading || c->phase == Phase::kLingering) {
        events |= EPOLLIN;
    }
    if (c->out_sent < c->out.size()) events |= EPOLLOUT;
    if (events == c->events) return;
    epoll_event event{events, {.u64 = c->id}};
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c->fd.get(), &event);
    c->events = events;
}

void HttpListener::Loop::Close(Connection* c) {
    buffered_ -= c->charged;
    connections_.erase(c->id);  // closes the descriptor, which leaves the epoll set
}

HttpListener::HttpListener(HttpLimits limits) : limits_(limits) {}

HttpListener::~HttpListener() { Stop(); }

void HttpListener::Handle(const std::string& method, const std::string& path, HttpHandler handler) {
    routes_[path][method] = std::move(handler);
}

std::expected<void, std::string> HttpListener::Start(const std::string& host, uint16_t port,
                                                     const std::string& what) {
    auto listener = net::ListenTcp(host, port);
    if (!listener) return std::unexpected(listener.error().message + " (" + what + ")");
    port_ = net::LocalPort(listener->get());
    auto loop = std::make_unique<Loop>(limits_, routes_, std::move(*listener), what);
    if (auto started = loop->Start(); !started) return started;
    loop_ = std::move(loop);
    return {};
}

void HttpListener::Stop() { loop_.reset(); }

}  // namespace mooncake
