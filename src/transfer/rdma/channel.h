// An outgoing connection from one local device to one device of a peer: a
// few RC queue pairs, the work waiting for room on them and the work in
// flight. Created and driven by the DeviceContext of its local device, whose
// mutex guards everything mutable here except `broken`.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "mooncake/types.h"
#include "transfer/rdma/handshake.h"
#include "transfer/rdma/queue_pair_state.h"
#include "transfer/rdma/task_completion.h"
#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

// A contiguous run of one task for one channel, posted chunk by chunk from
// the front.
struct PendingWork {
    std::shared_ptr<TaskCompletion> task;
    TransferOpcode opcode = TransferOpcode::READ;
    uint64_t local_address = 0;
    uint32_t lkey = 0;
    uint64_t remote_address = 0;
    uint32_t rkey = 0;
    uint64_t remaining = 0;
};

class Channel {
   public:
    Channel(std::string peer_name, UUID peer_instance, std::string local_device,
            std::string remote_device)
        : peer_name_(std::move(peer_name)),
          peer_instance_(peer_instance),
          local_device_(std::move(local_device)),
          remote_device_(std::move(remote_device)) {}

    const std::string& peer_name() const { return peer_name_; }
    const UUID& peer_instance() const { return peer_instance_; }
    const std::string& local_device() const { return local_device_; }
    const std::string& remote_device() const { return remote_device_; }
    // Fixed once the queue pairs exist: what the handshake sends.
    const std::vector<QueuePairAddress>& local_addresses() const { return local_addresses_; }
    // A queue pair failed: no new work goes here; the owner reconnects.
    bool broken() const { return broken_.load(std::memory_order_acquire); }

   private:
    friend class DeviceContext;

    struct InFlight {
        uint64_t wr_id = 0;
        TransferOpcode opcode = TransferOpcode::READ;
        uint32_t length = 0;
        std::shared_ptr<TaskCompletion> task;
    };
    struct Lane {
        std::unique_ptr<QueuePair> queue_pair;
        QueuePairState state;
        // RC completes a send queue in posting order, so the front of this
        // is what the next completion of the queue pair is about.
        std::deque<InFlight> in_flight;
        std::vector<WorkRequest> to_post;  // scratch of one pump
    };

    const std::string peer_name_;
    const UUID peer_instance_;
    const std::string local_device_;
    const std::string remote_device_;
    std::vector<QueuePairAddress> local_addresses_;

    std::vector<Lane> lanes_;
    std::deque<PendingWork> pending_;
    size_t next_lane_ = 0;
    uint64_t outstanding_ = 0;
    bool connected_ = false;  // in the context's tables, posting allowed
    bool retired_ = false;    // no new work; released once idle
    bool released_ = false;   // queue pairs destroyed
    bool starved_ = false;    // waiting for room in the completion queue
    bool error_logged_ = false;
    std::atomic<bool> broken_{false};
};

}  // namespace mooncake::rdma
