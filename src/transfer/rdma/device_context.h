// One opened RDMA device port as the transport drives it: its protection
// domain and completion queue (through rdma::Device), the outgoing channels
// posting on it, and the thread that polls its completions.
//
// Flow control: a queue pair never has more than its depth outstanding and
// the device never more than its completion queue holds, so neither can
// overflow; work beyond that waits in its channel and is posted as
// completions make room. Completions run the tasks' callbacks on the polling
// thread, never under the context's lock.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "mooncake/result.h"
#include "transfer/rdma/channel.h"
#include "transfer/rdma/device_selection.h"
#include "transfer/rdma/endpoint_info.h"
#include "transfer/rdma/tunables.h"
#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

class DeviceContext {
   public:
    static Result<std::unique_ptr<DeviceContext>> Open(VerbsProvider& provider,
                                                       const SelectedDevice& selected,
                                                       const RdmaTunables& tunables);
    // Only Open can name the tag.
    class ConstructionTag {
        friend class DeviceContext;
        ConstructionTag() = default;
    };
    DeviceContext(ConstructionTag, std::unique_ptr<Device> device, DeviceEndpoint endpoint,
                  const RdmaTunables& tunables);
    // Stops (with the tunables' grace) if Stop was not called.
    ~DeviceContext();
    DeviceContext(const DeviceContext&) = delete;
    DeviceContext& operator=(const DeviceContext&) = delete;

    const DeviceEndpoint& endpoint() const { return endpoint_; }
    Device& device() { return *device_; }
    uint32_t chunk_size() const { return chunk_size_; }

    // A channel to `remote_device` of a peer with `queue_pairs` queue pairs
    // in INIT; its local_addresses() go into the handshake.
    Result<std::shared_ptr<Channel>> CreateChannel(const std::string& peer_name,
                                                   const UUID& peer_instance,
                                                   const std::string& remote_device,
                                                   uint32_t queue_pairs);
    // Connects the channel's queue pairs to the peer's (RTR, RTS); work can
    // be queued on it afterwards. INVALID_PARAMS when the counts differ.
    Status ConnectChannel(const std::shared_ptr<Channel>& channel, const DeviceEndpoint& remote,
                          const std::vector<QueuePairAddress>& remote_queue_pairs);
    // The responder's side of a handshake: queue pairs connected to the
    // requester's, in RTS, and their addresses in *local.
    Result<std::vector<std::unique_ptr<QueuePair>>> AcceptQueuePairs(
        const DeviceEndpoint& remote, const std::vector<QueuePairAddress>& remote_queue_pairs,
        std::vector<QueuePairAddress>* local);

    // Queues work on a connected channel and posts what fits. Work that
    // cannot be carried (channel broken, retired or never connected, context
    // stopping) fails at once.
    void Enqueue(const std::shared_ptr<Channel>& channel, std::vector<PendingWork> work);
    // No new work for the channel: queued work fails, posted work runs to
    // its end, then the queue pairs are destroyed.
    void Retire(const std::shared_ptr<Channel>& channel);

    // Fails queued work, waits until `deadline` for posted work, then
    // flushes the queue pairs (bounded wait), stops the polling thread and
    // fails whatever still had no completion. Every callback has been called
    // when it returns. Idempotent.
    void Stop(std::chrono::steady_clock::time_point deadline);

    // Work requests posted and not completed yet.
    uint64_t outstanding() const { return outstanding_.load(std::memory_order_relaxed); }
    // Channels whose queue pairs still exist.
    size_t live_channels() const;

   private:
    using FinishedTasks = std::vector<std::shared_ptr<TaskCompletion>>;

    void PollLoop();
    // All *Locked members need mutex_.
    void HandleCompletionLocked(const WorkCompletion& completion, std::vector<Channel*>* touched,
                                FinishedTasks* finished) MC_REQUIRES(mutex_);
    // Posts queued work of the channel while its queue pairs and the device
    // have room.
    void PumpLocked(const std::shared_ptr<Channel>& channel, FinishedTasks* finished)
        MC_REQUIRES(mutex_);
    // Gives freed room to channels that were waiting for it.
    void PumpStarvedLocked(FinishedTasks* finished) MC_REQUIRES(mutex_);
    void FailPendingLocked(Channel& channel, FinishedTasks* finished) MC_REQUIRES(mutex_);
    void MarkBrokenLocked(Channel& channel, size_t lane, const char* why) MC_REQUIRES(mutex_);
    // Destroys the queue pairs of a retired or broken channel once idle.
    void ReleaseIfIdleLocked(Channel& channel) MC_REQUIRES(mutex_);
    std::shared_ptr<Channel> FindChannelLocked(Channel* channel) const MC_REQUIRES(mutex_);
    static void RunCallbacks(FinishedTasks& finished);

    const std::unique_ptr<Device> device_;
    const DeviceEndpoint endpoint_;
    const uint32_t chunk_size_;
    const uint32_t queue_pair_depth_;
    const uint32_t capacity_;  // outstanding requests the device may have
    const std::chrono::milliseconds stop_grace_;

    mutable Mutex mutex_;
    CondVar idle_;  // outstanding_ reached 0
    // Written under mutex_; read without it by the polling thread.
    std::atomic<uint64_t> outstanding_{0};
    // Connected, not released.
    std::unordered_map<Channel*, std::shared_ptr<Channel>> channels_ MC_GUARDED_BY(mutex_);
    std::unordered_map<uint32_t, std::pair<Channel*, size_t>> by_qp_num_ MC_GUARDED_BY(mutex_);
    std::deque<std::shared_ptr<Channel>> starved_ MC_GUARDED_BY(mutex_);
    uint64_t next_wr_id_ MC_GUARDED_BY(mutex_) = 1;
    std::mt19937 psn_random_ MC_GUARDED_BY(mutex_);
    bool stopping_ MC_GUARDED_BY(mutex_) = false;
    bool stopped_ MC_GUARDED_BY(mutex_) = false;

    std::atomic<bool> stop_polling_{false};
    std::thread poller_;
};

}  // namespace mooncake::rdma
