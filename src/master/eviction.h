// Making room by dropping cached objects, least recently used first.
//
// The master runs a round in the background when usage (used / capacity of
// all mounted segments) passes the high watermark, and synchronously when a
// put finds no space. A round frees at least `min_objects` objects and keeps
// going until usage is at or below `target_used_bytes`.
//
// Never evicted: objects still being put, leased objects (a reader holds
// them), objects with a copy or move in flight, hard-pinned objects.
// Soft-pinned objects go last: only when nothing else is evictable, and only
// if the configuration allows it. A soft pin lapses once the object was not
// accessed for its soft-pin TTL (the put's soft_pin_ttl_ms, else the
// master's default); it is then an ordinary object.
//
// LRU is approximate: each object records its last access time; a round
// first gathers the times of all candidates to find the age threshold that
// selects the right number of objects, then removes the objects at or below
// it shard by shard. No per-object list pointers are needed.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "master/object_index.h"
#include "master/segment_pool.h"

namespace mooncake {

enum class EvictionClass : uint8_t {
    kKeep,        // must not be evicted now
    kRegular,     // evictable
    kSoftPinned,  // evictable as a last resort
};

EvictionClass ClassifyForEviction(const ObjectMeta& meta, int64_t now_ms, int64_t soft_pin_ttl_ms);

struct EvictionPolicy {
    bool allow_evict_soft_pinned = true;
    int64_t soft_pin_ttl_ms = 1'800'000;
};

struct EvictionGoal {
    uint64_t min_objects = 1;
    uint64_t target_used_bytes = 0;
};

class Evictor {
   public:
    Evictor(ObjectIndex& index, SegmentPool& pool, const EvictionPolicy& policy)
        : index_(index), pool_(pool), policy_(policy) {}

    // Asked about each object a round picks, its shard locked: true keeps
    // it (SSD offload on evict queues it for a disk copy first).
    using KeepHook = std::function<bool(const SegmentPool::ReadView& view, std::string_view key,
                                        ObjectMeta& meta)>;
    void SetKeepHook(KeepHook hook) { keep_hook_ = std::move(hook); }

    // One round towards `goal` at time `now_ms`. Returns the number of
    // objects evicted. Call it holding no master lock.
    uint64_t RunRound(const EvictionGoal& goal, int64_t now_ms);

   private:
    // Evicts up to `count` objects, oldest first, regular before soft-pinned;
    // adds the bytes their replicas held to `*freed_bytes`.
    uint64_t EvictOldest(uint64_t count, int64_t now_ms, uint64_t* freed_bytes);

    ObjectIndex& index_;
    SegmentPool& pool_;
    const EvictionPolicy policy_;
    KeepHook keep_hook_;  // set before the background thread starts
};

}  // namespace mooncake
