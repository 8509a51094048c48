#include "master/segment_pool.h"

#include <glog/logging.h>

#include <algorithm>

#include "master/change_log.h"

namespace mooncake {

SegmentPool::Segment::Segment(uint32_t segment_id, const UUID& owner, const SegmentInfo& segment)
    : id(segment_id),
      client(owner),
      info(segment),
      allocator(segment.base, segment.size),
      capacity(allocator.capacity()),
      alignment(allocator.alignment()) {}

SegmentPool::ReadView::ReadView(const SegmentPool& pool) : pool_(pool), lock_(pool.mutex_) {}

const std::vector<SegmentPool::Segment*>* SegmentPool::ReadView::FindByName(
    std::string_view name) const {
    pool_.mutex_.AssertReaderHeld();
    // Heterogeneous lookup needs C++20 transparent hashing; names are short,
    // so a temporary string is cheap enough here.
    auto it = pool_.by_name_.find(std::string(name));
    return it == pool_.by_name_.end() ? nullptr : &it->second;
}

SegmentPool::Segment* SegmentPool::ReadView::Find(uint32_t id) const {
    pool_.mutex_.AssertReaderHeld();
    auto it = pool_.all_.find(id);
    return it == pool_.all_.end() ? nullptr : it->second.get();
}

SegmentPool::Segment* SegmentPool::ReadView::FindActive(uint32_t id) const {
    Segment* segment = Find(id);
    return segment != nullptr && !segment->retiring ? segment : nullptr;
}

std::optional<uint64_t> SegmentPool::ReadView::Allocate(Segment& segment, uint64_t size) const {
    if (!segment.TakesNewObjects()) return std::nullopt;
    Result<OffsetAllocation> allocation;
    {
        MutexLock lock(segment.mutex);
        allocation = segment.allocator.Allocate(size);
        if (!allocation) return std::nullopt;
        segment.used.store(segment.allocator.used_bytes(), std::memory_order_relaxed);
    }
    pool_.used_total_.fetch_add(allocation->size, std::memory_order_relaxed);
    return allocation->offset;
}

bool SegmentPool::ReadView::AllocateAt(Segment& segment, uint64_t address, uint64_t size) const {
    Result<OffsetAllocation> allocation;
    {
        MutexLock lock(segment.mutex);
        allocation = segment.allocator.AllocateAt(address, size);
        if (!allocation) return false;
        segment.used.store(segment.allocator.used_bytes(), std::memory_order_relaxed);
    }
    pool_.used_total_.fetch_add(allocation->size, std::memory_order_relaxed);
    return true;
}

SegmentPool::Segment* SegmentPool::ReadView::FindByUuid(const UUID& segment_id) const {
    pool_.mutex_.AssertReaderHeld();
    auto it = pool_.by_uuid_.find(segment_id);
    return it == pool_.by_uuid_.end() ? nullptr : it->second;
}

void SegmentPool::ReadView::Free(uint32_t segment_id, uint64_t address, uint64_t size) const {
    if (pool_.log_ != nullptr) {
        pool_.log_->HoldFree(segment_id, address, size);
        return;
    }
    FreeNow(segment_id, address, size);
}

void SegmentPool::ReadView::MarkReserved(uint32_t segment_id, uint64_t size, bool held) const {
    Segment* segment = FindActive(segment_id);
    if (segment == nullptr) return;
    const uint64_t bytes = RoundUpToAlignment(size, segment->alignment);
    if (held) {
        segment->reserved.fetch_add(bytes, std::memory_order_relaxed);
        pool_.reserved_total_.fetch_add(bytes, std::memory_order_relaxed);
    } else {
        segment->reserved.fetch_sub(bytes, std::memory_order_relaxed);
        pool_.reserved_total_.fetch_sub(bytes, std::memory_order_relaxed);
    }
}

void SegmentPool::ReadView::FreeNow(uint32_t segment_id, uint64_t address, uint64_t size) const {
    // A retiring segment left the totals when it was retired.
    Segment* segment = Find(segment_id);
    if (segment == nullptr || segment->retiring) return;
    uint64_t freed = 0;
    {
        MutexLock lock(segment->mutex);
        const OffsetAllocation allocation{address, segment->allocator.RoundedSize(size)};
        if (!segment->allocator.Free(allocation)) {
            LOG(ERROR) << "Bad free of " << size << " bytes at " << address << " in segment "
                       << segment->info.name << " (" << segment->info.id.ToString()
                       << "): not an allocated range";
            return;
        }
        segment->used.store(segment->allocator.used_bytes(), std::memory_order_relaxed);
        freed = allocation.size;
    }
    // A retiring segment's bytes were taken out of the totals already.
    if (!segment->retiring) {
        pool_.used_total_.fetch_sub(freed, std::memory_order_relaxed);
    }
}

Status SegmentPool::Mount(const UUID& client, const SegmentInfo& info, bool fenced) {
    if (info.id.IsNil() || info.name.empty() || info.name.size() > kMaxNameLength ||
        info.base == 0 || info.size == 0 || info.base > UINT64_MAX - info.size) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    WriterLock lock(mutex_);
    if (by_uuid_.contains(info.id)) return Error(ErrorCode::SEGMENT_ALREADY_EXISTS);
    auto named = by_name_.find(info.name);
    if (named != by_name_.end()) {
        for (const Segment* other : named->second) {
            const bool disjoint = info.base + info.size <= other->info.base ||
                                  other->info.base + other->info.size <= info.base;
            if (!disjoint) return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    auto segment = std::make_unique<Segment>(next_id_, client, info);
    if (segment->capacity == 0) return Error(ErrorCode::INVALID_PARAMS);
    ++next_id_;
    segment->fenced.store(fenced, std::memory_order_relaxed);
    Segment* raw = segment.get();
    all_.emplace(raw->id, std::move(segment));
    active_.push_back(raw);
    by_uuid_.emplace(info.id, raw);
    by_name_[info.name].push_back(raw);
    capacity_total_.fetch_add(raw->capacity, std::memory_order_relaxed);
    if (log_ != nullptr) log_->NoteMembership();
    return OkStatus();
}

bool SegmentPool::LiftFence(const UUID& segment_id) {
    ReaderLock lock(mutex_);
    auto it = by_uuid_.find(segment_id);
    if (it == by_uuid_.end()) return false;
    it->second->fenced.store(false, std::memory_order_relaxed);
    return true;
}

Status SegmentPool::Drain(const UUID& client, const UUID& segment_id) {
    ReaderLock lock(mutex_);
    auto it = by_uuid_.find(segment_id);
    if (it == by_uuid_.end() || it->second->client != client) {
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    it->second->draining.store(true, std::memory_order_relaxed);
    return OkStatus();
}

std::optional<UUID> SegmentPool::MountedBy(const UUID& segment_id) const {
    ReaderLock lock(mutex_);
    auto it = by_uuid_.find(segment_id);
    if (it == by_uuid_.end()) return std::nullopt;
    return it->second->client;
}

void SegmentPool::RetireLocked(Segment& segment) {
    segment.retiring = true;
    active_.erase(std::find(active_.begin(), active_.end(), &segment));
    by_uuid_.erase(segment.info.id);
    auto named = by_name_.find(segment.info.name);
    if (named != by_name_.end()) {
        std::erase(named->second, &segment);
        if (named->second.empty()) by_name_.erase(named);
    }
    capacity_total_.fetch_sub(segment.capacity, std::memory_order_relaxed);
    used_total_.fetch_sub(segment.used.load(std::memory_order_relaxed), std::memory_order_relaxed);
    reserved_total_.fetch_sub(segment.reserved.load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
    if (log_ != nullptr) log_->NoteMembership();
}

Result<uint32_t> SegmentPool::Retire(const UUID& client, const UUID& segment_id) {
    WriterLock lock(mutex_);
    auto it = by_uuid_.find(segment_id);
    if (it == by_uuid_.end() || it->second->client != client) {
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    Segment* segment = it->second;
    RetireLocked(*segment);
    return segment->id;
}

std::vector<uint32_t> SegmentPool::RetireClient(const UUID& client) {
    WriterLock lock(mutex_);
    std::vector<Segment*> owned;
    for (Segment* segment : active_) {
        if (segment->client == client) owned.push_back(segment);
    }
    std::vector<uint32_t> ids;
    for (Segment* segment : owned) {
        RetireLocked(*segment);
        ids.push_back(segment->id);
    }
    return ids;
}

void SegmentPool::Forget(uint32_t id) {
    WriterLock lock(mutex_);
    auto it = all_.find(id);
    if (it != all_.end() && it->second->retiring) all_.erase(it);
}

std::vector<std::string> SegmentPool::Names() const {
    ReaderLock lock(mutex_);
    std::vector<std::string> names;
    names.reserve(by_name_.size());
    for (const auto& [name, segments] : by_name_) names.push_back(name);
    std::sort(names.begin(), names.end());
    return names;
}

uint64_t SegmentPool::ReportedUsed(const Segment& segment) {
    const uint64_t used = segment.used.load(std::memory_order_relaxed);
    return used - std::min(used, segment.reserved.load(std::memory_order_relaxed));
}

Result<std::pair<uint64_t, uint64_t>> SegmentPool::UsageOf(std::string_view name) const {
    ReaderLock lock(mutex_);
    auto it = by_name_.find(std::string(name));
    if (it == by_name_.end()) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    uint64_t used = 0;
    uint64_t capacity = 0;
    for (const Segment* segment : it->second) {
        used += ReportedUsed(*segment);
        capacity += segment->capacity;
    }
    return std::make_pair(used, capacity);
}

bool SegmentPool::ClientHasSegment(const UUID& client) const {
    ReaderLock lock(mutex_);
    return std::any_of(active_.begin(), active_.end(),
                       [&](const Segment* segment) { return segment->client == client; });
}

size_t SegmentPool::mounted_count() const {
    ReaderLock lock(mutex_);
    return active_.size();
}

}  // namespace mooncake
