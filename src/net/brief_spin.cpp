#include "net/brief_spin.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>

#include "common/env.h"

namespace mooncake::net {

namespace {

// A waiter that has not spun for this many waits spins once more, to find
// out whether the peer has become fast again.
constexpr uint32_t kProbeEvery = 16;
// Spin while at least this share (of 1 << 16) of spun waits ended in time;
// each wait moves the share 1/8 of the way toward 0 or 1.
constexpr uint32_t kMinHitShare = 3u << 14;
constexpr uint32_t kFullShare = 1u << 16;
constexpr int kShareShift = 3;

int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Spinning threads of this process: spinners beyond half the CPUs would
// take the CPUs from the threads they wait for.
std::atomic<int> spinners{0};

int MaxSpinners() {
    static const int limit = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
    return limit;
}

bool TakeSpinSlot() {
    int now = spinners.load(std::memory_order_relaxed);
    while (now < MaxSpinners()) {
        if (spinners.compare_exchange_weak(now, now + 1, std::memory_order_acquire)) return true;
    }
    return false;
}

}  // namespace

bool BriefSpin::Spin(int fd) {
    if (budget_ns_ <= 0) return false;  // Arrived() stays a no-op
    const int64_t started = NowNs();
    wait_started_ns_ = started;
    waiting_ = current_;
    spun_ = false;
    History& history = *current_;
    const bool worth_it = history.hit_share >= kMinHitShare || ++history.skipped >= kProbeEvery;
    if (!worth_it || !TakeSpinSlot()) return false;
    history.skipped = 0;
    spun_ = true;
    bool readable = false;
    do {
        pollfd entry{fd, POLLIN, 0};
        const int rc = ::poll(&entry, 1, 0);
        if (rc > 0 || (rc < 0 && errno != EINTR)) {
            // An error is for the caller's own read to report.
            readable = true;
            break;
        }
    } while (NowNs() - started < budget_ns_);
    spinners.fetch_sub(1, std::memory_order_release);
    return readable;
}

void BriefSpin::Arrived() {
    if (waiting_ == nullptr) return;
    History& history = *waiting_;
    waiting_ = nullptr;
    const bool in_time = NowNs() - wait_started_ns_ < budget_ns_;
    // A wait that was not spun says something only when it was short
    // anyway: a long one includes the wake-up that spinning would save.
    if (!spun_ && !in_time) return;
    if (in_time) {
        history.hit_share += (kFullShare - history.hit_share) >> kShareShift;
    } else {
        history.hit_share -= history.hit_share >> kShareShift;
    }
}

std::chrono::microseconds BriefSpin::ProcessBudget() {
    static const std::chrono::microseconds budget = [] {
        const auto value =
            GetEnvInteger("MC_RPC_SPIN_US", 0, static_cast<uint64_t>(kMaxSpin.count()));
        return value ? std::chrono::microseconds(static_cast<int64_t>(*value)) : kDefaultRpcSpin;
    }();
    return budget;
}

}  // namespace mooncake::net
