#include "client/sliced_arena.h"

#include <glog/logging.h>

namespace mooncake {

std::shared_ptr<SlicedArena> SlicedArena::Create(std::shared_ptr<const void> keep_alive,
                                                 const uint8_t* origin, uint8_t* base,
                                                 uint64_t size) {
    return std::shared_ptr<SlicedArena>(new SlicedArena(std::move(keep_alive), origin, base, size));
}

SlicedArena::SlicedArena(std::shared_ptr<const void> keep_alive, const uint8_t* origin,
                         uint8_t* base, uint64_t size)
    : keep_alive_(std::move(keep_alive)),
      origin_(origin),
      base_(base),
      size_(size),
      allocator_(reinterpret_cast<uint64_t>(base), size) {}

Result<std::shared_ptr<ArenaSlice>> SlicedArena::Allocate(uint64_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    Result<OffsetAllocation> allocation;
    {
        MutexLock lock(mutex_);
        allocation = allocator_.Allocate(size);
    }
    if (!allocation.has_value()) {
        return Error(allocation.error() == ErrorCode::NO_AVAILABLE_HANDLE
                         ? ErrorCode::BUFFER_OVERFLOW
                         : allocation.error().code());
    }
    return std::make_shared<ArenaSlice>(shared_from_this(), *allocation, size);
}

uint64_t SlicedArena::used_bytes() const {
    MutexLock lock(mutex_);
    return allocator_.used_bytes();
}

void SlicedArena::Shrink(OffsetAllocation* allocation, uint64_t size) {
    MutexLock lock(mutex_);
    const uint64_t kept = allocator_.RoundedSize(size);
    if (kept == 0 || kept >= allocation->size) return;
    // The allocator tracks free space only, so any aligned part of an
    // allocation may go back on its own.
    Status freed = allocator_.Free({allocation->offset + kept, allocation->size - kept});
    if (freed.has_value()) allocation->size = kept;
}

void SlicedArena::Release(const OffsetAllocation& allocation) {
    MutexLock lock(mutex_);
    Status freed = allocator_.Free(allocation);
    LOG_IF(ERROR, !freed.has_value())
        << "Arena range at " << allocation.offset << " was given back twice";
}

ArenaSlice::ArenaSlice(std::shared_ptr<SlicedArena> owner, OffsetAllocation allocation,
                       uint64_t size)
    : owner_(std::move(owner)),
      allocation_(allocation),
      data_(reinterpret_cast<uint8_t*>(allocation.offset)),
      size_(size) {}

ArenaSlice::~ArenaSlice() { owner_->Release(allocation_); }

void ArenaSlice::Truncate(uint64_t size) {
    if (size >= size_) return;
    owner_->Shrink(&allocation_, size);
    size_ = size;
}

}  // namespace mooncake
