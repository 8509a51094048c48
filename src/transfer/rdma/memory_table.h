// This engine's memory as registered with each RDMA device: the lkeys that
// work requests carry and the regions that keep the registrations alive.
// Lookups (one per task) take a shared lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/mutex.h"
#include "mooncake/result.h"
#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

class MemoryRegionTable {
   public:
    // `regions[i]` is the registration on device i. INVALID_PARAMS for an
    // empty or wrapping range or one overlapping an existing entry.
    Status Add(uint64_t address, uint64_t length,
               std::vector<std::unique_ptr<MemoryRegion>> regions);
    // Takes out the entry starting at `address` (empty when there is none).
    // The caller drops the regions, deregistering them, outside the lock.
    std::vector<std::unique_ptr<MemoryRegion>> Remove(uint64_t address);
    // Takes out every entry.
    std::vector<std::unique_ptr<MemoryRegion>> RemoveAll();

    // The lkey of each device for the entry holding all of
    // [address, address + length); false when no entry does.
    bool FindLocalKeys(uint64_t address, uint64_t length, std::vector<uint32_t>* lkeys) const;
    size_t size() const;

   private:
    struct Entry {
        uint64_t length = 0;
        std::vector<std::unique_ptr<MemoryRegion>> regions;
    };

    mutable SharedMutex mutex_;
    std::map<uint64_t, Entry> entries_ MC_GUARDED_BY(mutex_);  // by start address
};

}  // namespace mooncake::rdma
