// Thin RAII and blocking-I/O helpers over POSIX TCP sockets. Every blocking
// call is bounded: sockets carry SO_RCVTIMEO/SO_SNDTIMEO, so a peer that
// stops making progress turns into TRANSFER_FAIL instead of a hang.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "common/unique_fd.h"
#include "mooncake/result.h"

namespace mooncake {

// TCP_NODELAY, kernel-autotuned (large) socket buffers, and a no-progress
// timeout for blocking sends and receives.
void TuneDataSocket(int fd, int io_timeout_ms);

// Connects to ip:port within `timeout_ms`. TRANSFER_FAIL on failure.
Result<UniqueFd> ConnectTcp(const std::string& ip, uint16_t port, int timeout_ms);

// A listening socket bound to ip:port (port 0: kernel's choice). Errno in
// `*error` on failure (EADDRINUSE when taken).
Result<UniqueFd> ListenTcp(const std::string& ip, uint16_t port, int* error);

// The port a bound socket listens on.
uint16_t LocalPort(int fd);

// The peer's "ip:port", for logs.
std::string PeerAddress(int fd);

// Send or receive exactly `length` bytes, resuming after partial transfers.
// TRANSFER_FAIL on EOF, error or a timeout with no progress.
Status SendAll(int fd, const void* data, size_t length);
Status RecvAll(int fd, void* data, size_t length);
// Sends or fills all bytes of `iov` (modified in place) with as few
// syscalls as possible.
Status SendAllV(int fd, iovec* iov, int count);
Status RecvAllV(int fd, iovec* iov, int count);

// Reads and drops `length` bytes (to skip a refused payload).
Status Discard(int fd, uint64_t length);

}  // namespace mooncake
