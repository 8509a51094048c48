// Settings of the master's logic. mooncake_master fills this from its flags
// (names and defaults of docs/compat: see master_flags.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mooncake/types.h"

namespace mooncake {

struct MasterConfig {
    // Lease granted by a successful exist / get-replica-list.
    uint64_t default_kv_lease_ttl_ms = 5000;
    // A soft pin lapses when the object was not accessed for this long.
    uint64_t default_kv_soft_pin_ttl_ms = 1'800'000;
    // Longest soft_pin_ttl_ms a put may ask for (--max_kv_soft_pin_ttl).
    uint64_t max_kv_soft_pin_ttl_ms = kMaxSoftPinTtlMs;
    bool allow_evict_soft_pinned_objects = true;
    // Share of objects an eviction round frees (0..1].
    double eviction_ratio = 0.05;
    // Usage ratio (used / capacity of all segments) that triggers eviction.
    double eviction_high_watermark_ratio = 0.95;
    // A client silent for this long is expired: its segments are unmounted.
    int64_t client_ttl_sec = 10;
    // An unfinished PutStart may be pre-empted by a new PutStart after this.
    int64_t put_start_discard_timeout_sec = 30;
    // The space of a pre-empted or unfinished PutStart is reused after this.
    int64_t put_start_release_timeout_sec = 600;
    // Grant put credits (space a client fills and publishes in one call;
    // docs/performance.md). Never with HA or snapshots.
    bool enable_put_credits = true;
    std::string cluster_id = "mooncake_cluster";
    std::string memory_allocator = "offset";

    // Task table limits and timeouts.
    uint64_t max_total_finished_tasks = 10000;
    uint64_t max_total_pending_tasks = 10000;
    uint64_t max_total_processing_tasks = 10000;
    int64_t pending_task_timeout_sec = 300;
    int64_t processing_task_timeout_sec = 300;
    uint32_t max_retry_attempts = 10;

    // SSD offload (docs/ssd_offload.md; flag names of the reference).
    // Without enable_offload, clients cannot mount a local disk
    // (UNABLE_OFFLOAD) and no LOCAL_DISK replica exists.
    bool enable_offload = false;
    // Offload when eviction picks an object instead of at every put end.
    bool offload_on_evict = false;
    // On-evict mode: evict objects that could not be queued (beyond the
    // per-round cap, or queue full) without a disk copy, instead of keeping
    // them in memory for a later round.
    bool offload_force_evict = false;
    // Keys waiting for offload per client, in [1, 100000000].
    uint64_t offloading_queue_limit = 50000;
    // Per-eviction-round offload cap = offloading_queue_limit x this, [0, 1].
    double offload_cap_ratio = 0.5;
    bool promotion_on_hit = false;
    uint32_t promotion_admission_threshold = 2;  // clamped to [1, 255]
    uint32_t promotion_queue_limit = 50000;
    uint32_t promotion_max_per_heartbeat = 1;  // 0 counts as 1
};

// A one-line reason when `config` cannot be used (eviction_ratio outside
// [0, 1], a watermark outside (0, 1], a non-positive TTL, ...), nullopt when
// it is valid.
std::optional<std::string> ValidateMasterConfig(const MasterConfig& config);

}  // namespace mooncake
