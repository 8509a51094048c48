// The segments clients have mounted and the space in them.
//
// Every segment gets a 32-bit id that is never reused, so an id stored in an
// object's replica can never come to mean another segment. Unmounting is in
// two steps: Retire takes the segment out of placement at once (no new
// replica lands there), the caller then drops the replicas that point at it
// from the object index, and Forget finally deletes the record.
//
// Locking: one reader/writer lock for the segment tables, never taken
// recursively. Mount, Retire and Forget take it exclusively. Everything that allocates, frees or
// resolves ids goes through a ReadView, which holds it shared for its lifetime; each segment's
// allocator has its own mutex below that.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/offset_allocator.h"
#include "master/writer_preferring_mutex.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

class ChangeLog;

class SegmentPool {
   public:
    // Longest segment name accepted ("host:port").
    static constexpr size_t kMaxNameLength = 512;

    struct Segment {
        Segment(uint32_t id, const UUID& client, const SegmentInfo& info);

        const uint32_t id;
        const UUID client;
        const SegmentInfo info;
        Mutex mutex;
        OffsetAllocator allocator MC_GUARDED_BY(mutex);
        const uint64_t capacity;
        // The allocator's (fixed) alignment, to round sizes without its lock.
        const uint64_t alignment;
        // Mirrors allocator.used_bytes() for reads without the mutex.
        std::atomic<uint64_t> used{0};
        // The part of `used` that put credits hold (allocated ahead of
        // objects, master/put_credit_table.h): reported apart, so that
        // usage shows objects only.
        std::atomic<uint64_t> reserved{0};
        // Unmounted; replicas on it are being dropped. Guarded by the pool's
        // lock (written exclusively, read by ReadView holders).
        bool retiring = false;
        // Re-mounted: readers holding leases of a previous master life (or
        // of before this client's expiry) may still read its ranges, so
        // nothing is allocated in it until the master lifts the fence.
        std::atomic<bool> fenced{false};
        // Unmounted after a grace period: still readable, takes no new
        // objects (GRACEFULLY_UNMOUNTING).
        std::atomic<bool> draining{false};

        // Whether placement may put a new replica here.
        bool TakesNewObjects() const {
            return !retiring && !fenced.load(std::memory_order_relaxed) &&
                   !draining.load(std::memory_order_relaxed);
        }
        uint64_t free_bytes() const {
            const uint64_t now_used = used.load(std::memory_order_relaxed);
            return now_used >= capacity ? 0 : capacity - now_used;
        }
    };

    // Holds the pool's lock shared: segments cannot be mounted, retired or
    // forgotten while a view lives. Never take a view while holding a shard
    // lock (lock order: pool before shards).
    class ReadView {
       public:
        explicit ReadView(const SegmentPool& pool);
        ReadView(const ReadView&) = delete;
        ReadView& operator=(const ReadView&) = delete;

        // Mounted segments in mount order (placement candidates).
        const std::vector<Segment*>& active() const {
            pool_.mutex_.AssertReaderHeld();
            return pool_.active_;
        }
        // Mounted segments named `name`; nullptr when there are none.
        const std::vector<Segment*>* FindByName(std::string_view name) const;
        // A mounted or retiring segment; nullptr when it was forgotten.
        Segment* Find(uint32_t id) const;
        // A mounted segment; nullptr when retiring or forgotten.
        Segment* FindActive(uint32_t id) const;

        // Address of `size` bytes in `segment`, or nullopt when it has no
        // free block large enough.
        std::optional<uint64_t> Allocate(Segment& segment, uint64_t size) const;
        // Reserves exactly [address, address + size) (state restore); false
        // when any part of it is in use or outside the segment.
        bool AllocateAt(Segment& segment, uint64_t address, uint64_t size) const;
        // A mounted segment by its UUID; nullptr when none.
        Segment* FindByUuid(const UUID& segment_id) const;
        // Gives back what Allocate(segment, size) returned. A forgotten
        // segment is skipped: its memory left with its owner. With a change
        // log the space is held until the followers have the change
        // (change_log.h), then FreeNow gives it back.
        void Free(uint32_t segment_id, uint64_t address, uint64_t size) const;
        void FreeNow(uint32_t segment_id, uint64_t address, uint64_t size) const;
        // Counts `size` bytes allocated in the segment as held by a put
        // credit (`held`), or no longer (committed, or about to be freed).
        // Skipped for a segment no longer mounted.
        void MarkReserved(uint32_t segment_id, uint64_t size, bool held) const;

