#include "net/socket_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
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

// One bound (not yet listening) socket for address:port, or a reason.
std::expected<UniqueFd, ListenError> BindTcp(const std::string& address, uint16_t port) {
    const std::string where = JoinHostPort(address, port);
    const auto fail = [&where](int error_number, const std::string& reason) {
        return std::unexpected(
            ListenError{error_number, "cannot listen on " + where + ": " + reason});
    };
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    const std::string port_text = std::to_string(port);
    auto found =
        LookUpAddresses(address.empty() ? nullptr : address.c_str(), port_text.c_str(), hints);
    if (!found) return fail(EINVAL, gai_strerror(found.error()));
    const addrinfo* info = found->get();
    UniqueFd fd(::socket(info->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail(errno, ErrnoText(errno));
    const int yes = 1;
    // REUSEADDR lets a restarted process take its port back from TIME_WAIT.
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(fd.get(), info->ai_addr, info->ai_addrlen) != 0) {
        return fail(errno, ErrnoText(errno));
    }
    return fd;
}

}  // namespace

std::expected<UniqueFd, ListenError> ListenTcp(const std::string& address, uint16_t port,
                                               int backlog) {
    auto fd = BindTcp(address, port);
    if (!fd) return fd;
    if (::listen(fd->get(), backlog) != 0) {
        const int error_number = errno;
        return std::unexpected(ListenError{
            error_number,
            "cannot listen on " + JoinHostPort(address, port) + ": " + ErrnoText(error_number)});
    }
    return fd;
}

std::expected<void, std::string> CheckPortFree(const std::string& address, uint16_t port) {
    if (port == 0) return {};
    auto fd = BindTcp(address, port);
    if (!fd) return std::unexpected(fd.error().message);
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

// ---- blocking data sockets ---------------------------------------------------

namespace {

bool MakeAddress(const std::string& ip, uint16_t port, sockaddr_in* address) {
    std::memset(address, 0, sizeof(*address));
    address->sin_family = AF_INET;
    address->sin_port = htons(port);
    return inet_pton(AF_INET, ip.c_str(), &address->sin_addr) == 1;
}

}  // namespace

void TuneDataSocket(int fd, int io_timeout_ms) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // Socket buffers are left to the kernel's autotuning on purpose: it grows
    // them up to net.ipv4.tcp_{r,w}mem (32 MiB receive here), while setting
    // SO_SNDBUF/SO_RCVBUF disables it and caps them at net.core.*mem_max
    // (4 MiB here), which measured ~35% slower on a loopback stream.
    if (io_timeout_ms > 0) {
        timeval timeout{};
        timeout.tv_sec = io_timeout_ms / 1000;
        timeout.tv_usec = (io_timeout_ms % 1000) * 1000;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    }
}

Result<UniqueFd> ConnectTcp(const std::string& ip, uint16_t port, int timeout_ms) {
    sockaddr_in address;
    if (!MakeAddress(ip, port, &address)) return Error(ErrorCode::INVALID_PARAMS);
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return Error(ErrorCode::TRANSFER_FAIL);
    int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
    if (rc != 0 && errno != EINPROGRESS) return Error(ErrorCode::TRANSFER_FAIL);
    if (rc != 0) {
        pollfd waiter{fd.get(), POLLOUT, 0};
        do {
            rc = ::poll(&waiter, 1, timeout_ms);
        } while (rc < 0 && errno == EINTR);
        if (rc <= 0) return Error(ErrorCode::TRANSFER_FAIL);
        int error = 0;
        socklen_t error_length = sizeof(error);
        if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &error_length) != 0 || error != 0) {
            return Error(ErrorCode::TRANSFER_FAIL);
        }
    }
    // Back to blocking mode: timeouts come from SO_RCVTIMEO / SO_SNDTIMEO.
    const int flags = fcntl(fd.get(), F_GETFL);
    fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

std::string PeerAddress(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "?";
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &address.sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

Status SendAll(int fd, const void* data, size_t length) {
    const char* cursor = static_cast<const char*>(data);
    while (length > 0) {
        const ssize_t sent = ::send(fd, cursor, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        cursor += sent;
        length -= static_cast<size_t>(sent);
    }
    return OkStatus();
}

Status RecvAll(int fd, void* data, size_t length) {
    char* cursor = static_cast<char*>(data);
    while (length > 0) {
        const ssize_t received = ::recv(fd, cursor, length, MSG_WAITALL);
        if (received < 0) {
            if (errno == EINTR) continue;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        if (received == 0) return Error(ErrorCode::TRANSFER_FAIL);
        cursor += received;
        length -= static_cast<size_t>(received);
    }
    return OkStatus();
}

namespace {

// Drops the first `done` bytes from the front of `iov`.
void AdvanceIov(iovec*& iov, int& count, size_t done) {
    while (count > 0 && done >= iov->iov_len) {
        done -= iov->iov_len;
        ++iov;
        --count;
    }
    if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + done;
        iov->iov_len -= done;
    }
}

// Calls `io` (sendmsg or recvmsg) until every byte of the vector moved,
// retrying on EINTR. `zero_is_eof`: a return of 0 means the peer closed.
// A template so the syscall is called directly: this is the data path.
template <typename Io>
Status MoveAllV(iovec* iov, int count, bool zero_is_eof, Io io) {
    while (count > 0) {
        msghdr message{};
        message.msg_iov = iov;
        message.msg_iovlen = static_cast<size_t>(count);
        const ssize_t moved = io(&message);
        if (moved < 0) {
            if (errno == EINTR) continue;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        if (moved == 0 && zero_is_eof) return Error(ErrorCode::TRANSFER_FAIL);
        AdvanceIov(iov, count, static_cast<size_t>(moved));
    }
    return OkStatus();
}

}  // namespace

Status SendAllV(int fd, iovec* iov, int count) {
    return MoveAllV(iov, count, /*zero_is_eof=*/false,
                    [fd](msghdr* message) { return ::sendmsg(fd, message, MSG_NOSIGNAL); });
}

Status RecvAllV(int fd, iovec* iov, int count) {
    return MoveAllV(iov, count, /*zero_is_eof=*/true,
                    [fd](msghdr* message) { return ::recvmsg(fd, message, MSG_WAITALL); });
}

Status Discard(int fd, uint64_t length) {
    char scratch[64 << 10];
    while (length > 0) {
        const size_t piece = static_cast<size_t>(std::min<uint64_t>(length, sizeof(scratch)));
        MC_RETURN_IF_ERROR(RecvAll(fd, scratch, piece));
        length -= piece;
    }
    return OkStatus();
}

}  // namespace mooncake::net
