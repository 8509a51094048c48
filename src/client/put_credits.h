// The client's side of put credits (master/put_credit_table.h): space the
// master granted ahead of small puts, kept per value size, so that a put
// writes its value straight away and publishes it with one master call.
//
// A credit may only be written to within the window the master named
// (PutCreditGrant::usable_ms, counted from when the grant was asked for):
// after a master restart, the segments it lies in stay fenced longer than
// that, so a stale credit is never written over space the new master gave
// to someone else. Credits not used in time are released; all are
// released on Close. Thread-safe; no lock is held across a master call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "client/master_client.h"
#include "common/mutex.h"
#include "mooncake/types.h"

namespace mooncake {

class PutCredits {
   public:
    using Clock = std::chrono::steady_clock;

    // Values above this go the PutStart way: credits pay off for small ones.
    static constexpr uint64_t kMaxCreditedSize = 64 * 1024;
    // Credits asked for the first time a size is put (and again after
    // credits expired unused): a client putting one value reserves little.
    static constexpr size_t kFirstGrant = 4;

    struct Credit {
        uint64_t id = 0;
        std::vector<ReplicaDescriptor> replicas;
        Clock::time_point usable_until;
    };

    PutCredits(MasterClient* master, UUID client_id);
    PutCredits(const PutCredits&) = delete;
    PutCredits& operator=(const PutCredits&) = delete;

    // Whether a put of `size` bytes with `config` may use a credit: small,
    // and placed without preferences or exclusions (credits are placed
    // like a plain PutStart); never an upsert. MC_PUT_CREDITS=0 turns
    // credits off.
    bool Eligible(uint64_t size, const ReplicateConfig& config) const;
    // Up to `count` credits for values of `size` bytes with `replica_num`
    // replicas, asking the master for more when short. Fewer, possibly
    // none, when the master grants fewer or refuses.
    std::vector<Credit> Take(uint64_t size, size_t replica_num, size_t count);
    // A credit Take returned that was not used (its commit found the key
    // taken): kept for the next put of that size while usable.
    void GiveBack(uint64_t size, size_t replica_num, Credit credit);
    // A credit that must not be used again: the master frees it.
    void Discard(uint64_t id);
    // The master may not know our credits (it restarted, or reclaimed
    // them): none is used again; all are released (unknown ids are
    // skipped by the master).
    void DropAll();
    // Releases credits whose window has passed (called periodically).
    void ReleaseExpired();
    // Releases everything held (before the client leaves).
    void ReleaseAll();

   private:
    struct Stock {
        std::vector<Credit> credits;      // usable_until ascending
        size_t next_grant = kFirstGrant;  // credits to ask for next time
        Clock::time_point retry_after;
    };
    using StockKey = std::pair<uint64_t, size_t>;  // size, replica_num

    // Moves credits past their window (all when `all`) to to_release_.
    void CollectExpiredLocked(Clock::time_point now, bool all) MC_REQUIRES(mutex_);
    // Sends to_release_ (with nothing granted) when it holds any.
    void Flush();
    // Moves up to kMaxRelease ids of to_release_ into `release`.
    void TakeReleases(std::vector<uint64_t>& release) MC_REQUIRES(mutex_);
    // Puts ids whose release call failed back into to_release_ (bounded).
    void Requeue(std::vector<uint64_t> ids) MC_REQUIRES(mutex_);

    MasterClient* const master_;
    const UUID client_id_;
    const bool enabled_;

    Mutex mutex_;
    std::map<StockKey, Stock> stocks_ MC_GUARDED_BY(mutex_);
    std::vector<uint64_t> to_release_ MC_GUARDED_BY(mutex_);
    Clock::time_point refused_until_ MC_GUARDED_BY(mutex_);  // credits off at the master
};

}  // namespace mooncake
