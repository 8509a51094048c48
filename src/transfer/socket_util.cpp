#include "transfer/socket_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mooncake {

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

Result<UniqueFd> ListenTcp(const std::string& ip, uint16_t port, int* error) {
    *error = 0;
    sockaddr_in address;
    if (!MakeAddress(ip, port, &address)) {
        *error = EINVAL;
        return Error(ErrorCode::INVALID_PARAMS);
    }
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        *error = errno;
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    // Lets a restarted engine take its old port while connections of the
    // previous instance linger in TIME_WAIT; two live listeners still
    // cannot share a port.
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(fd.get(), 512) != 0) {
        *error = errno;
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return fd;
}

uint16_t LocalPort(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
    return ntohs(address.sin_port);
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

}  // namespace

Status SendAllV(int fd, iovec* iov, int count) {
    while (count > 0) {
        msghdr message{};
        message.msg_iov = iov;
        message.msg_iovlen = static_cast<size_t>(count);
        const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        AdvanceIov(iov, count, static_cast<size_t>(sent));
    }
    return OkStatus();
}

Status RecvAllV(int fd, iovec* iov, int count) {
    while (count > 0) {
        msghdr message{};
        message.msg_iov = iov;
        message.msg_iovlen = static_cast<size_t>(count);
        const ssize_t received = ::recvmsg(fd, &message, MSG_WAITALL);
        if (received < 0) {
            if (errno == EINTR) continue;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        if (received == 0) return Error(ErrorCode::TRANSFER_FAIL);
        AdvanceIov(iov, count, static_cast<size_t>(received));
    }
    return OkStatus();
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

}  // namespace mooncake
