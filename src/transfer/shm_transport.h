// Transfers to engines of other processes on this host (same boot, same
// network namespace) whose memory is memfd-backed: the peer's memfd is mapped
// once into this process and bytes are copied in the caller's thread.
//
// Because the owner is not asked per transfer, each use first checks that the
// cached view is still right: the owner process is alive (pidfd), its status
// page still says alive, and no memory was unregistered since the descriptor
// was fetched. Otherwise the task fails with TRANSFER_FAIL, and the engine
// refreshes the descriptor and retries once.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <unordered_map>

#include "common/mutex.h"
#include "transfer/shm_region.h"
#include "transfer/transport.h"

namespace mooncake {

class ShmTransport final : public Transport {
   public:
    std::string_view name() const override { return "shm"; }
    // True when `range` is memfd-backed and its memory could be mapped here
    // (mapping on first use; failures are remembered, so a peer whose memory
    // cannot be mapped is served by TCP).
    bool CanReach(const SegmentDescriptor& peer, const SegmentRange& range) override;
    void Submit(std::vector<TransferTask> tasks) override;
    void ForgetPeer(const SegmentDescriptor& peer) override;

   private:
    struct PeerState;
    std::shared_ptr<PeerState> GetPeer(const SegmentDescriptor& peer, bool create);
    // The mapping of the memfd behind `range`, or null.
    std::shared_ptr<ShmRegion> GetMapping(PeerState& state, const SegmentDescriptor& peer,
                                          const SegmentRange& range, bool create);
    static bool StillCurrent(const PeerState& state, const SegmentDescriptor& peer);
    static bool OwnerGone(const PeerState& state);
    // Drops the state of peers whose engine stopped or process exited, so
    // their memory is unmapped (and freed by the kernel) without waiting for
    // the next transfer to them. At most once per kSweepIntervalMs.
    void MaybeSweepGonePeers();
    void DropPeer(const UUID& instance);

    std::atomic<int64_t> next_sweep_ms_{0};
    Mutex mutex_;
    std::unordered_map<UUID, std::shared_ptr<PeerState>, UUIDHash> peers_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
