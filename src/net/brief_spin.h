// Busy-polling a socket for a short while before blocking on it.
//
// A thread that sleeps in poll()/recv() and is woken by a peer running on
// another CPU pays that CPU's wake-up, which on virtual machines is 25-50 µs:
// more than a whole master call takes. Measured on a 2-vCPU VM, a 4 KiB get
// (one master round trip) took 68 µs with both ends sleeping and 14 µs with
// both ends spinning for up to 50 µs (docs/performance.md, "Brief spins").
//
// So the framed RPC client spins while it waits for a response, and the
// framed RPC server while it waits for a connection's next request (the
// transfer engine's TCP client and server alike), but only where spinning
// pays. Waits are predicted per context, what the waiter did
// before it: the kind of request sent (client) or answered (server). After
// answering a PutStart the server waits for the client's data transfer,
// after a PutEnd only for the client's next call. A wait is spun only when
// at least three in four of the recent spun waits in its context ended
// within the budget (and, once in a while, to find out whether they would
// again). A spin that runs out takes a CPU from whoever the waiter waits
// for, so a context whose waits only sometimes end in time is not spun. An
// idle connection or a slow call costs no CPU, and at most half of the
// machine's CPUs (at least one) spin at once in one process. Servers also
// skip the spin while another of their connections is being served
// (ServingCount below).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace mooncake::net {

class BriefSpin {
   public:
    // A zero budget never spins.
    explicit BriefSpin(std::chrono::microseconds budget) : budget_ns_(budget.count() * 1000) {}

    // What the next wait follows (see above); contexts share slots modulo
    // kContexts. Stays until set again.
    void Expect(uint32_t context) { current_ = &history_[context % kContexts]; }

    // Call when `fd` has nothing to read yet, before blocking on it. Spins
    // when that is worth it; true when `fd` became readable meanwhile.
    bool Spin(int fd);

    // Call when the awaited bytes have arrived, after Spin and whatever
    // blocking wait followed it. No-op without a Spin before.
    void Arrived();

    // This process's budget: MC_RPC_SPIN_US (microseconds, 0 switches
    // spinning off, at most kMaxSpin), else kDefaultRpcSpin. Read once.
    static std::chrono::microseconds ProcessBudget();

   private:
    static constexpr uint32_t kContexts = 64;
    struct History {
        // Of the recent spun waits, the share that ended within the budget
        // (an exponential average, 1 << 16 = all); starts at "all".
        uint32_t hit_share = 1u << 16;
        uint32_t skipped = 0;  // waits not spun since the last spun one
    };

    int64_t budget_ns_;
    std::array<History, kContexts> history_{};
    History* current_ = &history_[0];
    History* waiting_ = nullptr;  // the context of the wait in progress
    bool spun_ = false;           // whether that wait was spun
    int64_t wait_started_ns_ = 0;
};

// Counts a request in a server's "serving now" counter while it lives. A
// server's idle connections spin for their next request only while that
// counter is 0: when others are being served, their threads need the CPUs.
class ServingCount {
   public:
    explicit ServingCount(std::atomic<int>& count) : count_(count) { count_.fetch_add(1); }
    ~ServingCount() { count_.fetch_sub(1); }
    ServingCount(const ServingCount&) = delete;
    ServingCount& operator=(const ServingCount&) = delete;

   private:
    std::atomic<int>& count_;
};

// What the framed RPC client and server spin by default, and at most.
inline constexpr std::chrono::microseconds kDefaultRpcSpin{50};
inline constexpr std::chrono::microseconds kMaxSpin{10'000};

}  // namespace mooncake::net
