// State images: export of the master's metadata and its restore into an
// empty master (HA promotion, snapshot restore; docs/ha.md).
#include <glog/logging.h>

#include "master/master_service.h"

namespace mooncake {

namespace {

// The object's replicas on segments still mounted, split by status: the
// complete part (with its pins) and the space an unfinished put or copy
// holds.
void DescribeObject(const SegmentPool::ReadView& view, std::string_view key, const ObjectMeta& meta,
                    std::optional<MasterStateImage::Object>* complete_out,
                    std::optional<MasterStateImage::Object>* reserved_out) {
    MasterStateImage::Object complete{
        std::string(key),       meta.size(), meta.soft_pinned(), meta.hard_pinned(),
        meta.soft_pin_ttl_ms(), {},          meta.value_id()};
    MasterStateImage::Object reserved{std::string(key), meta.size(), false, false, 0, {}};
    for (size_t i = 0; i < meta.replica_count(); ++i) {
        const ReplicaSlot& slot = meta.replica(i);
        const SegmentPool::Segment* segment = view.Find(slot.segment);
        if (segment == nullptr || segment->retiring) continue;
        const bool ready = meta.complete() && slot.status == ReplicaStatus::COMPLETE;
        (ready ? complete : reserved).replicas.push_back({segment->info.id, slot.address});
    }
    if (!complete.replicas.empty()) *complete_out = std::move(complete);
    if (!reserved.replicas.empty()) *reserved_out = std::move(reserved);
}

void DescribeObject(const SegmentPool::ReadView& view, std::string_view key, const ObjectMeta& meta,
                    MasterStateImage* image) {
    std::optional<MasterStateImage::Object> complete;
    std::optional<MasterStateImage::Object> reserved;
    DescribeObject(view, key, meta, &complete, &reserved);
    if (complete) image->objects.push_back(std::move(*complete));
    if (reserved) image->reserved.push_back(std::move(*reserved));
}

}  // namespace

MasterStateImage MasterService::ExportState() {
    MasterStateImage image;
    // Membership first (lock order 1), then the pool shared, then every
    // shard: with all shards held no put, remove or eviction can change an
    // object meanwhile, so the image is one moment of the master's state.
    // Nobody else ever holds two shards, so taking them all in index order
    // cannot deadlock.
    MutexLock membership(membership_mutex_);
    SegmentPool::ReadView view(pool_);
    for (const SegmentPool::Segment* segment : view.active()) {
        image.segments.push_back({segment->client, segment->info});
    }
    std::vector<std::unique_lock<Mutex>> locks;
    locks.reserve(ObjectIndex::kShardCount);
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        locks.emplace_back(index_.shard(i).mutex);
    }
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        shard.mutex.AssertHeld();  // by `locks`, above
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            DescribeObject(view, shard.objects.key(position), shard.objects.meta(position), &image);
        });
    }
    return image;
}

Result<ImportStats> MasterService::ImportState(const MasterStateImage& image) {
    MutexLock membership(membership_mutex_);
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
        MutexLock lock(where.shard.mutex);
        const auto [position, is_new] = index_.FindOrReserve(where);
        if (!is_new) {
            for (const ReplicaSlot& slot : slots)
                view.Free(slot.segment, slot.address, object.size);
            ++stats.skipped_objects;
            continue;
        }
        ObjectMeta meta(object.size, UUID{}, now_ms, object.soft_pin);
        meta.SetPins(object.hard_pin, object.soft_pin_ttl_ms);
        meta.set_value_id(object.value_id);
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

// ---- change log ----------------------------------------------------------------

ChangeLog& MasterService::EnableChangeLog() {
    if (!log_) {
        log_ = std::make_unique<ChangeLog>();
        index_.SetChangeLog(log_.get());
        pool_.SetChangeLog(log_.get());
    }
    return *log_;
}

std::vector<ChangeRecord> MasterService::DescribeChanges(const std::vector<std::string>& keys,
                                                         bool membership) {
    std::vector<ChangeRecord> records;
    records.reserve(keys.size() + (membership ? 1 : 0));
    SegmentPool::ReadView view(pool_);
    // Membership first: a follower applying in order never holds a replica
    // on a segment it does not know of yet.
    if (membership) {
        ChangeRecord record;
        record.membership = true;
        for (const SegmentPool::Segment* segment : view.active()) {
            record.segments.push_back({segment->client, segment->info});
        }
        records.push_back(std::move(record));
    }
    for (const std::string& key : keys) {
        ChangeRecord record;
        record.key = key;
        const KeyLocation where = index_.Locate(key);
        MutexLock lock(where.shard.mutex);
        const auto position = index_.Find(where);
        if (position != ObjectIndex::kNotFound) {
            DescribeObject(view, key, where.shard.objects.meta(position), &record.complete,
                           &record.reserved);
        }
        records.push_back(std::move(record));
    }
    return records;
}

uint64_t MasterService::FlushChanges() {
    if (!log_) return 0;
    MutexLock flush(log_->flush_mutex());
    ChangeLog::Drained drained = log_->Drain();
    return log_->Append(DescribeChanges(drained.keys, drained.membership), drained.notes_upto);
}

MasterStateImage MasterService::ExportState(uint64_t* version) {
    if (!log_) {
        *version = 0;
        return ExportState();
    }
    // Under the flush lock: the image is taken after the records up to
    // `version`, and records after it are made after the image, so applying
    // them over it is never a step back.
    MutexLock flush(log_->flush_mutex());
    ChangeLog::Drained drained = log_->Drain();
    *version = log_->Append(DescribeChanges(drained.keys, drained.membership), drained.notes_upto);
    return ExportState();
}

void MasterService::ReleaseHeldFrees(uint64_t acked) {
    if (!log_) return;
    std::vector<HeldFree> due = log_->Release(acked);
    if (due.empty()) return;
    SegmentPool::ReadView view(pool_);
    for (const HeldFree& free : due) view.FreeNow(free.segment, free.address, free.size);
}

}  // namespace mooncake
