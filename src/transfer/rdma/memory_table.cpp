#include "transfer/rdma/memory_table.h"

#include <mutex>

namespace mooncake::rdma {

Status MemoryRegionTable::Add(uint64_t address, uint64_t length,
                              std::vector<std::unique_ptr<MemoryRegion>> regions) {
    if (length == 0 || address + length < address) return Error(ErrorCode::INVALID_PARAMS);
    WriterLock lock(mutex_);
    auto next = entries_.lower_bound(address);
    if (next != entries_.end() && next->first < address + length) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (next != entries_.begin()) {
        auto previous = std::prev(next);
        if (previous->first + previous->second.length > address) {
            return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    entries_.emplace(address, Entry{length, std::move(regions)});
    return OkStatus();
}

std::vector<std::unique_ptr<MemoryRegion>> MemoryRegionTable::Remove(uint64_t address) {
    WriterLock lock(mutex_);
    auto it = entries_.find(address);
    if (it == entries_.end()) return {};
    std::vector<std::unique_ptr<MemoryRegion>> regions = std::move(it->second.regions);
    entries_.erase(it);
    return regions;
}

std::vector<std::unique_ptr<MemoryRegion>> MemoryRegionTable::RemoveAll() {
    WriterLock lock(mutex_);
    std::vector<std::unique_ptr<MemoryRegion>> all;
    for (auto& [address, entry] : entries_) {
        for (auto& region : entry.regions) all.push_back(std::move(region));
    }
    entries_.clear();
    return all;
}

bool MemoryRegionTable::FindLocalKeys(uint64_t address, uint64_t length,
                                      std::vector<uint32_t>* lkeys) const {
    ReaderLock lock(mutex_);
    auto it = entries_.upper_bound(address);
    if (it == entries_.begin()) return false;
    --it;
    const uint64_t offset = address - it->first;
    if (offset >= it->second.length || length > it->second.length - offset) return false;
    lkeys->clear();
    for (const auto& region : it->second.regions) lkeys->push_back(region->lkey());
    return true;
}

size_t MemoryRegionTable::size() const {
    ReaderLock lock(mutex_);
    return entries_.size();
}

}  // namespace mooncake::rdma
