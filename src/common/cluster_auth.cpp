#include "common/cluster_auth.h"

#include <glog/logging.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/env.h"

namespace mooncake::auth {

namespace {

constexpr std::string_view kTokenVersion = "v1";
constexpr size_t kTokenNonceBytes = 16;

std::string Hex(const uint8_t* data, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string text(2 * size, '0');
    for (size_t i = 0; i < size; ++i) {
        text[2 * i] = kDigits[data[i] >> 4];
        text[2 * i + 1] = kDigits[data[i] & 0xf];
    }
    return text;
}

bool Unhex(std::string_view text, uint8_t* out, size_t size) {
    if (text.size() != 2 * size) return false;
    for (size_t i = 0; i < size; ++i) {
        unsigned value = 0;
        auto [end, error] =
            std::from_chars(text.data() + 2 * i, text.data() + 2 * i + 2, value, 16);
        if (error != std::errc() || end != text.data() + 2 * i + 2) return false;
        out[i] = static_cast<uint8_t>(value);
    }
    return true;
}

int64_t UnixMillis() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Trailing newlines and blanks are dropped: `echo secret > file` must work.
std::string TrimTrailing(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                             text.back() == '\t')) {
        text.pop_back();
    }
    return text;
}

Result<std::string> ReadSecretFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LOG(ERROR) << "Cannot read the cluster secret file " << path << ": " << strerror(errno);
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::ostringstream content;
    content << in.rdbuf();
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        LOG(WARNING) << "The cluster secret file " << path
                     << " can be read by other users (chmod 600 it)";
    }
    return TrimTrailing(content.str());
}

}  // namespace

Mac ClusterKey::Sign(std::initializer_list<std::string_view> parts) const {
    // Fetched once: the lookup in OpenSSL's provider tables is the slow part.
    static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    Mac mac{};
    EVP_MAC_CTX* context = hmac != nullptr ? EVP_MAC_CTX_new(hmac) : nullptr;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                 OSSL_PARAM_construct_end()};
    bool ok = context != nullptr &&
              EVP_MAC_init(context, reinterpret_cast<const uint8_t*>(secret_.data()),
                           secret_.size(), params) == 1;
    for (std::string_view part : parts) {
        if (!ok) break;
        const uint64_t size = part.size();
        uint8_t prefix[8];
        for (int i = 0; i < 8; ++i) prefix[i] = static_cast<uint8_t>(size >> (8 * i));
        ok = EVP_MAC_update(context, prefix, sizeof(prefix)) == 1 &&
             EVP_MAC_update(context, reinterpret_cast<const uint8_t*>(part.data()), part.size()) ==
                 1;
    }
    size_t length = 0;
    ok = ok && EVP_MAC_final(context, mac.data(), &length, mac.size()) == 1 && length == kMacBytes;
    EVP_MAC_CTX_free(context);
    // A failed HMAC yields a random MAC: it matches nothing, so the peer is
    // refused rather than accepted.
    if (!ok) {
        LOG_EVERY_N(ERROR, 100) << "HMAC-SHA256 failed in libcrypto";
        RandomBytes(mac.data(), mac.size());
    }
    return mac;
}

bool SameMac(const uint8_t* a, const uint8_t* b) { return CRYPTO_memcmp(a, b, kMacBytes) == 0; }

bool RandomBytes(uint8_t* out, size_t size) { return RAND_bytes(out, static_cast<int>(size)) == 1; }

Result<ClusterKeyPtr> LoadClusterKey(const std::string& file) {
    std::string path = file;
    if (path.empty()) path = GetEnvString(kSecretFileEnv, "");
    std::string secret;
    std::string source;
    if (!path.empty()) {
        auto read = ReadSecretFile(path);
        if (!read) return Error(read.error());
        secret = std::move(*read);
        source = "file " + path;
    } else if (auto value = GetEnv(kSecretEnv); value && !value->empty()) {
        secret = std::move(*value);
        source = kSecretEnv;
    } else {
        return ClusterKeyPtr();  // authentication off
    }
    if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes) {
        LOG(ERROR) << "The cluster secret from " << source << " has " << secret.size()
                   << " bytes; it needs " << kMinSecretBytes << " to " << kMaxSecretBytes
                   << " (e.g. `openssl rand -hex 32`)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return std::make_shared<const ClusterKey>(std::move(secret));
}

