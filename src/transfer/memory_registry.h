// The ranges of this process an engine has registered, in an ordered map so
// that "is [addr, addr+len) inside one registered range?" costs O(log n).
// The TCP server checks every incoming request here, against the owner's
// own truth rather than what a peer believes.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/mutex.h"
#include "mooncake/result.h"
#include "transfer/segment_descriptor.h"

namespace mooncake {

struct RegisteredRegion {
    uint64_t address = 0;
    uint64_t length = 0;
    bool remote_accessible = true;
    // Set for memfd-backed memory from AllocateSharedMemory.
    std::optional<ShmFileInfo> shm;
    // What transports attached when the region was registered (published
    // in the descriptor's range entry), keyed by transport name.
    nlohmann::json transports = nlohmann::json::object();

    bool Contains(uint64_t begin, uint64_t size) const {
        return begin >= address && size <= length && begin - address <= length - size;
    }
};

class MemoryRegistry {
   public:
    // INVALID_PARAMS for an empty or wrapping range or one overlapping an
    // existing registration; nothing changes then.
    Status Add(RegisteredRegion region);
    // Removes the region starting exactly at `address`; INVALID_PARAMS when
    // there is none.
    Result<RegisteredRegion> Remove(uint64_t address);
    void Clear();

    // The region holding all of [address, address + length).
    std::optional<RegisteredRegion> Find(uint64_t address, uint64_t length) const;
    // As Find, but only for remotely accessible regions; cheaper (no copy).
    bool IsRemotelyAccessible(uint64_t address, uint64_t length) const;
    bool Contains(uint64_t address, uint64_t length) const;

    // The remotely accessible regions, sorted by address, as descriptor
    // ranges.
    std::vector<SegmentRange> RemoteRanges() const;
    std::vector<RegisteredRegion> All() const;
    size_t size() const;

   private:
    // The region containing the range, or end().
    std::map<uint64_t, RegisteredRegion>::const_iterator FindLocked(uint64_t address,
                                                                    uint64_t length) const
        MC_REQUIRES_SHARED(mutex_);

    mutable SharedMutex mutex_;
    std::map<uint64_t, RegisteredRegion> regions_ MC_GUARDED_BY(mutex_);  // keyed by start address
};

}  // namespace mooncake
