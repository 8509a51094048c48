// A dummy client's memory: one memfd that the standalone client maps too, so
// that data moves between the two processes without a copy through the
// socket. It has two parts, each with its own allocator:
//   - the memory pool (mem_pool_size bytes): alloc_from_mem_pool;
//   - the local buffer (local_buffer_size bytes): staging of put/get bytes
//     and the results of get / get_buffer.
// Slices keep the whole mapping alive, so a Buffer returned by Get stays
// valid after the dummy client is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "client/sliced_arena.h"
#include "mooncake/result.h"
#include "transfer/segment_descriptor.h"
#include "transfer/shm_region.h"

namespace mooncake {

using DummyMemorySlice = ArenaSlice;

class DummyMemory {
   public:
    enum class Pool { kMemPool, kLocalBuffer };

    // One zero-filled memfd of both sizes (each rounded up to whole pages),
    // populated up front. INVALID_PARAMS when both are 0; INTERNAL_ERROR
    // when the kernel refuses the memory.
    static Result<std::shared_ptr<DummyMemory>> Create(uint64_t mem_pool_size,
                                                       uint64_t local_buffer_size);
    DummyMemory(const DummyMemory&) = delete;
    DummyMemory& operator=(const DummyMemory&) = delete;

    uint8_t* base() const { return static_cast<uint8_t*>(region_->data()); }
    uint64_t size() const { return region_->size(); }
    // What the standalone client needs to map it (with this process's pid).
    const ShmFileInfo& file_info() const { return region_->file_info(); }

    // True when [address, address + length) lies inside the mapping.
    bool Contains(const void* address, uint64_t length) const;
    // Offset of `address`, which Contains.
    uint64_t OffsetOf(const void* address) const {
        return static_cast<uint64_t>(static_cast<const uint8_t*>(address) - base());
    }

    // A slice of exactly `size` bytes of `pool`. INVALID_PARAMS for size 0,
    // BUFFER_OVERFLOW when the pool has no free range that large.
    Result<std::shared_ptr<DummyMemorySlice>> Allocate(Pool pool, uint64_t size);

    // Bytes handed out right now (for tests and logs).
    uint64_t used_bytes(Pool pool) const;

   private:
    DummyMemory(std::shared_ptr<ShmRegion> region, uint64_t mem_pool_size);
    SlicedArena& ArenaOf(Pool pool) const {
        return pool == Pool::kMemPool ? *mem_pool_ : *local_buffer_;
    }

    // Shared with the slices of both arenas: the mapping lives on while a
    // slice does.
    const std::shared_ptr<ShmRegion> region_;
    const std::shared_ptr<SlicedArena> mem_pool_;
    const std::shared_ptr<SlicedArena> local_buffer_;
};

}  // namespace mooncake
