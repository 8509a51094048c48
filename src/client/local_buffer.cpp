#include "client/local_buffer.h"

#include <glog/logging.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "client/client_config_util.h"

namespace mooncake {

Result<std::shared_ptr<LocalBuffer>> LocalBuffer::Create(uint64_t size) {
    if (size == 0 || size > kMaxClientMemorySize) return Error(ErrorCode::INVALID_PARAMS);
    const uint64_t length = RoundUpToPageSize(size);
    // Address space only: pages are committed when first written, so a
    // 1 GiB default buffer costs nothing until it is used.
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        LOG(ERROR) << "Cannot map a local buffer of " << length
                   << " bytes: " << std::strerror(errno);
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    return std::shared_ptr<LocalBuffer>(new LocalBuffer(static_cast<uint8_t*>(base), length));
}

LocalBuffer::LocalBuffer(uint8_t* base, uint64_t size)
    : base_(base), size_(size), allocator_(reinterpret_cast<uint64_t>(base), size) {}

LocalBuffer::~LocalBuffer() {
    if (munmap(base_, size_) != 0) {
        LOG(ERROR) << "munmap of the local buffer failed: " << std::strerror(errno);
    }
}

Result<std::shared_ptr<LocalBufferSlice>> LocalBuffer::Allocate(uint64_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    Result<OffsetAllocation> allocation;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        allocation = allocator_.Allocate(size);
    }
    if (!allocation.has_value()) {
        return Error(allocation.error() == ErrorCode::NO_AVAILABLE_HANDLE
                         ? ErrorCode::BUFFER_OVERFLOW
                         : allocation.error());
    }
    auto* data = reinterpret_cast<uint8_t*>(allocation->offset);
    return std::make_shared<LocalBufferSlice>(shared_from_this(), *allocation, data, size);
}

uint64_t LocalBuffer::used_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return allocator_.used_bytes();
}

void LocalBuffer::Release(const OffsetAllocation& allocation) {
    std::lock_guard<std::mutex> lock(mutex_);
    Status freed = allocator_.Free(allocation);
    LOG_IF(ERROR, !freed.has_value())
        << "Local buffer range at " << allocation.offset << " was given back twice";
}

LocalBufferSlice::LocalBufferSlice(std::shared_ptr<LocalBuffer> owner, OffsetAllocation allocation,
                                   uint8_t* data, uint64_t size)
    : owner_(std::move(owner)), allocation_(allocation), data_(data), size_(size) {}

LocalBufferSlice::~LocalBufferSlice() { owner_->Release(allocation_); }

}  // namespace mooncake
