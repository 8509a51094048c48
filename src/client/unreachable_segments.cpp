#include "client/unreachable_segments.h"

#include <algorithm>

namespace mooncake {

void UnreachableSegments::DropExpiredLocked(Clock::time_point now) const {
    std::erase_if(entries_, [now](const auto& entry) { return entry.second <= now; });
    size_hint_.store(entries_.size(), std::memory_order_relaxed);
}

void UnreachableSegments::Add(const std::string& name) {
    const Clock::time_point now = Clock::now();
    MutexLock lock(mutex_);
    DropExpiredLocked(now);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const auto& entry) { return entry.first == name; });
    if (it != entries_.end()) {
        it->second = now + memory_;
        return;
    }
    if (entries_.size() >= kMaxEntries) {
        entries_.erase(
            std::min_element(entries_.begin(), entries_.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; }));
    }
    entries_.emplace_back(name, now + memory_);
    size_hint_.store(entries_.size(), std::memory_order_relaxed);
}

std::vector<std::string> UnreachableSegments::Current() const {
    if (size_hint_.load(std::memory_order_relaxed) == 0) return {};
    MutexLock lock(mutex_);
    DropExpiredLocked(Clock::now());
    std::vector<std::string> names;
    names.reserve(entries_.size());
    for (const auto& entry : entries_) names.push_back(entry.first);
    return names;
}

bool UnreachableSegments::Contains(std::string_view name) const {
    if (size_hint_.load(std::memory_order_relaxed) == 0) return false;
    MutexLock lock(mutex_);
    DropExpiredLocked(Clock::now());
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const auto& entry) { return entry.first == name; });
}

}  // namespace mooncake
