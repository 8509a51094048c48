// Copy and move tasks: queued by CreateCopyTask / CreateMoveTask, handed to
// a live client in its ping reply (or FetchTasks), reported back with
// MarkTaskComplete, read with QueryTask.
//
// Life of a task: PENDING -> PROCESSING (assigned) -> SUCCESS | FAILED.
// Assignment prefers the client that owns the source replica's segment (the
// bytes are local to it); when that client is gone, any live client that
// owns a segment may take it. A PENDING task no one takes within the pending
// timeout fails. A PROCESSING task not reported within the processing
// timeout goes back to PENDING with attempts + 1, or fails once attempts
// reached the retry limit. Finished tasks are kept for QueryTask, the oldest
// dropped beyond the limit.
//
// Thread-safe. Lock order: this table's lock, then the ClientRegistry's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "master/client_registry.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

struct TaskLimits {
    uint64_t max_finished = 10000;
    uint64_t max_pending = 10000;
    uint64_t max_processing = 10000;
    int64_t pending_timeout_ms = 300'000;
    int64_t processing_timeout_ms = 300'000;
    uint32_t max_retry_attempts = 10;
};

// What a new task is about.
struct TaskSpec {
    TaskType type = TaskType::REPLICA_COPY;
    std::string key;
    std::string source;  // move only
    std::vector<std::string> targets;
    // The client that should run it, when alive (nil: anyone).
    UUID preferred_client;
};

class TaskTable {
   public:
    // Longest message kept from MarkTaskComplete.
    static constexpr size_t kMaxMessageLength = 4096;
    // Pending entries looked at per assignment call.
    static constexpr size_t kMaxAssignScan = 1024;

    explicit TaskTable(const TaskLimits& limits) : limits_(limits) {}

    // UNAVAILABLE_IN_CURRENT_STATUS when max_pending tasks wait already.
    Result<UUID> Create(TaskSpec spec, int64_t now_ms, int64_t epoch_ms);
    // OBJECT_NOT_FOUND for an unknown (or trimmed) task.
    Result<TaskInfo> Query(const UUID& id) const;

    // Hands up to `max_tasks` pending tasks to `client` and marks them
    // PROCESSING. `client_has_segment`: whether it may take tasks whose
    // preferred client is gone.
    std::vector<TaskAssignment> Assign(const UUID& client, bool client_has_segment,
                                       size_t max_tasks, const ClientRegistry& clients,
                                       int64_t now_ms, int64_t epoch_ms);

    // INVALID_PARAMS unless `status` is SUCCESS or FAILED; OBJECT_NOT_FOUND
    // for an unknown task; UNAVAILABLE_IN_CURRENT_STATUS unless the task is
    // PROCESSING and assigned to `client`.
    Status Complete(const UUID& client, const UUID& id, TaskStatus status,
                    const std::string& message, int64_t now_ms, int64_t epoch_ms);

    // Pending and processing timeouts (see above).
    void ExpireTimeouts(int64_t now_ms, int64_t epoch_ms);
    // Tasks assigned to a client that went away go back to PENDING (or fail
    // when out of retries), as if their processing timeout had passed.
    void ReleaseClient(const UUID& client, int64_t now_ms, int64_t epoch_ms);

    uint64_t pending_count() const;
    uint64_t processing_count() const;
    // Tasks that ever reached SUCCESS or FAILED.
    uint64_t finished_total() const;

   private:
    struct Task {
        TaskInfo info;
        UUID preferred_client;
        int64_t state_since_ms = 0;   // monotonic time it entered its status
        uint64_t pending_ticket = 0;  // matches its live entry in pending_queue_
    };
    struct PendingEntry {
        UUID id;
        uint64_t ticket = 0;
    };

    void EnqueuePendingLocked(Task& task, int64_t now_ms, int64_t epoch_ms) MC_REQUIRES(mutex_);
    void FinishLocked(Task& task, TaskStatus status, std::string message, int64_t now_ms,
                      int64_t epoch_ms) MC_REQUIRES(mutex_);
    // A processing task that will not be reported: retry or fail.
    void RetryOrFailLocked(Task& task, const char* why, int64_t now_ms, int64_t epoch_ms)
        MC_REQUIRES(mutex_);
    bool IsLivePendingLocked(const PendingEntry& entry) const MC_REQUIRES(mutex_);
    void TrimFinishedLocked() MC_REQUIRES(mutex_);

    const TaskLimits limits_;
    mutable Mutex mutex_;
    std::unordered_map<UUID, Task, UUIDHash> tasks_ MC_GUARDED_BY(mutex_);
    // Pending tasks in the order they became pending; entries of tasks that
    // left PENDING since are skipped and dropped lazily.
    std::deque<PendingEntry> pending_queue_ MC_GUARDED_BY(mutex_);
    std::deque<UUID> finished_order_ MC_GUARDED_BY(mutex_);
    uint64_t next_ticket_ MC_GUARDED_BY(mutex_) = 1;
    uint64_t pending_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t processing_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t finished_total_ MC_GUARDED_BY(mutex_) = 0;
};

}  // namespace mooncake
