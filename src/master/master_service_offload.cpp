// SSD offload in the master: local-disk mounts, the offload queue fed at
// put end, LOCAL_DISK replicas reported by clients (docs/ssd_offload.md).
#include <glog/logging.h>

#include "master/master_service.h"

namespace mooncake {

Status MasterService::MountLocalDisk(const UUID& client_id, const std::string& endpoint,
                                     bool offloading, uint64_t capacity_bytes) {
    if (client_id.IsNil()) return Error(ErrorCode::INVALID_PARAMS);
    if (!config_.enable_offload) return Error(ErrorCode::UNABLE_OFFLOAD);
    {
        MutexLock lock(membership_mutex_);
        clients_.Touch(client_id, clock_->NowMs());
        offload_.Mount(client_id, endpoint, offloading, capacity_bytes);
    }
    LOG(INFO) << "Client " << client_id.ToString() << " mounted its local disk (offload endpoint "
              << endpoint << ", offloading " << (offloading ? "on" : "off") << ")";
    return OkStatus();
}

Status MasterService::UnmountLocalDisk(const UUID& client_id) {
    if (!offload_.IsMounted(client_id)) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    DropLocalDisk(client_id);
    return OkStatus();
}

void MasterService::DropLocalDisk(const UUID& client_id) {
    const std::vector<std::string> orphaned = offload_.Unmount(client_id);
    promotions_.Forget(client_id);
    LOG_IF(INFO, !orphaned.empty())
        << "Local disk of client " << client_id.ToString() << " gone: " << orphaned.size()
        << " keys are on no disk any more";
}

Result<OffloadWork> MasterService::OffloadHeartbeat(const UUID& client_id, size_t max_items) {
    if (!config_.enable_offload) return Error(ErrorCode::UNABLE_OFFLOAD);
    // SEGMENT_NOT_FOUND tells a client whose master restarted to mount again
    // and rescan.
    auto work = offload_.TakeWork(client_id, max_items);
    if (!work) return work;
    clients_.Refresh(client_id, clock_->NowMs());
    DescribeOffloadSources(work->offload);
    if (config_.promotion_on_hit) {
        work->promote = promotions_.Take(client_id, config_.promotion_max_per_heartbeat);
        Bump(counters_.promotions_handed_out, work->promote.size());
    }
    return work;
}

void MasterService::DescribeOffloadSources(std::vector<OffloadItem>& items) {
    const int64_t now_us = clock_->NowUs();
    SegmentPool::ReadView view(pool_);
    for (OffloadItem& item : items) {
        const KeyLocation where = index_.Locate(item.key);
        MutexLock lock(where.shard.mutex);
        const ObjectMeta* meta = FindObject(where);
        if (meta == nullptr || !meta->complete() || meta->size() != item.size) continue;
        item.value_id = meta->value_id();
        // The pin (or a reader's lease) holds the space until this deadline;
        // never promised for longer than a lease, so that a restarted
        // master's grace period (docs/reliability.md) covers it too.
        const int64_t held_us = std::min(meta->lease_deadline_us() - now_us, lease_ttl_us_);
        if (held_us < 1000) continue;
        for (size_t i = 0; i < meta->replica_count(); ++i) {
            const ReplicaSlot& slot = meta->replica(i);
            if (slot.status != ReplicaStatus::COMPLETE) continue;
            const SegmentPool::Segment* segment = view.FindActive(slot.segment);
            if (segment != nullptr) item.sources.push_back(Describe(*segment, slot, meta->size()));
        }
        item.pin_ms = static_cast<uint64_t>(held_us / 1000);
    }
}

Status MasterService::NotifyOffloadSuccess(const UUID& client_id,
                                           const std::vector<OffloadItem>& items,
                                           bool from_rescan) {
    if (!config_.enable_offload) return Error(ErrorCode::UNABLE_OFFLOAD);
    std::vector<OffloadItem> valid;
    std::vector<std::string> stale;
    bool pins_ended = false;
    valid.reserve(items.size());
    for (const OffloadItem& item : items) {
        if (!IsValidKey(item.key) || item.size == 0) continue;
        const KeyLocation where = index_.Locate(item.key);
        MutexLock lock(where.shard.mutex);
        const auto position = index_.Find(where);
        if (position == ObjectIndex::kNotFound) {
            valid.push_back(item);  // a fresh one must be in flight (checked below)
            continue;
        }
        ObjectMeta& meta = where.shard.objects.meta(position);
        if (!meta.complete() || meta.size() != item.size ||
            ValueIdsDiffer(item.value_id, meta.value_id())) {
            stale.push_back(item.key);  // another value under the key now
            continue;
        }
        valid.push_back(item);
        // The copy is written: end the offload pin (readers' leases stay).
        if (!from_rescan) {
            meta.EndPin();
            pins_ended = true;
        }
    }
    if (pins_ended) pin_ends_.fetch_add(1, std::memory_order_relaxed);
    auto added = from_rescan ? offload_.AddReplicas(client_id, valid)
                             : offload_.CompleteOffload(client_id, valid);
    if (!added) return Error(added.error());
    offload_.ScheduleRemoval(client_id, stale);
    Bump(counters_.offloaded, *added);
    return OkStatus();
}

Status MasterService::NotifyDiskEvicted(const UUID& client_id,
                                        const std::vector<std::string>& keys) {
    if (!offload_.IsMounted(client_id)) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    offload_.RemoveReplicas(client_id, keys);
    return OkStatus();
}

ErrorCode MasterService::QueueOffload(const SegmentPool::ReadView& view, const std::string& key,
                                      ObjectMeta& meta) {
    const SegmentPool::Segment* segment = nullptr;
    for (size_t i = 0; i < meta.replica_count() && segment == nullptr; ++i) {
        if (meta.replica(i).status == ReplicaStatus::COMPLETE) {
            segment = view.FindActive(meta.replica(i).segment);
        }
    }
    if (segment == nullptr) return ErrorCode::UNABLE_OFFLOADING;
    // The segment's owner writes the copy: the bytes are in its own memory,
    // so offloading moves nothing over the network, and its disk is where a
    // restart of that same host finds them again.
    Status queued = offload_.Enqueue(segment->client, key, meta.size());
    if (!queued) {
        if (queued.error() == ErrorCode::KEYS_ULTRA_LIMIT) Bump(counters_.offload_queue_rejected);
        return queued.error();
    }
    // Not evicted (nor its space reused) before the owner has read it.
    meta.Pin(clock_->NowUs() + kOffloadPinMs * 1000);
    Bump(counters_.offload_queued);
    return ErrorCode::OK;
}

bool MasterService::KeepForOffload(const SegmentPool::ReadView& view, std::string_view key,
                                   ObjectMeta& meta) {
    const std::string name(key);
    if (offload_.Contains(name)) return false;  // the disk copy remains
    const auto cap = static_cast<uint64_t>(static_cast<double>(config_.offloading_queue_limit) *
                                           config_.offload_cap_ratio);
    const ErrorCode queued =
        offloads_this_round_ < cap ? QueueOffload(view, name, meta) : ErrorCode::KEYS_ULTRA_LIMIT;
    if (queued == ErrorCode::OK) {
        ++offloads_this_round_;
        return true;  // pinned until written; a later round evicts it
    }
    // The owner has no disk: nothing to wait for.
    if (queued == ErrorCode::UNABLE_OFFLOADING) return false;
    // No room in the queue now: keep it for a later round, unless losing
    // it is allowed.
    return !config_.offload_force_evict;
}

Result<GetReplicaListResult> MasterService::DiskOnlyReplicaList(const std::string& key) {
    GetReplicaListResult result;
    result.replicas = offload_.Find(key);
    if (result.replicas.empty()) return Error(ErrorCode::OBJECT_NOT_FOUND);
    result.lease_ttl_ms = static_cast<uint64_t>(lease_ttl_ms_);
    Bump(counters_.gets);
    Bump(counters_.disk_gets);
    if (config_.promotion_on_hit) {
        // The holder reads its own file back into memory (no network).
        (void)promotions_.RecordDiskRead(key, result.replicas.front().local_disk().client_id);
    }
    return result;
}

int64_t MasterService::RemoveDiskOnly(const std::function<bool(const std::string&)>& matches) {
    if (offload_.Empty()) return 0;
    int64_t removed = 0;
    for (const std::string& key : offload_.AllKeys()) {
        if (!matches(key)) continue;
        const KeyLocation where = index_.Locate(key);
        {
            MutexLock lock(where.shard.mutex);
            if (index_.Find(where) != ObjectIndex::kNotFound) continue;  // kept in memory
        }
        if (offload_.RemoveKey(key)) ++removed;
    }
    return removed;
}

}  // namespace mooncake
