// One range of memory carved into slices by an offset allocator: the single
// arena type behind the in-process client's local buffer (LocalBuffer) and
// the two parts of the dummy client's shared memory (DummyMemory).
//
// A slice is a `Buffer` handed to callers; it keeps its arena, and through
// `keep_alive` the mapping the arena lies in, alive: bytes returned by a Get
// stay valid after the client that produced them is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/mutex.h"
#include "common/offset_allocator.h"
#include "mooncake/client.h"
#include "mooncake/result.h"

namespace mooncake {

class ArenaSlice;

class SlicedArena : public std::enable_shared_from_this<SlicedArena> {
   public:
    // The arena [base, base + size) inside a mapping that starts at `origin`
    // and lives as long as `keep_alive` does. Slice offsets count from
    // `origin` (what a process sharing the mapping addresses them by).
    static std::shared_ptr<SlicedArena> Create(std::shared_ptr<const void> keep_alive,
                                               const uint8_t* origin, uint8_t* base, uint64_t size);
    SlicedArena(const SlicedArena&) = delete;
    SlicedArena& operator=(const SlicedArena&) = delete;

    uint8_t* base() const { return base_; }
    uint64_t size() const { return size_; }

    // A slice of exactly `size` bytes. INVALID_PARAMS for size 0,
    // BUFFER_OVERFLOW when no free range is large enough.
    Result<std::shared_ptr<ArenaSlice>> Allocate(uint64_t size);

    // Bytes currently handed out (for tests and logs).
    uint64_t used_bytes() const;

   private:
    friend class ArenaSlice;
    SlicedArena(std::shared_ptr<const void> keep_alive, const uint8_t* origin, uint8_t* base,
                uint64_t size);
    void Release(const OffsetAllocation& allocation);
    // Gives back the tail of `allocation` beyond `size` bytes.
    void Shrink(OffsetAllocation* allocation, uint64_t size);

    const std::shared_ptr<const void> keep_alive_;
    const uint8_t* const origin_;
    uint8_t* const base_;
    const uint64_t size_;
    mutable Mutex mutex_;
    OffsetAllocator allocator_ MC_GUARDED_BY(mutex_);  // addresses, not offsets
};

// A range of a SlicedArena, given back when the last reference goes.
class ArenaSlice final : public Buffer {
   public:
    ArenaSlice(std::shared_ptr<SlicedArena> owner, OffsetAllocation allocation, uint64_t size);
    ~ArenaSlice() override;
    ArenaSlice(const ArenaSlice&) = delete;
    ArenaSlice& operator=(const ArenaSlice&) = delete;

    const uint8_t* data() const override { return data_; }
    uint8_t* mutable_data() override { return data_; }
    size_t size() const override { return size_; }
    // Offset of the first byte from the start of the arena's mapping.
    uint64_t offset() const { return static_cast<uint64_t>(data_ - owner_->origin_); }

    // Shrinks the slice to its first `size` bytes (no more than now) and
    // gives the rest back: a get that reserved more than it read.
    void Truncate(uint64_t size);

   private:
    std::shared_ptr<SlicedArena> owner_;
    OffsetAllocation allocation_;
    uint8_t* data_;
    uint64_t size_;
};

}  // namespace mooncake
