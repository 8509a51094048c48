// Runs the copy and move tasks the master assigns to this client (they
// arrive in ping replies), one at a time on its own thread:
//   copy: CopyStart -> read the source replica, write every new replica ->
//         CopyEnd (CopyRevoke on failure)
//   move: MoveStart -> same with one target -> MoveEnd (MoveRevoke)
// then MarkTaskComplete with SUCCESS, or FAILED and the reason.
//
// Bytes go straight from the source when it lies in this client's own
// segment; otherwise through a small staging area of the executor's own, so
// a pure server (no local buffer) can run tasks too.
#pragma once

#include <deque>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "client/client_context.h"
#include "client/local_buffer.h"
#include "common/mutex.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

class TaskExecutor {
   public:
    // Bytes moved per staged round trip.
    static constexpr uint64_t kStagingBytes = 8ull << 20;

    explicit TaskExecutor(const ClientContext& context);
    ~TaskExecutor();
    TaskExecutor(const TaskExecutor&) = delete;
    TaskExecutor& operator=(const TaskExecutor&) = delete;

    void Start();
    // Queues tasks; one already queued or running (the master re-sends a
    // task it has not heard back about) is ignored.
    void Submit(std::vector<TaskAssignment> tasks);
    // Lets the running task finish, reports queued ones as FAILED, stops
    // the thread and gives the staging area back. Idempotent.
    void Stop();

   private:
    void Loop();
    void Execute(const TaskAssignment& task);
    Status RunCopy(const TaskAssignment& task);
    Status RunMove(const TaskAssignment& task);
    // The last step of a copy or a move of `key`: `end` once `copied` is OK
    // (CopyEnd, MoveEnd), `revoke` when the copy or the end failed, so that
    // the master gives the targets back.
    using KeyCall = Status (MasterClient::*)(const UUID& client_id, const std::string& key);
    Status EndOrRevoke(Status copied, const std::string& key, KeyCall end, KeyCall revoke);
    // Writes the bytes of `source` into every replica of `targets`.
    Status CopyBytes(const ReplicaDescriptor& source, std::span<const ReplicaDescriptor> targets);
    Status CopyDirect(const ReplicaDescriptor& source, std::span<const ReplicaDescriptor> targets);
    Status CopyStaged(const ReplicaDescriptor& source, std::span<const ReplicaDescriptor> targets);
    Result<LocalBufferSlice*> StagingArea();

    const ClientContext& context_;

    Mutex mutex_;
    CondVar wake_;
    std::deque<TaskAssignment> queue_ MC_GUARDED_BY(mutex_);
    std::unordered_set<UUID, UUIDHash> known_ids_ MC_GUARDED_BY(mutex_);  // queued or running
    bool stopping_ MC_GUARDED_BY(mutex_) = false;
    std::thread thread_;

    // Executor thread only; registered with the engine while it exists.
    std::shared_ptr<LocalBuffer> staging_buffer_;
    std::shared_ptr<LocalBufferSlice> staging_;
};

}  // namespace mooncake
