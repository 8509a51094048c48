#include "master/change_log.h"

#include <algorithm>
#include <utility>

namespace mooncake {

ChangeLog::ChangeLog(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void ChangeLog::NoteKey(std::string_view key) {
    MutexLock lock(mutex_);
    ++notes_;
    dirty_.emplace_back(key);
}

void ChangeLog::NoteMembership() {
    MutexLock lock(mutex_);
    membership_stamp_ = ++notes_;
    membership_dirty_ = true;
}

void ChangeLog::HoldFree(uint32_t segment, uint64_t address, uint64_t size) {
    MutexLock lock(mutex_);
    // The key's note came first, so `notes_` counts it.
    held_.push_back({{segment, address, size}, notes_});
}

ChangeLog::Drained ChangeLog::Drain() {
    std::vector<std::string> keys;
    Drained drained;
    {
        MutexLock lock(mutex_);
        keys.swap(dirty_);
        drained.membership = std::exchange(membership_dirty_, false);
        drained.notes_upto = notes_;
    }
    // Distinct keys, in first-noted order (one record per key per flush).
    std::unordered_set<std::string_view> seen;
    drained.keys.reserve(keys.size());
    // Reserved: the views into drained.keys stay valid.
    for (std::string& key : keys) {
        if (seen.contains(key)) continue;
        drained.keys.push_back(std::move(key));
        seen.insert(drained.keys.back());
    }
    return drained;
}

uint64_t ChangeLog::Append(std::vector<ChangeRecord> records, uint64_t notes_upto) {
    MutexLock lock(mutex_);
    for (ChangeRecord& record : records) records_.push_back(std::move(record));
    version_ += records.size();
    while (records_.size() > capacity_) records_.pop_front();
    marks_.push_back({version_, notes_upto});
    return version_;
}

uint64_t ChangeLog::version() const {
    MutexLock lock(mutex_);
    return version_;
}

bool ChangeLog::HasNotes() const {
    MutexLock lock(mutex_);
    return !dirty_.empty() || membership_dirty_;
}

bool ChangeLog::Since(uint64_t base, size_t max, std::vector<ChangeRecord>* out,
                      uint64_t* upto) const {
    MutexLock lock(mutex_);
    const uint64_t first = version_ - records_.size();  // records_[0] is first + 1
    if (base < first || base > version_) return false;
    const uint64_t end = std::min<uint64_t>(version_, base + max);
    for (uint64_t v = base; v < end; ++v) out->push_back(records_[v - first]);
    *upto = end;
    return true;
}

uint64_t ChangeLog::CoveredLocked(uint64_t acked) const {
    uint64_t covered = covered_;
    for (const Mark& mark : marks_) {
        if (mark.version > acked) break;
        covered = std::max(covered, mark.notes_upto);
    }
    return covered;
}

std::vector<HeldFree> ChangeLog::Release(uint64_t acked) {
    MutexLock lock(mutex_);
    covered_ = CoveredLocked(acked);
    while (!marks_.empty() && marks_.front().version <= acked) marks_.pop_front();
    std::vector<HeldFree> due;
    while (!held_.empty() && held_.front().stamp <= covered_) {
        due.push_back(held_.front().free);
        held_.pop_front();
    }
    return due;
}

bool ChangeLog::MembershipPending(uint64_t acked) const {
    MutexLock lock(mutex_);
    return membership_stamp_ > CoveredLocked(acked);
}

size_t ChangeLog::held_frees() const {
    MutexLock lock(mutex_);
    return held_.size();
}

// ---- follower copy ------------------------------------------------------------

void ShadowState::Reset(const MasterStateImage& image) {
    segments_ = image.segments;
    keys_.clear();
    for (const MasterStateImage::Object& object : image.objects) {
        keys_[object.key].complete = object;
    }
    for (const MasterStateImage::Object& object : image.reserved) {
        keys_[object.key].reserved = object;
    }
}

void ShadowState::Apply(const ChangeRecord& record) {
    if (record.membership) {
        segments_ = record.segments;
        return;
    }
    if (!record.complete && !record.reserved) {
        keys_.erase(record.key);
        return;
    }
    keys_[record.key] = Entry{record.complete, record.reserved};
}

MasterStateImage ShadowState::ToImage() const {
    MasterStateImage image;
    image.segments = segments_;
    image.objects.reserve(keys_.size());
    for (const auto& [key, entry] : keys_) {
        if (entry.complete) image.objects.push_back(*entry.complete);
        if (entry.reserved) image.reserved.push_back(*entry.reserved);
    }
    return image;
}

}  // namespace mooncake
