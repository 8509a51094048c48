#include "master/socket_util.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/net_util.h"

namespace mooncake::net {

std::string ErrnoText(int error_number) {
    char buffer[256] = {};
    // GNU strerror_r returns the message, which may not live in `buffer`.
    return std::string(strerror_r(error_number, buffer, sizeof(buffer)));
}

namespace {

struct AddrInfoDeleter {
    void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

// One bound (not yet listening) socket for address:port, or a reason.
std::expected<UniqueFd, std::string> BindTcp(const std::string& address, uint16_t port) {
    const std::string where = JoinHostPort(address, port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* raw = nullptr;
    const std::string port_text = std::to_string(port);
    const int rc =
        getaddrinfo(address.empty() ? nullptr : address.c_str(), port_text.c_str(), &hints, &raw);
    if (rc != 0 || raw == nullptr) {
        return std::unexpected("cannot listen on " + where + ": " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, AddrInfoDeleter> info(raw);
    UniqueFd fd(::socket(info->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return std::unexpected("cannot listen on " + where + ": " + ErrnoText(errno));
    const int yes = 1;
    // REUSEADDR lets a restarted master take its port back from TIME_WAIT.
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd.get(), info->ai_addr, info->ai_addrlen) != 0) {
        return std::unexpected("cannot listen on " + where + ": " + ErrnoText(errno));
    }
    return fd;
}

}  // namespace

std::expected<UniqueFd, std::string> ListenTcp(const std::string& address, uint16_t port,
                                               int backlog) {
    auto fd = BindTcp(address, port);
    if (!fd) return fd;
    if (::listen(fd->get(), backlog) != 0) {
        return std::unexpected("cannot listen on " + JoinHostPort(address, port) + ": " +
                               ErrnoText(errno));
    }
    return fd;
}

std::expected<void, std::string> CheckPortFree(const std::string& address, uint16_t port) {
    if (port == 0) return {};
    auto fd = BindTcp(address, port);
    if (!fd) return std::unexpected(fd.error());
    return {};
}

uint16_t LocalPort(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
    if (address.ss_family == AF_INET) {
        return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    }
    if (address.ss_family == AF_INET6) {
        return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
    }
    return 0;
}

void SetNoDelay(int fd) {
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
}

bool SetNonBlocking(int fd, bool non_blocking) {
    const int flags = ::fcntl(fd, F_GETFL, 0);
    if (flags < 0) return false;
    const int wanted = non_blocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return wanted == flags || ::fcntl(fd, F_SETFL, wanted) == 0;
}

int RemainingMs(SteadyDeadline deadline) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return 0;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

namespace {

// Waits for `events` on `fd`; false on timeout or poll error.
bool WaitFor(int fd, short events, SteadyDeadline deadline) {
    while (true) {
        pollfd entry{fd, events, 0};
        const int rc = ::poll(&entry, 1, RemainingMs(deadline));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return false;
    }
}

}  // namespace

bool SendAllUntil(int fd, const void* data, size_t size, SteadyDeadline deadline) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    size_t sent = 0;
    while (sent < size) {
        const ssize_t n = ::send(fd, bytes + sent, size - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!WaitFor(fd, POLLOUT, deadline)) return false;
            continue;
        }
        return false;
    }
    return true;
}

bool RecvExactUntil(int fd, void* data, size_t size, SteadyDeadline deadline) {
    auto* bytes = static_cast<uint8_t*>(data);
    size_t received = 0;
    while (received < size) {
        const ssize_t n = ::recv(fd, bytes + received, size - received, 0);
        if (n > 0) {
            received += static_cast<size_t>(n);
            continue;
        }
        if (n == 0) return false;  // peer closed
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!WaitFor(fd, POLLIN, deadline)) return false;
            continue;
        }
        return false;
    }
    return true;
}

}  // namespace mooncake::net
