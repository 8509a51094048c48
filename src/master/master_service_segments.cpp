// Mounting and unmounting segments, client liveness and expiry.
#include <glog/logging.h>

#include "master/master_service.h"

namespace mooncake {

Status MasterService::MountSegment(const UUID& client_id, const SegmentInfo& segment) {
    if (client_id.IsNil()) return Error(ErrorCode::INVALID_PARAMS);
    MutexLock lock(membership_mutex_);
    Status status = pool_.Mount(client_id, segment);
    if (!status) {
        LOG(WARNING) << "Mount of segment " << segment.name << " (" << segment.id.ToString()
                     << ") by client " << client_id.ToString()
                     << " refused: " << ErrorCodeName(status.error());
        return status;
    }
    clients_.Touch(client_id, clock_->NowMs());
    LOG(INFO) << "Client " << client_id.ToString() << " mounted segment " << segment.name << " ("
              << segment.id.ToString() << "), " << segment.size << " bytes at 0x" << std::hex
              << segment.base << std::dec;
    return OkStatus();
}

Status MasterService::ReMountSegments(const UUID& client_id,
                                      const std::vector<SegmentInfo>& segments) {
    if (client_id.IsNil()) return Error(ErrorCode::INVALID_PARAMS);
    const int64_t now_ms = clock_->NowMs();
    MutexLock lock(membership_mutex_);
    Status first_failure = OkStatus();
    size_t mounted = 0;
    for (const SegmentInfo& segment : segments) {
        const std::optional<UUID> owner = pool_.MountedBy(segment.id);
        if (owner == client_id) continue;
        Status status = owner ? Status(Error(ErrorCode::SEGMENT_ALREADY_EXISTS))
                              : pool_.Mount(client_id, segment, /*fenced=*/true);
        if (status) {
            ++mounted;
            // +1: the re-mount happened before the end of this millisecond.
            fences_.push_back({segment.id, now_ms + lease_ttl_ms_ + 1});
        } else {
            LOG(WARNING) << "Re-mount of segment " << segment.name << " (" << segment.id.ToString()
                         << ") by client " << client_id.ToString()
                         << " refused: " << ErrorCodeName(status.error());
            if (first_failure) first_failure = status;
        }
    }
    // The client is talking to us: it is alive whatever became of its
    // segments (a pure client mounts none).
    clients_.Touch(client_id, now_ms);
    LOG(INFO) << "Client " << client_id.ToString() << " re-mounted " << mounted << " of "
              << segments.size() << " segments"
              << (mounted > 0 ? "; no allocation in them for default_kv_lease_ttl" : "");
    return first_failure;
}

Status MasterService::UnmountSegment(const UUID& client_id, const UUID& segment_id,
                                     uint32_t grace_period_seconds) {
    if (grace_period_seconds > 0) {
        MC_RETURN_IF_ERROR(pool_.Drain(client_id, segment_id));
        LOG(INFO) << "Client " << client_id.ToString() << " unmounts segment "
                  << segment_id.ToString() << " in " << grace_period_seconds
                  << " s; until then it is read only";
        return OkStatus();
    }
    uint32_t retired = 0;
    {
        MutexLock lock(membership_mutex_);
        auto id = pool_.Retire(client_id, segment_id);
        if (!id) return Error(id.error());
        retired = *id;
    }
    const uint64_t removed = SweepRetiredSegments({retired});
    LOG(INFO) << "Client " << client_id.ToString() << " unmounted segment " << segment_id.ToString()
              << "; " << removed << " objects lost their last replica";
    return OkStatus();
}

Status MasterService::UnregisterClient(const UUID& client_id) {
    if (client_id.IsNil()) return Error(ErrorCode::INVALID_PARAMS);
    std::vector<uint32_t> retired;
    bool known = false;
    {
        // Under the membership lock, like an expiry.
        MutexLock lock(membership_mutex_);
        retired = pool_.RetireClient(client_id);
        known = clients_.Remove(client_id);
    }
    const uint64_t removed = SweepRetiredSegments(retired);
    // It writes no more: what it had not committed is free at once.
    FreeCredits(credits_.TakeClient(client_id));
    DropLocalDisk(client_id);
    tasks_.ReleaseClient(client_id, clock_->NowMs(), clock_->EpochMs());
    LOG_IF(INFO, known || !retired.empty())
        << "Client " << client_id.ToString() << " closed: " << retired.size()
        << " segments unmounted, " << removed << " objects lost their last replica";
    return OkStatus();
}

uint64_t MasterService::SweepRetiredSegments(const std::vector<uint32_t>& segment_ids) {
    if (segment_ids.empty()) return 0;
    const uint64_t removed =
        DropReplicasOn(std::unordered_set<uint32_t>(segment_ids.begin(), segment_ids.end()));
    for (uint32_t id : segment_ids) pool_.Forget(id);
    return removed;
}

uint64_t MasterService::DropReplicasOn(const std::unordered_set<uint32_t>& segment_ids) {
    // The segments are retired: nothing new is placed on them and their
    // space is not freed replica by replica (the memory leaves with the
    // client). Each shard is visited once, under its own lock only.
    uint64_t removed = 0;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        MutexLock lock(shard.mutex);
        uint64_t removed_here = 0;
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            ObjectMeta& meta = shard.objects.meta(position);
            for (size_t r = meta.replica_count(); r-- > 0;) {
                if (!segment_ids.contains(meta.replica(r).segment)) continue;
                meta.RemoveReplica(r);
                index_.Touch(shard, position);
            }
            if (meta.replica_count() == 0) {
                EraseObject(shard, position);
                ++removed_here;
            }
        });
        if (removed_here > 0) ObjectIndex::Compact(shard);
        removed += removed_here;
    }
    return removed;
}

