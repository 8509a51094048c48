// The engine behind the public TransferEngine: owns the TCP server, the
// registries of local memory, peers and batches, and the transports, and
// decides per request which transport carries it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/net_util.h"
#include "mooncake/transfer_engine.h"
#include "transfer/memcpy_transport.h"
#include "transfer/memory_registry.h"
#include "transfer/metadata_client.h"
#include "transfer/segment_descriptor.h"
#include "transfer/segment_status_page.h"
#include "transfer/shm_region.h"
#include "transfer/shm_transport.h"
#include "transfer/tcp_server.h"
#include "transfer/tcp_transport.h"
#include "transfer/transfer_batch.h"
#include "transfer/transport.h"

namespace mooncake {

// The control-channel name notifications travel under (no transport has it).
inline constexpr std::string_view kNotifyChannel = "notify";

class TransferEngineImpl final : public TransportContext, public TcpRequestHandler {
   public:
    static Result<std::unique_ptr<TransferEngineImpl>> Create(const TransferEngineConfig& config);
    ~TransferEngineImpl() override;
    TransferEngineImpl(const TransferEngineImpl&) = delete;
    TransferEngineImpl& operator=(const TransferEngineImpl&) = delete;

    const std::string& protocol() const { return protocol_; }
    uint16_t rpc_port() const { return server_->port(); }

    // Local memory (transfer_engine_memory.cpp).
    Result<void*> AllocateSharedMemory(size_t length);
    Status FreeSharedMemory(void* address);
    Status RegisterLocalMemory(void* address, size_t length, bool remote_accessible);
    Status UnregisterLocalMemory(void* address);
    bool IsRegistered(const void* address, size_t length) const;

    Result<SegmentHandle> OpenSegment(const std::string& segment_name);
    Status CloseSegment(SegmentHandle handle);
    Result<uint64_t> FirstBufferAddress(SegmentHandle handle);

    // Notifications (transfer_engine_notify.cpp).
    Status SendNotify(SegmentHandle handle, const TransferNotifyMessage& notify);
    std::vector<TransferNotifyMessage> TakeNotifies();

