// The client's local buffer: one anonymous mapping from which puts stage
// their bytes and gets receive theirs. Slices are carved out by an offset
// allocator and handed to callers as `Buffer`s; a slice keeps the whole
// mapping alive, so bytes returned by Get stay valid after the client that
// produced them is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "client/sliced_arena.h"
#include "mooncake/result.h"

namespace mooncake {

using LocalBufferSlice = ArenaSlice;

class LocalBuffer {
   public:
    // Reserves `size` bytes (rounded up to pages) of address space without
    // touching it: a large default buffer costs nothing until used.
    // INVALID_PARAMS for size 0; INTERNAL_ERROR when the mapping fails.
    static Result<std::shared_ptr<LocalBuffer>> Create(uint64_t size);
    LocalBuffer(const LocalBuffer&) = delete;
    LocalBuffer& operator=(const LocalBuffer&) = delete;

    uint8_t* base() const { return arena_->base(); }
    uint64_t size() const { return arena_->size(); }

    // A slice of exactly `size` bytes. INVALID_PARAMS for size 0,
    // BUFFER_OVERFLOW when no free range is large enough.
    Result<std::shared_ptr<LocalBufferSlice>> Allocate(uint64_t size) {
        return arena_->Allocate(size);
    }

    // Bytes currently handed out (for tests and logs).
    uint64_t used_bytes() const { return arena_->used_bytes(); }

   private:
    explicit LocalBuffer(std::shared_ptr<SlicedArena> arena) : arena_(std::move(arena)) {}

    // Its slices keep it, and through it the mapping, alive.
    const std::shared_ptr<SlicedArena> arena_;
};

}  // namespace mooncake
