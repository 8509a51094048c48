#include "transfer/tcp_server.h"

#include <glog/logging.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "common/auth_handshake.h"
#include "net/brief_spin.h"

namespace mooncake {

namespace {

// How often the accept loop looks at the stop flag.
constexpr int kPollIntervalMs = 500;

int64_t SteadyNowNs() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

std::string RangeText(uint64_t address, uint64_t length) {
    char text[64];
    std::snprintf(text, sizeof(text), "[0x%llx, +%llu)", static_cast<unsigned long long>(address),
                  static_cast<unsigned long long>(length));
    return text;
}

}  // namespace

Result<std::unique_ptr<TcpServer>> TcpServer::Start(const std::string& bind_address,
                                                    std::optional<uint16_t> port,
                                                    TcpRequestHandler* handler, int io_timeout_ms,
                                                    PortRange auto_ports) {
    if (auto_ports.first > auto_ports.last) auto_ports = {};
    UniqueFd listener;
    int error = 0;
    if (port) {
        auto bound = net::ListenTcp(bind_address, *port);
        if (!bound) {
            error = bound.error().error_number;
            LOG(ERROR) << "Transfer engine cannot listen on " << bind_address << ":" << *port
                       << ": " << strerror(error)
                       << (error == EADDRINUSE ? " (port already taken)" : "");
            return Error(ErrorCode::INVALID_PARAMS);
        }
        listener = std::move(*bound);
    } else {
        const unsigned kRange = auto_ports.last - auto_ports.first + 1u;
        std::random_device random;
        const unsigned start = random() % kRange;
        for (unsigned i = 0; i < kRange && !listener.valid(); ++i) {
            const auto candidate = static_cast<uint16_t>(auto_ports.first + (start + i) % kRange);
            auto bound = net::ListenTcp(bind_address, candidate);
            if (bound) {
                listener = std::move(*bound);
                break;
            }
            error = bound.error().error_number;
            if (error != EADDRINUSE && error != EACCES) {
                break;  // the address itself is unusable: no port will do
            }
        }
        if (!listener.valid()) {
            LOG(ERROR) << "Transfer engine cannot listen on " << bind_address
                       << " with any port in " << auto_ports.first << "-" << auto_ports.last << ": "
                       << strerror(error);
            // Every port taken is a state of the host (INTERNAL_ERROR, as
            // the reference answers when its port retries run out); an
            // address no port works with is the caller's (INVALID_PARAMS).
            return Error(error == EADDRINUSE || error == EACCES ? ErrorCode::INTERNAL_ERROR
                                                                : ErrorCode::INVALID_PARAMS);
        }
    }
    const uint16_t bound_port = net::LocalPort(listener.get());
    auto server = std::make_unique<TcpServer>(ConstructionTag(), std::move(listener), bound_port,
                                              handler, io_timeout_ms);
    if (!server->wake_fd_.valid()) return Error(ErrorCode::INTERNAL_ERROR);
    server->accept_thread_ = std::thread([raw = server.get()] { raw->AcceptLoop(); });
    return server;
}

TcpServer::TcpServer(ConstructionTag, UniqueFd listener, uint16_t port, TcpRequestHandler* handler,
                     int io_timeout_ms)
    : listener_(std::move(listener)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      port_(port),
      handler_(handler),
      io_timeout_ms_(io_timeout_ms) {}

TcpServer::~TcpServer() { Stop(); }

void TcpServer::Stop() {
    if (stopping_.exchange(true)) return;
    const uint64_t one = 1;
    if (write(wake_fd_.get(), &one, sizeof(one)) < 0) {
        // The accept loop also polls with a timeout; it will notice.
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    listener_.Reset();
    std::list<std::unique_ptr<Connection>> connections;
    {
        MutexLock lock(mutex_);
        connections.swap(connections_);
    }
    // Wakes threads blocked in recv/send; they exit and are joined.
    for (auto& connection : connections) shutdown(connection->fd.get(), SHUT_RDWR);
    for (auto& connection : connections) {
        if (connection->thread.joinable()) connection->thread.join();
    }
}

void TcpServer::ReapFinishedLocked() {
    for (auto it = connections_.begin(); it != connections_.end();) {
        if ((*it)->finished.load()) {
            (*it)->thread.join();
            it = connections_.erase(it);
        } else {
            ++it;
        }
    }
}

void TcpServer::AcceptLoop() {
    while (!stopping_.load()) {
        pollfd waiters[2] = {{listener_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
        const int ready = poll(waiters, 2, kPollIntervalMs);
        if (ready < 0 && errno != EINTR) {
            PLOG(ERROR) << "poll on the transfer engine listener failed";
            return;
        }
        {
            MutexLock lock(mutex_);
            ReapFinishedLocked();
        }
        if (ready <= 0 || !(waiters[0].revents & POLLIN)) continue;
        UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!fd.valid()) continue;
        MutexLock lock(mutex_);
        if (stopping_.load()) return;
        if (connections_.size() >= kMaxConnections && !EvictIdleLocked()) {
            LOG_EVERY_N(WARNING, 100)
                << "Transfer engine refuses a connection from " << net::PeerAddress(fd.get())
                << ": " << kMaxConnections << " connections open, all busy";
            continue;
        }
        net::TuneDataSocket(fd.get(), io_timeout_ms_);
        auto connection = std::make_unique<Connection>();
        connection->peer = net::PeerAddress(fd.get());
        connection->fd = std::move(fd);
        connection->idle_since_ns = SteadyNowNs();
        Connection* raw = connection.get();
        connections_.push_back(std::move(connection));
        raw->thread = std::thread([this, raw] {
            Serve(raw);
            // The peer sees EOF now; the descriptor is closed when reaped.
            shutdown(raw->fd.get(), SHUT_RDWR);
            raw->finished.store(true);
        });
    }
}

bool TcpServer::EvictIdleLocked() {
    Connection* victim = nullptr;
    for (auto& connection : connections_) {
        if (connection->finished.load() || connection->evicted.load() || connection->busy.load()) {
            continue;
        }
        if (victim == nullptr || connection->idle_since_ns.load() < victim->idle_since_ns.load()) {
            victim = connection.get();
        }
    }
    if (victim == nullptr) return false;
    LOG_EVERY_N(WARNING, 100) << "Transfer engine: " << kMaxConnections
                              << " connections open; closing the one idle the longest, from "
                              << victim->peer;
    victim->evicted.store(true);
    // Its thread sees the end of the stream, exits and is reaped; the slot
    // is taken by the newcomer at once.
    shutdown(victim->fd.get(), SHUT_RDWR);
    return true;
}

void TcpServer::Serve(Connection* connection) {
    const int fd = connection->fd.get();
    if (const auth::ClusterKey* key = handler_->cluster_key(); key != nullptr) {
        std::string why;
        if (!auth::AcceptPeer(fd, *key, auth::kTransferService, &why)) {
            LOG_EVERY_N(WARNING, 100)
                << "Transfer engine refused a connection from " << connection->peer << ": " << why;
            return;
        }
    }
    uint8_t buffer[wire::kRequestHeaderSize];
    // Predicted per opcode of the request served before (net/brief_spin.h).
    net::BriefSpin spin(net::BriefSpin::ProcessBudget());
    while (!stopping_.load()) {
        // An idle pooled connection may wait for its next request for ever:
        // a receive timeout before the first byte of a header is no error.
        // Once a header started, the rest must follow within the timeout.
        if (serving_.load(std::memory_order_relaxed) == 0) (void)spin.Spin(fd);
        const ssize_t got = recv(fd, buffer, sizeof(buffer), MSG_WAITALL);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
        if (got <= 0) return;  // EOF, reset, or Stop() shut the socket down
        spin.Arrived();
        const net::ServingCount serving(serving_);
        connection->busy.store(true);
        // An evicted connection may have woken with a request in hand.
        if (connection->evicted.load()) return;
        if (static_cast<size_t>(got) < sizeof(buffer) &&
            !net::RecvAll(fd, buffer + got, sizeof(buffer) - static_cast<size_t>(got))) {
            return;
        }
        wire::RequestHeader request;
        if (!wire::Decode(buffer, &request)) {
            LOG_EVERY_N(WARNING, 100) << "Transfer engine dropped a connection from "
                                      << connection->peer << ": not our protocol";
            return;
        }
        bool keep_open = false;
        spin.Expect(static_cast<uint32_t>(request.opcode));
        switch (request.opcode) {
            case wire::Opcode::kRead:
                keep_open = HandleRead(connection, request);
                break;
            case wire::Opcode::kWrite:
                keep_open = HandleWrite(connection, request);
                break;
            case wire::Opcode::kGetDescriptor:
                keep_open = HandleGetDescriptor(connection, request);
                break;
            case wire::Opcode::kTransportControl:
                keep_open = HandleTransportControl(connection, request);
                break;
            default:
                LOG_EVERY_N(WARNING, 100)
                    << "Transfer engine dropped a connection from " << connection->peer
                    << ": unknown opcode " << static_cast<int>(request.opcode);
                Reply(connection, request, wire::ReplyStatus::kBadRequest);
                return;
        }
        if (!keep_open) return;
        connection->idle_since_ns.store(SteadyNowNs());
        connection->busy.store(false);
    }
}

bool TcpServer::Reply(Connection* connection, const wire::RequestHeader& request,
                      wire::ReplyStatus status, ErrorCode error, const void* payload,
                      uint64_t payload_length) {
    wire::ResponseHeader response;
    response.status = status;
    response.error = error;
    response.length = payload_length;
    response.request_id = request.request_id;
    uint8_t header[wire::kResponseHeaderSize];
    wire::Encode(response, header);
    iovec iov[2] = {{header, sizeof(header)},
                    {const_cast<void*>(payload), static_cast<size_t>(payload_length)}};
    return net::SendAllV(connection->fd.get(), iov, payload_length > 0 ? 2 : 1).has_value();
}

bool TcpServer::CheckLength(Connection* connection, const wire::RequestHeader& request,
                            uint64_t max_length, const char* what) {
    if (request.length != 0 && request.length <= max_length) return true;
    // One rate limit for all three kinds: a peer sending garbage floods them alike.
    LOG_EVERY_N(WARNING, 100) << "Bad " << what << " of " << request.length << " bytes from "
                              << connection->peer;
    Reply(connection, request, wire::ReplyStatus::kBadRequest);
    return false;
}

bool TcpServer::HandleRead(Connection* connection, const wire::RequestHeader& request) {
    if (!CheckLength(connection, request, wire::kMaxDataLength, "READ")) return false;
    if (request.instance != handler_->instance_id()) {
        return Reply(connection, request, wire::ReplyStatus::kStaleInstance);
    }
    if (!handler_->memory().IsRemotelyAccessible(request.address, request.length)) {
        LOG_EVERY_N(WARNING, 100) << "Refused READ " << RangeText(request.address, request.length)
                                  << " from " << connection->peer
                                  << ": outside registered, remotely accessible memory";
        return Reply(connection, request, wire::ReplyStatus::kRefused);
    }
    // Straight from the registered memory into the socket.
    return Reply(connection, request, wire::ReplyStatus::kOk, ErrorCode::OK,
                 reinterpret_cast<const void*>(request.address), request.length);
}

bool TcpServer::HandleWrite(Connection* connection, const wire::RequestHeader& request) {
    if (!CheckLength(connection, request, wire::kMaxDataLength, "WRITE")) return false;
    wire::ReplyStatus refusal = wire::ReplyStatus::kOk;
    if (request.instance != handler_->instance_id()) {
        refusal = wire::ReplyStatus::kStaleInstance;
    } else if (!handler_->memory().IsRemotelyAccessible(request.address, request.length)) {
        LOG_EVERY_N(WARNING, 100) << "Refused WRITE " << RangeText(request.address, request.length)
                                  << " from " << connection->peer
                                  << ": outside registered, remotely accessible memory";
        refusal = wire::ReplyStatus::kRefused;
    }
    if (refusal != wire::ReplyStatus::kOk) {
        // Skip the payload so the connection stays in step.
        if (!net::Discard(connection->fd.get(), request.length)) return false;
        return Reply(connection, request, refusal);
    }
    // Straight from the socket into the registered memory.
    if (!net::RecvAll(connection->fd.get(), reinterpret_cast<void*>(request.address),
                      request.length)) {
        return false;
    }
    return Reply(connection, request, wire::ReplyStatus::kOk);
}

bool TcpServer::HandleGetDescriptor(Connection* connection, const wire::RequestHeader& request) {
    if (request.length != 0) {
        Reply(connection, request, wire::ReplyStatus::kBadRequest);
        return false;
    }
    const std::string descriptor = handler_->DescriptorJson();
    return Reply(connection, request, wire::ReplyStatus::kOk, ErrorCode::OK, descriptor.data(),
                 descriptor.size());
}

bool TcpServer::HandleTransportControl(Connection* connection, const wire::RequestHeader& request) {
    if (!CheckLength(connection, request, wire::kMaxControlRequestLength, "control message")) {
        return false;
    }
    std::string payload(request.length, '\0');
    if (!net::RecvAll(connection->fd.get(), payload.data(), payload.size())) return false;
    nlohmann::json message = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    auto transport = message.is_object() ? message.find("transport") : message.end();
    auto from = message.is_object() ? message.find("from") : message.end();
    auto body = message.is_object() ? message.find("body") : message.end();
    if (message.is_discarded() || !message.is_object() || transport == message.end() ||
        !transport->is_string() || from == message.end() || !from->is_string() ||
        body == message.end()) {
        LOG_EVERY_N(WARNING, 100) << "Malformed control message from " << connection->peer;
        return Reply(connection, request, wire::ReplyStatus::kBadRequest);
    }
    auto answer = handler_->HandleTransportControl(transport->get<std::string>(),
                                                   from->get<std::string>(), *body);
    if (!answer) {
        const auto status = answer.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_MODE
                                ? wire::ReplyStatus::kUnsupported
                                : wire::ReplyStatus::kHandlerError;
        return Reply(connection, request, status, answer.error());
    }
    const std::string text = answer->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return Reply(connection, request, wire::ReplyStatus::kOk, ErrorCode::OK, text.data(),
                 text.size());
}

}  // namespace mooncake
