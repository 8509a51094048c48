// Opt-in cluster authentication (docs/authentication.md).
//
// Without a secret nothing here runs and every wire format stays as it is.
// With one, every server of a process (transfer engine TCP port, the
// master's hot path, the standalone client's dummy service, the master's
// gRPC) refuses peers that do not prove they know it, and clients refuse
// servers that do not prove it back, so a peer that poisoned the metadata
// cannot serve or receive object bytes.
//
// Socket servers: a challenge-response at connection start, before the
// protocol's own first bytes (see auth_handshake.h). gRPC: a token per call
// in the metadata, HMAC over a timestamp and a nonce that may be used once.
// Nothing is encrypted: this authenticates peers, it does not hide traffic.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "common/mutex.h"
#include "mooncake/result.h"

namespace mooncake::auth {

// The secret itself, and a file whose content (trailing newlines and spaces
// dropped) is the secret. The file wins when both are set.
inline constexpr char kSecretEnv[] = "MC_CLUSTER_SECRET";
inline constexpr char kSecretFileEnv[] = "MC_CLUSTER_SECRET_FILE";
// Shorter secrets are refused: they could be guessed offline from one
// recorded handshake.
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 4096;

inline constexpr size_t kMacBytes = 32;  // HMAC-SHA256
using Mac = std::array<uint8_t, kMacBytes>;

// What a proof is bound to, so that one service's proof is worthless to
// another. Framed RPC servers (hot path, dummy service) use their
// framed_rpc::Protocol name.
inline constexpr std::string_view kTransferService = "transfer";
inline constexpr std::string_view kGrpcService = "grpc";

class ClusterKey {
   public:
    explicit ClusterKey(std::string secret) : secret_(std::move(secret)) {}
    ClusterKey(const ClusterKey&) = delete;
    ClusterKey& operator=(const ClusterKey&) = delete;

    // HMAC-SHA256 of the concatenation of `parts` (each prefixed by its
    // length, so that no two part lists collide).
    Mac Sign(std::initializer_list<std::string_view> parts) const;

   private:
    const std::string secret_;
};

// Null when authentication is off.
using ClusterKeyPtr = std::shared_ptr<const ClusterKey>;

// The key from the file `file` names, else from the file MC_CLUSTER_SECRET_FILE
// names, else from MC_CLUSTER_SECRET; nullptr when none is set.
// INVALID_PARAMS (with a log line saying why) when the file cannot be read
// or the secret is shorter than kMinSecretBytes or longer than kMaxSecretBytes.
Result<ClusterKeyPtr> LoadClusterKey(const std::string& file = "");

// Timing-safe comparison of two MACs.
bool SameMac(const uint8_t* a, const uint8_t* b);
// `size` random bytes from the OpenSSL CSPRNG; false when it failed.
bool RandomBytes(uint8_t* out, size_t size);

// ---- gRPC -------------------------------------------------------------------------

// Metadata key of the per-call token.
inline constexpr char kGrpcMetadataKey[] = "x-mooncake-auth";
// A token is valid this long around the server's clock (hosts of a cluster
// must agree on the time within it).
inline constexpr std::chrono::seconds kGrpcTokenWindow{60};
// Nonces remembered at most: bounds the verifier's memory (about 150 MB) and
// the rate of gRPC calls it accepts (this many per window).
inline constexpr size_t kMaxRememberedNonces = 2'000'000;

// The server's answer (initial metadata of its response), so that a client
// also knows the master it talks to holds the secret.
inline constexpr char kGrpcReplyMetadataKey[] = "x-mooncake-auth-reply";

// A fresh token: "v1.<unix ms>.<nonce hex>.<mac hex>".
std::string MakeGrpcToken(const ClusterKey& key);
// The server's proof for `token` (hex HMAC over it with another label).
std::string GrpcReplyProof(const ClusterKey& key, std::string_view token);
// Timing-safe check of a reply proof.
bool VerifyGrpcReply(const ClusterKey& key, std::string_view token, std::string_view proof);

// Checks tokens and remembers their nonces for the window, so that a
// recorded token cannot be used a second time. Thread-safe.
class GrpcTokenVerifier {
   public:
    explicit GrpcTokenVerifier(ClusterKeyPtr key) : key_(std::move(key)) {}
    // True when `token` is well formed, in the window, signed with the key
    // and not seen before; otherwise false with the reason in `why`.
    bool Verify(std::string_view token, std::string* why);
    const ClusterKey& key() const { return *key_; }

   private:
    using Nonce = std::pair<uint64_t, uint64_t>;
    struct NonceHash {
        size_t operator()(const Nonce& nonce) const { return nonce.first ^ (nonce.second * 31); }
    };
    bool RememberLocked(const Nonce& nonce, int64_t timestamp_ms, int64_t now_ms)
        MC_REQUIRES(mutex_);

    const ClusterKeyPtr key_;
    Mutex mutex_;
    std::unordered_set<Nonce, NonceHash> seen_ MC_GUARDED_BY(mutex_);
    // (timestamp, nonce), oldest first.
    std::deque<std::pair<int64_t, Nonce>> by_age_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake::auth
