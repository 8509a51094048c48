// Knobs of the RDMA transport, read once from the environment when the
// transport is created. Out-of-range values are ignored with a warning.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace mooncake::rdma {

struct RdmaTunables {
    // MC_SLICE_SIZE: largest single RDMA operation; larger requests are cut
    // into chunks of this size (and spread over the devices).
    uint32_t chunk_size = 256u << 10;
    // MC_NUM_QP_PER_EP: queue pairs per (peer, device) connection.
    uint32_t queue_pairs_per_connection = 2;
    // MC_MAX_WR: outstanding work requests per queue pair.
    uint32_t max_outstanding_per_queue_pair = 128;
    // MC_MAX_CQE_PER_CTX: completion queue entries per device (also the
    // device's bound on outstanding work requests).
    uint32_t completion_queue_size = 8192;
    // MC_GID_INDEX: GID table index to use on every device; chosen per port
    // when unset.
    std::optional<uint32_t> gid_index;
    // How long Stop waits for posted work before flushing the queue pairs.
    std::chrono::milliseconds stop_grace = std::chrono::seconds(30);

    static inline constexpr uint32_t kMinChunkSize = 4096;
    static inline constexpr uint32_t kMaxChunkSize = 64u << 20;
    static inline constexpr uint32_t kMaxQueuePairsPerConnection = 16;

    static RdmaTunables FromEnv();
};

}  // namespace mooncake::rdma
