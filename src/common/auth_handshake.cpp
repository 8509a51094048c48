#include "common/auth_handshake.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace mooncake::auth {

namespace {

using Clock = std::chrono::steady_clock;
using Nonce = std::array<uint8_t, kNonceBytes>;

constexpr std::string_view kLabel = "mooncake-auth-v1";
constexpr uint8_t kAccepted = 1;
constexpr uint8_t kRefused = 0;

enum class Io { kOk, kTimeout, kClosed };

bool WaitFor(int fd, short events, Clock::time_point deadline) {
    while (true) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd entry{fd, events, 0};
        const int rc = ::poll(&entry, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30)));
        if (rc > 0) return true;
        if (rc < 0 && errno != EINTR) return false;
    }
}

// Moves a whole buffer under one deadline, whatever timeouts the socket
// carries: `step` is one non-blocking send or recv of what is left.
template <typename Step>
Io TransferAll(int fd, short events, size_t size, Clock::time_point deadline, Step step) {
    size_t done = 0;
    while (done < size) {
        if (!WaitFor(fd, events, deadline)) return Io::kTimeout;
        const ssize_t n = step(done);
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue;
        } else {
            return Io::kClosed;
        }
    }
    return Io::kOk;
}

Io SendAll(int fd, const uint8_t* data, size_t size, Clock::time_point deadline) {
    return TransferAll(fd, POLLOUT, size, deadline, [&](size_t done) {
        return ::send(fd, data + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    });
}

Io RecvAll(int fd, uint8_t* data, size_t size, Clock::time_point deadline) {
    return TransferAll(fd, POLLIN, size, deadline, [&](size_t done) {
        return ::recv(fd, data + done, size - done, MSG_DONTWAIT);
    });
}

std::string_view AsText(const Nonce& nonce) {
    return {reinterpret_cast<const char*>(nonce.data()), nonce.size()};
}

Mac RoleMac(const ClusterKey& key, std::string_view role, std::string_view service,
            const Nonce& client_nonce, const Nonce& server_nonce) {
    return key.Sign({kLabel, role, service, AsText(client_nonce), AsText(server_nonce)});
}

std::string IoText(Io io, std::string_view step) {
    return std::string(io == Io::kTimeout ? "timed out " : "connection closed ") +
           std::string(step);
}

}  // namespace

bool AcceptPeer(int fd, const ClusterKey& key, std::string_view service, std::string* why,
                std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    // The magic first: an old client's first bytes (8 for a hot-path hello)
    // are refused at once instead of waiting for a nonce that never comes.
    std::array<uint8_t, kMagicBytes> magic{};
    if (Io io = RecvAll(fd, magic.data(), magic.size(), deadline); io != Io::kOk) {
        *why = IoText(io, "before the authentication hello");
        return false;
    }
    if (std::memcmp(magic.data(), kHandshakeMagic, kMagicBytes) != 0) {
        *why = "no authentication hello (a peer without the cluster secret?)";
        return false;
    }
    Nonce client_nonce{};
    Nonce server_nonce{};
    if (Io io = RecvAll(fd, client_nonce.data(), client_nonce.size(), deadline); io != Io::kOk) {
        *why = IoText(io, "in the authentication hello");
        return false;
    }
    if (!RandomBytes(server_nonce.data(), server_nonce.size())) {
        *why = "no random bytes from libcrypto";
        return false;
    }
    std::array<uint8_t, kMagicBytes + kNonceBytes + kMacBytes> challenge{};
    std::memcpy(challenge.data(), kHandshakeMagic, kMagicBytes);
    std::memcpy(challenge.data() + kMagicBytes, server_nonce.data(), kNonceBytes);
    const Mac server_mac = RoleMac(key, "server", service, client_nonce, server_nonce);
    std::memcpy(challenge.data() + kMagicBytes + kNonceBytes, server_mac.data(), kMacBytes);
    Mac client_mac{};
    if (Io io = SendAll(fd, challenge.data(), challenge.size(), deadline); io != Io::kOk) {
        *why = IoText(io, "sending the challenge");
        return false;
    }
    if (Io io = RecvAll(fd, client_mac.data(), client_mac.size(), deadline); io != Io::kOk) {
        *why = IoText(io, "before the client's proof");
        return false;
    }
    const Mac expected = RoleMac(key, "client", service, client_nonce, server_nonce);
    const bool accepted = SameMac(client_mac.data(), expected.data());
    const uint8_t verdict = accepted ? kAccepted : kRefused;
    if (SendAll(fd, &verdict, 1, deadline) != Io::kOk && accepted) {
        *why = "connection closed before the verdict";
        return false;
    }
    if (!accepted) *why = "wrong proof (the cluster secrets differ)";
    return accepted;
}

bool ProveToPeer(int fd, const ClusterKey& key, std::string_view service,
                 std::chrono::steady_clock::time_point deadline, std::string* why) {
    Nonce client_nonce{};
    if (!RandomBytes(client_nonce.data(), client_nonce.size())) {
        *why = "no random bytes from libcrypto";
        return false;
    }
    std::array<uint8_t, kMagicBytes + kNonceBytes> hello{};
    std::memcpy(hello.data(), kHandshakeMagic, kMagicBytes);
    std::memcpy(hello.data() + kMagicBytes, client_nonce.data(), kNonceBytes);
    std::array<uint8_t, kMagicBytes + kNonceBytes + kMacBytes> challenge{};
    if (SendAll(fd, hello.data(), hello.size(), deadline) != Io::kOk) {
        *why = "connection failed sending the authentication hello";
        return false;
    }
    if (Io io = RecvAll(fd, challenge.data(), challenge.size(), deadline); io != Io::kOk) {
        *why = io == Io::kTimeout
                   ? "no authentication challenge from the server in time"
                   : "the server closed the connection on the authentication hello (it has no "
                     "cluster secret configured?)";
        return false;
    }
    Nonce server_nonce{};
    std::memcpy(server_nonce.data(), challenge.data() + kMagicBytes, kNonceBytes);
    const Mac expected = RoleMac(key, "server", service, client_nonce, server_nonce);
    if (std::memcmp(challenge.data(), kHandshakeMagic, kMagicBytes) != 0 ||
        !SameMac(challenge.data() + kMagicBytes + kNonceBytes, expected.data())) {
        *why = "the server did not prove the cluster secret (the secrets differ)";
        return false;
    }
    const Mac proof = RoleMac(key, "client", service, client_nonce, server_nonce);
    uint8_t verdict = kRefused;
    if (SendAll(fd, proof.data(), proof.size(), deadline) != Io::kOk ||
        RecvAll(fd, &verdict, 1, deadline) != Io::kOk || verdict != kAccepted) {
        *why = "the server refused our proof (the cluster secrets differ)";
        return false;
    }
    return true;
}

}  // namespace mooncake::auth