std::vector<std::string> MasterService::GetAllSegments() const { return pool_.Names(); }

std::vector<SegmentDetail> MasterService::GetSegmentsDetail() const {
    SegmentPool::ReadView view(pool_);
    std::vector<SegmentDetail> details;
    details.reserve(view.active().size());
    for (const SegmentPool::Segment* segment : view.active()) {
        details.push_back({segment->info.name, segment->info.id, segment->client,
                           segment->info.base, segment->info.size,
                           SegmentPool::ReportedUsed(*segment), segment->capacity,
                           segment->draining.load(std::memory_order_relaxed)});
    }
    return details;
}

std::vector<std::string> MasterService::GetAllKeys() {
    std::vector<std::string> keys;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        MutexLock lock(shard.mutex);
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            if (shard.objects.meta(position).complete()) {
                keys.emplace_back(shard.objects.key(position));
            }
        });
    }
    if (!offload_.Empty()) {
        // Objects evicted to disk exist too (no key twice).
        std::unordered_set<std::string> in_memory(keys.begin(), keys.end());
        for (std::string& key : offload_.AllKeys()) {
            if (!in_memory.contains(key)) keys.push_back(std::move(key));
        }
    }
    return keys;
}

Result<SegmentUsage> MasterService::QuerySegment(const std::string& name) const {
    auto usage = pool_.UsageOf(name);
    if (!usage) return Error(usage.error());
    return SegmentUsage{usage->first, usage->second};
}

Result<PingResult> MasterService::Ping(const UUID& client_id) {
    PingResult result;
    if (!clients_.Refresh(client_id, clock_->NowMs())) {
        result.status = ClientStatus::NEED_REMOUNT;
        return result;
    }
    result.tasks = AssignTasks(client_id, kMaxTasksPerPing);
    return result;
}

void MasterService::ExpireClients(int64_t now_ms) {
    std::vector<UUID> expired;
    std::vector<uint32_t> retired;
    {
        // Under the membership lock so that a client re-mounting right now
        // either finds its segments still mounted before this or mounts
        // them afresh after it, never in between.
        MutexLock lock(membership_mutex_);
        expired = clients_.TakeExpired(now_ms, client_ttl_ms_);
        for (const UUID& client : expired) {
            std::vector<uint32_t> ids = pool_.RetireClient(client);
            retired.insert(retired.end(), ids.begin(), ids.end());
        }
    }
    if (expired.empty()) return;
    const uint64_t removed = SweepRetiredSegments(retired);
    const int64_t epoch_ms = clock_->EpochMs();
    for (const UUID& client : expired) {
        DropLocalDisk(client);  // a dead client serves no disk reads
        tasks_.ReleaseClient(client, now_ms, epoch_ms);
        LOG(WARNING) << "Client " << client.ToString() << " silent for " << client_ttl_ms_
                     << " ms: expired";
    }
    Bump(counters_.clients_expired, expired.size());
    LOG(WARNING) << "Expired " << expired.size() << " clients: " << retired.size()
                 << " segments unmounted, " << removed << " objects lost their last replica";
}

void MasterService::LiftDueFences(int64_t now_ms) {
    MutexLock lock(membership_mutex_);
    std::erase_if(fences_, [&](const Fence& fence) {
        if (fence.lift_at_ms > now_ms) return false;
        if (pool_.LiftFence(fence.segment)) {
            VLOG(1) << "Segment " << fence.segment.ToString() << " open for allocation again";
        }
        return true;
    });
}

}  // namespace mooncake
