// The in-process store client: owns the connection to the master, the
// transfer engine, the mounted segment, the local buffer, the heartbeat and
// the task executor. What Client::Create returns.
//
// Threading: every call runs in the caller's thread (master call and
// transfer alike, no hand-off) and holds a shared lock on the client's
// lifecycle for its duration; Close takes it exclusively, so it waits for
// the calls in flight (each bounded by the RPC and transfer deadlines) and
// later calls fail with UNAVAILABLE_IN_CURRENT_STATUS.
#pragma once

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "client/client_context.h"
#include "client/client_front_end.h"
#include "client/get_pipeline.h"
#include "client/heartbeat.h"
#include "client/local_buffer.h"
#include "client/master_client.h"
#include "client/offload_tier.h"
#include "client/put_pipeline.h"
#include "client/replica_selector.h"
#include "client/runtime_segments.h"
#include "client/task_executor.h"
#include "common/mutex.h"
#include "mooncake/client.h"
#include "mooncake/transfer_engine.h"

namespace mooncake {

class RealClient final : public ClientFrontEnd {
   public:
    // Validates `config`, then connects, starts the engine, maps and mounts
    // the segment, maps the local buffer and starts the background threads.
    // On failure everything done so far is undone.
    static Result<std::unique_ptr<RealClient>> Create(const ClientConfig& config);
    ~RealClient() override;

    Status Close() override;
    std::string GetHostname() const override;

    Result<std::vector<UUID>> MountFileSegment(const std::string& path, uint64_t size,
                                               uint64_t offset) override;
    Result<std::pair<std::vector<UUID>, uint64_t>> AllocateAndMountSegment(uint64_t size) override;
    Status UnmountRuntimeSegment(const UUID& segment_id, bool allocated,
                                 uint32_t grace_period_seconds) override;
    std::vector<std::pair<std::string, double>> MetricValues() const override;
    Status UnmountLocalDisk(uint32_t grace_period_seconds) override;
    uint64_t OffloadRpcReadCount() const override;
    std::vector<std::string> BatchReplicaClear(const std::vector<std::string>& keys,
                                               const std::string& segment_name) override;

    // ---- for tests and tools ----------------------------------------------
    const UUID& client_id() const { return context_.client_id; }
    // The mounted segment (size 0 for a pure client).
    const SegmentInfo& segment() const { return segment_; }
    // Bytes of the local buffer handed out right now.
    uint64_t local_buffer_used_bytes() const;

   private:
    MOONCAKE_CLIENT_BACKEND_PRIMITIVES(override)

    // Why a staged put or get cannot run: no local buffer (a pure server),
    // or no transfer engine at all (protocol rpc_only).
    ErrorCode NoStagingCode() const {
        return engine_ ? ErrorCode::BUFFER_OVERFLOW : ErrorCode::UNAVAILABLE_IN_CURRENT_MODE;
    }

    // Runs the get pipeline into the destinations of the keys whose result
    // is OK; fills in the sizes read or the errors.
    void RunGetsInto(const std::vector<std::string>& keys,
                     const std::vector<GetDestination>& destinations,
                     std::vector<Result<size_t>>& results);

    explicit RealClient(const ClientConfig& config);
    Status Setup() override;
    // Setup's steps: the transfer engine (owned or shared) and this
    // client's identity; the segment and the local buffer; the SSD tier, or
    // reads of other clients' disks only.
    Status StartEngine();
    Status SetUpMemory();
    Status StartDiskTier();
    // INVALID_PARAMS unless [address, address + size) is non-empty and lies
    // in memory registered for transfers (RegisterBuffer or the local buffer).
    Status CheckZeroCopyRange(const void* address, size_t size) const;
    // CheckZeroCopyRange, then the range as the next piece of `source`. A
    // key refused halfway keeps the pieces before: the put pipeline skips
    // the keys whose result is an error.
    Status AddZeroCopyPiece(const void* buffer, size_t size, PutSource* source) const;
    bool IsCallerMemory(const void* buffer, size_t size) const override {
        return engine_ != nullptr && engine_->IsRegistered(buffer, size);
    }
    std::vector<SegmentInfo> MountedSegments() const;
    // On the heartbeat thread when the master asks for a re-mount: publishes
    // the engine's descriptor again, returns the segments to mount.
    std::vector<SegmentInfo> PrepareRemount();

    const ClientConfig config_;

    std::unique_ptr<MasterClient> master_;
    std::shared_ptr<TransferEngine> engine_;  // config_.engine when shared
    SegmentInfo segment_;                     // size 0: nothing mounted
    bool segment_mounted_ = false;
    std::shared_ptr<LocalBuffer> local_buffer_;
    std::unique_ptr<ReplicaSelector> selector_;
    UnreachableSegments unreachable_;
    ClientContext context_;
    PutPipeline put_pipeline_{context_};
    GetPipeline get_pipeline_{context_};
    std::unique_ptr<TaskExecutor> executor_;
    std::unique_ptr<Heartbeat> heartbeat_;
    std::unique_ptr<PutCredits> credits_;
    // mount_segment and friends (real_client_segments.cpp).
    std::unique_ptr<RuntimeSegments> runtime_segments_;
    // SSD offload (config_.enable_ssd_offload); null otherwise.
    std::unique_ptr<OffloadTier> offload_;
    // Without a tier of our own: other clients' SSD replicas.
    RemoteDiskReader remote_disk_;

    mutable Mutex memory_mutex_;
    std::unordered_set<void*> user_buffers_ MC_GUARDED_BY(memory_mutex_);  // RegisterBuffer
    // AllocFromMemPool memory, held until Close.
    std::vector<std::shared_ptr<LocalBufferSlice>> pool_allocations_ MC_GUARDED_BY(memory_mutex_);
};

}  // namespace mooncake
