// A small client of etcd's v3 gRPC API (KV, Lease, Watch): what leader
// election and leader discovery need, nothing more.
//
// The stubs are generated at build time from etcd's own .proto files
// (proto/etcd). Every call has a deadline; a call that fails on one endpoint
// for a transport reason (refused, timed out, etcd restarting) is tried on
// the next endpoint until the deadline. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mooncake/result.h"

namespace mooncake::ha {

struct EtcdKeyValue {
    std::string key;
    std::string value;
    int64_t create_revision = 0;  // the leader epoch, for the leader key
    int64_t mod_revision = 0;
    int64_t lease = 0;
};

struct EtcdEvent {
    enum class Type { kPut, kDelete };
    Type type = Type::kPut;
    EtcdKeyValue kv;
};

// "h1:2379;h2:2379" (also ',' separated, "http://" prefixes and an
// "etcd://" scheme accepted) -> {"h1:2379", "h2:2379"}. INVALID_PARAMS for
// an empty list or an entry that is not host:port.
Result<std::vector<std::string>> ParseEtcdEndpoints(const std::string& text);

class EtcdClient {
   public:
    // `call_timeout` bounds every call (all endpoints tried included).
    static Result<std::unique_ptr<EtcdClient>> Create(
        const std::string& endpoints,
        std::chrono::milliseconds call_timeout = std::chrono::seconds(2));
    ~EtcdClient();
    EtcdClient(const EtcdClient&) = delete;
    EtcdClient& operator=(const EtcdClient&) = delete;

    // nullopt when the key does not exist.
    Result<std::optional<EtcdKeyValue>> Get(const std::string& key);
    Status Put(const std::string& key, const std::string& value, int64_t lease = 0);
    Status Delete(const std::string& key);
    // Creates key = value bound to `lease` only if the key does not exist
    // (one transaction). True when this call created it. `*current` is the
    // key as it stands afterwards (ours, or whoever holds it).
    Result<bool> CreateIfAbsent(const std::string& key, const std::string& value, int64_t lease,
                                EtcdKeyValue* current);
    // Deletes the key only while it is the incarnation created at
    // `create_revision` (a leader resigning must not delete its successor's).
    Status DeleteIfCreatedAt(const std::string& key, int64_t create_revision);

    // A lease of `ttl_seconds`; returns its id.
    Result<int64_t> LeaseGrant(int64_t ttl_seconds);
    // One keep-alive round trip. Returns the TTL etcd granted; 0 means the
    // lease does not exist any more (expired or revoked).
    Result<int64_t> LeaseKeepAlive(int64_t lease);
    Status LeaseRevoke(int64_t lease);

    // Waits up to `wait` for changes of `key` at revision >= from_revision
    // (0 = from now). Empty when nothing changed meanwhile.
    Result<std::vector<EtcdEvent>> WaitForEvents(const std::string& key, int64_t from_revision,
                                                 std::chrono::milliseconds wait);

    // The endpoint the last successful call used (for logs and /metrics).
    std::string CurrentEndpoint() const;

   private:
    struct Impl;
    explicit EtcdClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace mooncake::ha
