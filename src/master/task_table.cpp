#include "master/task_table.h"

#include <glog/logging.h>

#include <utility>

namespace mooncake {

Result<UUID> TaskTable::Create(TaskSpec spec, int64_t now_ms, int64_t epoch_ms) {
    MutexLock lock(mutex_);
    if (pending_ >= limits_.max_pending) {
        LOG(WARNING) << "Task refused: " << pending_ << " tasks pending already (limit "
                     << limits_.max_pending << ")";
        return Error(ErrorCode::TASK_PENDING_LIMIT_EXCEEDED);
    }
    UUID id = UUID::Generate();
    while (tasks_.contains(id)) id = UUID::Generate();

    Task task;
    task.info.id = id;
    task.info.type = spec.type;
    task.info.created_at_ms_epoch = epoch_ms;
    task.info.key = std::move(spec.key);
    task.info.source = std::move(spec.source);
    task.info.targets = std::move(spec.targets);
    task.preferred_client = spec.preferred_client;
    Task& stored = tasks_.emplace(id, std::move(task)).first->second;
    EnqueuePendingLocked(stored, now_ms, epoch_ms);
    return id;
}

Result<TaskInfo> TaskTable::Query(const UUID& id) const {
    MutexLock lock(mutex_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return Error(ErrorCode::TASK_NOT_FOUND);
    return it->second.info;
}

bool TaskTable::IsLivePendingLocked(const PendingEntry& entry) const {
    auto it = tasks_.find(entry.id);
    return it != tasks_.end() && it->second.info.status == TaskStatus::PENDING &&
           it->second.pending_ticket == entry.ticket;
}

void TaskTable::EnqueuePendingLocked(Task& task, int64_t now_ms, int64_t epoch_ms) {
    task.info.status = TaskStatus::PENDING;
    task.info.assigned_client = UUID{};
    task.info.last_updated_at_ms_epoch = epoch_ms;
    task.state_since_ms = now_ms;
    task.pending_ticket = next_ticket_++;
    pending_queue_.push_back({task.info.id, task.pending_ticket});
    ++pending_;
}

std::vector<TaskAssignment> TaskTable::Assign(const UUID& client, bool client_has_segment,
                                              size_t max_tasks, const ClientRegistry& clients,
                                              int64_t now_ms, int64_t epoch_ms) {
    std::vector<TaskAssignment> assigned;
    MutexLock lock(mutex_);
    while (!pending_queue_.empty() && !IsLivePendingLocked(pending_queue_.front())) {
        pending_queue_.pop_front();
    }
    size_t scanned = 0;
    for (const PendingEntry& entry : pending_queue_) {
        if (assigned.size() >= max_tasks || processing_ >= limits_.max_processing ||
            scanned++ >= kMaxAssignScan) {
            break;
        }
        if (!IsLivePendingLocked(entry)) continue;
        Task& task = tasks_.at(entry.id);
        const bool preferred = task.preferred_client == client;
        const bool orphaned =
            task.preferred_client.IsNil() || !clients.IsAlive(task.preferred_client);
        if (!preferred && !(orphaned && client_has_segment)) continue;

        task.info.status = TaskStatus::PROCESSING;
        task.info.assigned_client = client;
        task.info.last_updated_at_ms_epoch = epoch_ms;
        task.state_since_ms = now_ms;
        --pending_;
        ++processing_;
        assigned.push_back(TaskAssignment{task.info.id, task.info.type, task.info.key,
                                          task.info.source, task.info.targets});
    }
    // Entries of tasks that left PENDING pile up behind a task waiting for
    // its preferred client; compact once they dominate.
    if (pending_queue_.size() > 2 * pending_ + 64) {
        std::deque<PendingEntry> live;
        for (const PendingEntry& entry : pending_queue_) {
            if (IsLivePendingLocked(entry)) live.push_back(entry);
        }
        pending_queue_.swap(live);
    }
    return assigned;
}

void TaskTable::TrimFinishedLocked() {
    while (finished_order_.size() > limits_.max_finished) {
        tasks_.erase(finished_order_.front());
        finished_order_.pop_front();
    }
}

void TaskTable::FinishLocked(Task& task, TaskStatus status, std::string message, int64_t now_ms,
                             int64_t epoch_ms) {
    if (task.info.status == TaskStatus::PENDING) --pending_;
    if (task.info.status == TaskStatus::PROCESSING) --processing_;
    if (message.size() > kMaxMessageLength) message.resize(kMaxMessageLength);
    task.info.status = status;
    task.info.message = std::move(message);
    task.info.last_updated_at_ms_epoch = epoch_ms;
    task.state_since_ms = now_ms;
    ++finished_total_;
    finished_order_.push_back(task.info.id);
    // `task` may be trimmed right here when the limit is tiny; callers do
    // not touch it afterwards.
    TrimFinishedLocked();
}

Status TaskTable::Complete(const UUID& client, const UUID& id, TaskStatus status,
                           const std::string& message, int64_t now_ms, int64_t epoch_ms) {
    if (status != TaskStatus::SUCCESS && status != TaskStatus::FAILED) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    MutexLock lock(mutex_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return Error(ErrorCode::TASK_NOT_FOUND);
    Task& task = it->second;
    if (task.info.status != TaskStatus::PROCESSING || task.info.assigned_client != client) {
        LOG(WARNING) << "Task " << id.ToString() << " reported by client " << client.ToString()
                     << " but it is not processing there";
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    FinishLocked(task, status, message, now_ms, epoch_ms);
    return OkStatus();
}

void TaskTable::RetryOrFailLocked(Task& task, const char* why, int64_t now_ms, int64_t epoch_ms) {
    if (task.info.attempts >= limits_.max_retry_attempts) {
        FinishLocked(
            task, TaskStatus::FAILED,
            std::string(why) + "; gave up after " + std::to_string(task.info.attempts) + " retries",
            now_ms, epoch_ms);
        return;
    }
    --processing_;
    ++task.info.attempts;
    task.info.message = why;
    EnqueuePendingLocked(task, now_ms, epoch_ms);
}

void TaskTable::ExpireTimeouts(int64_t now_ms, int64_t epoch_ms) {
    MutexLock lock(mutex_);
    // Collect first: finishing may trim entries from tasks_.
    std::vector<UUID> pending_expired;
    std::vector<UUID> processing_expired;
    for (const auto& [id, task] : tasks_) {
        const int64_t age_ms = now_ms - task.state_since_ms;
        if (task.info.status == TaskStatus::PENDING && age_ms >= limits_.pending_timeout_ms) {
            pending_expired.push_back(id);
        } else if (task.info.status == TaskStatus::PROCESSING &&
                   age_ms >= limits_.processing_timeout_ms) {
            processing_expired.push_back(id);
        }
    }
    for (const UUID& id : pending_expired) {
        auto it = tasks_.find(id);
        if (it == tasks_.end()) continue;
        LOG(WARNING) << "Task " << id.ToString() << " on key " << it->second.info.key
                     << " failed: no client took it in time";
        FinishLocked(it->second, TaskStatus::FAILED, "no live client took the task in time", now_ms,
                     epoch_ms);
    }
    for (const UUID& id : processing_expired) {
        auto it = tasks_.find(id);
        if (it == tasks_.end()) continue;
        LOG(WARNING) << "Task " << id.ToString() << " on key " << it->second.info.key
                     << " timed out on client " << it->second.info.assigned_client.ToString();
        RetryOrFailLocked(it->second, "processing timed out", now_ms, epoch_ms);
    }
}

void TaskTable::ReleaseClient(const UUID& client, int64_t now_ms, int64_t epoch_ms) {
    MutexLock lock(mutex_);
    std::vector<UUID> orphaned;
    for (const auto& [id, task] : tasks_) {
        if (task.info.status == TaskStatus::PROCESSING && task.info.assigned_client == client) {
            orphaned.push_back(id);
        }
    }
    for (const UUID& id : orphaned) {
        auto it = tasks_.find(id);
        if (it != tasks_.end()) {
            RetryOrFailLocked(it->second, "assigned client expired", now_ms, epoch_ms);
        }
    }
}

uint64_t TaskTable::pending_count() const {
    MutexLock lock(mutex_);
    return pending_;
}

uint64_t TaskTable::processing_count() const {
    MutexLock lock(mutex_);
    return processing_;
}

uint64_t TaskTable::finished_total() const {
    MutexLock lock(mutex_);
    return finished_total_;
}

}  // namespace mooncake
