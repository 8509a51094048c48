// The part of the store client that does not depend on where the data goes:
// the lifecycle gate (every call holds the client open for its duration,
// Close waits for the calls in flight and later calls fail with
// UNAVAILABLE_IN_CURRENT_STATUS) and the checks of what callers hand in
// (keys, replication settings, batch lengths, task arguments).
//
// Each public call is written here once and hands the checked call to one
// backend method (`Do...`): RealClient (in process, over the put/get
// pipelines) and DummyClient (over the dummy RPC to a standalone client).
// Per-key checks of batch calls go through the helpers of
// client_config_util.h, so both backends refuse the same input with the same
// codes.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "mooncake/client.h"

namespace mooncake {

// The backend primitives, called with the client held open. Keys and
// replication settings are checked; batch vectors have one entry per key.
// Batch results come in filled with OK or the refusal of each key (a refused
// key must be left alone). Multi-buffer piece lists are non-empty with one
// size per buffer. DoRegisterBuffer gets a non-null buffer, DoAllocFromMemPool
// a non-zero size, the task primitives non-empty targets, source and target.
// Batch queries get the valid keys only and answer one entry per key.
// Declared once here: ClientFrontEnd declares them `= 0`, each backend
// `override`.
#define MOONCAKE_CLIENT_BACKEND_PRIMITIVES(SUFFIX)                                                 \
    virtual Status DoPut(const std::string& key, std::span<const ConstBytes> parts, uint64_t size, \
                         const ReplicateConfig& config) SUFFIX;                                    \
    virtual void DoBatchPut(const std::vector<std::string>& keys,                                  \
                            const std::vector<std::vector<ConstBytes>>& values,                    \
                            const std::vector<uint64_t>& sizes, const ReplicateConfig& config,     \
                            std::vector<Status>& results) SUFFIX;                                  \
    virtual Status DoPutFrom(const std::string& key, const void* buffer, size_t size,              \
                             const ReplicateConfig& config) SUFFIX;                                \
    virtual void DoBatchPutFrom(const std::vector<std::string>& keys,                              \
                                const std::vector<const void*>& buffers,                           \
                                const std::vector<size_t>& sizes, const ReplicateConfig& config,   \
                                std::vector<Status>& results) SUFFIX;                              \
    virtual void DoBatchPutFromMultiBuffers(const std::vector<std::string>& keys,                  \
                                            const std::vector<std::vector<const void*>>& buffers,  \
                                            const std::vector<std::vector<size_t>>& sizes,         \
                                            const ReplicateConfig& config,                         \
                                            std::vector<Status>& results) SUFFIX;                  \
    virtual Result<std::shared_ptr<Buffer>> DoGet(const std::string& key) SUFFIX;                  \
    virtual void DoBatchGet(const std::vector<std::string>& keys,                                  \
                            std::vector<Result<std::shared_ptr<Buffer>>>& results) SUFFIX;         \
    virtual Result<size_t> DoGetInto(const std::string& key, void* buffer, size_t capacity)        \
        SUFFIX;                                                                                    \
    virtual void DoBatchGetInto(                                                                   \
        const std::vector<std::string>& keys, const std::vector<void*>& buffers,                   \
        const std::vector<size_t>& capacities, std::vector<Result<size_t>>& results) SUFFIX;       \
    virtual void DoBatchGetIntoMultiBuffers(const std::vector<std::string>& keys,                  \
                                            const std::vector<std::vector<void*>>& buffers,        \
                                            const std::vector<std::vector<size_t>>& sizes,         \
                                            std::vector<Result<size_t>>& results) SUFFIX;          \
    virtual Status DoRegisterBuffer(void* buffer, size_t size) SUFFIX;                             \
    virtual Status DoUnregisterBuffer(void* buffer) SUFFIX;                                        \
    virtual Result<void*> DoAllocFromMemPool(size_t size) SUFFIX;                                  \
    virtual Result<bool> DoIsExist(const std::string& key) SUFFIX;                                 \
    virtual std::vector<Result<bool>> DoBatchIsExist(const std::vector<std::string>& keys) SUFFIX; \
    virtual Result<uint64_t> DoGetSize(const std::string& key) SUFFIX;                             \
    virtual Result<std::vector<ReplicaDescriptor>> DoGetReplicaDesc(const std::string& key)        \
        SUFFIX;                                                                                    \
    virtual std::vector<Result<std::vector<ReplicaDescriptor>>> DoBatchGetReplicaDesc(             \
        const std::vector<std::string>& keys) SUFFIX;                                              \
    virtual Status DoRemove(const std::string& key, bool force) SUFFIX;                            \
    virtual Result<int64_t> DoRemoveByRegex(const std::string& regex, bool force) SUFFIX;          \
    virtual Result<int64_t> DoRemoveAll(bool force) SUFFIX;                                        \
    virtual Result<UUID> DoCreateCopyTask(const std::string& key,                                  \
                                          const std::vector<std::string>& targets) SUFFIX;         \
    virtual Result<UUID> DoCreateMoveTask(const std::string& key, const std::string& source,       \
                                          const std::string& target) SUFFIX;                       \
    virtual Result<TaskInfo> DoQueryTask(const UUID& task_id) SUFFIX;

class ClientFrontEnd : public Client {
   public:
    Status Put(const std::string& key, std::span<const ConstBytes> parts,
               const ReplicateConfig& config) final;
    std::vector<Status> BatchPut(const std::vector<std::string>& keys,
                                 const std::vector<std::vector<ConstBytes>>& values,
                                 const ReplicateConfig& config) final;
    Status PutFrom(const std::string& key, const void* buffer, size_t size,
                   const ReplicateConfig& config) final;
    std::vector<Status> BatchPutFrom(const std::vector<std::string>& keys,
                                     const std::vector<const void*>& buffers,
                                     const std::vector<size_t>& sizes,
                                     const ReplicateConfig& config) final;
    std::vector<Status> BatchPutFromMultiBuffers(
        const std::vector<std::string>& keys, const std::vector<std::vector<const void*>>& buffers,
        const std::vector<std::vector<size_t>>& sizes, const ReplicateConfig& config) final;

