// Copy and move tasks: creation, assignment, reports, and the CopyStart /
// MoveStart primitives the client running a task calls.
#include <glog/logging.h>

#include <algorithm>

#include "master/master_service.h"
#include "master/placement.h"

namespace mooncake {

namespace {

// `names` without repeats, first occurrence kept.
std::vector<std::string> Deduplicated(const std::vector<std::string>& names) {
    std::vector<std::string> unique;
    for (const std::string& name : names) {
        if (std::find(unique.begin(), unique.end(), name) == unique.end()) unique.push_back(name);
    }
    return unique;
}

// Index of a complete replica of `meta` on a mounted segment named `name`
// (any name when empty); replica_count() when none.
size_t FindCompleteReplica(const SegmentPool::ReadView& view, const ObjectMeta& meta,
                           std::string_view name = {}) {
    for (size_t i = 0; i < meta.replica_count(); ++i) {
        const ReplicaSlot& slot = meta.replica(i);
        if (slot.status != ReplicaStatus::COMPLETE) continue;
        const SegmentPool::Segment* segment = view.FindActive(slot.segment);
        if (segment != nullptr && (name.empty() || segment->info.name == name)) return i;
    }
    return meta.replica_count();
}

// Whether `meta` has a replica, in any state, on a mounted segment named
// `name` (one on a segment being unmounted does not count).
bool HasReplicaOnName(const SegmentPool::ReadView& view, const ObjectMeta& meta,
                      std::string_view name) {
    for (size_t i = 0; i < meta.replica_count(); ++i) {
        const SegmentPool::Segment* segment = view.FindActive(meta.replica(i).segment);
        if (segment != nullptr && segment->info.name == name) return true;
    }
    return false;
}

}  // namespace

// ---- the task table -----------------------------------------------------------

Result<UUID> MasterService::CreateCopyTask(const std::string& key,
                                           const std::vector<std::string>& targets) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    if (targets.empty()) return Error(ErrorCode::INVALID_PARAMS);
    TaskSpec spec;
    spec.type = TaskType::REPLICA_COPY;
    spec.key = key;
    spec.targets = Deduplicated(targets);
    {
        SegmentPool::ReadView view(pool_);
        const KeyLocation where = index_.Locate(key);
        MutexLock lock(where.shard.mutex);
        const auto found = FindComplete(where);
        if (!found) return Error(found.error());
        // A target that is not mounted is a bad request (INVALID_PARAMS, as
        // the reference answers), not a missing resource.
        for (const std::string& target : spec.targets) {
            if (view.FindByName(target) == nullptr) return Error(ErrorCode::INVALID_PARAMS);
        }
        const ObjectMeta& meta = **found;
        const size_t source = FindCompleteReplica(view, meta);
        if (source == meta.replica_count()) return Error(ErrorCode::OBJECT_NOT_FOUND);
        spec.preferred_client = view.Find(meta.replica(source).segment)->client;
    }
    auto id = tasks_.Create(std::move(spec), clock_->NowMs(), clock_->EpochMs());
    if (id) VLOG(1) << "Copy task " << id->ToString() << " created for " << key;
    return id;
}

Result<UUID> MasterService::CreateMoveTask(const std::string& key, const std::string& source,
                                           const std::string& target) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    if (source == target) return Error(ErrorCode::INVALID_PARAMS);
    TaskSpec spec;
    spec.type = TaskType::REPLICA_MOVE;
    spec.key = key;
    spec.source = source;
    spec.targets = {target};
    {
        SegmentPool::ReadView view(pool_);
        const KeyLocation where = index_.Locate(key);
        MutexLock lock(where.shard.mutex);
        const auto found = FindComplete(where);
        if (!found) return Error(found.error());
        if (view.FindByName(source) == nullptr || view.FindByName(target) == nullptr) {
            return Error(ErrorCode::INVALID_PARAMS);
        }
        const ObjectMeta& meta = **found;
        const size_t on_source = FindCompleteReplica(view, meta, source);
        if (on_source == meta.replica_count()) return Error(ErrorCode::INVALID_PARAMS);
        spec.preferred_client = view.Find(meta.replica(on_source).segment)->client;
    }
    auto id = tasks_.Create(std::move(spec), clock_->NowMs(), clock_->EpochMs());
    if (id) VLOG(1) << "Move task " << id->ToString() << " created for " << key;
    return id;
}

Result<TaskInfo> MasterService::QueryTask(const UUID& task_id) const {
    return tasks_.Query(task_id);
}

std::vector<TaskAssignment> MasterService::AssignTasks(const UUID& client_id, size_t max_tasks) {
    if (max_tasks == 0) return {};
    const bool has_segment = pool_.ClientHasSegment(client_id);
    return tasks_.Assign(client_id, has_segment, max_tasks, clients_, clock_->NowMs(),
                         clock_->EpochMs());
}

std::vector<TaskAssignment> MasterService::FetchTasks(const UUID& client_id, size_t max_tasks) {
    if (!clients_.IsAlive(client_id)) return {};
    return AssignTasks(client_id, max_tasks);
}

