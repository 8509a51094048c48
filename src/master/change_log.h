// The leader's change log for HA standbys and snapshots (docs/ha.md).
//
// The master notes every key and membership change as it makes it (under
// the lock that guards what changed); a flusher later turns the noted keys
// into records that carry each key's state at flush time ("key K is now
// complete at these replicas / reserved there / gone"), so a record is an
// idempotent upsert and a follower's copy is a prefix of the leader's
// history, per key.
//
// Free gate: space given back (remove, eviction, revoke, lease end...) is
// not reused until every follower holds a record made after the change
// that freed it. So a follower promoted with an older copy never lists an
// object whose bytes were overwritten: anything it believes it still owns
// was not handed out again. Callers note the key BEFORE freeing its space.
//
// No networking: MasterService and the tests drive it in-process.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "master/master_service_types.h"

namespace mooncake {

struct ChangeRecord {
    // A membership record lists every mounted segment (replaces the set).
    bool membership = false;
    std::vector<MasterStateImage::Segment> segments;
    // A key record: the key's complete part and the space its unfinished
    // put or copy holds; neither = the key is gone.
    std::string key;
    std::optional<MasterStateImage::Object> complete;
    std::optional<MasterStateImage::Object> reserved;
};

struct HeldFree {
    uint32_t segment = 0;
    uint64_t address = 0;
    uint64_t size = 0;
};

class ChangeLog {
   public:
    // Records kept for followers that catch up by records; older ones need
    // a full image.
    explicit ChangeLog(size_t capacity = 1u << 18);
    ChangeLog(const ChangeLog&) = delete;
    ChangeLog& operator=(const ChangeLog&) = delete;

    // ---- called by the master under its own locks (leaf mutex) ----------
    void NoteKey(std::string_view key);
    // Mount, unmount, client expiry. Calls after it wait until the
    // followers hold it: a lost unmount could send readers to memory its
    // owner reused.
    void NoteMembership();
    void HoldFree(uint32_t segment, uint64_t address, uint64_t size);

    // ---- the flusher (one at a time: hold flush_mutex()) ----------------
    struct Drained {
        std::vector<std::string> keys;  // distinct
        bool membership = false;
        uint64_t notes_upto = 0;
    };
    Drained Drain();
    // Appends the records describing a drain; returns the new version.
    uint64_t Append(std::vector<ChangeRecord> records, uint64_t notes_upto);
    Mutex& flush_mutex() { return flush_mutex_; }

    // ---- followers -------------------------------------------------------
    uint64_t version() const;
    bool HasNotes() const;
    // Records (base, version] (at most `max`), and the version they reach;
    // false when records after `base` were dropped already (image needed).
    bool Since(uint64_t base, size_t max, std::vector<ChangeRecord>* out, uint64_t* upto) const;
    // Every follower holds `acked`: the frees it covers, to give back now.
    std::vector<HeldFree> Release(uint64_t acked);
    // A membership change newer than what `acked` covers is pending.
    bool MembershipPending(uint64_t acked) const;
    size_t held_frees() const;

   private:
    struct Mark {
        uint64_t version;
        uint64_t notes_upto;
    };
    struct Held {
        HeldFree free;
        uint64_t stamp;  // notes made when it was held
    };
    uint64_t CoveredLocked(uint64_t acked) const MC_REQUIRES(mutex_);

    const size_t capacity_;
    Mutex flush_mutex_;
    mutable Mutex mutex_;
    uint64_t notes_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t membership_stamp_ MC_GUARDED_BY(mutex_) = 0;
    bool membership_dirty_ MC_GUARDED_BY(mutex_) = false;
    std::vector<std::string> dirty_ MC_GUARDED_BY(mutex_);
    std::deque<Held> held_ MC_GUARDED_BY(mutex_);
    std::deque<Mark> marks_ MC_GUARDED_BY(mutex_);
    uint64_t covered_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t version_ MC_GUARDED_BY(mutex_) = 0;
    std::deque<ChangeRecord> records_ MC_GUARDED_BY(mutex_);  // (version_ - size, version_]
};

// A follower's copy of the leader's state: a full image, then records.
class ShadowState {
   public:
    void Reset(const MasterStateImage& image);
    void Apply(const ChangeRecord& record);
    MasterStateImage ToImage() const;
    size_t object_count() const { return keys_.size(); }

   private:
    struct Entry {
        std::optional<MasterStateImage::Object> complete;
        std::optional<MasterStateImage::Object> reserved;
    };
    std::vector<MasterStateImage::Segment> segments_;
    std::unordered_map<std::string, Entry> keys_;
};

}  // namespace mooncake
