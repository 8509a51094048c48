#include "client/task_executor.h"

#include <glog/logging.h>

#include <algorithm>
#include <string>

#include "client/replica_transfer.h"

namespace mooncake {

namespace {

const char* TaskTypeName(TaskType type) { return type == TaskType::REPLICA_MOVE ? "move" : "copy"; }

}  // namespace

TaskExecutor::TaskExecutor(const ClientContext& context) : context_(context) {}

TaskExecutor::~TaskExecutor() { Stop(); }

void TaskExecutor::Start() {
    MutexLock lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([this] { Loop(); });
}

void TaskExecutor::Submit(std::vector<TaskAssignment> tasks) {
    {
        MutexLock lock(mutex_);
        if (stopping_) return;
        for (TaskAssignment& task : tasks) {
            if (!known_ids_.insert(task.id).second) continue;
            queue_.push_back(std::move(task));
        }
    }
    wake_.NotifyAll();
}

void TaskExecutor::Stop() {
    std::deque<TaskAssignment> abandoned;
    {
        MutexLock lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
        abandoned.swap(queue_);
    }
    wake_.NotifyAll();
    if (thread_.joinable()) thread_.join();
    for (const TaskAssignment& task : abandoned) {
        (void)context_.master->MarkTaskComplete(context_.client_id, task.id, TaskStatus::FAILED,
                                                "client closed before running the task");
    }
    if (staging_buffer_ != nullptr) {
        (void)context_.engine->UnregisterLocalMemory(staging_buffer_->base());
        staging_.reset();
        staging_buffer_.reset();
    }
}

void TaskExecutor::Loop() {
    MutexLock lock(mutex_);
    while (true) {
        while (!stopping_ && queue_.empty()) wake_.Wait(lock);
        if (stopping_) return;
        TaskAssignment task = std::move(queue_.front());
        queue_.pop_front();
        lock.Unlock();
        Execute(task);
        lock.Lock();
        known_ids_.erase(task.id);
    }
}

void TaskExecutor::Execute(const TaskAssignment& task) {
    LOG(INFO) << "Running " << TaskTypeName(task.type) << " task " << task.id.ToString()
              << " for key '" << task.key << "'";
    Status done = context_.engine == nullptr ? Status(Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE))
                  : task.type == TaskType::REPLICA_MOVE ? RunMove(task)
                                                        : RunCopy(task);
    std::string message;
    if (!done.has_value()) {
        message = std::string(TaskTypeName(task.type)) +
                  " failed: " + std::string(ErrorCodeName(done.error()));
        LOG(WARNING) << "Task " << task.id.ToString() << " " << message;
    }
    Status reported = context_.master->MarkTaskComplete(
        context_.client_id, task.id, done.has_value() ? TaskStatus::SUCCESS : TaskStatus::FAILED,
        message);
    if (!reported.has_value()) {
        // The master times the task out and hands it out again.
        LOG(WARNING) << "Reporting task " << task.id.ToString()
                     << " failed: " << ErrorCodeName(reported.error());
    }
}

Status TaskExecutor::RunCopy(const TaskAssignment& task) {
    if (task.targets.empty()) return Error(ErrorCode::INVALID_PARAMS);
    auto start = context_.master->CopyStart(context_.client_id, task.key, task.targets);
    if (!start.has_value()) return Error(start.error());
    return EndOrRevoke(CopyBytes(start->source, start->targets), task.key, &MasterClient::CopyEnd,
                       &MasterClient::CopyRevoke);
}

Status TaskExecutor::RunMove(const TaskAssignment& task) {
    if (task.targets.size() != 1) return Error(ErrorCode::INVALID_PARAMS);
    auto start =
        context_.master->MoveStart(context_.client_id, task.key, task.source, task.targets[0]);
    if (!start.has_value()) return Error(start.error());
    return EndOrRevoke(
        CopyBytes(start->source, std::span<const ReplicaDescriptor>(&start->target, 1)), task.key,
        &MasterClient::MoveEnd, &MasterClient::MoveRevoke);
}

