#include "transfer/transfer_batch.h"

namespace mooncake {

TransferBatch::TransferBatch(size_t capacity, bool caller_waits)
    : capacity_(capacity),
      caller_waits_(caller_waits),
      slots_(std::make_unique<Slot[]>(capacity)) {}

Result<size_t> TransferBatch::Reserve(size_t count) {
    size_t first = submitted_.load();
    do {
        if (count > capacity_ - first) return Error(ErrorCode::INVALID_PARAMS);
    } while (!submitted_.compare_exchange_weak(first, first + count));
    pending_.fetch_add(count);
    return first;
}

void TransferBatch::Complete(size_t index, ErrorCode code, size_t bytes) {
    Slot& slot = slots_[index];
    slot.error.store(ToInt(code), std::memory_order_relaxed);
    slot.bytes.store(code == ErrorCode::OK ? bytes : 0, std::memory_order_relaxed);
    slot.state.store(static_cast<uint8_t>(code == ErrorCode::OK ? TransferState::COMPLETED
                                                                : TransferState::FAILED),
                     std::memory_order_release);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Taking the lock orders this notify after a waiter's predicate check.
        MutexLock lock(mutex_);
        done_.NotifyAll();
    }
}

TransferStatus TransferBatch::StatusOf(size_t index) const {
    const Slot& slot = slots_[index];
    TransferStatus status;
    status.state = static_cast<TransferState>(slot.state.load(std::memory_order_acquire));
    status.error = ErrorCodeFromInt(slot.error.load(std::memory_order_relaxed));
    status.transferred_bytes = slot.bytes.load(std::memory_order_relaxed);
    return status;
}

bool TransferBatch::WaitUntil(std::chrono::steady_clock::time_point deadline) {
    if (idle()) return true;
    MutexLock lock(mutex_);
    while (!idle()) {
        if (!done_.WaitUntil(lock, deadline)) return idle();
    }
    return true;
}

ErrorCode TransferBatch::FirstError() const {
    const size_t count = submitted();
    for (size_t i = 0; i < count; ++i) {
        const Slot& slot = slots_[i];
        const auto state = static_cast<TransferState>(slot.state.load(std::memory_order_acquire));
        if (state == TransferState::FAILED) {
            return ErrorCodeFromInt(slot.error.load(std::memory_order_relaxed));
        }
    }
    return ErrorCode::OK;
}

}  // namespace mooncake
