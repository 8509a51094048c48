#include "transfer/rdma/queue_pair_state.h"

namespace mooncake::rdma {

std::string_view QueuePairPhaseName(QueuePairPhase phase) {
    switch (phase) {
        case QueuePairPhase::kReset:
            return "RESET";
        case QueuePairPhase::kInit:
            return "INIT";
        case QueuePairPhase::kReadyToReceive:
            return "RTR";
        case QueuePairPhase::kReadyToSend:
            return "RTS";
        case QueuePairPhase::kError:
            return "ERROR";
    }
    return "UNKNOWN";
}

bool QueuePairState::Advance(QueuePairPhase next) {
    bool legal = false;
    switch (next) {
        case QueuePairPhase::kInit:
            legal = phase_ == QueuePairPhase::kReset;
            break;
        case QueuePairPhase::kReadyToReceive:
            legal = phase_ == QueuePairPhase::kInit;
            break;
        case QueuePairPhase::kReadyToSend:
            legal = phase_ == QueuePairPhase::kReadyToReceive;
            break;
        case QueuePairPhase::kError:
            legal = true;
            break;
        case QueuePairPhase::kReset:
            legal = false;  // a reset queue pair is destroyed and made anew instead
            break;
    }
    if (legal) phase_ = next;
    return legal;
}

uint32_t QueuePairState::available() const {
    if (phase_ != QueuePairPhase::kReadyToSend) return 0;
    return depth_ - outstanding_;
}

bool QueuePairState::Acquire(uint32_t count) {
    if (count > available()) return false;
    outstanding_ += count;
    return true;
}

bool QueuePairState::Release(uint32_t count) {
    if (count > outstanding_) return false;
    outstanding_ -= count;
    return true;
}

}  // namespace mooncake::rdma