    Result<BatchId> AllocateBatch(size_t capacity);
    Status SubmitTransfer(BatchId batch, const std::vector<TransferRequest>& requests);
    Result<TransferStatus> GetTransferStatus(BatchId batch, size_t request_index);
    Status WaitBatch(BatchId batch, std::chrono::milliseconds timeout);
    Status FreeBatch(BatchId batch);
    Status TransferSync(const std::vector<TransferRequest>& requests,
                        std::vector<ErrorCode>* per_request = nullptr,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

    // The cached descriptor of an open peer, or null. For tools.
    std::shared_ptr<const SegmentDescriptor> PeerDescriptor(SegmentHandle handle) const;

    // How many requests (attempts, including retries) went to the transport
    // named so ("memcpy", "shm", "tcp", "rdma"); for tests and tools.
    uint64_t RoutedRequests(std::string_view transport) const;

    // TransportContext and TcpRequestHandler.
    const std::string& segment_name() const override { return segment_name_; }
    const UUID& instance_id() const override { return instance_id_; }
    const MemoryRegistry& memory() const override { return *memory_; }
    Result<nlohmann::json> SendControlMessage(const SegmentDescriptor& peer,
                                              std::string_view transport,
                                              const nlohmann::json& message) override;
    Status RepublishDescriptor() override;
    std::string DescriptorJson() override;
    Result<nlohmann::json> HandleTransportControl(const std::string& transport,
                                                  const std::string& from,
                                                  const nlohmann::json& body) override;
    const auth::ClusterKey* cluster_key() const override { return cluster_key_.get(); }

    // Only Create can name the tag.
    struct ConstructionTag {
       private:
        friend class TransferEngineImpl;
        ConstructionTag() = default;
    };
    explicit TransferEngineImpl(ConstructionTag);

   private:
    // A peer opened with OpenSegment.
    struct Peer {
        std::string name;
        std::shared_ptr<const SegmentDescriptor> Current() const {
            MutexLock lock(mutex);
            return descriptor;
        }
        void Replace(std::shared_ptr<const SegmentDescriptor> fresh) {
            MutexLock lock(mutex);
            descriptor = std::move(fresh);
        }

        mutable Mutex mutex;
        std::shared_ptr<const SegmentDescriptor> descriptor MC_GUARDED_BY(mutex);
        // Serialises refreshes; remembers the last one that found nothing
        // new, so a burst of failures to a dead peer costs one lookup.
        Mutex refresh_mutex;
        std::weak_ptr<const SegmentDescriptor> unchanged_after_refresh MC_GUARDED_BY(refresh_mutex);
        std::chrono::steady_clock::time_point last_refresh MC_GUARDED_BY(refresh_mutex);
    };

    // A request made ready for a transport.
    struct PreparedTask {
        Transport* transport = nullptr;
        TransferTask task;
    };

    // Start runs the phases below in this order; the first failure ends it.
    Status Start(const TransferEngineConfig& config);
    // Parses "host[:port]" and sets bind_address_ to the address it names.
    Result<HostPort> ResolveLocalAddress(const std::string& local_hostname);
    // The metadata store (none in P2PHANDSHAKE mode) and the key prefix.
    Status OpenMetadata(const TransferEngineConfig& config);
    Status ReadTransportSettings(const TransferEngineConfig& config);
    // The cluster key and the transports every engine has: memcpy, shm, tcp.
    Status CreateBaseTransports();
    // The page same-host peers watch to see this instance alive.
    Status CreateStatusPage();
    // Listens; the port it got names the segment.
    Status StartServer(const TransferEngineConfig& config, const HostPort& host_port);
    Status StartRdma(const TransferEngineConfig& config);
    // Makes the engine findable (in-process directory, metadata) and only
    // then answers control messages.
    Status Announce();
    void LogStarted() const;

    // ---- descriptor ----
    SegmentDescriptor BuildDescriptor() const;
    // Rebuilds the descriptor and, with a metadata server, PUTs it.
    Status Publish();
    std::string MetadataKey(const std::string& segment_name) const;  // <prefix>/ram/<name>
    std::string RpcMetaKey(const std::string& segment_name) const;   // <prefix>/rpc_meta/<name>
    void PublishRpcMeta();
    // The descriptor of `segment_name` from the metadata server or the peer
    // itself. SEGMENT_NOT_FOUND when it cannot be had.
    Result<std::shared_ptr<const SegmentDescriptor>> FetchDescriptor(
        const std::string& segment_name);
    // Fetches the peer's descriptor again when `used` is still current.
    // Returns the newer descriptor when the peer restarted or changed its
    // registrations, null when nothing changed or it could not be fetched.
    std::shared_ptr<const SegmentDescriptor> Refresh(
        Peer& peer, const std::shared_ptr<const SegmentDescriptor>& used);

    // ---- memory (transfer_engine_memory.cpp) ----
    Status RegisterRegionLocked(RegisteredRegion region) MC_REQUIRES(registration_mutex_);
    Status UnregisterRegionLocked(uint64_t address) MC_REQUIRES(registration_mutex_);

    // Queues a notification arriving on the control channel "notify".
    Result<nlohmann::json> HandleNotify(const std::string& from, const nlohmann::json& body);

    // ---- transfers ----
    std::shared_ptr<Peer> FindPeer(SegmentHandle handle) const;
    std::shared_ptr<TransferBatch> FindBatch(BatchId id) const;
    Transport* Route(const SegmentDescriptor& peer, const SegmentRange& range);
    // Checks and routes one request; the error when it cannot go anywhere.
    Result<PreparedTask> Prepare(const TransferRequest& request,
                                 const std::shared_ptr<TransferBatch>& batch, size_t index,
                                 bool is_retry);
    void SubmitRequests(const std::shared_ptr<TransferBatch>& batch, size_t first,
                        const std::vector<TransferRequest>& requests);
    void OnTaskDone(const std::shared_ptr<TransferBatch>& batch, size_t index,
                    const TransferRequest& request, const std::shared_ptr<Peer>& peer,
                    const std::shared_ptr<const SegmentDescriptor>& used, bool is_retry,
                    ErrorCode code);
    // Cancels and waits (bounded) for requests still running.
    void Drain(TransferBatch& batch);
    std::vector<Transport*> AllTransports() const;

    // Fixed after Create.
    std::string segment_name_;
    std::string protocol_;
    std::string bind_address_;
    std::string cluster_id_;
    UUID instance_id_;
    bool use_memcpy_ = true;
    bool use_shm_ = true;
    int io_timeout_ms_ = 10000;
    std::unique_ptr<MetadataStore> metadata_;  // null in P2PHANDSHAKE mode

    std::shared_ptr<MemoryRegistry> memory_;
    std::unique_ptr<ShmRegion> status_page_region_;
    SegmentStatusPage* status_page_ = nullptr;
    std::atomic<uint64_t> version_{0};
    std::atomic<uint64_t> removal_epoch_{0};

    Mutex registration_mutex_;  // one registration change at a time
    std::map<uint64_t, std::unique_ptr<ShmRegion>> shared_regions_
        MC_GUARDED_BY(registration_mutex_);  // by address

    mutable Mutex descriptor_mutex_;
    std::shared_ptr<const std::string> descriptor_json_ MC_GUARDED_BY(descriptor_mutex_);
    std::shared_ptr<const SegmentDescriptor> own_descriptor_ MC_GUARDED_BY(descriptor_mutex_);
    std::atomic<bool> published_{false};

    std::unique_ptr<MemcpyTransport> memcpy_;
    std::unique_ptr<ShmTransport> shm_;
    std::unique_ptr<TcpTransport> tcp_;
    auth::ClusterKeyPtr cluster_key_;  // null: no cluster authentication
    std::unique_ptr<Transport> rdma_;
    std::unique_ptr<TcpServer> server_;
    // Set once Start finished: the TCP server answers control messages only
    // then (it listens before the transports are all in place).
    std::atomic<bool> ready_{false};
    std::atomic<bool> stopping_{false};
    // Requests routed per transport, in AllTransports() order of kinds:
    // memcpy, shm, tcp, rdma.
    std::atomic<uint64_t> routed_[4] = {};

    mutable Mutex peers_mutex_;
    std::unordered_map<std::string, SegmentHandle> handle_by_name_ MC_GUARDED_BY(peers_mutex_);
    std::unordered_map<SegmentHandle, std::shared_ptr<Peer>> peers_ MC_GUARDED_BY(peers_mutex_);
    SegmentHandle next_handle_ MC_GUARDED_BY(peers_mutex_) = 1;

    Mutex notifies_mutex_;
    std::deque<TransferNotifyMessage> notifies_ MC_GUARDED_BY(notifies_mutex_);

    mutable Mutex batches_mutex_;
    std::unordered_map<BatchId, std::shared_ptr<TransferBatch>> batches_
        MC_GUARDED_BY(batches_mutex_);
    BatchId next_batch_ MC_GUARDED_BY(batches_mutex_) = 1;
};

}  // namespace mooncake
