#include "master/deferred_free_list.h"

#include <algorithm>

namespace mooncake {

void DeferredFreeList::Add(const DeferredFree& entry) {
    MutexLock lock(mutex_);
    entries_.push_back(entry);
}

std::vector<DeferredFree> DeferredFreeList::TakeDue(int64_t now_ms) {
    MutexLock lock(mutex_);
    auto first_due = std::partition(entries_.begin(), entries_.end(),
                                    [now_ms](const auto& e) { return e.release_at_ms > now_ms; });
    std::vector<DeferredFree> due(first_due, entries_.end());
    entries_.erase(first_due, entries_.end());
    return due;
}

size_t DeferredFreeList::size() const {
    MutexLock lock(mutex_);
    return entries_.size();
}

uint64_t DeferredFreeList::pending_bytes() const {
    MutexLock lock(mutex_);
    uint64_t total = 0;
    for (const DeferredFree& entry : entries_) total += entry.size;
    return total;
}

}  // namespace mooncake