Status MasterService::MarkTaskComplete(const UUID& client_id, const UUID& task_id,
                                       TaskStatus status, const std::string& message) {
    Status result =
        tasks_.Complete(client_id, task_id, status, message, clock_->NowMs(), clock_->EpochMs());
    if (result) {
        VLOG(1) << "Task " << task_id.ToString()
                << (status == TaskStatus::SUCCESS ? " succeeded" : " failed: ") << message;
    }
    return result;
}

// ---- execution primitives -----------------------------------------------------

void MasterService::UndoReplicationOp(const SegmentPool::ReadView& view, const std::string& key,
                                      ObjectMeta& meta) {
    NoteKey(key);  // before the frees (change_log.h)
    for (size_t r = meta.replica_count(); r-- > 0;) {
        ReplicaSlot& slot = meta.replica(r);
        slot.move_source = false;
        if (slot.status == ReplicaStatus::PROCESSING) {
            view.Free(slot.segment, slot.address, meta.size());
            meta.RemoveReplica(r);
        }
    }
    meta.set_op_in_flight(false);
    ops_.End(key);
}

Result<CopyStartResult> MasterService::CopyStart(const UUID& client_id, const std::string& key,
                                                 const std::vector<std::string>& targets) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    if (targets.empty()) return Error(ErrorCode::INVALID_PARAMS);
    const std::vector<std::string> names = Deduplicated(targets);
    const int64_t now_ms = clock_->NowMs();

    SegmentPool::ReadView view(pool_);
    for (const std::string& name : names) {
        if (view.FindByName(name) == nullptr) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto found = FindReplicable(where);
    if (!found) return Error(found.error());
    ObjectMeta& meta = **found;
    const size_t source = FindCompleteReplica(view, meta);
    if (source == meta.replica_count()) return Error(ErrorCode::OBJECT_NOT_FOUND);

    std::vector<PlacedReplica> placed;
    for (const std::string& name : names) {
        if (HasReplicaOnName(view, meta, name)) continue;
        auto replica = AllocateOnName(view, name, meta.size());
        if (!replica || meta.replica_count() + placed.size() >= ObjectMeta::kMaxReplicas) {
            if (replica) view.Free(replica->segment->id, replica->address, meta.size());
            for (const PlacedReplica& undo : placed) {
                view.Free(undo.segment->id, undo.address, meta.size());
            }
            LOG(WARNING) << "CopyStart of " << key << " to " << name << ": no space";
            return Error(ErrorCode::NO_AVAILABLE_HANDLE);
        }
        placed.push_back(*replica);
    }

    CopyStartResult result;
    const ReplicaSlot& source_slot = meta.replica(source);
    result.source = Describe(*view.Find(source_slot.segment), source_slot, meta.size());
    for (const PlacedReplica& replica : placed) {
        const ReplicaSlot slot{replica.address, replica.segment->id, ReplicaStatus::PROCESSING};
        meta.AddReplica(slot);
        result.targets.push_back(Describe(*replica.segment, slot, meta.size()));
    }
    meta.set_op_in_flight(true);
    NoteKey(key);
    ops_.Begin(key, {ReplicationOp::Kind::kCopy, client_id, now_ms});
    meta.ExtendLease(now_ms * 1000 + lease_ttl_us_);
    return result;
}

Status MasterService::CopyEnd(const UUID& client_id, const std::string& key) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto found = FindOwnOp(where, key, client_id, ReplicationOp::Kind::kCopy);
    if (!found) return Error(found.error());
    ObjectMeta& meta = *found->meta;
    NoteKey(key);
    for (size_t r = 0; r < meta.replica_count(); ++r) {
        if (meta.replica(r).status == ReplicaStatus::PROCESSING) {
            meta.replica(r).status = ReplicaStatus::COMPLETE;
        }
    }
    meta.set_op_in_flight(false);
    ops_.End(key);
    return OkStatus();
}

Status MasterService::CopyRevoke(const UUID& client_id, const std::string& key) {
    return RevokeReplicationOp(client_id, key, ReplicationOp::Kind::kCopy);
}

