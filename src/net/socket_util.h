// The one TCP socket layer (src/net): every listener, connect and
// deadline-bounded read or write of the store goes through these helpers.
//
// Two I/O styles live here, each for the code that needs it:
//   - non-blocking sockets with an explicit deadline (SendAllUntil,
//     RecvExactUntil): the framed RPC server and client, the HTTP listener;
//   - blocking sockets bounded by SO_RCVTIMEO/SO_SNDTIMEO (TuneDataSocket,
//     SendAll, RecvAll...): the transfer engine's data path, where a peer
//     that stops making progress turns into TRANSFER_FAIL instead of a hang.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <utility>

#include "common/unique_fd.h"
#include "mooncake/result.h"

namespace mooncake::net {

using ::mooncake::UniqueFd;
using SteadyDeadline = std::chrono::steady_clock::time_point;

// "strerror(errno)" for log lines and start-up errors.
std::string ErrnoText(int error_number);

// Why a listening socket could not be made.
struct ListenError {
    int error_number = 0;  // errno of the failed call (EADDRINUSE: port taken);
                           // EINVAL when the address does not resolve
    std::string message;   // one line, e.g. "cannot listen on 0.0.0.0:50051:
                           // Address already in use"
};

// A listening TCP socket bound exactly to `address:port` (IPv4 or IPv6
// literal, or a host name; port 0 picks a free port). SO_REUSEADDR only, never
// SO_REUSEPORT: a second server on the same port must fail, not share it,
// while a restarted process can take its port back from TIME_WAIT.
std::expected<UniqueFd, ListenError> ListenTcp(const std::string& address, uint16_t port,
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

// ---- blocking data sockets (transfer engine) ------------------------------

// TCP_NODELAY, kernel-autotuned (large) socket buffers, and a no-progress
// timeout for blocking sends and receives.
void TuneDataSocket(int fd, int io_timeout_ms);

// Connects to an IPv4 ip:port within `timeout_ms` and returns a blocking
// socket. INVALID_PARAMS for a bad address, TRANSFER_FAIL on failure.
Result<UniqueFd> ConnectTcp(const std::string& ip, uint16_t port, int timeout_ms);

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

}  // namespace mooncake::net
