#include "common/offset_allocator.h"

#include <iterator>

namespace mooncake {

namespace {

bool IsPowerOfTwo(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

}  // namespace

OffsetAllocator::OffsetAllocator(uint64_t base, uint64_t size, uint64_t alignment)
    : alignment_(IsPowerOfTwo(alignment) ? alignment : kDefaultAlignment) {
    const uint64_t mask = alignment_ - 1;
    if (size == 0 || base > UINT64_MAX - size || base > UINT64_MAX - mask) return;
    const uint64_t start = (base + mask) & ~mask;
    const uint64_t end = (base + size) & ~mask;
    if (end <= start) return;
    start_ = start;
    capacity_ = end - start;
    InsertFreeBlock(start_, capacity_);
}

uint64_t OffsetAllocator::RoundedSize(uint64_t size) const {
    return RoundUpToAlignment(size, alignment_);
}

uint64_t OffsetAllocator::largest_free_block() const {
    return free_by_length_.empty() ? 0 : free_by_length_.rbegin()->first;
}

void OffsetAllocator::InsertFreeBlock(uint64_t address, uint64_t length) {
    free_by_address_.emplace(address, length);
    free_by_length_.emplace(length, address);
}

void OffsetAllocator::EraseFreeBlock(std::map<uint64_t, uint64_t>::iterator it) {
    free_by_length_.erase({it->second, it->first});
    free_by_address_.erase(it);
}

Result<OffsetAllocation> OffsetAllocator::Allocate(uint64_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (size > capacity_ - used_) return Error(ErrorCode::NO_AVAILABLE_HANDLE);
    const uint64_t rounded = RoundedSize(size);
    auto best = free_by_length_.lower_bound({rounded, 0});
    if (best == free_by_length_.end()) return Error(ErrorCode::NO_AVAILABLE_HANDLE);

    const uint64_t block_length = best->first;
    const uint64_t block_address = best->second;
    auto by_address = free_by_address_.find(block_address);
    if (block_length == rounded) {
        free_by_length_.erase(best);
        free_by_address_.erase(by_address);
    } else {
        // Keep the tail of the block free. Re-keying the existing nodes
        // avoids a heap allocation on this hot path.
        const uint64_t rest_address = block_address + rounded;
        const uint64_t rest_length = block_length - rounded;
        auto length_node = free_by_length_.extract(best);
        length_node.value() = {rest_length, rest_address};
        free_by_length_.insert(std::move(length_node));
        auto address_node = free_by_address_.extract(by_address);
        address_node.key() = rest_address;
        address_node.mapped() = rest_length;
        free_by_address_.insert(std::move(address_node));
    }
    used_ += rounded;
    return OffsetAllocation{block_address, rounded};
}

Result<OffsetAllocation> OffsetAllocator::AllocateAt(uint64_t offset, uint64_t size) {
    const uint64_t rounded = RoundedSize(size);
    if (rounded == 0 || (offset & (alignment_ - 1)) != 0 || !Contains(offset) ||
        rounded > capacity_ - (offset - start_)) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // The free block holding `offset`: the last one starting at or before it.
    auto block = free_by_address_.upper_bound(offset);
    if (block == free_by_address_.begin()) return Error(ErrorCode::NO_AVAILABLE_HANDLE);
    block = std::prev(block);
    const uint64_t block_address = block->first;
    const uint64_t block_end = block->first + block->second;
    if (offset + rounded > block_end) return Error(ErrorCode::NO_AVAILABLE_HANDLE);
    EraseFreeBlock(block);
    if (offset > block_address) InsertFreeBlock(block_address, offset - block_address);
    if (offset + rounded < block_end)
        InsertFreeBlock(offset + rounded, block_end - offset - rounded);
    used_ += rounded;
    return OffsetAllocation{offset, rounded};
}

Status OffsetAllocator::Free(const OffsetAllocation& allocation) {
    const uint64_t address = allocation.offset;
    const uint64_t length = allocation.size;
    if (length == 0 || (length & (alignment_ - 1)) != 0 || (address & (alignment_ - 1)) != 0 ||
        !Contains(address) || length > capacity_ - (address - start_) || length > used_) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    const uint64_t end = address + length;

    // The free block at or after `address` must start at or after `end`, and
    // the one before must end at or before `address`: no overlap with free
    // space, so this really is (part of) an allocated range.
    auto next = free_by_address_.lower_bound(address);
    if (next != free_by_address_.end() && next->first < end) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto previous = next == free_by_address_.begin() ? free_by_address_.end() : std::prev(next);
    if (previous != free_by_address_.end() && previous->first + previous->second > address) {
        return Error(ErrorCode::INVALID_PARAMS);
    }

    uint64_t merged_address = address;
    uint64_t merged_length = length;
    if (previous != free_by_address_.end() && previous->first + previous->second == address) {
        merged_address = previous->first;
        merged_length += previous->second;
        EraseFreeBlock(previous);
    }
    if (next != free_by_address_.end() && next->first == end) {
        merged_length += next->second;
        EraseFreeBlock(next);
    }
    InsertFreeBlock(merged_address, merged_length);
    used_ -= length;
    return OkStatus();
}

}  // namespace mooncake
