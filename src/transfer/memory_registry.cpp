#include "transfer/memory_registry.h"

#include <mutex>

namespace mooncake {

Status MemoryRegistry::Add(RegisteredRegion region) {
    if (region.length == 0 || region.address + region.length < region.address) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    const uint64_t end = region.address + region.length;
    WriterLock lock(mutex_);
    // The first region starting at or after the new one must start at or
    // after its end; the one before must end at or before its start.
    auto next = regions_.lower_bound(region.address);
    if (next != regions_.end() && next->first < end) return Error(ErrorCode::INVALID_PARAMS);
    if (next != regions_.begin()) {
        auto prev = std::prev(next);
        if (prev->second.address + prev->second.length > region.address) {
            return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    regions_.emplace_hint(next, region.address, std::move(region));
    return OkStatus();
}

Result<RegisteredRegion> MemoryRegistry::Remove(uint64_t address) {
    WriterLock lock(mutex_);
    auto it = regions_.find(address);
    if (it == regions_.end()) return Error(ErrorCode::INVALID_PARAMS);
    RegisteredRegion region = std::move(it->second);
    regions_.erase(it);
    return region;
}

std::map<uint64_t, RegisteredRegion>::const_iterator MemoryRegistry::FindLocked(
    uint64_t address, uint64_t length) const {
    auto it = regions_.upper_bound(address);
    if (it == regions_.begin()) return regions_.end();
    --it;
    return it->second.Contains(address, length) ? it : regions_.end();
}

std::optional<RegisteredRegion> MemoryRegistry::Find(uint64_t address, uint64_t length) const {
    ReaderLock lock(mutex_);
    auto it = FindLocked(address, length);
    if (it == regions_.end()) return std::nullopt;
    return it->second;
}

bool MemoryRegistry::IsRemotelyAccessible(uint64_t address, uint64_t length) const {
    ReaderLock lock(mutex_);
    auto it = FindLocked(address, length);
    return it != regions_.end() && it->second.remote_accessible;
}

bool MemoryRegistry::Contains(uint64_t address, uint64_t length) const {
    ReaderLock lock(mutex_);
    return FindLocked(address, length) != regions_.end();
}

std::vector<SegmentRange> MemoryRegistry::RemoteRanges() const {
    ReaderLock lock(mutex_);
    std::vector<SegmentRange> ranges;
    for (const auto& [start, region] : regions_) {
        if (!region.remote_accessible) continue;
        SegmentRange range;
        range.address = region.address;
        range.length = region.length;
        range.shm = region.shm;
        range.transports = region.transports;
        ranges.push_back(std::move(range));
    }
    return ranges;
}

std::vector<RegisteredRegion> MemoryRegistry::All() const {
    ReaderLock lock(mutex_);
    std::vector<RegisteredRegion> all;
    all.reserve(regions_.size());
    for (const auto& [start, region] : regions_) all.push_back(region);
    return all;
}

void MemoryRegistry::Clear() {
    WriterLock lock(mutex_);
    regions_.clear();
}

size_t MemoryRegistry::size() const {
    ReaderLock lock(mutex_);
    return regions_.size();
}

}  // namespace mooncake
