// The challenge-response that opens an authenticated connection, before the
// bytes of the protocol it carries (transfer engine, hot path, dummy service).
// Servers call AcceptPeer on a new connection, clients ProveToPeer right after
// connect; both only when a cluster key is configured (cluster_auth.h).
//
//   client -> server  "MCAUTH01" | client nonce (32)
//   server -> client  "MCAUTH01" | server nonce (32) | server MAC (32)
//   client -> server  client MAC (32)
//   server -> client  one byte: 1 accepted, 0 refused (then it closes)
//
// MAC = HMAC-SHA256(secret, "mooncake-auth-v1", role, service, client nonce,
// server nonce) with role "server" or "client": each side proves the secret
// over a nonce the other side chose, so a recorded exchange cannot be
// replayed, and the two roles' MACs differ, so one cannot be reflected as
// the other. The client speaks first so that a server without a secret (or
// an old one) closes at once on the unknown bytes instead of both sides
// waiting for each other.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/cluster_auth.h"

namespace mooncake::auth {

inline constexpr char kHandshakeMagic[] = "MCAUTH01";  // 8 bytes on the wire
inline constexpr size_t kMagicBytes = 8;
inline constexpr size_t kNonceBytes = 32;
// A whole handshake must finish within this (servers), so that peers
// trickling bytes cannot hold a connection unauthenticated.
inline constexpr std::chrono::milliseconds kHandshakeTimeout{5000};

// Server side, on the connection's own thread. True when the peer proved
// the key within `timeout`; otherwise false and `why` says what failed (the
// caller logs it with the peer's address and closes the connection).
bool AcceptPeer(int fd, const ClusterKey& key, std::string_view service, std::string* why,
                std::chrono::milliseconds timeout = kHandshakeTimeout);

// Client side, right after connect. True when both sides proved the key;
// otherwise false and `why` says what failed, in words for a log line.
bool ProveToPeer(int fd, const ClusterKey& key, std::string_view service,
                 std::chrono::steady_clock::time_point deadline, std::string* why);

}  // namespace mooncake::auth
