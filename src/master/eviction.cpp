#include "master/eviction.h"

#include <glog/logging.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace mooncake {

namespace {

// How many passes a round may make before giving up on its goal (each pass
// evicts what its estimate asked for; objects accessed meanwhile survive).
constexpr int kMaxPassesPerRound = 8;

// Among `stamps`, the threshold and tie quota that select exactly `count`
// of them: every stamp below `threshold`, plus `ties` stamps equal to it.
struct Selection {
    int64_t threshold = std::numeric_limits<int64_t>::min();
    uint64_t ties = 0;
    bool any = false;
};

Selection SelectOldest(std::vector<int64_t>& stamps, uint64_t count) {
    Selection selection;
    if (count == 0 || stamps.empty()) return selection;
    selection.any = true;
    if (count >= stamps.size()) {
        selection.threshold = std::numeric_limits<int64_t>::max();
        selection.ties = stamps.size();
        return selection;
    }
    auto nth = stamps.begin() + static_cast<std::ptrdiff_t>(count - 1);
    std::nth_element(stamps.begin(), nth, stamps.end());
    selection.threshold = *nth;
    const uint64_t below = static_cast<uint64_t>(std::count_if(
        stamps.begin(), stamps.end(), [&](int64_t stamp) { return stamp < selection.threshold; }));
    selection.ties = count - below;
    return selection;
}

// Whether the object with `stamp` is picked; consumes a tie when needed.
bool Picks(Selection& selection, int64_t stamp) {
    if (!selection.any) return false;
    if (stamp < selection.threshold) return true;
    if (stamp == selection.threshold && selection.ties > 0) {
        --selection.ties;
        return true;
    }
    return false;
}

}  // namespace

EvictionClass ClassifyForEviction(const ObjectMeta& meta, int64_t now_ms, int64_t soft_pin_ttl_ms) {
    // now_ms * 1000 is at or before the precise now: a lease ending within
    // this millisecond still counts as held.
    if (!meta.complete() || meta.IsLeased(now_ms * 1000) || meta.op_in_flight() ||
        meta.hard_pinned()) {
        return EvictionClass::kKeep;
    }
    const int64_t pin_ms = meta.soft_pin_ttl_ms() != 0 ? meta.soft_pin_ttl_ms() : soft_pin_ttl_ms;
    if (meta.soft_pinned() && now_ms - meta.last_access_ms() < pin_ms) {
        return EvictionClass::kSoftPinned;
    }
    return EvictionClass::kRegular;
}

uint64_t Evictor::RunRound(const EvictionGoal& goal, int64_t now_ms) {
    uint64_t evicted = 0;
    // What this round freed counts at once: with a change log (HA) the pool
    // holds freed space as used until the followers have the change, and a
    // round that waited for it would evict pass after pass.
    const uint64_t used_at_start = pool_.used_bytes();
    uint64_t freed_bytes = 0;
    for (int pass = 0; pass < kMaxPassesPerRound; ++pass) {
        const uint64_t used =
            std::min(pool_.used_bytes(), used_at_start - std::min(used_at_start, freed_bytes));
        const bool need_objects = evicted < goal.min_objects;
        const bool need_bytes = used > goal.target_used_bytes;
        if (!need_objects && !need_bytes) break;

        uint64_t want = need_objects ? goal.min_objects - evicted : 0;
        const uint64_t objects = index_.size();
        if (need_bytes && objects > 0) {
            // Estimate from the mean object footprint; later passes correct it.
            const uint64_t mean = std::max<uint64_t>(1, used / objects);
            const uint64_t excess = used - goal.target_used_bytes;
            want = std::max(want, (excess + mean - 1) / mean);
        }
        want = std::max<uint64_t>(want, 1);

        const uint64_t freed = EvictOldest(want, now_ms, &freed_bytes);
        evicted += freed;
        if (freed == 0) break;
    }
    return evicted;
}

uint64_t Evictor::EvictOldest(uint64_t count, int64_t now_ms, uint64_t* freed_bytes) {
    // Pass 1: the access times of every candidate.
    std::vector<int64_t> regular;
    std::vector<int64_t> soft_pinned;
    regular.reserve(index_.size());
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        MutexLock lock(shard.mutex);
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            const ObjectMeta& meta = shard.objects.meta(position);
            switch (ClassifyForEviction(meta, now_ms, policy_.soft_pin_ttl_ms)) {
                case EvictionClass::kRegular:
                    regular.push_back(meta.last_access_ms());
                    break;
                case EvictionClass::kSoftPinned:
                    if (policy_.allow_evict_soft_pinned) {
                        soft_pinned.push_back(meta.last_access_ms());
                    }
                    break;
                case EvictionClass::kKeep:
                    break;
            }
        });
    }
    const uint64_t from_regular = std::min<uint64_t>(count, regular.size());
    Selection regular_pick = SelectOldest(regular, from_regular);
    Selection soft_pick = SelectOldest(soft_pinned, count - from_regular);
    if (!regular_pick.any && !soft_pick.any) return 0;

    // Pass 2: remove the selected objects. Anything accessed, leased or
    // otherwise changed since pass 1 is classified again and may survive.
    uint64_t evicted = 0;
    for (size_t i = 0; i < ObjectIndex::kShardCount && evicted < count; ++i) {
        SegmentPool::ReadView view(pool_);
        ObjectShard& shard = index_.shard(i);
        MutexLock lock(shard.mutex);
        const uint64_t evicted_before = evicted;
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            if (evicted >= count) return;
            ObjectMeta& meta = shard.objects.meta(position);
            bool pick = false;
            switch (ClassifyForEviction(meta, now_ms, policy_.soft_pin_ttl_ms)) {
                case EvictionClass::kRegular:
                    pick = Picks(regular_pick, meta.last_access_ms());
                    break;
                case EvictionClass::kSoftPinned:
                    pick =
                        policy_.allow_evict_soft_pinned && Picks(soft_pick, meta.last_access_ms());
                    break;
                case EvictionClass::kKeep:
                    break;
            }
            if (!pick) return;
            if (keep_hook_ && keep_hook_(view, shard.objects.key(position), meta)) return;
            index_.Touch(shard, position);  // before the frees (change_log.h)
            for (size_t r = 0; r < meta.replica_count(); ++r) {
                view.Free(meta.replica(r).segment, meta.replica(r).address, meta.size());
                *freed_bytes += meta.size();
            }
            VLOG(1) << "Evicted " << shard.objects.key(position);
            index_.Erase(shard, position);
            ++evicted;
        });
        if (evicted > evicted_before) ObjectIndex::Compact(shard);
    }
    return evicted;
}

}  // namespace mooncake
