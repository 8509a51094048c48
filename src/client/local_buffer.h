// The client's local buffer: one anonymous mapping from which puts stage
// their bytes and gets receive theirs. Slices are carved out by an offset
// allocator and handed to callers as `Buffer`s; a slice keeps the whole
// mapping alive, so bytes returned by Get stay valid after the client that
// produced them is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "common/offset_allocator.h"
#include "mooncake/client.h"
#include "mooncake/result.h"

namespace mooncake {

class LocalBufferSlice;

class LocalBuffer : public std::enable_shared_from_this<LocalBuffer> {
   public:
    // Reserves `size` bytes (rounded up to pages) of address space without
    // touching it: a large default buffer costs nothing until used.
    // INVALID_PARAMS for size 0; INTERNAL_ERROR when the mapping fails.
    static Result<std::shared_ptr<LocalBuffer>> Create(uint64_t size);
    ~LocalBuffer();
    LocalBuffer(const LocalBuffer&) = delete;
    LocalBuffer& operator=(const LocalBuffer&) = delete;

    uint8_t* base() const { return base_; }
    uint64_t size() const { return size_; }

    // A slice of exactly `size` bytes. INVALID_PARAMS for size 0,
    // BUFFER_OVERFLOW when no free range is large enough.
    Result<std::shared_ptr<LocalBufferSlice>> Allocate(uint64_t size);

    // Bytes currently handed out (for tests and logs).
    uint64_t used_bytes() const;

   private:
    friend class LocalBufferSlice;
    LocalBuffer(uint8_t* base, uint64_t size);
    void Release(const OffsetAllocation& allocation);

    uint8_t* const base_;
    const uint64_t size_;
    mutable std::mutex mutex_;
    OffsetAllocator allocator_;  // addresses, not offsets; guarded by mutex_
};

// A range of a LocalBuffer, given back when the last reference goes.
class LocalBufferSlice final : public Buffer {
   public:
    LocalBufferSlice(std::shared_ptr<LocalBuffer> owner, OffsetAllocation allocation, uint8_t* data,
                     uint64_t size);
    ~LocalBufferSlice() override;
    LocalBufferSlice(const LocalBufferSlice&) = delete;
    LocalBufferSlice& operator=(const LocalBufferSlice&) = delete;

    const uint8_t* data() const override { return data_; }
    uint8_t* mutable_data() override { return data_; }
    size_t size() const override { return size_; }

   private:
    std::shared_ptr<LocalBuffer> owner_;
    OffsetAllocation allocation_;
    uint8_t* data_;
    uint64_t size_;
};

}  // namespace mooncake
