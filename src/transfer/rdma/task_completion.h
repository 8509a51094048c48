// The outcome of one TransferTask that was cut into chunks, possibly spread
// over several devices: counts its bytes down as chunks end and calls the
// task's callback exactly once, when the last byte is accounted for (OK if
// every chunk succeeded, TRANSFER_FAIL otherwise). Counting bytes rather
// than chunks keeps it independent of how each device cuts its share.
#pragma once

#include <atomic>
#include <cstdint>

#include "transfer/transport.h"

namespace mooncake::rdma {

class TaskCompletion {
   public:
    TaskCompletion(uint64_t bytes, TransferCallback on_done, const std::atomic<bool>* cancelled)
        : remaining_(bytes), on_done_(std::move(on_done)), cancelled_(cancelled) {}

    // Whether the caller gave up on the task; chunks not posted yet are then
    // failed instead. Only meaningful until Finish.
    bool cancelled() const { return cancelled_ != nullptr && cancelled_->load(); }

    // Records `bytes` as ended (moved, or failed). True when they were the
    // last ones: the caller must then call Finish, outside its locks (the
    // callback may submit more work).
    bool BytesDone(uint64_t bytes, bool success) {
        if (!success) failed_.store(true, std::memory_order_relaxed);
        return remaining_.fetch_sub(bytes, std::memory_order_acq_rel) == bytes;
    }

    void Finish() {
        if (finished_.exchange(true)) return;
        on_done_(failed_.load() ? ErrorCode::TRANSFER_FAIL : ErrorCode::OK);
    }

   private:
    std::atomic<uint64_t> remaining_;
    std::atomic<bool> failed_{false};
    std::atomic<bool> finished_{false};
    TransferCallback on_done_;
    const std::atomic<bool>* cancelled_;
};

}  // namespace mooncake::rdma
