// MasterService::BatchReplicaClear: a writer drops what it wrote, whole
// objects or just their replicas on one segment, once no reader holds them.
#include <glog/logging.h>

#include <algorithm>

#include "master/master_service.h"

namespace mooncake {

std::vector<std::string> MasterService::BatchReplicaClear(const UUID& client_id,
                                                          const std::vector<std::string>& keys,
                                                          const std::string& segment_name) {
    std::vector<std::string> cleared;
    SegmentPool::ReadView view(pool_);
    std::vector<uint32_t> segments;
    const bool whole_object = segment_name.empty();
    if (!whole_object) {
        const auto* named = view.FindByName(segment_name);
        if (named == nullptr) return cleared;  // no replica can be there
        for (const SegmentPool::Segment* segment : *named) segments.push_back(segment->id);
    }
    for (const std::string& key : keys) {
        if (!IsValidKey(key)) continue;
        if (ReplicaClearOne(view, client_id, key, segments, whole_object)) cleared.push_back(key);
    }
    Bump(counters_.removes, static_cast<uint64_t>(cleared.size()));
    VLOG(1) << "BatchReplicaClear by " << client_id.ToString() << " cleared " << cleared.size()
            << " of " << keys.size() << " keys";
    return cleared;
}

bool MasterService::ReplicaClearOne(const SegmentPool::ReadView& view, const UUID& client_id,
                                    const std::string& key, const std::vector<uint32_t>& segments,
                                    bool whole_object) {
    const int64_t now_us = clock_->NowUs();
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto position = index_.Find(where);
    if (position == ObjectIndex::kNotFound) return false;
    ObjectMeta& meta = where.shard.objects.meta(position);
    // Only the writer, only complete objects nobody reads or copies.
    if (meta.owner() != client_id || !meta.complete() || meta.op_in_flight() ||
        meta.IsLeased(now_us)) {
        return false;
    }
    index_.Touch(where.shard, position);  // before the frees (change_log.h)
    if (whole_object) {
        FreeReplicas(view, meta);
        index_.Erase(where.shard, position);
        return true;
    }
    bool removed_any = false;
    for (size_t i = meta.replica_count(); i-- > 0;) {
        const ReplicaSlot slot = meta.replica(i);
        if (slot.status != ReplicaStatus::COMPLETE ||
            std::find(segments.begin(), segments.end(), slot.segment) == segments.end()) {
            continue;
        }
        view.Free(slot.segment, slot.address, meta.size());
        meta.RemoveReplica(i);
        removed_any = true;
    }
    if (removed_any && meta.CountComplete() == 0) {
        FreeReplicas(view, meta);  // what is left is not readable
        index_.Erase(where.shard, position);
    }
    return removed_any;
}

}  // namespace mooncake
