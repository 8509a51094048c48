// Space that must not be reused yet.
//
// Two cases put replica space here instead of freeing it: a pre-empted
// zombie put (its writer may still be writing until the release timeout of
// its put start) and the source replica a move dropped (readers holding a
// lease may still be reading until the lease ends). Maintenance frees what
// is due.
//
// Thread-safe; a leaf lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/mutex.h"

namespace mooncake {

struct DeferredFree {
    uint32_t segment = 0;  // SegmentPool id
    uint64_t address = 0;
    uint64_t size = 0;  // object size, as given to the allocation
    int64_t release_at_ms = 0;
};

class DeferredFreeList {
   public:
    void Add(const DeferredFree& entry);
    // Removes and returns the entries whose release time is at or before now.
    std::vector<DeferredFree> TakeDue(int64_t now_ms);
    size_t size() const;
    // Bytes waiting to be freed.
    uint64_t pending_bytes() const;

   private:
    mutable Mutex mutex_;
    std::vector<DeferredFree> entries_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
