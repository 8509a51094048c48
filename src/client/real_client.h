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
#include <mutex>
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
#include "client/put_pipeline.h"
#include "client/replica_selector.h"
#include "client/task_executor.h"
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

    // ---- for tests and tools ----------------------------------------------
    const UUID& client_id() const { return context_.client_id; }
    // The mounted segment (size 0 for a pure client).
    const SegmentInfo& segment() const { return segment_; }
    // Bytes of the local buffer handed out right now.
    uint64_t local_buffer_used_bytes() const;

   private:
    // ---- ClientFrontEnd backend ---------------------------------------------
    Status DoPut(const std::string& key, std::span<const ConstBytes> parts, uint64_t size,
                 const ReplicateConfig& config) override;
    void DoBatchPut(const std::vector<std::string>& keys,
                    const std::vector<std::vector<ConstBytes>>& values,
                    const std::vector<uint64_t>& sizes, const ReplicateConfig& config,
                    std::vector<Status>& results) override;
    Status DoPutFrom(const std::string& key, const void* buffer, size_t size,
                     const ReplicateConfig& config) override;
    void DoBatchPutFrom(const std::vector<std::string>& keys,
                        const std::vector<const void*>& buffers, const std::vector<size_t>& sizes,
                        const ReplicateConfig& config, std::vector<Status>& results) override;
    void DoBatchPutFromMultiBuffers(const std::vector<std::string>& keys,
                                    const std::vector<std::vector<const void*>>& buffers,
                                    const std::vector<std::vector<size_t>>& sizes,
                                    const ReplicateConfig& config,
                                    std::vector<Status>& results) override;
    Result<std::shared_ptr<Buffer>> DoGet(const std::string& key) override;
    void DoBatchGet(const std::vector<std::string>& keys,
                    std::vector<Result<std::shared_ptr<Buffer>>>& results) override;
    Result<size_t> DoGetInto(const std::string& key, void* buffer, size_t capacity) override;
    void DoBatchGetInto(const std::vector<std::string>& keys, const std::vector<void*>& buffers,
                        const std::vector<size_t>& capacities,
                        std::vector<Result<size_t>>& results) override;
    void DoBatchGetIntoMultiBuffers(const std::vector<std::string>& keys,
                                    const std::vector<std::vector<void*>>& buffers,
                                    const std::vector<std::vector<size_t>>& sizes,
                                    std::vector<Result<size_t>>& results) override;
    Status DoRegisterBuffer(void* buffer, size_t size) override;
    Status DoUnregisterBuffer(void* buffer) override;
    Result<void*> DoAllocFromMemPool(size_t size) override;
    Result<bool> DoIsExist(const std::string& key) override;
    std::vector<Result<bool>> DoBatchIsExist(const std::vector<std::string>& keys) override;
    Result<uint64_t> DoGetSize(const std::string& key) override;
    Result<std::vector<ReplicaDescriptor>> DoGetReplicaDesc(const std::string& key) override;
    std::vector<Result<std::vector<ReplicaDescriptor>>> DoBatchGetReplicaDesc(
        const std::vector<std::string>& keys) override;
    Status DoRemove(const std::string& key, bool force) override;
    Result<int64_t> DoRemoveByRegex(const std::string& regex, bool force) override;
    Result<int64_t> DoRemoveAll(bool force) override;
    Result<UUID> DoCreateCopyTask(const std::string& key,
                                  const std::vector<std::string>& targets) override;
    Result<UUID> DoCreateMoveTask(const std::string& key, const std::string& source,
                                  const std::string& target) override;
    Result<TaskInfo> DoQueryTask(const UUID& task_id) override;

    // Runs the get pipeline into the destinations of the keys whose result
    // is OK; fills in the sizes read or the errors.
    void RunGetsInto(const std::vector<std::string>& keys,
                     const std::vector<GetDestination>& destinations,
                     std::vector<Result<size_t>>& results);

    explicit RealClient(const ClientConfig& config);
    Status Setup();
    // INVALID_PARAMS unless [address, address + size) is non-empty and lies
    // in memory registered for transfers (RegisterBuffer or the local buffer).
    Status CheckZeroCopyRange(const void* address, size_t size) const;
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

    std::mutex memory_mutex_;
    std::unordered_set<void*> user_buffers_;  // RegisterBuffer; guarded by memory_mutex_
    // AllocFromMemPool memory, held until Close; guarded by memory_mutex_.
    std::vector<std::shared_ptr<LocalBufferSlice>> pool_allocations_;
};

}  // namespace mooncake
