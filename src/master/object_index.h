// Key -> ObjectMeta, split into shards with one mutex each so that requests
// for different keys rarely wait on each other.
//
// The index only stores; the rules (who may put, remove, evict what) live in
// MasterService, which locks a shard, looks the object up and changes it
// through the helpers below so the counters stay right.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>

#include "common/mutex.h"
#include "master/object_meta.h"
#include "master/object_table.h"

namespace mooncake {

class ChangeLog;

struct alignas(64) ObjectShard {
    Mutex mutex;
    ObjectTable objects MC_GUARDED_BY(mutex);
    size_t unfinished MC_GUARDED_BY(mutex) = 0;  // objects whose put has not ended
};

// A key, its hash and its shard, computed once per request.
struct KeyLocation {
    std::string_view key;
    uint64_t hash;
    ObjectShard& shard;
};

class ObjectIndex {
   public:
    static constexpr size_t kShardCount = 1024;
    using Position = ObjectTable::Position;
    static constexpr Position kNotFound = ObjectTable::kNotFound;

    ObjectIndex() = default;
    ObjectIndex(const ObjectIndex&) = delete;
    ObjectIndex& operator=(const ObjectIndex&) = delete;

    // HA: every change below is noted in `log` (set before serving).
    void SetChangeLog(ChangeLog* log) { log_ = log; }

    KeyLocation Locate(std::string_view key);
    ObjectShard& shard(size_t index) { return shards_[index]; }

    // The helpers below need the shard's mutex held by the caller.
    Position Find(const KeyLocation& where) const MC_REQUIRES(where.shard.mutex) {
        return where.shard.objects.Find(where.key, where.hash);
    }
    // Find for a key known to be in `shard` (one of its own keys).
    Position FindIn(const ObjectShard& shard, std::string_view key) const MC_REQUIRES(shard.mutex) {
        return shard.objects.Find(key, HashOf(key));
    }
    // The object under the key, or a placeholder slot for it (second is
    // true) that the caller must Fill or Unreserve before unlocking. One
    // probe serves both the "exists?" check and the insertion.
    std::pair<Position, bool> FindOrReserve(const KeyLocation& where)
        MC_REQUIRES(where.shard.mutex) {
        return where.shard.objects.FindOrInsert(where.key, where.hash);
    }
    void Fill(ObjectShard& shard, Position position, ObjectMeta meta) MC_REQUIRES(shard.mutex);
    void Unreserve(ObjectShard& shard, Position position) MC_REQUIRES(shard.mutex) {
        shard.objects.EraseAt(position);
    }
    // Replaces the object at `position` (a pre-empted zombie put).
    void Replace(ObjectShard& shard, Position position, ObjectMeta meta) MC_REQUIRES(shard.mutex);
    void MarkComplete(ObjectShard& shard, Position position, int64_t now_ms)
        MC_REQUIRES(shard.mutex);
    void Erase(ObjectShard& shard, Position position) MC_REQUIRES(shard.mutex);
    // Notes a change made through the meta itself (replicas added, removed
    // or completed). Before freeing an object's space, so that the free is
    // held until the followers know (change_log.h).
    void Touch(ObjectShard& shard, Position position) MC_REQUIRES(shard.mutex);
    // After removing many objects from a shard (not while iterating it).
    static void Compact(ObjectShard& shard) MC_REQUIRES(shard.mutex) { shard.objects.Compact(); }

    // Objects in the index, finished or not.
    uint64_t size() const { return size_.load(std::memory_order_relaxed); }

   private:
    static uint64_t HashOf(std::string_view key) { return std::hash<std::string_view>()(key); }

    ChangeLog* log_ = nullptr;
    ObjectShard shards_[kShardCount];
    std::atomic<uint64_t> size_{0};
};

}  // namespace mooncake
