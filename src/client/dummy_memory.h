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
#include <mutex>

#include "common/offset_allocator.h"
#include "mooncake/client.h"
#include "mooncake/result.h"
#include "transfer/segment_descriptor.h"
#include "transfer/shm_region.h"

namespace mooncake {

class DummyMemorySlice;

class DummyMemory : public std::enable_shared_from_this<DummyMemory> {
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
    friend class DummyMemorySlice;
    DummyMemory(std::unique_ptr<ShmRegion> region, uint64_t mem_pool_size);
    void Release(Pool pool, const OffsetAllocation& allocation);
    // Gives back the tail of `allocation` beyond `size` bytes.
    void Shrink(Pool pool, OffsetAllocation* allocation, uint64_t size);
    OffsetAllocator& AllocatorOf(Pool pool) {
        return pool == Pool::kMemPool ? mem_pool_allocator_ : buffer_allocator_;
    }

    const std::unique_ptr<ShmRegion> region_;
    mutable std::mutex mutex_;
    // Both hand out addresses, not offsets; guarded by mutex_.
    OffsetAllocator mem_pool_allocator_;
    OffsetAllocator buffer_allocator_;
};

// A range of DummyMemory, given back when the last reference goes.
class DummyMemorySlice final : public Buffer {
   public:
    DummyMemorySlice(std::shared_ptr<DummyMemory> owner, DummyMemory::Pool pool,
                     OffsetAllocation allocation, uint64_t size);
    ~DummyMemorySlice() override;
    DummyMemorySlice(const DummyMemorySlice&) = delete;
    DummyMemorySlice& operator=(const DummyMemorySlice&) = delete;

    const uint8_t* data() const override { return data_; }
    uint8_t* mutable_data() override { return data_; }
    size_t size() const override { return size_; }
    // Offset of the first byte in the owner's memfd.
    uint64_t offset() const { return owner_->OffsetOf(data_); }

    // Shrinks the slice to its first `size` bytes (no more than now) and
    // gives the rest back: a get that reserved more than it read.
    void Truncate(uint64_t size);

   private:
    std::shared_ptr<DummyMemory> owner_;
    DummyMemory::Pool pool_;
    OffsetAllocation allocation_;
    uint8_t* data_;
    uint64_t size_;
};

}  // namespace mooncake
