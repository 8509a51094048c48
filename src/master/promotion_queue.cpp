#include "master/promotion_queue.h"

#include <algorithm>
#include <functional>

namespace mooncake {

namespace {

// Row `row`'s column for a key hash: one 64-bit hash split into
// independent-enough indices by a multiply-shift per row.
size_t ColumnOf(uint64_t hash, size_t row, size_t columns) {
    static constexpr uint64_t kMultipliers[] = {0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL,
                                                0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL};
    const uint64_t mixed = (hash ^ (hash >> 29)) * kMultipliers[row % 4];
    return static_cast<size_t>(mixed >> 40) & (columns - 1);
}

}  // namespace

PromotionQueue::PromotionQueue(uint32_t admission_threshold, size_t queue_limit)
    : threshold_(std::clamp<uint32_t>(admission_threshold, 1, 255)), queue_limit_(queue_limit) {}

uint32_t PromotionQueue::CountLocked(const std::string& key) {
    if (++reads_since_aging_ >= kAgingPeriod) {
        reads_since_aging_ = 0;
        for (auto& row : sketch_) {
            for (uint8_t& counter : row) counter = static_cast<uint8_t>(counter >> 1);
        }
    }
    const uint64_t hash = std::hash<std::string>{}(key);
    uint32_t estimate = 255;
    for (size_t row = 0; row < kRows; ++row) {
        estimate = std::min<uint32_t>(estimate, sketch_[row][ColumnOf(hash, row, kColumns)]);
    }
    // Conservative update: only the counters at the minimum grow, which
    // keeps collisions from inflating the estimate.
    const uint32_t next = std::min<uint32_t>(estimate + 1, 255);
    for (size_t row = 0; row < kRows; ++row) {
        uint8_t& counter = sketch_[row][ColumnOf(hash, row, kColumns)];
        if (counter < next) counter = static_cast<uint8_t>(next);
    }
    return next;
}

bool PromotionQueue::RecordDiskRead(const std::string& key, const UUID& holder) {
    MutexLock lock(mutex_);
    if (CountLocked(key) < threshold_ || queued_keys_.count(key) != 0) return false;
    // Handed out, its promotion may be under way (the put not yet ended):
    // until the client's next Take, reads of it do not queue it again.
    if (handed_out_.count(key) != 0) return false;
    if (queued_keys_.size() >= queue_limit_) {
        ++rejected_;
        return false;
    }
    queued_keys_.insert(key);
    queues_[holder].push_back(key);
    ++admitted_;
    return true;
}

std::vector<std::string> PromotionQueue::Take(const UUID& client, size_t max) {
    MutexLock lock(mutex_);
    // What the client was handed last time and did not put is no longer its
    // to claim (the client reads and puts its promotions before it asks again).
    ForgetHandedOutLocked(client);
    std::vector<std::string> taken;
    auto it = queues_.find(client);
    if (it == queues_.end()) return taken;
    std::deque<std::string>& queue = it->second;
    while (!queue.empty() && taken.size() < max) {
        queued_keys_.erase(queue.front());
        handed_out_[queue.front()] = HandedOut{client, /*claimed=*/false};
        taken.push_back(std::move(queue.front()));
        queue.pop_front();
    }
    if (queue.empty()) queues_.erase(it);
    handed_out_count_.store(handed_out_.size());
    return taken;
}

void PromotionQueue::ForgetHandedOutLocked(const UUID& client) {
    for (auto it = handed_out_.begin(); it != handed_out_.end();) {
        it = it->second.client == client ? handed_out_.erase(it) : std::next(it);
    }
    handed_out_count_.store(handed_out_.size());
}

bool PromotionQueue::Claim(const std::string& key, const UUID& client) {
    if (handed_out_count_.load() == 0) return false;
    MutexLock lock(mutex_);
    auto it = handed_out_.find(key);
    if (it == handed_out_.end() || it->second.client != client || it->second.claimed) return false;
    it->second.claimed = true;  // stays until the client's next Take
    return true;
}

void PromotionQueue::Forget(const UUID& client) {
    MutexLock lock(mutex_);
    ForgetHandedOutLocked(client);
    auto it = queues_.find(client);
    if (it == queues_.end()) return;
    for (const std::string& key : it->second) queued_keys_.erase(key);
    queues_.erase(it);
}

size_t PromotionQueue::queued() const {
    MutexLock lock(mutex_);
    return queued_keys_.size();
}

uint64_t PromotionQueue::admitted() const {
    MutexLock lock(mutex_);
    return admitted_;
}

uint64_t PromotionQueue::rejected() const {
    MutexLock lock(mutex_);
    return rejected_;
}

}  // namespace mooncake
