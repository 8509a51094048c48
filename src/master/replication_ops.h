// Copies and moves in flight (between CopyStart/MoveStart and their end or
// revoke), at most one per object.
//
// The object itself carries only a flag (ObjectMeta::op_in_flight) and, for
// a move, the mark on its source replica; who runs the operation and since
// when lives here, so that the rare copy or move costs the millions of
// ordinary objects no memory.
//
// Thread-safe; a leaf lock. MasterService changes an entry only while
// holding the shard lock of its key, so entry and flag change together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "mooncake/types.h"

namespace mooncake {

struct ReplicationOp {
    enum class Kind : uint8_t { kCopy, kMove };
    Kind kind = Kind::kCopy;
    UUID client;  // the client that started it and must end it
    int64_t started_ms = 0;
    // Move: pool id of the segment that receives the replica.
    uint32_t target_segment = 0;
};

class ReplicationOps {
   public:
    // False when an operation on `key` is in flight already.
    bool Begin(const std::string& key, const ReplicationOp& op);
    std::optional<ReplicationOp> Find(const std::string& key) const;
    void End(const std::string& key);
    // Keys whose operation started `max_age_ms` or longer before `now_ms`.
    std::vector<std::string> StaleKeys(int64_t now_ms, int64_t max_age_ms) const;
    size_t size() const;

   private:
    mutable Mutex mutex_;
    std::unordered_map<std::string, ReplicationOp> ops_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
