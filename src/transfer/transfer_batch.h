// A batch: a fixed number of request slots, filled by SubmitTransfer and
// completed by transports from any thread. Waiting is a condition variable
// touched only when a waiter may be sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "common/mutex.h"
#include "mooncake/result.h"
#include "mooncake/transfer_engine.h"

namespace mooncake {

// Largest capacity AllocateBatch accepts.
inline constexpr size_t kMaxBatchCapacity = 1u << 20;

class TransferBatch {
   public:
    // `caller_waits`: the submitting thread blocks on the result anyway
    // (TransferSync), so transports may do the work on it; an asynchronous
    // batch must never block its submitter on a peer.
    TransferBatch(size_t capacity, bool caller_waits);

    size_t capacity() const { return capacity_; }
    bool caller_waits() const { return caller_waits_; }
    size_t submitted() const { return submitted_.load(std::memory_order_acquire); }

    // Claims `count` slots; returns the index of the first. INVALID_PARAMS
    // when they do not fit (nothing claimed then).
    Result<size_t> Reserve(size_t count);

    // Ends request `index`: COMPLETED with `bytes` on OK, FAILED otherwise.
    void Complete(size_t index, ErrorCode code, size_t bytes);

    TransferStatus StatusOf(size_t index) const;

    // Blocks until every reserved slot ended or `deadline`; true when all
    // ended.
    bool WaitUntil(std::chrono::steady_clock::time_point deadline);
    // The first failure among reserved slots in index order, or OK.
    ErrorCode FirstError() const;

    // Asks transports to drop work not started yet (see TransferTask).
    void Cancel() { cancelled_.store(true); }
    const std::atomic<bool>* cancelled_flag() const { return &cancelled_; }
    bool idle() const { return pending_.load(std::memory_order_acquire) == 0; }

   private:
    struct Slot {
        std::atomic<uint8_t> state{static_cast<uint8_t>(TransferState::PENDING)};
        std::atomic<int32_t> error{0};
        std::atomic<uint64_t> bytes{0};
    };

    const size_t capacity_;
    const bool caller_waits_;
    std::unique_ptr<Slot[]> slots_;
    std::atomic<size_t> submitted_{0};
    std::atomic<size_t> pending_{0};
    std::atomic<bool> cancelled_{false};
    Mutex mutex_;
    CondVar done_;
};

}  // namespace mooncake
