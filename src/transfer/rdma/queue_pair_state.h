// Bookkeeping for one queue pair as the transport sees it: where it is in
// the verbs state machine and how many work requests it has outstanding.
// Only legal transitions are accepted (RESET -> INIT -> RTR -> RTS, and
// ERROR from anywhere), and work is only admitted in RTS and within the
// depth, so the send queue can never overflow. Not thread-safe: the owner
// serialises access.
#pragma once

#include <cstdint>
#include <string_view>

namespace mooncake::rdma {

enum class QueuePairPhase : uint8_t {
    kReset,
    kInit,
    kReadyToReceive,
    kReadyToSend,
    kError,
};

std::string_view QueuePairPhaseName(QueuePairPhase phase);

class QueuePairState {
   public:
    explicit QueuePairState(uint32_t depth) : depth_(depth) {}

    QueuePairPhase phase() const { return phase_; }
    // Moves to `next` if that is the legal next step (or ERROR); false and
    // no change otherwise.
    bool Advance(QueuePairPhase next);

    uint32_t depth() const { return depth_; }
    uint32_t outstanding() const { return outstanding_; }
    // Requests that may be posted now: 0 unless in RTS.
    uint32_t available() const;
    // Admits `count` requests; false (and no change) beyond available().
    bool Acquire(uint32_t count);
    // Records `count` completions (successful or flushed, in any phase).
    // False (and no change) when more complete than were outstanding.
    bool Release(uint32_t count);

   private:
    const uint32_t depth_;
    uint32_t outstanding_ = 0;
    QueuePairPhase phase_ = QueuePairPhase::kReset;
};

}  // namespace mooncake::rdma
