// Which objects that live only on a client's disk go back to memory
// (--promotion_on_hit; docs/ssd_offload.md).
//
// Every read the master answers from disk alone is counted in a count-min
// sketch (a few rows of small saturating counters, halved every so many
// reads so that old popularity fades). Once a key's estimate reaches the
// admission threshold, a promotion is queued for the client whose disk
// holds it; that client takes its promotions with its offload heartbeat,
// reads the file and puts the bytes back into the memory pool. A key is
// queued once at a time; the queues together hold at most `queue_limit`.
//
// A key handed out stays claimable, once, by its client until that client's
// next Take: its PutStart of the key (which otherwise exists, on disk) is the
// promotion, and Claim tells the master so. Until that Take the key is not
// queued again, however often it is read meanwhile.
//
// Thread-safe; a leaf lock.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "mooncake/types.h"

namespace mooncake {

class PromotionQueue {
   public:
    PromotionQueue(uint32_t admission_threshold, size_t queue_limit);

    // A read of `key` served from `holder`'s disk. True when it queued a
    // promotion of the key for that client.
    bool RecordDiskRead(const std::string& key, const UUID& holder);
    // Up to `max` queued promotions of `client`, oldest first.
    std::vector<std::string> Take(const UUID& client, size_t max);
    // The client's disk is gone: its queue goes too.
    void Forget(const UUID& client);
    // True once when `client` puts a key it was handed by its latest Take.
    // Lock-free while nothing is handed out (it sits on PutStart's path).
    bool Claim(const std::string& key, const UUID& client);

    size_t queued() const;
    uint64_t admitted() const;
    uint64_t rejected() const;  // admitted while the queues were full

   private:
    static constexpr size_t kRows = 4;
    static constexpr size_t kColumns = 16384;  // a power of two
    // After this many reads every counter is halved: between two halvings a
    // counter sees about half a colliding read on average, so a key read
    // once rarely looks read twice.
    static constexpr uint64_t kAgingPeriod = kColumns / 2;

    // Increments the key's counters (conservative update) and returns the
    // new estimate. Caller holds mutex_.
    uint32_t CountLocked(const std::string& key) MC_REQUIRES(mutex_);
    void ForgetHandedOutLocked(const UUID& client) MC_REQUIRES(mutex_);

    const uint32_t threshold_;
    const size_t queue_limit_;
    mutable Mutex mutex_;
    std::array<std::array<uint8_t, kColumns>, kRows> sketch_ MC_GUARDED_BY(mutex_){};
    uint64_t reads_since_aging_ MC_GUARDED_BY(mutex_) = 0;
    std::unordered_map<UUID, std::deque<std::string>, UUIDHash> queues_ MC_GUARDED_BY(mutex_);
    std::unordered_set<std::string> queued_keys_ MC_GUARDED_BY(mutex_);
    struct HandedOut {
        UUID client;
        bool claimed;
    };
    std::unordered_map<std::string, HandedOut> handed_out_ MC_GUARDED_BY(mutex_);
    std::atomic<size_t> handed_out_count_{0};  // handed_out_.size(), read unlocked
    uint64_t admitted_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t rejected_ MC_GUARDED_BY(mutex_) = 0;
};

}  // namespace mooncake
