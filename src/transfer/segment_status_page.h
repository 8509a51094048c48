// A small shared-memory page each engine publishes (descriptor field
// "status_page") so that same-host peers, which copy into its memory
// without asking it, can still tell cheaply whether their view is current:
// `alive` drops when the engine shuts down and `removal_epoch` moves when
// memory is unregistered. A peer killed outright cannot clear `alive`; its
// process exit is seen through a pidfd instead (shm_transport.cpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace mooncake {

struct SegmentStatusPage {
    static constexpr uint64_t kMagic = 0x4547415053434d00ULL;  // "\0MCSPAGE"

    std::atomic<uint64_t> magic;
    std::atomic<uint64_t> instance_hi;
    std::atomic<uint64_t> instance_lo;
    std::atomic<uint64_t> removal_epoch;
    std::atomic<uint64_t> alive;
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "the status page is shared between processes");

}  // namespace mooncake
