// The embedded HTTP metadata server (docs/compat "Embedded HTTP metadata
// server"): a key-value store over HTTP where transfer engines publish and
// fetch their segment descriptors.
//
//   GET    /metadata?key=K   200 + stored body | 404 absent | 400 no key
//   PUT    /metadata?key=K   200 (body = value) | 400 no key | 413 too large
//   DELETE /metadata?key=K   200 | 404 absent | 400 no key
//   GET    /health           200 "OK" once the whole master serves, 503 before
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/mutex.h"
#include "net/http_listener.h"

namespace mooncake {

// The thread-safe map behind the endpoints, bounded in total size.
class MetadataStore {
   public:
    struct Entry {
        std::string value;
        std::string content_type;
    };

    explicit MetadataStore(size_t max_total_bytes) : max_total_bytes_(max_total_bytes) {}

    std::optional<Entry> Get(const std::string& key) const;
    // False when storing would exceed the total size bound (nothing changes).
    bool Put(const std::string& key, Entry entry);
    bool Remove(const std::string& key);

    size_t size() const;
    // The memory one entry holds once stored, as total_bytes() counts it.
    static size_t EntryBytes(const std::string& key, const Entry& entry);
    // What the entries hold in memory (strings, hash nodes, buckets): the
    // bound applies to this, not only to the bytes of keys and values.
    size_t total_bytes() const;

   private:
    void MaybeTrim(size_t freed);

    const size_t max_total_bytes_;
    std::atomic<size_t> freed_since_trim_{0};
    std::atomic<bool> trimming_{false};
    mutable SharedMutex mutex_;
    std::unordered_map<std::string, Entry> entries_ MC_GUARDED_BY(mutex_);
    size_t total_bytes_ MC_GUARDED_BY(mutex_) = 0;
};

class HttpMetadataServer {
   public:
    struct Options {
        std::string host = "0.0.0.0";
        uint16_t port = 8080;  // 0 picks a free port
        size_t max_value_bytes = 16u << 20;
        size_t max_total_bytes = 1u << 30;
        // Connection, header, buffer and time limits (max_body_bytes is
        // replaced by max_value_bytes).
        HttpLimits limits;
    };

    explicit HttpMetadataServer(Options options);

    std::expected<void, std::string> Start();
    void Stop() { listener_.Stop(); }

    // /health answers 200 only after this: the metadata port binds before
    // the gRPC port, and a probe must not see "OK" from a master whose
    // control plane is not listening yet.
    void MarkReady() { ready_.store(true, std::memory_order_release); }

    uint16_t port() const { return listener_.port(); }
    const MetadataStore& store() const { return store_; }

   private:
    Options options_;
    MetadataStore store_;
    std::atomic<bool> ready_{false};
    HttpListener listener_;
};

}  // namespace mooncake