       private:
        const SegmentPool& pool_;
        std::shared_lock<WriterPreferringMutex> lock_;
    };

    SegmentPool() = default;
    SegmentPool(const SegmentPool&) = delete;
    // HA: notes mounts and retirements and holds frees (set before serving).
    void SetChangeLog(ChangeLog* log) { log_ = log; }
    SegmentPool& operator=(const SegmentPool&) = delete;

    // INVALID_PARAMS for a nil id, an empty or too long name, base or size 0,
    // a range that wraps around, is too small to hold one aligned block or
    // overlaps another mounted segment of the same name;
    // SEGMENT_ALREADY_EXISTS when this segment id is mounted already.
    // `fenced`: mounted with its allocation fence set (see Segment::fenced).
    Status Mount(const UUID& client, const SegmentInfo& info, bool fenced = false);
    // Lifts the allocation fence of a mounted segment; false when no
    // segment `segment_id` is mounted.
    bool LiftFence(const UUID& segment_id);
    // The client that has mounted segment `segment_id`, if any.
    std::optional<UUID> MountedBy(const UUID& segment_id) const;

    // Starts a graceful unmount: the segment keeps its replicas and takes no
    // new ones. SEGMENT_NOT_FOUND unless `client` mounted it.
    Status Drain(const UUID& client, const UUID& segment_id);
    // Takes the segment out of placement; returns its pool id for the
    // replica sweep and Forget. SEGMENT_NOT_FOUND unless `client` mounted it.
    Result<uint32_t> Retire(const UUID& client, const UUID& segment_id);
    // Retire for every segment of `client`.
    std::vector<uint32_t> RetireClient(const UUID& client);
    // Deletes a retired segment's record.
    void Forget(uint32_t id);

    // Distinct names of mounted segments, sorted.
    std::vector<std::string> Names() const;
    // What usage reports show of a segment: `used` less put credits.
    static uint64_t ReportedUsed(const Segment& segment);
    // Used (as ReportedUsed) and capacity bytes of the mounted segments named `name`;
    // SEGMENT_NOT_FOUND when there are none.
    Result<std::pair<uint64_t, uint64_t>> UsageOf(std::string_view name) const;
    bool ClientHasSegment(const UUID& client) const;
    size_t mounted_count() const;

    // Totals over mounted segments. used_bytes counts every allocation
    // (what eviction looks at); reserved_bytes the part put credits hold.
    uint64_t used_bytes() const { return used_total_.load(std::memory_order_relaxed); }
    uint64_t reserved_bytes() const { return reserved_total_.load(std::memory_order_relaxed); }
    // What usage reports show: allocations of objects (complete or being put).
    uint64_t object_bytes() const {
        const uint64_t used = used_bytes();
        return used - std::min(used, reserved_bytes());
    }
    uint64_t capacity_bytes() const { return capacity_total_.load(std::memory_order_relaxed); }

   private:
    void RetireLocked(Segment& segment) MC_REQUIRES(mutex_);

    // Writer-preferring so that mounts and unmounts are not starved by a
    // steady stream of puts and gets.
    mutable WriterPreferringMutex mutex_;
    ChangeLog* log_ = nullptr;
    uint32_t next_id_ MC_GUARDED_BY(mutex_) = 1;
    std::unordered_map<uint32_t, std::unique_ptr<Segment>> all_ MC_GUARDED_BY(mutex_);
    std::vector<Segment*> active_ MC_GUARDED_BY(mutex_);
    std::unordered_map<UUID, Segment*, UUIDHash> by_uuid_ MC_GUARDED_BY(mutex_);
    std::unordered_map<std::string, std::vector<Segment*>> by_name_ MC_GUARDED_BY(mutex_);
    // Changed by ReadView holders, hence mutable.
    mutable std::atomic<uint64_t> used_total_{0};
    mutable std::atomic<uint64_t> reserved_total_{0};
    std::atomic<uint64_t> capacity_total_{0};
};

}  // namespace mooncake
