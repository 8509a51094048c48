#include "master/master_config.h"

#include <string>
#include <utility>

namespace mooncake {

std::optional<std::string> ValidateMasterConfig(const MasterConfig& config) {
    // Written as !(in range) so that NaN is refused too.
    if (!(config.eviction_ratio >= 0.0 && config.eviction_ratio <= 1.0)) {
        return "eviction_ratio must be in [0, 1], got " + std::to_string(config.eviction_ratio);
    }
    if (!(config.eviction_high_watermark_ratio > 0.0 &&
          config.eviction_high_watermark_ratio <= 1.0)) {
        return "eviction_high_watermark_ratio must be in (0, 1], got " +
               std::to_string(config.eviction_high_watermark_ratio);
    }
    if (config.default_kv_lease_ttl_ms == 0) {
        return "default_kv_lease_ttl must be positive";
    }
    if (config.default_kv_lease_ttl_ms > uint64_t{1} << 40) {
        return "default_kv_lease_ttl is too large: " +
               std::to_string(config.default_kv_lease_ttl_ms) + " ms";
    }
    if (config.default_kv_soft_pin_ttl_ms == 0) {
        return "default_kv_soft_pin_ttl must be positive";
    }
    if (config.default_kv_soft_pin_ttl_ms > uint64_t{1} << 40) {
        return "default_kv_soft_pin_ttl is too large: " +
               std::to_string(config.default_kv_soft_pin_ttl_ms) + " ms";
    }
    // Seconds are turned into milliseconds; keep that far from overflow.
    constexpr int64_t kMaxSeconds = int64_t{1} << 32;
    const std::pair<const char*, int64_t> positive_seconds[] = {
        {"client_ttl", config.client_ttl_sec},
        {"put_start_discard_timeout_sec", config.put_start_discard_timeout_sec},
        {"put_start_release_timeout_sec", config.put_start_release_timeout_sec},
        {"pending_task_timeout_sec", config.pending_task_timeout_sec},
        {"processing_task_timeout_sec", config.processing_task_timeout_sec},
    };
    for (const auto& [name, value] : positive_seconds) {
        if (value <= 0)
            return std::string(name) + " must be positive, got " + std::to_string(value);
        if (value > kMaxSeconds) {
            return std::string(name) + " is too large: " + std::to_string(value);
        }
    }
    const std::pair<const char*, uint64_t> positive_limits[] = {
        {"max_total_finished_tasks", config.max_total_finished_tasks},
        {"max_total_pending_tasks", config.max_total_pending_tasks},
        {"max_total_processing_tasks", config.max_total_processing_tasks},
    };
    for (const auto& [name, value] : positive_limits) {
        if (value == 0) return std::string(name) + " must be positive";
    }
    if (config.cluster_id.empty()) return "cluster_id must not be empty";
    if (config.offloading_queue_limit < 1 || config.offloading_queue_limit > 100'000'000) {
        return "offloading_queue_limit must be in [1, 100000000], got " +
               std::to_string(config.offloading_queue_limit);
    }
    if (!(config.offload_cap_ratio >= 0.0 && config.offload_cap_ratio <= 1.0)) {
        return "offload_cap_ratio must be in [0, 1], got " +
               std::to_string(config.offload_cap_ratio);
    }
    if (config.memory_allocator != "offset") {
        return "memory_allocator \"" + config.memory_allocator +
               "\" is not supported (only \"offset\")";
    }
    return std::nullopt;
}

}  // namespace mooncake
