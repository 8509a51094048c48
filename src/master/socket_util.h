// Small POSIX socket helpers (namespace net: the transfer engine has its own
// of similar names) shared by the master's hot-path server and the
// hot-path client: listening sockets that report a
// readable reason when they cannot bind, and deadline-bounded I/O.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <utility>

#include "common/unique_fd.h"

namespace mooncake::net {

using ::mooncake::UniqueFd;
using SteadyDeadline = std::chrono::steady_clock::time_point;

// "strerror(errno)" for log lines and start-up errors.
std::string ErrnoText(int error_number);

// A listening TCP socket bound exactly to `address:port` (IPv4 or IPv6
// literal, or a host name; port 0 picks a free port). SO_REUSEADDR only, never
// SO_REUSEPORT: a second server on the same port must fail, not share it.
// The error is one line, e.g. "cannot listen on 0.0.0.0:50051: Address
// already in use".
std::expected<UniqueFd, std::string> ListenTcp(const std::string& address, uint16_t port,
                                               int backlog = 512);

// The local port a bound socket ended up on (0 on error).
uint16_t LocalPort(int fd);

// Whether `address:port` could be listened on right now (binds a probe
// socket, then closes it). Used to report a busy port before a library that
// logs its own multi-line errors tries it.
std::expected<void, std::string> CheckPortFree(const std::string& address, uint16_t port);

void SetNoDelay(int fd);
bool SetNonBlocking(int fd, bool non_blocking);

// Milliseconds left until `deadline`, at least 0, rounded up so that a
// poll() never returns just before the deadline.
int RemainingMs(SteadyDeadline deadline);

// Writes all of `data` to a non-blocking socket, waiting with poll() until
// `deadline`. False on error, peer close or timeout.
bool SendAllUntil(int fd, const void* data, size_t size, SteadyDeadline deadline);

// Reads exactly `size` bytes from a non-blocking socket, waiting with poll()
// until `deadline`. False on error, peer close or timeout.
bool RecvExactUntil(int fd, void* data, size_t size, SteadyDeadline deadline);

}  // namespace mooncake::net