    Result<std::shared_ptr<Buffer>> Get(const std::string& key) final;
    std::vector<Result<std::shared_ptr<Buffer>>> BatchGet(
        const std::vector<std::string>& keys) final;
    Result<size_t> GetInto(const std::string& key, void* buffer, size_t capacity) final;
    std::vector<Result<size_t>> BatchGetInto(const std::vector<std::string>& keys,
                                             const std::vector<void*>& buffers,
                                             const std::vector<size_t>& capacities) final;
    std::vector<Result<size_t>> BatchGetIntoMultiBuffers(
        const std::vector<std::string>& keys, const std::vector<std::vector<void*>>& buffers,
        const std::vector<std::vector<size_t>>& sizes) final;
    // client_range_reads.cpp
    RangeResults GetIntoRanges(const std::vector<void*>& buffers,
                               const std::vector<std::vector<std::string>>& keys,
                               const RangeOffsets& dst_offsets, const RangeOffsets& src_offsets,
                               const RangeOffsets& sizes) final;

    Status RegisterBuffer(void* buffer, size_t size) final;
    Status UnregisterBuffer(void* buffer) final;
    Result<void*> AllocFromMemPool(size_t size) final;

    Result<bool> IsExist(const std::string& key) final;
    std::vector<Result<bool>> BatchIsExist(const std::vector<std::string>& keys) final;
    Result<uint64_t> GetSize(const std::string& key) final;
    Result<std::vector<ReplicaDescriptor>> GetReplicaDesc(const std::string& key) final;
    std::map<std::string, std::vector<ReplicaDescriptor>> BatchGetReplicaDesc(
        const std::vector<std::string>& keys) final;

