#include "client/dummy_memory.h"

#include <glog/logging.h>

#include "client/client_config_util.h"

namespace mooncake {

Result<std::shared_ptr<DummyMemory>> DummyMemory::Create(uint64_t mem_pool_size,
                                                         uint64_t local_buffer_size) {
    if (mem_pool_size > kMaxClientMemorySize || local_buffer_size > kMaxClientMemorySize) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // Whole pages each, so that the local buffer starts on a page boundary.
    const uint64_t pool_bytes = RoundUpToPageSize(mem_pool_size);
    const uint64_t buffer_bytes = RoundUpToPageSize(local_buffer_size);
    if (pool_bytes + buffer_bytes == 0) return Error(ErrorCode::INVALID_PARAMS);
    auto region = ShmRegion::Create(pool_bytes + buffer_bytes, "mooncake_dummy");
    if (!region.has_value()) {
        LOG(ERROR) << "Cannot allocate " << pool_bytes + buffer_bytes
                   << " bytes of shared memory for the dummy client";
        return Error(region.error());
    }
    return std::shared_ptr<DummyMemory>(new DummyMemory(std::move(*region), pool_bytes));
}

DummyMemory::DummyMemory(std::unique_ptr<ShmRegion> region, uint64_t mem_pool_size)
    : region_(std::move(region)),
      mem_pool_allocator_(reinterpret_cast<uint64_t>(region_->data()), mem_pool_size),
      buffer_allocator_(reinterpret_cast<uint64_t>(region_->data()) + mem_pool_size,
                        region_->size() - mem_pool_size) {}

bool DummyMemory::Contains(const void* address, uint64_t length) const {
    const auto* bytes = static_cast<const uint8_t*>(address);
    return bytes >= base() && bytes <= base() + size() &&
           length <= static_cast<uint64_t>(base() + size() - bytes);
}

Result<std::shared_ptr<DummyMemorySlice>> DummyMemory::Allocate(Pool pool, uint64_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    Result<OffsetAllocation> allocation;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        allocation = AllocatorOf(pool).Allocate(size);
    }
    if (!allocation.has_value()) {
        return Error(allocation.error() == ErrorCode::NO_AVAILABLE_HANDLE
                         ? ErrorCode::BUFFER_OVERFLOW
                         : allocation.error());
    }
    return std::make_shared<DummyMemorySlice>(shared_from_this(), pool, *allocation, size);
}

uint64_t DummyMemory::used_bytes(Pool pool) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return pool == Pool::kMemPool ? mem_pool_allocator_.used_bytes()
                                  : buffer_allocator_.used_bytes();
}

void DummyMemory::Shrink(Pool pool, OffsetAllocation* allocation, uint64_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    OffsetAllocator& allocator = AllocatorOf(pool);
    const uint64_t kept = allocator.RoundedSize(size);
    if (kept == 0 || kept >= allocation->size) return;
    // The allocator tracks free space only, so any aligned part of an
    // allocation may go back on its own.
    Status freed = allocator.Free({allocation->offset + kept, allocation->size - kept});
    if (freed.has_value()) allocation->size = kept;
}

void DummyMemory::Release(Pool pool, const OffsetAllocation& allocation) {
    std::lock_guard<std::mutex> lock(mutex_);
    Status freed = AllocatorOf(pool).Free(allocation);
    LOG_IF(ERROR, !freed.has_value())
        << "Dummy shared memory range at " << allocation.offset << " was given back twice";
}

DummyMemorySlice::DummyMemorySlice(std::shared_ptr<DummyMemory> owner, DummyMemory::Pool pool,
                                   OffsetAllocation allocation, uint64_t size)
    : owner_(std::move(owner)),
      pool_(pool),
      allocation_(allocation),
      data_(reinterpret_cast<uint8_t*>(allocation.offset)),
      size_(size) {}

DummyMemorySlice::~DummyMemorySlice() { owner_->Release(pool_, allocation_); }

void DummyMemorySlice::Truncate(uint64_t size) {
    if (size >= size_) return;
    owner_->Shrink(pool_, &allocation_, size);
    size_ = size;
}

}  // namespace mooncake
