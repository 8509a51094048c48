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
    return std::shared_ptr<DummyMemory>(
        new DummyMemory(std::shared_ptr<ShmRegion>(std::move(*region)), pool_bytes));
}

DummyMemory::DummyMemory(std::shared_ptr<ShmRegion> region, uint64_t mem_pool_size)
    : region_(std::move(region)),
      mem_pool_(SlicedArena::Create(region_, base(), base(), mem_pool_size)),
      local_buffer_(SlicedArena::Create(region_, base(), base() + mem_pool_size,
                                        region_->size() - mem_pool_size)) {}

bool DummyMemory::Contains(const void* address, uint64_t length) const {
    const auto* bytes = static_cast<const uint8_t*>(address);
    return bytes >= base() && bytes <= base() + size() &&
           length <= static_cast<uint64_t>(base() + size() - bytes);
}

Result<std::shared_ptr<DummyMemorySlice>> DummyMemory::Allocate(Pool pool, uint64_t size) {
    return ArenaOf(pool).Allocate(size);
}

uint64_t DummyMemory::used_bytes(Pool pool) const { return ArenaOf(pool).used_bytes(); }

}  // namespace mooncake
