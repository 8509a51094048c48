// State images: export of the master's metadata and its restore into an
// empty master (HA promotion, snapshot restore; docs/ha.md).
#include <glog/logging.h>

#include "master/master_service_impl.h"

namespace mooncake {

namespace {

// The object's replicas on segments still mounted, split by status.
void DescribeObject(const SegmentPool::ReadView& view, std::string_view key, const ObjectMeta& meta,
                    MasterStateImage* image) {
    MasterStateImage::Object complete{std::string(key), meta.size(), meta.soft_pinned(), {}};
    MasterStateImage::Object reserved{std::string(key), meta.size(), false, {}};
    for (size_t i = 0; i < meta.replica_count(); ++i) {
        const ReplicaSlot& slot = meta.replica(i);
        const SegmentPool::Segment* segment = view.Find(slot.segment);
        if (segment == nullptr || segment->retiring) continue;
        const bool ready = meta.complete() && slot.status == ReplicaStatus::COMPLETE;
        (ready ? complete : reserved).replicas.push_back({segment->info.id, slot.address});
    }
    if (!complete.replicas.empty()) image->objects.push_back(std::move(complete));
    if (!reserved.replicas.empty()) image->reserved.push_back(std::move(reserved));
}

}  // namespace

MasterStateImage MasterServiceImpl::ExportState() {
    MasterStateImage image;
    // Membership first (lock order 1), then the pool shared, then every
    // shard: with all shards held no put, remove or eviction can change an
    // object meanwhile, so the image is one moment of the master's state.
    // Nobody else ever holds two shards, so taking them all in index order
    // cannot deadlock.
    std::lock_guard<std::mutex> membership(membership_mutex_);
    SegmentPool::ReadView view(pool_);
    for (const SegmentPool::Segment* segment : view.active()) {
        image.segments.push_back({segment->client, segment->info});
    }
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(ObjectIndex::kShardCount);
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        locks.emplace_back(index_.shard(i).mutex);
    }
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        shard.objects.ForEach([&](ObjectTable::Position position) {
            DescribeObject(view, shard.objects.key(position), shard.objects.meta(position), &image);
        });
    }
    return image;
}

Result<ImportStats> MasterServiceImpl::ImportState(const MasterStateImage& image) {
    std::lock_guard<std::mutex> membership(membership_mutex_);
    if (pool_.mounted_count() != 0) return Error(ErrorCode::INVALID_PARAMS);
    const int64_t now_ms = clock_->NowMs();
    ImportStats stats;
    for (const MasterStateImage::Segment& segment : image.segments) {
        if (pool_.Mount(segment.client, segment.info)) {
            clients_.Touch(segment.client, now_ms);
            ++stats.segments;
        } else {
            LOG(WARNING) << "restore: segment " << segment.info.name << " ("
                         << segment.info.id.ToString() << ") refused";
        }
    }
    SegmentPool::ReadView view(pool_);
    // Places the replicas of `object` at their addresses; false (nothing
    // kept) when any of them is not available.
    auto place = [&](const MasterStateImage::Object& object, std::vector<ReplicaSlot>* slots) {
        for (const MasterStateImage::Replica& replica : object.replicas) {
            SegmentPool::Segment* segment = view.FindByUuid(replica.segment);
            if (segment == nullptr || !view.AllocateAt(*segment, replica.address, object.size)) {
                for (const ReplicaSlot& slot : *slots)
                    view.Free(slot.segment, slot.address, object.size);
                slots->clear();
                return false;
            }
            slots->push_back({replica.address, segment->id, ReplicaStatus::COMPLETE});
        }
        return !slots->empty();
    };
    for (const MasterStateImage::Object& object : image.reserved) {
        std::vector<ReplicaSlot> slots;
        if (!place(object, &slots)) continue;
        for (const ReplicaSlot& slot : slots) {
            deferred_.Add({slot.segment, slot.address, object.size, now_ms + put_discard_ms_});
        }
    }
    for (const MasterStateImage::Object& object : image.objects) {
        std::vector<ReplicaSlot> slots;
        if (object.size == 0 || !IsValidKey(object.key) ||
            object.replicas.size() > ObjectMeta::kMaxReplicas || !place(object, &slots)) {
            ++stats.skipped_objects;
            continue;
        }
        const KeyLocation where = index_.Locate(object.key);
        std::lock_guard<std::mutex> lock(where.shard.mutex);
        const auto [position, is_new] = index_.FindOrReserve(where);
        if (!is_new) {
            for (const ReplicaSlot& slot : slots)
                view.Free(slot.segment, slot.address, object.size);
            ++stats.skipped_objects;
            continue;
        }
        ObjectMeta meta(object.size, UUID{}, now_ms, object.soft_pin);
        for (const ReplicaSlot& slot : slots) meta.AddReplica(slot);
        index_.Fill(where.shard, position, std::move(meta));
        index_.MarkComplete(where.shard, position, now_ms);
        ++stats.objects;
    }
    LOG(INFO) << "restored " << stats.segments << " segments and " << stats.objects << " objects ("
              << stats.skipped_objects << " skipped, " << image.reserved.size()
              << " unfinished puts kept out of use)";
    return stats;
}

}  // namespace mooncake