Status TaskExecutor::EndOrRevoke(Status copied, const std::string& key, KeyCall end,
                                 KeyCall revoke) {
    if (copied.has_value()) {
        Status ended = (context_.master->*end)(context_.client_id, key);
        if (ended.has_value()) return ended;
        copied = ended;
    }
    (void)(context_.master->*revoke)(context_.client_id, key);
    return copied;
}

Status TaskExecutor::CopyBytes(const ReplicaDescriptor& source,
                               std::span<const ReplicaDescriptor> targets) {
    if (!source.is_memory_replica()) return Error(ErrorCode::INVALID_REPLICA);
    if (targets.empty()) return OkStatus();  // every target held a replica already
    if (context_.has_segment && source.memory().transport_endpoint == context_.segment_name) {
        return CopyDirect(source, targets);
    }
    return CopyStaged(source, targets);
}

// The source lies in our own segment: its bytes are local memory already.
Status TaskExecutor::CopyDirect(const ReplicaDescriptor& source,
                                std::span<const ReplicaDescriptor> targets) {
    const MemoryDescriptor& memory = source.memory();
    const MemoryPiece piece{reinterpret_cast<void*>(memory.buffer_address), memory.size};
    std::vector<TransferRequest> requests;
    for (const ReplicaDescriptor& target : targets) {
        MC_RETURN_IF_ERROR(AppendReplicaTransfers(*context_.engine, TransferOpcode::WRITE, target,
                                                  std::span<const MemoryPiece>(&piece, 1),
                                                  memory.size, &requests));
    }
    return context_.engine->TransferSync(requests);
}

Status TaskExecutor::CopyStaged(const ReplicaDescriptor& source,
                                std::span<const ReplicaDescriptor> targets) {
    auto staging = StagingArea();
    if (!staging.has_value()) return Error(staging.error());
    const uint64_t size = source.memory().size;
    std::vector<TransferRequest> requests;
    for (uint64_t offset = 0; offset < size; offset += kStagingBytes) {
        const uint64_t length = std::min(kStagingBytes, size - offset);
        const MemoryPiece piece{(*staging)->mutable_data(), length};
        const std::span<const MemoryPiece> pieces(&piece, 1);
        requests.clear();
        MC_RETURN_IF_ERROR(AppendReplicaTransfers(*context_.engine, TransferOpcode::READ, source,
                                                  pieces, length, &requests, offset));
        MC_RETURN_IF_ERROR(context_.engine->TransferSync(requests));
        requests.clear();
        for (const ReplicaDescriptor& target : targets) {
            MC_RETURN_IF_ERROR(AppendReplicaTransfers(*context_.engine, TransferOpcode::WRITE,
                                                      target, pieces, length, &requests, offset));
        }
        MC_RETURN_IF_ERROR(context_.engine->TransferSync(requests));
    }
    return OkStatus();
}

Result<LocalBufferSlice*> TaskExecutor::StagingArea() {
    if (staging_ != nullptr) return staging_.get();
    auto buffer = LocalBuffer::Create(kStagingBytes);
    if (!buffer.has_value()) return Error(buffer.error());
    // Registered because RDMA needs the local side of a transfer to be; not
    // remotely accessible, peers have no business in it.
    MC_RETURN_IF_ERROR(context_.engine->RegisterLocalMemory((*buffer)->base(), (*buffer)->size(),
                                                            /*remote_accessible=*/false));
    auto slice = (*buffer)->Allocate(kStagingBytes);
    if (!slice.has_value()) {
        (void)context_.engine->UnregisterLocalMemory((*buffer)->base());
        return Error(slice.error());
    }
    staging_buffer_ = std::move(*buffer);
    staging_ = std::move(*slice);
    return staging_.get();
}

}  // namespace mooncake
