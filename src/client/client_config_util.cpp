#include "client/client_config_util.h"

#include <glog/logging.h>
#include <unistd.h>

#include <cstring>

#include "common/net_util.h"
#include "ha/leader_resolver.h"
#include "transfer/metadata_client.h"

namespace mooncake {

namespace {

constexpr const char* kP2PHandshake = "P2PHANDSHAKE";

// The caller that gives up on the config (setup, mooncake_client) logs this.
Status Refuse(const char* field, const std::string& value, const char* why) {
    return Error(ErrorCode::INVALID_PARAMS,
                 "client config refused: " + std::string(field) + "='" + value + "' " + why);
}

}  // namespace

Status ValidateClientConfig(const ClientConfig& config) {
    if (config.local_hostname.empty()) {
        return Refuse("local_hostname", config.local_hostname, "must name this host");
    }
    if (!ParseHostPort(config.local_hostname).has_value()) {
        return Refuse("local_hostname", config.local_hostname, "is not 'host' or 'host:port'");
    }
    if (config.metadata_server != kP2PHandshake && !IsMetadataServerUrl(config.metadata_server)) {
        return Refuse("metadata_server", config.metadata_server,
                      "must be an http:// or etcd:// URL or P2PHANDSHAKE");
    }
    if (config.protocol != "tcp" && config.protocol != "rdma" && config.protocol != "rpc_only") {
        return Refuse("protocol", config.protocol, "must be 'tcp', 'rdma' or 'rpc_only'");
    }
    if (config.protocol == "rpc_only" && config.enable_ssd_offload) {
        return Refuse("enable_ssd_offload", "true", "needs a transfer engine (not 'rpc_only')");
    }
    // The reference's other HA backends: a known form this build lacks.
    for (const char* scheme : {"redis://", "k8s://"}) {
        if (config.master_server_address.starts_with(scheme)) {
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE,
                         "master_server_address '" + config.master_server_address +
                             "': this build follows HA leaders through etcd only (etcd://...)");
        }
    }
    // "etcd://h1:2379;h2:2379": the leader of an HA master group (docs/ha.md).
    if (ha::IsEtcdMasterAddress(config.master_server_address)) {
        if (!ha::ParseEtcdEndpoints(config.master_server_address).has_value()) {
            return Refuse("master_server_address", config.master_server_address,
                          "must be 'etcd://host:port[;host:port...]'");
        }
    } else if (auto master = ParseHostPort(config.master_server_address);
               !master.has_value() || !master->port.has_value()) {
        return Refuse("master_server_address", config.master_server_address,
                      "must be 'host:port' or 'etcd://host:port[;host:port...]'");
    }
    // The segment is populated up front: more than the machine has would
    // end in the OOM killer, not in an error.
    const uint64_t physical = PhysicalMemoryBytes();
    if (config.global_segment_size > kMaxClientMemorySize ||
        (physical > 0 && config.global_segment_size > physical)) {
        return Refuse("global_segment_size", std::to_string(config.global_segment_size),
                      "is larger than this machine's memory");
    }
    if (config.local_buffer_size > kMaxClientMemorySize) {
        return Refuse("local_buffer_size", std::to_string(config.local_buffer_size),
                      "is larger than 1 PiB");
    }
    return OkStatus();
}

Status ValidateKey(const std::string& key) {
    if (key.empty()) return Error(ErrorCode::INVALID_KEY, "the key is empty");
    if (key.size() > kMaxKeyLength) {
        return Error(ErrorCode::INVALID_KEY, "a key of " + std::to_string(key.size()) +
                                                 " bytes is longer than the " +
                                                 std::to_string(kMaxKeyLength) + "-byte limit");
    }
    return OkStatus();
}

ValidKeys SelectValidKeys(const std::vector<std::string>& keys) {
    ValidKeys selected;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (Status valid = ValidateKey(keys[i]); !valid.has_value()) {
            selected.refused.emplace_back(i, valid.error());
            continue;
        }
        selected.keys.push_back(keys[i]);
        selected.positions.push_back(i);
    }
    return selected;
}

Status ValidateReplicateConfig(const ReplicateConfig& config, size_t key_count) {
    if (config.replica_num < 1) {
        return Error(ErrorCode::INVALID_PARAMS,
                     "replica_num " + std::to_string(config.replica_num) + " is below 1");
    }
    if (config.nof_replica_num > 0 || config.dfs_replica_num > 0) {
        return Error(ErrorCode::INVALID_PARAMS,
                     "nof_replica_num / dfs_replica_num: this build has no NVMe-oF or "
                     "distributed-FS tier");
    }
    if (!config.group_ids.empty() && config.group_ids.size() != key_count) {
        return Error(ErrorCode::INVALID_PARAMS, std::to_string(config.group_ids.size()) +
                                                    " group_ids for " + std::to_string(key_count) +
                                                    " keys");
    }
    if (config.soft_pin_ttl_ms != 0 && !config.soft_pinned()) {
        return Error(ErrorCode::INVALID_PARAMS, "soft_pin_ttl_ms needs soft_pin_action ENABLE");
    }
    if (config.soft_pin_ttl_ms > kMaxSoftPinTtlMs) {
        return Error(ErrorCode::INVALID_PARAMS, "soft_pin_ttl_ms " +
                                                    std::to_string(config.soft_pin_ttl_ms) +
                                                    " exceeds " + std::to_string(kMaxSoftPinTtlMs));
    }
    return OkStatus();
}

Result<uint64_t> ValueSize(std::span<const ConstBytes> parts) {
    uint64_t size = 0;
    for (const ConstBytes& part : parts) {
        if (part.data() == nullptr && !part.empty()) {
            return Error(ErrorCode::INVALID_PARAMS, "a value part is a null buffer");
        }
        size += part.size();
    }
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS, "the value is empty");
    return size;
}

void CopyParts(std::span<const ConstBytes> parts, uint8_t* out) {
    for (const ConstBytes& part : parts) {
        if (part.empty()) continue;
        std::memcpy(out, part.data(), part.size());
        out += part.size();
    }
}

size_t PageSize() {
    static const size_t page_size = [] {
        const long value = sysconf(_SC_PAGESIZE);
        return value > 0 ? static_cast<size_t>(value) : size_t{4096};
    }();
    return page_size;
}

uint64_t PhysicalMemoryBytes() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    return pages > 0 ? static_cast<uint64_t>(pages) * PageSize() : 0;
}

uint64_t RoundUpToPageSize(uint64_t size) {
    const uint64_t page = PageSize();
    return (size + page - 1) / page * page;
}

}  // namespace mooncake
