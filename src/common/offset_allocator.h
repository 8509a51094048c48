// Hands out aligned, non-overlapping ranges of an address range.
//
// Used by the master for every mounted segment and by the client for its
// local buffer. Best fit: the smallest free block that fits is split, so
// small requests fill small holes and large free blocks stay whole. Freed
// ranges merge with free neighbours at once, so freeing everything gives the
// whole range back as one block.
//
// The allocator keeps no record per allocation, only per free block: the
// caller hands the OffsetAllocation back to Free. Its memory therefore grows
// with fragmentation, not with the number of live allocations, which matters
// to a master indexing millions of small objects.
//
// Not thread-safe: callers serialise Allocate/Free and the accessors (the
// master holds one mutex per segment, the client one per local buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "mooncake/result.h"

namespace mooncake {

struct OffsetAllocation {
    // First byte: an address in [base, base + size) of the allocator, a
    // multiple of its alignment.
    uint64_t offset = 0;
    // Bytes reserved: the requested size rounded up to the alignment.
    uint64_t size = 0;

    friend bool operator==(const OffsetAllocation&, const OffsetAllocation&) = default;
};

// `size` rounded up to `alignment` (a power of two); 0 when that would
// overflow.
inline uint64_t RoundUpToAlignment(uint64_t size, uint64_t alignment) {
    const uint64_t mask = alignment - 1;
    if (size > UINT64_MAX - mask) return 0;
    return (size + mask) & ~mask;
}

class OffsetAllocator {
   public:
    static constexpr uint64_t kDefaultAlignment = 64;

    // Manages [base, base + size). `alignment` must be a power of two; the
    // usable part starts at base rounded up to it and ends at base + size
    // rounded down to it (capacity() may be slightly smaller than `size`).
    // An unusable range (zero size, bad alignment, overflow) gives an
    // allocator with capacity 0 on which every Allocate fails.
    explicit OffsetAllocator(uint64_t base, uint64_t size, uint64_t alignment = kDefaultAlignment);

    OffsetAllocator(const OffsetAllocator&) = delete;
    OffsetAllocator& operator=(const OffsetAllocator&) = delete;
    OffsetAllocator(OffsetAllocator&&) = default;
    OffsetAllocator& operator=(OffsetAllocator&&) = default;

    // A range of at least `size` bytes. INVALID_PARAMS for size 0;
    // NO_AVAILABLE_HANDLE when no free block is large enough.
    Result<OffsetAllocation> Allocate(uint64_t size);
    // Reserves exactly [offset, offset + RoundedSize(size)): what a master
    // restoring its state (snapshot, HA promotion) needs to mark the ranges
    // of existing objects as used. INVALID_PARAMS for size 0 or a misaligned
    // or outside offset; NO_AVAILABLE_HANDLE when any part is in use.
    Result<OffsetAllocation> AllocateAt(uint64_t offset, uint64_t size);

    // Gives a range back. INVALID_PARAMS (and nothing changes) when the range
    // lies outside the allocator, is misaligned, or overlaps free space: a
    // double free is caught, a range that was never handed out is caught when
    // any part of it is free.
    Status Free(const OffsetAllocation& allocation);

    // What Allocate(size) reserves: size rounded up to the alignment (0 when
    // the rounding would overflow).
    uint64_t RoundedSize(uint64_t size) const;

    uint64_t alignment() const { return alignment_; }
    // First usable address and usable bytes.
    uint64_t start() const { return start_; }
    uint64_t capacity() const { return capacity_; }
    uint64_t used_bytes() const { return used_; }
    uint64_t free_bytes() const { return capacity_ - used_; }
    // The largest single allocation that would succeed now.
    uint64_t largest_free_block() const;
    size_t free_block_count() const { return free_by_address_.size(); }
    // True when `address` lies in the usable range.
    bool Contains(uint64_t address) const {
        return address >= start_ && address - start_ < capacity_;
    }

   private:
    void InsertFreeBlock(uint64_t address, uint64_t length);
    void EraseFreeBlock(std::map<uint64_t, uint64_t>::iterator it);

    uint64_t alignment_;
    uint64_t start_ = 0;
    uint64_t capacity_ = 0;
    uint64_t used_ = 0;
    // The same free blocks twice: by address (to find and merge neighbours)
    // and by (length, address) (to find the best fit).
    std::map<uint64_t, uint64_t> free_by_address_;
    std::set<std::pair<uint64_t, uint64_t>> free_by_length_;
};

}  // namespace mooncake
