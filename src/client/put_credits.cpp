#include "client/put_credits.h"

#include <glog/logging.h>

#include <algorithm>

#include "common/env.h"

namespace mooncake {

namespace {

using namespace std::chrono_literals;

// Each grant doubles from PutCredits::kFirstGrant, up to about 1 MiB of
// values (and PutCreditTable's bounds) per grant.
constexpr uint64_t kGrantBytes = 1 << 20;
constexpr size_t kMaxGrant = 256;
// Sizes kept in stock at once; beyond that the smallest size's stock goes.
constexpr size_t kMaxStocks = 8;
// After a grant fell short (no space), the PutStart path for a while: it
// evicts and reports the shortage itself.
constexpr auto kRetryAfterShortage = 50ms;
// After the master refused credits altogether (flag, HA, snapshots).
constexpr auto kRetryAfterRefusal = 10s;
// Released in one call once this many wait; at most this many per call
// (GrantPutCredits refuses more).
constexpr size_t kReleaseBatch = 64;
constexpr size_t kMaxRelease = 1024;

size_t GrantCap(uint64_t size) {
    return static_cast<size_t>(std::clamp<uint64_t>(kGrantBytes / size, 1, kMaxGrant));
}

}  // namespace

PutCredits::PutCredits(MasterClient* master, UUID client_id)
    : master_(master), client_id_(client_id), enabled_(GetEnvBool("MC_PUT_CREDITS", true)) {}

bool PutCredits::Eligible(uint64_t size, const ReplicateConfig& config) const {
    return enabled_ && size > 0 && size <= kMaxCreditedSize && !config.upsert &&
           config.replica_num >= 1 && config.preferred_segment.empty() &&
           config.preferred_segments.empty() && config.excluded_segments.empty();
}

void PutCredits::CollectExpiredLocked(Clock::time_point now, bool all) {
    for (auto it = stocks_.begin(); it != stocks_.end();) {
        std::vector<Credit>& credits = it->second.credits;
        const auto live = all ? credits.end()
                              : std::find_if(credits.begin(), credits.end(),
                                             [&](const Credit& c) { return c.usable_until > now; });
        if (live != credits.begin()) {
            for (auto c = credits.begin(); c != live; ++c) to_release_.push_back(c->id);
            credits.erase(credits.begin(), live);
            // Demand did not keep up with the grants: ask for fewer.
            it->second.next_grant = kFirstGrant;
        }
        // An empty stock keeps its grant size for the next put of its size.
        it = all ? stocks_.erase(it) : std::next(it);
    }
}

std::vector<PutCredits::Credit> PutCredits::Take(uint64_t size, size_t replica_num, size_t count) {
    std::vector<Credit> taken;
    std::vector<uint64_t> release;
    size_t ask = 0;
    {
        MutexLock lock(mutex_);
        const Clock::time_point now = Clock::now();
        if (now < refused_until_) return taken;
        CollectExpiredLocked(now, /*all=*/false);
        if (stocks_.size() >= kMaxStocks && !stocks_.contains({size, replica_num})) {
            auto smallest = stocks_.begin();
            for (const Credit& credit : smallest->second.credits) to_release_.push_back(credit.id);
            stocks_.erase(smallest);
        }
        Stock& stock = stocks_[{size, replica_num}];
        const size_t from_stock = std::min(count, stock.credits.size());
        std::move(stock.credits.begin(), stock.credits.begin() + from_stock,
                  std::back_inserter(taken));
        stock.credits.erase(stock.credits.begin(), stock.credits.begin() + from_stock);
        if (taken.size() < count && now >= stock.retry_after) {
            ask = std::min(std::max(count - taken.size(), stock.next_grant), kMaxGrant);
            stock.next_grant = std::min(stock.next_grant * 2, GrantCap(size));
        }
        if (ask > 0 || to_release_.size() >= kReleaseBatch) TakeReleases(release);
    }
    if (ask == 0 && release.empty()) return taken;
    const Clock::time_point asked_at = Clock::now();
    auto grant = master_->GrantPutCredits(client_id_, size, ask, replica_num, release);
    MutexLock lock(mutex_);
    if (!grant) {
        // The master processes releases first, so only a failed call may
        // have lost them: sent again (unknown ids are skipped), at most
        // PutCreditTable::kMaxPerClient; beyond that the master reclaims
        // them after put_start_release_timeout_sec.
        if (grant.error() == ErrorCode::RPC_FAIL) Requeue(std::move(release));
        if (grant.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS) {
            refused_until_ = asked_at + kRetryAfterRefusal;
            VLOG(1) << "The master grants no put credits; puts use PutStart";
        } else if (ask > 0) {
            stocks_[{size, replica_num}].retry_after = asked_at + kRetryAfterShortage;
        }
        return taken;
    }
    // Leave a margin for the write itself to begin.
    const auto window = std::chrono::milliseconds(grant->usable_ms);
    const auto usable_until = asked_at + window - std::min<Clock::duration>(100ms, window / 4);
    Stock& stock = stocks_[{size, replica_num}];
    // Nothing granted (this client holds the most it may): not asked again at once.
    if (grant->credits.empty()) stock.retry_after = asked_at + kRetryAfterShortage;
    for (PutCredit& granted : grant->credits) {
        Credit credit{granted.id, std::move(granted.replicas), usable_until};
        if (taken.size() < count) {
            taken.push_back(std::move(credit));
        } else {
            stock.credits.push_back(std::move(credit));
        }
    }
    return taken;
}

void PutCredits::GiveBack(uint64_t size, size_t replica_num, Credit credit) {
    MutexLock lock(mutex_);
    std::vector<Credit>& credits = stocks_[{size, replica_num}].credits;
    const auto at = std::lower_bound(
        credits.begin(), credits.end(), credit.usable_until,
        [](const Credit& held, Clock::time_point until) { return held.usable_until < until; });
    credits.insert(at, std::move(credit));
}

void PutCredits::Requeue(std::vector<uint64_t> ids) {
    to_release_.insert(to_release_.end(), ids.begin(), ids.end());
    if (to_release_.size() > kMaxRelease) {
        to_release_.erase(to_release_.begin(), to_release_.end() - kMaxRelease);
    }
}

void PutCredits::Discard(uint64_t id) {
    MutexLock lock(mutex_);
    to_release_.push_back(id);
}

void PutCredits::DropAll() {
    MutexLock lock(mutex_);
    CollectExpiredLocked(Clock::now(), /*all=*/true);
}

void PutCredits::ReleaseExpired() {
    {
        MutexLock lock(mutex_);
        CollectExpiredLocked(Clock::now(), /*all=*/false);
    }
    Flush();
}

void PutCredits::ReleaseAll() {
    DropAll();
    Flush();
}

void PutCredits::TakeReleases(std::vector<uint64_t>& release) {
    const size_t n = std::min(to_release_.size(), kMaxRelease);
    release.assign(to_release_.end() - n, to_release_.end());
    to_release_.resize(to_release_.size() - n);
}

void PutCredits::Flush() {
    std::vector<uint64_t> release;
    {
        MutexLock lock(mutex_);
        TakeReleases(release);
    }
    if (release.empty()) return;
    auto released = master_->GrantPutCredits(client_id_, 1, 0, 1, release);
    if (!released) {
        LOG(WARNING) << "Releasing " << release.size()
                     << " put credits failed: " << ErrorCodeName(released.error())
                     << " (the master reclaims them after put_start_release_timeout_sec)";
        MutexLock lock(mutex_);
        if (released.error() == ErrorCode::RPC_FAIL) Requeue(std::move(release));
    }
}

}  // namespace mooncake