    Status Remove(const std::string& key, bool force = false) final;
    Result<int64_t> RemoveByRegex(const std::string& regex, bool force = false) final;
    Result<int64_t> RemoveAll(bool force = false) final;

    Result<UUID> CreateCopyTask(const std::string& key,
                                const std::vector<std::string>& targets) final;
    Result<UUID> CreateMoveTask(const std::string& key, const std::string& source,
                                const std::string& target) final;
    Result<TaskInfo> QueryTask(const UUID& task_id) final;

   protected:
    ClientFrontEnd() = default;

    // Connects the backend to its master or standalone client.
    virtual Status Setup() = 0;
    // The backends' factories: `client` once Setup succeeded, or, when it
    // fails, logs "`what` failed: <code>", closes what Setup got done and
    // returns the code.
    template <typename Backend>
    static Result<std::unique_ptr<Backend>> SetUpOrClose(std::unique_ptr<Backend> client,
                                                         const std::string& what) {
        MC_RETURN_IF_ERROR(SetUpOrClose(*client, what));
        return client;
    }
    static Status SetUpOrClose(ClientFrontEnd& client, const std::string& what);

    // True when [buffer, buffer + size) is memory the caller may have the
    // client write into (registered, or the dummy's shared memory).
    virtual bool IsCallerMemory(const void* buffer, size_t size) const = 0;

    // Shared lock on the lifecycle; not owning when the client is closed or
    // closing.
    std::shared_lock<std::shared_mutex> LockOpen() const;
    // For Close: refuses new calls at once, then waits for those in flight.
    // Not owning when the client was closed already (Close is idempotent).
    std::unique_lock<std::shared_mutex> BeginClose();

    MOONCAKE_CLIENT_BACKEND_PRIMITIVES(= 0)

   private:
    // What every batch put does around `put(results)`, the call into its
    // backend: holds the client open, and refuses the whole batch
    // (`lengths` failed, bad replication settings) or single keys
    // before (client_front_end.cpp).
    template <typename PutCall>
    std::vector<Status> CheckedPutBatch(const std::vector<std::string>& keys, const Status& lengths,
                                        const ReplicateConfig& config, PutCall put);

    mutable std::shared_mutex lifecycle_mutex_;
    bool closed_ = false;  // guarded by lifecycle_mutex_ (std::shared_mutex: not annotated)
    // Set before Close waits for the lock, so that a steady stream of calls
    // cannot starve it: new calls are refused from then on.
    std::atomic<bool> closing_{false};
};

// How both backends take in the zero-copy pieces of a batch put: `stage(i,
// buffer, size)` (a Status) for each piece of each key, in order. Keys already
// refused in `results` are skipped; a key's first failing piece becomes its
// result and its later pieces are not staged. BatchPutFrom's keys have one
// piece each.
template <typename Stage>
void StagePutPieces(const std::vector<const void*>& buffers, const std::vector<size_t>& sizes,
                    std::vector<Status>& results, Stage stage) {
    for (size_t i = 0; i < results.size(); ++i) {
        if (results[i].has_value()) results[i] = stage(i, buffers[i], sizes[i]);
    }
}

template <typename Stage>
void StagePutPieces(const std::vector<std::vector<const void*>>& buffers,
                    const std::vector<std::vector<size_t>>& sizes, std::vector<Status>& results,
                    Stage stage) {
    for (size_t i = 0; i < results.size(); ++i) {
        for (size_t p = 0; results[i].has_value() && p < buffers[i].size(); ++p) {
            results[i] = stage(i, buffers[i][p], sizes[i][p]);
        }
    }
}

// A backend's factory result as the public Client.
template <typename Backend>
Result<std::unique_ptr<Client>> AsClient(Result<std::unique_ptr<Backend>> made) {
    if (!made.has_value()) return Error(made.error());
    return std::unique_ptr<Client>(std::move(*made));
}

}  // namespace mooncake