// ---- gRPC tokens ------------------------------------------------------------------

std::string MakeGrpcToken(const ClusterKey& key) {
    uint8_t nonce[kTokenNonceBytes];
    if (!RandomBytes(nonce, sizeof(nonce))) std::memset(nonce, 0, sizeof(nonce));
    const std::string timestamp = std::to_string(UnixMillis());
    const std::string nonce_hex = Hex(nonce, sizeof(nonce));
    const Mac mac = key.Sign({kTokenVersion, kGrpcService, timestamp, nonce_hex});
    return std::string(kTokenVersion) + "." + timestamp + "." + nonce_hex + "." +
           Hex(mac.data(), mac.size());
}

std::string GrpcReplyProof(const ClusterKey& key, std::string_view token) {
    const Mac mac = key.Sign({kTokenVersion, kGrpcService, "reply", token});
    return Hex(mac.data(), mac.size());
}

bool VerifyGrpcReply(const ClusterKey& key, std::string_view token, std::string_view proof) {
    Mac got{};
    if (!Unhex(proof, got.data(), got.size())) return false;
    const Mac expected = key.Sign({kTokenVersion, kGrpcService, "reply", token});
    return SameMac(got.data(), expected.data());
}

bool GrpcTokenVerifier::Verify(std::string_view token, std::string* why) {
    // v1.<timestamp>.<nonce>.<mac>
    std::string_view fields[4];
    size_t count = 0;
    for (size_t start = 0; count < 4; ++count) {
        const size_t dot = count < 3 ? token.find('.', start) : token.size();
        if (dot == std::string_view::npos) break;
        fields[count] = token.substr(start, dot - start);
        start = dot + 1;
    }
    int64_t timestamp = 0;
    uint8_t nonce[kTokenNonceBytes];
    Mac mac{};
    if (count != 4 || fields[0] != kTokenVersion ||
        std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), timestamp).ptr !=
            fields[1].data() + fields[1].size() ||
        !Unhex(fields[2], nonce, sizeof(nonce)) || !Unhex(fields[3], mac.data(), mac.size())) {
        *why = "malformed token";
        return false;
    }
    const Mac expected = key_->Sign({kTokenVersion, kGrpcService, fields[1], fields[2]});
    if (!SameMac(mac.data(), expected.data())) {
        *why = "wrong MAC (the cluster secrets differ)";
        return false;
    }
    const int64_t now = UnixMillis();
    const int64_t window = std::chrono::milliseconds(kGrpcTokenWindow).count();
    if (timestamp < now - window || timestamp > now + window) {
        *why = "token outside the " + std::to_string(kGrpcTokenWindow.count()) +
               " s window (clocks differ, or a replay)";
        return false;
    }
    Nonce key{};
    std::memcpy(&key.first, nonce, 8);
    std::memcpy(&key.second, nonce + 8, 8);
    MutexLock lock(mutex_);
    if (!RememberLocked(key, timestamp, now)) {
        *why = seen_.size() >= kMaxRememberedNonces ? "too many calls in the window"
                                                    : "token used before (a replay)";
        return false;
    }
    return true;
}

bool GrpcTokenVerifier::RememberLocked(const Nonce& nonce, int64_t timestamp_ms, int64_t now_ms) {
    const int64_t oldest = now_ms - std::chrono::milliseconds(kGrpcTokenWindow).count();
    // Tokens older than the window are refused anyway: their nonces can go.
    while (!by_age_.empty() && by_age_.front().first < oldest) {
        seen_.erase(by_age_.front().second);
        by_age_.pop_front();
    }
    if (seen_.size() >= kMaxRememberedNonces) return false;
    if (!seen_.insert(nonce).second) return false;
    by_age_.emplace_back(timestamp_ms, nonce);
    return true;
}

}  // namespace mooncake::auth