Result<MoveStartResult> MasterService::MoveStart(const UUID& client_id, const std::string& key,
                                                 const std::string& source,
                                                 const std::string& target) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    if (source == target) return Error(ErrorCode::INVALID_PARAMS);
    const int64_t now_ms = clock_->NowMs();

    SegmentPool::ReadView view(pool_);
    if (view.FindByName(source) == nullptr || view.FindByName(target) == nullptr) {
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto found = FindReplicable(where);
    if (!found) return Error(found.error());
    ObjectMeta& meta = **found;
    const size_t on_source = FindCompleteReplica(view, meta, source);
    if (on_source == meta.replica_count()) return Error(ErrorCode::INVALID_PARAMS);

    MoveStartResult result;
    const ReplicaSlot& source_slot = meta.replica(on_source);
    result.source = Describe(*view.Find(source_slot.segment), source_slot, meta.size());
    meta.replica(on_source).move_source = true;

    uint32_t target_segment = 0;
    const size_t on_target = FindCompleteReplica(view, meta, target);
    if (on_target != meta.replica_count()) {
        // The target holds the bytes already; ending the move only drops
        // the source.
        const ReplicaSlot& slot = meta.replica(on_target);
        result.target = Describe(*view.Find(slot.segment), slot, meta.size());
        target_segment = slot.segment;
    } else {
        auto replica = AllocateOnName(view, target, meta.size());
        if (!replica || meta.replica_count() >= ObjectMeta::kMaxReplicas) {
            if (replica) view.Free(replica->segment->id, replica->address, meta.size());
            meta.replica(on_source).move_source = false;
            LOG(WARNING) << "MoveStart of " << key << " to " << target << ": no space";
            return Error(ErrorCode::NO_AVAILABLE_HANDLE);
        }
        const ReplicaSlot slot{replica->address, replica->segment->id, ReplicaStatus::PROCESSING};
        meta.AddReplica(slot);
        result.target = Describe(*replica->segment, slot, meta.size());
        target_segment = replica->segment->id;
    }
    meta.set_op_in_flight(true);
    NoteKey(key);
    ops_.Begin(key, {ReplicationOp::Kind::kMove, client_id, now_ms, target_segment});
    meta.ExtendLease(now_ms * 1000 + lease_ttl_us_);
    return result;
}

Status MasterService::MoveEnd(const UUID& client_id, const std::string& key) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    SegmentPool::ReadView view(pool_);
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto found = FindOwnOp(where, key, client_id, ReplicationOp::Kind::kMove);
    if (!found) return Error(found.error());
    ObjectMeta& meta = *found->meta;
    if (meta.FindReplicaOn(found->op.target_segment) == meta.replica_count()) {
        // The target was unmounted meanwhile: keep the source, fail the move.
        LOG(WARNING) << "MoveEnd of " << key << ": the target segment is gone";
        UndoReplicationOp(view, key, meta);
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    NoteKey(key);  // before the frees (change_log.h)
    // Readers holding a lease may still be reading the source: its space is
    // reused only once the lease has run out.
    const int64_t now_us = clock_->NowUs();
    const int64_t release_at_ms = ReadersDoneMs(meta, now_us);
    for (size_t r = meta.replica_count(); r-- > 0;) {
        ReplicaSlot& slot = meta.replica(r);
        if (slot.status == ReplicaStatus::PROCESSING) slot.status = ReplicaStatus::COMPLETE;
        if (!slot.move_source) continue;
        FreeAt(view, slot, meta.size(), release_at_ms, now_us / 1000);
        meta.RemoveReplica(r);
    }
    meta.set_op_in_flight(false);
    ops_.End(key);
    return OkStatus();
}

Status MasterService::MoveRevoke(const UUID& client_id, const std::string& key) {
    return RevokeReplicationOp(client_id, key, ReplicationOp::Kind::kMove);
}

Status MasterService::RevokeReplicationOp(const UUID& client_id, const std::string& key,
                                          ReplicationOp::Kind kind) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    SegmentPool::ReadView view(pool_);
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto found = FindOwnOp(where, key, client_id, kind);
    if (!found) return Error(found.error());
    UndoReplicationOp(view, key, *found->meta);
    return OkStatus();
}

Result<ObjectMeta*> MasterService::FindComplete(const KeyLocation& where) {
    ObjectMeta* object = FindObject(where);
    if (object == nullptr) return Error(ErrorCode::OBJECT_NOT_FOUND);
    if (!object->complete()) return Error(ErrorCode::REPLICA_IS_NOT_READY);
    return object;
}

Result<ObjectMeta*> MasterService::FindReplicable(const KeyLocation& where) {
    auto found = FindComplete(where);
    if (found && (*found)->op_in_flight()) return Error(ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    return found;
}

Result<MasterService::OwnOp> MasterService::FindOwnOp(const KeyLocation& where,
                                                      const std::string& key, const UUID& client_id,
                                                      ReplicationOp::Kind kind) {
    ObjectMeta* object = FindObject(where);
    if (object == nullptr) return Error(ErrorCode::OBJECT_NOT_FOUND);
    const auto op = object->op_in_flight() ? ops_.Find(key) : std::nullopt;
    if (!op || op->kind != kind || op->client != client_id) {
        return Error(ErrorCode::OBJECT_NO_REPLICATION_TASK);
    }
    return OwnOp{object, *op};
}

void MasterService::ReclaimStaleReplicationOps(int64_t now_ms) {
    std::vector<std::string> stale = ops_.StaleKeys(now_ms, put_release_ms_);
    for (const std::string& key : stale) {
        SegmentPool::ReadView view(pool_);
        const KeyLocation where = index_.Locate(key);
        MutexLock lock(where.shard.mutex);
        ObjectMeta* object = FindObject(where);
        if (object == nullptr || !object->op_in_flight()) {
            ops_.End(key);
            continue;
        }
        const auto op = ops_.Find(key);
        if (op && now_ms - op->started_ms < put_release_ms_) continue;  // a newer op
        LOG(WARNING) << "Reclaiming the copy/move of " << key << " started by client "
                     << (op ? op->client.ToString() : std::string("?")) << " and never ended";
        UndoReplicationOp(view, key, *object);
    }
}

}  // namespace mooncake
