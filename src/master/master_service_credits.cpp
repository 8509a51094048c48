// Put credits: space granted ahead of small puts, published in one call
// (master/put_credit_table.h, docs/performance.md).
#include <glog/logging.h>

#include <algorithm>

#include "master/master_service.h"
#include "master/placement.h"

namespace mooncake {

int64_t MasterService::CreditUsableMs() const {
    // A restarted master fences a re-mounted segment for the lease TTL
    // (ReMountSegments); credits of its predecessor stop being written to
    // well before the fence lifts.
    return std::clamp<int64_t>(lease_ttl_ms_ / 2, 1, kMaxCreditUsableMs);
}

Result<PutCreditGrant> MasterService::GrantPutCredits(const UUID& client_id, uint64_t value_size,
                                                      size_t count, size_t replica_num,
                                                      const std::vector<uint64_t>& release) {
    if (client_id.IsNil() || release.size() > PutCreditTable::kMaxPerClient) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    ReleasePutCredits(client_id, release);
    if (count == 0) return PutCreditGrant{{}, static_cast<uint64_t>(CreditUsableMs())};
    // With a change log (HA, snapshots) a successor would not know the
    // reservations and could hand the space out again while it is written.
    if (!config_.enable_put_credits || log_ != nullptr) {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    if (value_size == 0 || value_size > kMaxCreditedValueSize || count > kMaxCreditsPerGrant ||
        replica_num == 0) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    count = std::min(count, credits_.Room(client_id));
    replica_num = std::min(replica_num, ObjectMeta::kMaxReplicas);
    PutCreditGrant grant;
    grant.usable_ms = static_cast<uint64_t>(CreditUsableMs());
    const uint64_t generation = eviction_generation_.load();
    if (!TryGrant(client_id, value_size, count, replica_num, grant) && grant.credits.empty()) {
        EvictForAllocation(generation);
        TryGrant(client_id, value_size, count, replica_num, grant);
    }
    if (count > 0 && grant.credits.empty()) return Error(ErrorCode::NO_AVAILABLE_HANDLE);
    Bump(counters_.put_credits_granted, grant.credits.size());
    WakeBackgroundIfAboveWatermark();
    return grant;
}

bool MasterService::TryGrant(const UUID& client_id, uint64_t value_size, size_t count,
                             size_t replica_num, PutCreditGrant& grant) {
    const int64_t now_ms = clock_->NowMs();
    SegmentPool::ReadView view(pool_);
    while (grant.credits.size() < count) {
        auto placement = PlaceReplicas(view, value_size, replica_num, std::string_view());
        if (!placement || placement->empty()) break;
        PutCreditRecord record{client_id, value_size, {}, now_ms + put_release_ms_};
        PutCredit credit;
        for (const PlacedReplica& replica : *placement) {
            const ReplicaSlot slot{replica.address, replica.segment->id, ReplicaStatus::PROCESSING};
            view.MarkReserved(slot.segment, value_size, /*held=*/true);
            record.replicas.push_back(slot);
            credit.replicas.push_back(Describe(*replica.segment, slot, value_size));
        }
        credit.id = credits_.Add(std::move(record));
        grant.credits.push_back(std::move(credit));
    }
    // Short of space: whether an eviction round might make room.
    return grant.credits.size() == count || !SomeSegmentCouldHold(view, value_size);
}

void MasterService::ReleasePutCredits(const UUID& client_id, const std::vector<uint64_t>& ids) {
    std::vector<PutCreditRecord> released;
    for (uint64_t id : ids) {
        // Skipped: reclaimed already, or never this client's.
        if (auto credit = credits_.Take(client_id, id)) released.push_back(std::move(*credit));
    }
    FreeCredits(released);
}

std::vector<Status> MasterService::BatchPutCommit(const UUID& client_id,
                                                  const std::vector<std::string>& keys,
                                                  const std::vector<uint64_t>& credit_ids,
                                                  const ReplicateConfig& config) {
    // The pins are checked as PutStart checks them; no credit is used then.
    if (keys.size() != credit_ids.size() || !PinsAreValid(config) || config.upsert) {
        return std::vector<Status>(keys.size(), Error(ErrorCode::INVALID_PARAMS));
    }
    std::vector<Status> results;
    results.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        results.push_back(CommitOne(client_id, keys[i], credit_ids[i], config));
    }
    WakeBackgroundIfAboveWatermark();
    return results;
}

Status MasterService::CommitOne(const UUID& client_id, const std::string& key, uint64_t credit_id,
                                const ReplicateConfig& config) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    // Unknown: reclaimed, released, or granted by a master before a restart.
    std::optional<PutCreditRecord> credit = credits_.Take(client_id, credit_id);
    if (!credit) return Error(ErrorCode::INVALID_PARAMS);
    const int64_t now_ms = clock_->NowMs();
    SegmentPool::ReadView view(pool_);
    for (const ReplicaSlot& slot : credit->replicas) {
        const SegmentPool::Segment* segment = view.FindActive(slot.segment);
        if (segment != nullptr && segment->TakesNewObjects()) continue;
        // Unmounted (or being unmounted) since the grant: the value is not
        // kept there; the client puts it the usual way.
        FreeCredit(view, *credit);
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    // As in PutStart: a key whose object is only on disk still exists,
    // except for the promotion its holder was asked for.
    const bool promoting = promotions_.Claim(key, client_id);
    if (offload_.Contains(key) != promoting) {
        credits_.Restore(credit_id, std::move(*credit));
        return Error(promoting ? ErrorCode::OBJECT_NOT_FOUND : ErrorCode::OBJECT_ALREADY_EXISTS);
    }
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto [position, is_new] = index_.FindOrReserve(where);
    ObjectMeta* old = is_new ? nullptr : &where.shard.objects.meta(position);
    if (old != nullptr && !IsZombie(*old, now_ms)) {
        // The credit stays the client's: it may fill it with another key.
        credits_.Restore(credit_id, std::move(*credit));
        return Error(ErrorCode::OBJECT_ALREADY_EXISTS);
    }
    ObjectMeta meta = NewObject(client_id, credit->size, config, now_ms, nullptr);
    for (const ReplicaSlot& slot : credit->replicas) {
        meta.AddReplica(slot);
        view.MarkReserved(slot.segment, credit->size, /*held=*/false);  // an object's now
    }
    if (is_new) {
        index_.Fill(where.shard, position, std::move(meta));
    } else {
        ReleaseReplaced(view, key, client_id, *old, now_ms);  // a zombie put
        index_.Replace(where.shard, position, std::move(meta));
    }
    index_.MarkComplete(where.shard, position, now_ms);
    Bump(counters_.put_starts);
    Bump(counters_.put_ends);
    Bump(counters_.put_credit_commits);
    if (config_.enable_offload && !config_.offload_on_evict && !promoting) {
        QueueOffload(view, key, where.shard.objects.meta(position));
    }
    return OkStatus();
}

void MasterService::FreeCredits(const std::vector<PutCreditRecord>& credits) {
    if (credits.empty()) return;
    SegmentPool::ReadView view(pool_);
    for (const PutCreditRecord& credit : credits) FreeCredit(view, credit);
}

void MasterService::FreeCredit(const SegmentPool::ReadView& view, const PutCreditRecord& credit) {
    for (const ReplicaSlot& slot : credit.replicas) {
        view.MarkReserved(slot.segment, credit.size, /*held=*/false);
        view.Free(slot.segment, slot.address, credit.size);
    }
}

void MasterService::ReclaimDueCredits(int64_t now_ms) {
    std::vector<PutCreditRecord> due = credits_.TakeDue(now_ms);
    if (due.empty()) return;
    FreeCredits(due);
    LOG(INFO) << "Reclaimed " << due.size()
              << " put credits neither committed nor released within "
                 "put_start_release_timeout_sec";
}

}  // namespace mooncake
