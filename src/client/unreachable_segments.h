// Peers this client failed to reach a moment ago. The master only drops a
// dead client's segment after client_ttl; until then it keeps placing
// replicas there. Remembering the failure lets puts exclude that segment
// and gets try its replicas last, so a dead or hung peer costs one failed
// transfer, not one per call. Entries expire, so a peer that comes back
// (or was only briefly unreachable) is used again soon after.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"

namespace mooncake {

class UnreachableSegments {
   public:
    using Clock = std::chrono::steady_clock;

    // How long a failure is remembered.
    static constexpr std::chrono::milliseconds kDefaultMemory{2000};
    // Most names remembered; the oldest entry makes room for a new one.
    static constexpr size_t kMaxEntries = 256;

    explicit UnreachableSegments(std::chrono::milliseconds memory = kDefaultMemory)
        : memory_(memory) {}

    // Remembers (or refreshes) a failure to reach `name`.
    void Add(const std::string& name);
    // The names whose failure is still remembered. Cheap when there are none.
    std::vector<std::string> Current() const;
    bool Contains(std::string_view name) const;

   private:
    void DropExpiredLocked(Clock::time_point now) const MC_REQUIRES(mutex_);

    const std::chrono::milliseconds memory_;
    mutable Mutex mutex_;
    // (name, forgotten at).
    mutable std::vector<std::pair<std::string, Clock::time_point>> entries_ MC_GUARDED_BY(mutex_);
    // entries_.size() as last seen, read without the lock by the fast path.
    mutable std::atomic<size_t> size_hint_{0};
};

}  // namespace mooncake
