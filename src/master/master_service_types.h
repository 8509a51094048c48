// The values MasterService hands out and takes in as wholes: state images
// (HA, snapshots), import counts, statistics and segment details. Apart from
// master_service.h so that the change log, which MasterService holds, can
// use the image types without a circular include.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "master/offload_registry.h"
#include "mooncake/types.h"

namespace mooncake {

// The master's metadata as a value, to rebuild it elsewhere: on an HA
// standby when it is promoted, or from a snapshot after a restart
// (master_service_state.cpp, docs/ha.md).
struct MasterStateImage {
    struct Segment {
        UUID client;
        SegmentInfo info;
    };
    struct Replica {
        UUID segment;
        uint64_t address = 0;
    };
    struct Object {
        std::string key;
        uint64_t size = 0;
        bool soft_pin = false;
        bool hard_pin = false;
        uint32_t soft_pin_ttl_ms = 0;  // the put's own soft-pin length; 0: default
        std::vector<Replica> replicas;
        uint64_t value_id = 0;  // ObjectMeta::value_id
    };
    std::vector<Segment> segments;
    // Complete objects with their complete replicas.
    std::vector<Object> objects;
    // Space that unfinished puts and copies in flight hold: kept out of use
    // after a restore, because their writers may still be writing there.
    std::vector<Object> reserved;
};

struct ImportStats {
    uint64_t segments = 0;
    uint64_t objects = 0;
    uint64_t skipped_objects = 0;  // unknown segment or overlapping range
};

// Counters and gauges for /metrics and the periodic log line.
struct MasterStats {
    uint64_t segments_mounted = 0;
    uint64_t capacity_bytes = 0;
    uint64_t used_bytes = 0;  // allocated to objects; put credits apart
    uint64_t object_count = 0;
    // Filled only for the summary line (MasterServer::CollectMetrics with
    // walk_objects, CountSoftPinnedObjects), not by GetStats.
    uint64_t soft_pinned_objects = 0;
    uint64_t clients_alive = 0;
    uint64_t put_starts = 0;
    uint64_t put_ends = 0;
    uint64_t put_revokes = 0;
    // Put credits (docs/performance.md): granted and committed (counters),
    // held now and the bytes they reserve (gauges).
    uint64_t put_credits_granted = 0;
    uint64_t put_credit_commits = 0;
    uint64_t put_credits_outstanding = 0;
    uint64_t put_credit_reserved_bytes = 0;
    uint64_t gets = 0;  // get-replica-list calls that found the object
    uint64_t removes = 0;
    uint64_t evictions = 0;  // objects evicted
    uint64_t eviction_rounds = 0;
    uint64_t zombie_puts_discarded = 0;
    uint64_t clients_expired = 0;
    uint64_t tasks_pending = 0;     // gauge
    uint64_t tasks_processing = 0;  // gauge
    uint64_t tasks_finished = 0;    // counter: tasks that reached SUCCESS or FAILED
    // SSD offload (docs/ssd_offload.md).
    uint64_t offload_queued = 0;          // counter: keys queued for offload
    uint64_t offload_queue_rejected = 0;  // counter: queue full (KEYS_ULTRA_LIMIT)
    uint64_t offloaded = 0;               // counter: LOCAL_DISK replicas reported written
    uint64_t disk_gets = 0;               // counter: reads answered by disk replicas only
    // Promotion of disk-only objects back to memory (--promotion_on_hit).
    uint64_t promotions_queued = 0;           // counter
    uint64_t promotions_rejected = 0;         // counter: the queues were full
    uint64_t promotions_handed_out = 0;       // counter: given to clients by heartbeats
    uint64_t promotion_queue_length = 0;      // gauge
    std::vector<LocalDiskStats> local_disks;  // one per client with a local disk mounted
};

// One mounted segment as the admin endpoint /get_segments_detail lists it.
struct SegmentDetail {
    std::string name;
    UUID id;
    UUID client;
    uint64_t base = 0;
    uint64_t size = 0;
    uint64_t used = 0;
    uint64_t capacity = 0;
    bool draining = false;  // being unmounted after a grace period
};

}  // namespace mooncake
