// The RDMA transport: one-sided RDMA READ/WRITE over RC queue pairs
// (libibverbs), registered with the engine as "rdma".
//
//   - Devices: chosen by device_selection.h, one DeviceContext each.
//   - Memory: every registration is registered with every device
//     (memory_table.h); remotely accessible ones publish their rkeys in the
//     range's transports["rdma"] so that the NIC, not software, enforces
//     what peers may touch.
//   - Connections: per (peer, local device) a channel of a few queue pairs to
//     the paired device of the peer, set up on first use by a handshake over
//     the engine's TCP control channel (handshake.h). The peer keeps its
//     side ("passive" queue pairs) in a bounded table.
//   - Transfers: each task is split over the usable devices and cut into
//     chunks (chunking.h); the task's callback runs once, when its last
//     chunk completed.
#pragma once

#include <atomic>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "transfer/rdma/device_context.h"
#include "transfer/rdma/endpoint_info.h"
#include "transfer/rdma/memory_table.h"
#include "transfer/rdma/tunables.h"
#include "transfer/rdma/verbs.h"
#include "transfer/transport.h"
#include "transfer/transport_registry.h"

namespace mooncake::rdma {

// Responder-side connections kept per requesting engine (the oldest go
// first) and in all (further handshakes are refused).
inline constexpr size_t kMaxPassiveConnectionsPerPeer = 64;
inline constexpr size_t kMaxPassiveConnections = 8192;

class RdmaTransport final : public Transport {
   public:
    // Selects and opens the devices. UNAVAILABLE_IN_CURRENT_MODE, with a log
    // line saying why, when none can be used.
    static Result<std::unique_ptr<RdmaTransport>> Create(const TransportOptions& options,
                                                         std::shared_ptr<VerbsProvider> provider,
                                                         const RdmaTunables& tunables);
    ~RdmaTransport() override;

    std::string_view name() const override { return "rdma"; }
    Status Start(TransportContext* context) override;
    void Stop() override;
    bool CanReach(const SegmentDescriptor& peer, const SegmentRange& range) override;
    void Submit(std::vector<TransferTask> tasks) override;
    Status OnRegisterMemory(const RegisteredRegion& region, nlohmann::json* published) override;
    void OnUnregisterMemory(const RegisteredRegion& region) override;
    void DescribeEndpoint(nlohmann::json* endpoint) override;
    Result<nlohmann::json> HandleControlMessage(const std::string& peer_segment,
                                                const nlohmann::json& message) override;
    void ForgetPeer(const SegmentDescriptor& peer) override;

    // For tests, tools and logs.
    struct Stats {
        uint64_t connections_made = 0;      // handshakes this side started and completed
        uint64_t connections_accepted = 0;  // handshakes answered
        uint64_t handshakes_refused = 0;    // malformed, stale or over the limits
        size_t passive_connections = 0;
        size_t live_channels = 0;
        size_t registered_regions = 0;
    };
    Stats stats() const;
    const std::vector<DeviceEndpoint>& endpoints() const { return endpoints_; }

    // Only Create can name the tag.
    class ConstructionTag {
        friend class RdmaTransport;
        ConstructionTag() = default;
    };
    RdmaTransport(ConstructionTag, std::vector<std::unique_ptr<DeviceContext>> devices,
                  const RdmaTunables& tunables);

   private:
    // What a peer's descriptor says about its devices, parsed once per
    // peer instance.
    struct PeerRoute {
        UUID instance;
        std::vector<DeviceEndpoint> remote;
        // For each local device, the remote device it talks to.
        std::vector<std::optional<size_t>> pairing;
        bool usable = false;
    };
    // The outgoing channels to one peer instance, one slot per local device.
    struct PeerLink {
        PeerLink(const UUID& peer_instance, size_t devices)
            : instance(peer_instance), channels(devices) {}

        const UUID instance;
        Mutex mutex;  // held while connecting
        std::vector<std::shared_ptr<Channel>> channels MC_GUARDED_BY(mutex);
    };
    struct PassiveConnection {
        std::string requester;
        UUID requester_instance;
        std::vector<std::unique_ptr<QueuePair>> queue_pairs;
    };
    // One device's share of a task.
    struct Lane {
        size_t device = 0;
        uint32_t lkey = 0;
        uint32_t rkey = 0;
    };
    struct ChannelBatch {
        size_t device = 0;
        std::shared_ptr<Channel> channel;
        std::vector<PendingWork> work;
    };

    std::shared_ptr<const PeerRoute> RouteFor(const SegmentDescriptor& peer);
    // The usable lanes for `task`; empty when none.
    std::vector<Lane> LanesFor(const TransferTask& task, const PeerRoute& route,
                               const std::vector<uint32_t>& lkeys) const;
    void Prepare(TransferTask& task, std::vector<ChannelBatch>* batches);
    // The connected channel from local device `device` to `peer`, making it
    // (handshake) when needed.
    Result<std::shared_ptr<Channel>> ChannelFor(const SegmentDescriptor& peer,
                                                const PeerRoute& route, size_t device);
    Result<std::shared_ptr<Channel>> Connect(const SegmentDescriptor& peer, const PeerRoute& route,
                                             size_t device);
    void RetireLink(PeerLink& link);
    std::optional<size_t> DeviceIndex(std::string_view name) const;

    const std::vector<std::unique_ptr<DeviceContext>> devices_;
    const std::vector<DeviceEndpoint> endpoints_;
    const nlohmann::json endpoint_json_;
    const RdmaTunables tunables_;
    const uint32_t chunk_size_;  // the smallest of the devices'

    std::atomic<TransportContext*> context_{nullptr};
    std::atomic<bool> stopping_{false};
    std::atomic<uint64_t> next_lane_{0};
    MemoryRegionTable memory_;

    mutable SharedMutex routes_mutex_;
    std::unordered_map<std::string, std::shared_ptr<const PeerRoute>> routes_
        MC_GUARDED_BY(routes_mutex_);

    mutable Mutex links_mutex_;
    std::unordered_map<std::string, std::shared_ptr<PeerLink>> links_ MC_GUARDED_BY(links_mutex_);

    mutable Mutex passive_mutex_;
    std::list<PassiveConnection> passive_ MC_GUARDED_BY(passive_mutex_);  // oldest first

    std::atomic<uint64_t> connections_made_{0};
    std::atomic<uint64_t> connections_accepted_{0};
    std::atomic<uint64_t> handshakes_refused_{0};
};

}  // namespace mooncake::rdma
