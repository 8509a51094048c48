// What the master knows about one object.
//
// Kept compact because the master holds millions of them: one replica is
// stored inline (no heap allocation for the common single-replica object),
// segments are named by a 32-bit pool id, and one timestamp serves two
// purposes (put start while the put runs, last access once it is complete).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mooncake/types.h"

namespace mooncake {

// One replica: `size` bytes of the object at `address` in segment `segment`.
struct ReplicaSlot {
    uint64_t address = 0;
    uint32_t segment = 0;  // SegmentPool id; ids are never reused
    ReplicaStatus status = ReplicaStatus::PROCESSING;
    // The replica a move in flight will drop when it ends.
    bool move_source = false;
};
static_assert(sizeof(ReplicaSlot) == 16, "ReplicaSlot is part of every object: keep it small");

class ObjectMeta {
   public:
    // Replica counts are stored in a byte.
    static constexpr size_t kMaxReplicas = 255;

    ObjectMeta() = default;
    ObjectMeta(uint64_t size, const UUID& owner, int64_t put_start_ms, bool soft_pin)
        : size_(size), stamp_ms_(put_start_ms), owner_(owner), flags_(soft_pin ? kSoftPin : 0) {}
    ObjectMeta(ObjectMeta&&) noexcept = default;
    ObjectMeta& operator=(ObjectMeta&&) noexcept = default;
    ObjectMeta(const ObjectMeta&) = delete;
    ObjectMeta& operator=(const ObjectMeta&) = delete;

    uint64_t size() const { return size_; }
    // The client that started the put.
    const UUID& owner() const { return owner_; }

    // Put start while the put runs; last access (put end, get, exist) after.
    int64_t put_start_ms() const { return stamp_ms_; }
    int64_t last_access_ms() const { return stamp_ms_; }
    void Touch(int64_t now_ms) { stamp_ms_ = now_ms; }

    // Leases are kept in microseconds of the master's monotonic clock
    // (Clock::NowUs): the object's space is never freed before the end of
    // the longest lease granted on it.
    int64_t lease_deadline_us() const { return lease_deadline_us_; }
    bool IsLeased(int64_t now_us) const { return lease_deadline_us_ > now_us; }
    // Extends the lease to at least `deadline_us`; never shortens it.
    void ExtendLease(int64_t deadline_us) {
        if (deadline_us > lease_deadline_us_) lease_deadline_us_ = deadline_us;
        if (deadline_us > granted_lease_us_) granted_lease_us_ = deadline_us;
    }
    // An offload pin: held like a lease until EndPin (or `deadline_us`).
    void Pin(int64_t deadline_us) {
        if (deadline_us > lease_deadline_us_) lease_deadline_us_ = deadline_us;
    }
    // Ends the pin: the lease falls back to the longest one ExtendLease
    // granted, so every reader stays covered and nothing waits longer.
    void EndPin() { lease_deadline_us_ = granted_lease_us_; }

    // Complete: the put ended and readers see the object.
    bool complete() const { return (flags_ & kComplete) != 0; }
    void MarkComplete(int64_t now_ms);
    bool soft_pinned() const { return (flags_ & kSoftPin) != 0; }
    // Hard-pinned objects are never evicted.
    bool hard_pinned() const { return (flags_ & kHardPin) != 0; }
    // The put's own soft-pin length; 0: the master's default.
    uint32_t soft_pin_ttl_ms() const { return soft_pin_ttl_ms_; }
    void SetPins(bool hard_pin, uint32_t soft_pin_ttl_ms) {
        flags_ = hard_pin ? (flags_ | kHardPin) : (flags_ & ~kHardPin);
        soft_pin_ttl_ms_ = soft_pin_ttl_ms;
    }
    // A copy or move runs on this object (details in ReplicationOps).
    bool op_in_flight() const { return (flags_ & kOpInFlight) != 0; }
    void set_op_in_flight(bool value) {
        flags_ = value ? (flags_ | kOpInFlight) : (flags_ & ~kOpInFlight);
    }

    // Names this value among all the values its key ever had: drawn at put
    // start, a new one for every put and upsert (a promotion keeps its disk
    // copy's); 0 means unknown (restored from a state image written before
    // ids existed). A disk copy carries the id of the value
    // it holds, so a stale file is never taken for a newer value of the
    // same key and size (docs/ssd_offload.md).
    uint64_t value_id() const { return value_id_; }
    void set_value_id(uint64_t id) { value_id_ = id; }

    size_t replica_count() const { return replica_count_; }
    const ReplicaSlot& replica(size_t index) const {
        return index == 0 ? first_replica_ : more_replicas_[index - 1];
    }
    ReplicaSlot& replica(size_t index) {
        return index == 0 ? first_replica_ : more_replicas_[index - 1];
    }
    // False (and nothing changes) when kMaxReplicas are held already.
    bool AddReplica(const ReplicaSlot& slot);
    void RemoveReplica(size_t index);
    // Index of the replica on `segment`, or replica_count() when none.
    size_t FindReplicaOn(uint32_t segment) const;
    size_t CountComplete() const;

   private:
    static constexpr uint8_t kComplete = 1;
    static constexpr uint8_t kSoftPin = 2;
    static constexpr uint8_t kOpInFlight = 4;
    static constexpr uint8_t kHardPin = 8;

    uint64_t size_ = 0;
    int64_t stamp_ms_ = 0;
    int64_t lease_deadline_us_ = 0;
    int64_t granted_lease_us_ = 0;  // longest ExtendLease, pins aside
    UUID owner_;
    ReplicaSlot first_replica_;
    // Replicas 1..count-1, exactly that many; null for one replica.
    std::unique_ptr<ReplicaSlot[]> more_replicas_;
    uint8_t replica_count_ = 0;
    uint8_t flags_ = 0;
    // In what would be padding: the object does not grow.
    uint32_t soft_pin_ttl_ms_ = 0;
    uint64_t value_id_ = 0;
};

}  // namespace mooncake
