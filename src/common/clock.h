// Time sources. The master's logic takes a Clock so that tests can move time
// by hand instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace mooncake {

class Clock {
   public:
    virtual ~Clock() = default;
    // Monotonic milliseconds; only differences are meaningful.
    virtual int64_t NowMs() const = 0;
    // The same monotonic clock in microseconds: leases are timed with it,
    // because a millisecond tick would let a lease granted late in a tick
    // end up to a millisecond early.
    virtual int64_t NowUs() const = 0;
    // Milliseconds since the Unix epoch, for timestamps shown to users.
    virtual int64_t EpochMs() const = 0;
};

class SystemClock final : public Clock {
   public:
    int64_t NowMs() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    int64_t NowUs() const override {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    int64_t EpochMs() const override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    static std::shared_ptr<Clock> Instance() {
        static const std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
        return clock;
    }
};

// A clock that only moves when told to.
class ManualClock final : public Clock {
   public:
    explicit ManualClock(int64_t start_ms = 1'000'000) : now_ms_(start_ms) {}
    int64_t NowMs() const override { return now_ms_.load(); }
    int64_t NowUs() const override { return now_ms_.load() * 1000; }
    int64_t EpochMs() const override { return 1'700'000'000'000 + now_ms_.load(); }
    void AdvanceMs(int64_t delta_ms) { now_ms_.fetch_add(delta_ms); }

   private:
    std::atomic<int64_t> now_ms_;
};

// Monotonic microseconds for latency measurements.
inline int64_t NowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace mooncake
