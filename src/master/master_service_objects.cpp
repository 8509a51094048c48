// Puts, gets, exist and removes: the master's hot path, and their batches.
#include <glog/logging.h>

#include <regex>

#include "master/master_service.h"
#include "master/placement.h"

namespace mooncake {

namespace {

// Longest regular expression accepted by the regex calls.
constexpr size_t kMaxRegexLength = 4096;
// Most segment names a put may exclude (placement scans them per segment).
constexpr size_t kMaxExcludedSegments = 1024;

// One result per key, in order: the batch calls are their single calls in a
// loop (each key succeeds or fails on its own).
template <typename Call>
auto EachKey(const std::vector<std::string>& keys, Call call) {
    std::vector<decltype(call(std::string()))> results;
    results.reserve(keys.size());
    for (const std::string& key : keys) results.push_back(call(key));
    return results;
}

Result<std::regex> CompileRegex(const std::string& pattern) {
    if (pattern.size() > kMaxRegexLength) return Error(ErrorCode::INVALID_PARAMS);
    try {
        // __polynomial (a libstdc++ extension) matches with the breadth-first
        // executor: time linear in the key for a given pattern. The default
        // backtracking executor takes exponential time on patterns such as
        // "(a*)*b", so one client's remove_by_regex could pin a master
        // thread at full CPU for ever. Back-references, which only the
        // backtracking executor supports, are refused (INVALID_PARAMS).
        return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize |
                                       std::regex_constants::__polynomial);
    } catch (const std::regex_error& error) {
        LOG(INFO) << "Rejected regex \"" << pattern << "\": " << error.what();
        return Error(ErrorCode::INVALID_PARAMS);
    }
}

// Keys of the shard's complete objects that match `regex`. The keys are
// copied out under the lock and matched after it is released, so a slow
// pattern never blocks the shard.
std::vector<std::string> MatchingKeys(ObjectShard& shard, const std::regex& regex) {
    std::vector<std::string> keys;
    {
        MutexLock lock(shard.mutex);
        keys.reserve(shard.objects.size());
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            if (shard.objects.meta(position).complete()) {
                keys.emplace_back(shard.objects.key(position));
            }
        });
    }
    std::erase_if(keys, [&](const std::string& key) { return !std::regex_search(key, regex); });
    return keys;
}

}  // namespace

ReplicaDescriptor MasterService::Describe(const SegmentPool::Segment& segment,
                                          const ReplicaSlot& slot, uint64_t size) {
    ReplicaDescriptor descriptor;
    descriptor.status = slot.status;
    descriptor.location = MemoryDescriptor{segment.info.name, slot.address, size};
    return descriptor;
}

void MasterService::FreeReplicas(const SegmentPool::ReadView& view, const ObjectMeta& meta) {
    for (size_t i = 0; i < meta.replica_count(); ++i) {
        view.Free(meta.replica(i).segment, meta.replica(i).address, meta.size());
    }
}

void MasterService::FreeAt(const SegmentPool::ReadView& view, const ReplicaSlot& slot,
                           uint64_t size, int64_t release_at_ms, int64_t now_ms) {
    if (release_at_ms <= now_ms) {
        view.Free(slot.segment, slot.address, size);
    } else {
        deferred_.Add({slot.segment, slot.address, size, release_at_ms});
    }
}

int64_t MasterService::ReadersDoneMs(const ObjectMeta& meta, int64_t now_us) {
    // Rounded up: the deferred list is timed in whole milliseconds.
    return meta.IsLeased(now_us) ? (meta.lease_deadline_us() + 999) / 1000 : 0;
}

void MasterService::ReleaseReplicasAt(const SegmentPool::ReadView& view, const ObjectMeta& meta,
                                      int64_t release_at_ms, int64_t now_ms) {
    for (size_t i = 0; i < meta.replica_count(); ++i) {
        FreeAt(view, meta.replica(i), meta.size(), release_at_ms, now_ms);
    }
}

void MasterService::ReleaseReplicas(const SegmentPool::ReadView& view, const ObjectMeta& meta,
                                    int64_t now_us) {
    // A forced remove of a leased object: readers may still be copying its
    // bytes, so the space is reused only once the lease has run out.
    ReleaseReplicasAt(view, meta, ReadersDoneMs(meta, now_us), now_us / 1000);
}

bool MasterService::RemoveIfIdle(const SegmentPool::ReadView& view, ObjectShard& shard,
                                 ObjectTable::Position position, int64_t now_ms,
                                 bool ignore_lease) {
    const ObjectMeta& meta = shard.objects.meta(position);
    if (!meta.complete() || meta.op_in_flight()) return false;
    // now_ms * 1000 is at or before the precise now: on the safe side.
    if (!ignore_lease && meta.IsLeased(now_ms * 1000)) return false;
    index_.Touch(shard, position);  // before the frees (change_log.h)
    ReleaseReplicas(view, meta, now_ms * 1000);
    if (!offload_.Empty()) offload_.RemoveKey(std::string(shard.objects.key(position)));
    index_.Erase(shard, position);
    return true;
}

void MasterService::EraseObject(ObjectShard& shard, ObjectTable::Position position) {
    if (shard.objects.meta(position).op_in_flight()) {
        ops_.End(std::string(shard.objects.key(position)));
    }
    index_.Erase(shard, position);
}

// ---- puts ---------------------------------------------------------------------

Result<std::vector<ReplicaDescriptor>> MasterService::PutStart(const UUID& client_id,
                                                               const std::string& key,
                                                               uint64_t value_size,
                                                               const ReplicateConfig& config) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    if (value_size == 0 || config.replica_num == 0 ||
        config.excluded_segments.size() > kMaxExcludedSegments ||
        config.preferred_segments.size() > kMaxExcludedSegments) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // An object evicted to disk still exists: no second value under its key,
    // except the memory copy its holder was asked to promote. A promotion
    // whose disk copy was removed meanwhile must not bring the key back.
    // An upsert replaces a disk copy like any other value.
    const bool promoting = promotions_.Claim(key, client_id);
    if (!config.upsert && offload_.Contains(key) != promoting) {
        return Error(promoting ? ErrorCode::OBJECT_NOT_FOUND : ErrorCode::OBJECT_ALREADY_EXISTS);
    }
    if (!PinsAreValid(config)) return Error(ErrorCode::INVALID_PARAMS);
    const size_t replica_num = std::min(config.replica_num, ObjectMeta::kMaxReplicas);

    // A promotion puts back the bytes of the disk copy: the same value, so
    // the same id (else a rescan would take that copy for a stale one).
    const uint64_t value_id = promoting ? offload_.ValueIdOf(key) : 0;
    const uint64_t generation = eviction_generation_.load();
    PutAttempt attempt = TryPutStart(client_id, key, value_size, config, replica_num, value_id);
    if (!attempt.result && attempt.eviction_may_help) {
        EvictForAllocation(generation);
        attempt = TryPutStart(client_id, key, value_size, config, replica_num, value_id);
    }
    if (!attempt.result) {
        if (attempt.result.error() == ErrorCode::NO_AVAILABLE_HANDLE) {
            LOG_EVERY_N(WARNING, 100) << "PutStart of " << key << " (" << value_size
                                      << " bytes): no space on any segment";
        }
        return attempt.result;
    }
    Bump(counters_.put_starts);
    WakeBackgroundIfAboveWatermark();
    return attempt.result;
}

MasterService::PutAttempt MasterService::TryPutStart(const UUID& client_id, const std::string& key,
                                                     uint64_t value_size,
                                                     const ReplicateConfig& config,
                                                     size_t replica_num, uint64_t value_id) {
    PutAttempt attempt{Error(ErrorCode::NO_AVAILABLE_HANDLE), false};
    const int64_t now_ms = clock_->NowMs();
    SegmentPool::ReadView view(pool_);
    if (view.active().empty()) return attempt;

    std::vector<PlacedReplica> placed;
    {
        const KeyLocation where = index_.Locate(key);
        MutexLock lock(where.shard.mutex);
        // A new key gets a placeholder slot right away: one probe for both
        // the existence check and the insertion.
        const auto [position, is_new] = index_.FindOrReserve(where);
        ObjectMeta* old = is_new ? nullptr : &where.shard.objects.meta(position);
        if (old != nullptr) {
            if (!IsZombie(*old, now_ms)) {
                const ErrorCode refused = config.upsert ? UpsertRefusal(client_id, key, *old)
                                                        : ErrorCode::OBJECT_ALREADY_EXISTS;
                if (refused != ErrorCode::OK) {
                    attempt.result = Error(refused);
                    return attempt;
                }
                if (CanRewriteInPlace(view, *old, value_size, config, now_ms * 1000)) {
                    attempt.result =
                        RewriteInPlace(view, where.shard, position, client_id, config, now_ms);
                    // The disk copies hold the value being replaced.
                    if (config_.enable_offload) offload_.RemoveKey(key);
                    return attempt;
                }
            }
        }

        auto placement = PlaceReplicas(view, value_size, replica_num, Preferences(config),
                                       config.excluded_segments);
        if (placement && placement->empty()) {
            attempt.eviction_may_help =
                SomeSegmentCouldHold(view, value_size, config.excluded_segments);
        }
        if (!placement || placement->empty()) {
            if (is_new) index_.Unreserve(where.shard, position);
            if (!placement) attempt.result = Error(placement.error());
            return attempt;
        }
        placed = std::move(*placement);

        ObjectMeta meta = NewObject(client_id, value_size, config, now_ms, old, value_id);
        for (const PlacedReplica& replica : placed) {
            meta.AddReplica({replica.address, replica.segment->id, ReplicaStatus::PROCESSING});
        }
        if (is_new) {
            index_.Fill(where.shard, position, std::move(meta));
        } else {
            index_.Touch(where.shard, position);  // before the frees (change_log.h)
            ReleaseReplaced(view, key, client_id, *old, now_ms);
            index_.Replace(where.shard, position, std::move(meta));
        }
        // The disk copies hold the value being replaced.
        if (config.upsert && config_.enable_offload) offload_.RemoveKey(key);
    }

    std::vector<ReplicaDescriptor> descriptors;
    descriptors.reserve(placed.size());
    for (const PlacedReplica& replica : placed) {
        descriptors.push_back(Describe(
            *replica.segment, {replica.address, replica.segment->id, ReplicaStatus::PROCESSING},
            value_size));
    }
    attempt.result = std::move(descriptors);
    return attempt;
}

ObjectMeta MasterService::NewObject(const UUID& client_id, uint64_t value_size,
                                    const ReplicateConfig& config, int64_t now_ms,
                                    const ObjectMeta* replaced, uint64_t value_id) {
    bool soft_pin = config.soft_pinned();
    bool hard_pin = config.with_hard_pin;
    uint32_t soft_pin_ttl_ms = static_cast<uint32_t>(config.soft_pin_ttl_ms);
    // An upsert keeps the pins of the value it replaces, except a soft pin
    // it asks to clear (SoftPinAction::DISABLE).
    if (config.upsert && replaced != nullptr && replaced->complete()) {
        hard_pin = hard_pin || replaced->hard_pinned();
        if (replaced->soft_pinned() && config.soft_pin_action != SoftPinAction::DISABLE) {
            soft_pin = true;
            soft_pin_ttl_ms = std::max(soft_pin_ttl_ms, replaced->soft_pin_ttl_ms());
        }
    }
    ObjectMeta meta(value_size, client_id, now_ms, soft_pin);
    meta.SetPins(hard_pin, soft_pin_ttl_ms);
    // A new id unless one is given; the counter's wrap to 0 ("unknown") is skipped.
    while (value_id == 0) value_id = next_value_id_.fetch_add(1, std::memory_order_relaxed);
    meta.set_value_id(value_id);
    return meta;
}

ErrorCode MasterService::UpsertRefusal(const UUID& client_id, const std::string& key,
                                       ObjectMeta& old) {
    if (!old.complete()) {
        // Another client's unfinished put is pre-empted: its PutEnd then
        // fails the owner check. Two puts of one client cannot be told apart
        // at PutEnd, so the second waits for the first.
        return old.owner() == client_id ? ErrorCode::REPLICA_IS_NOT_READY : ErrorCode::OK;
    }
    if (old.op_in_flight()) return ErrorCode::OBJECT_HAS_REPLICATION_TASK;
    if (config_.enable_offload) {
        // A client copying the old bytes to disk now would write a torn file.
        if (!offload_.CancelQueuedOffload(key)) return ErrorCode::OBJECT_HAS_REPLICATION_TASK;
        // The pin held the bytes for that copy only; readers' leases remain.
        old.EndPin();
    }
    return ErrorCode::OK;
}

bool MasterService::CanRewriteInPlace(const SegmentPool::ReadView& view, const ObjectMeta& old,
                                      uint64_t value_size, const ReplicateConfig& config,
                                      int64_t now_us) const {
    // A leased value may be being read: it is not overwritten. Nor with HA:
    // PutStart does not wait for the standbys, so a leader elected before
    // they heard of the upsert would serve the old value from ranges being
    // overwritten; new ranges leave it intact there.
    if (log_ != nullptr) return false;
    if (!old.complete() || old.size() != value_size || old.IsLeased(now_us)) return false;
    for (size_t i = 0; i < old.replica_count(); ++i) {
        const ReplicaSlot& slot = old.replica(i);
        const SegmentPool::Segment* segment = view.FindActive(slot.segment);
        if (slot.status != ReplicaStatus::COMPLETE || segment == nullptr ||
            !segment->TakesNewObjects() ||
            IsExcluded(config.excluded_segments, segment->info.name)) {
            return false;
        }
    }
    return true;
}

Result<std::vector<ReplicaDescriptor>> MasterService::RewriteInPlace(
    const SegmentPool::ReadView& view, ObjectShard& shard, ObjectTable::Position position,
    const UUID& client_id, const ReplicateConfig& config, int64_t now_ms) {
    const ObjectMeta& old = shard.objects.meta(position);
    ObjectMeta meta = NewObject(client_id, old.size(), config, now_ms, &old);
    std::vector<ReplicaDescriptor> descriptors;
    descriptors.reserve(old.replica_count());
    for (size_t i = 0; i < old.replica_count(); ++i) {
        const ReplicaSlot slot{old.replica(i).address, old.replica(i).segment,
                               ReplicaStatus::PROCESSING};
        meta.AddReplica(slot);
        descriptors.push_back(Describe(*view.FindActive(slot.segment), slot, old.size()));
    }
    // Unfinished again: readers get REPLICA_IS_NOT_READY until PutEnd, and
    // a revoke (or the writer's death) drops the half-written value.
    index_.Replace(shard, position, std::move(meta));
    return descriptors;
}

void MasterService::ReleaseReplaced(const SegmentPool::ReadView& view, const std::string& key,
                                    const UUID& client_id, const ObjectMeta& old, int64_t now_ms) {
    if (old.complete()) {
        ReleaseReplicas(view, old, now_ms * 1000);  // after its readers' leases
        return;
    }
    // The unfinished put's writer may still be writing: keep its space out
    // of use until the release timeout of its put start.
    ReleaseReplicasAt(view, old, old.put_start_ms() + put_release_ms_, now_ms);
    LOG(WARNING) << "PutStart of " << key << " by client " << client_id.ToString()
                 << " pre-empts the unfinished put by client " << old.owner().ToString()
                 << " started " << (now_ms - old.put_start_ms()) << " ms ago";
    if (now_ms - old.put_start_ms() >= put_discard_ms_) Bump(counters_.zombie_puts_discarded);
}

Status MasterService::PutEnd(const UUID& client_id, const std::string& key) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    const int64_t now_ms = clock_->NowMs();
    // Eager offload names the segment owner: the pool before the shard.
    std::optional<SegmentPool::ReadView> view;
    // A promoted object (back from a disk that still holds it) is not
    // written again.
    if (config_.enable_offload && !config_.offload_on_evict && !offload_.Contains(key)) {
        view.emplace(pool_);
    }
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto position = index_.Find(where);
    if (position == ObjectIndex::kNotFound) return Error(ErrorCode::OBJECT_NOT_FOUND);
    ObjectMeta& meta = where.shard.objects.meta(position);
    if (meta.owner() != client_id) {
        LOG(WARNING) << "PutEnd of " << key << " by client " << client_id.ToString()
                     << ", but the put belongs to client " << meta.owner().ToString();
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    // A repeated PutEnd (a retry after a lost reply) is harmless.
    if (meta.complete()) return OkStatus();
    index_.MarkComplete(where.shard, position, now_ms);
    Bump(counters_.put_ends);
    if (view) QueueOffload(*view, key, meta);
    return OkStatus();
}

Status MasterService::PutRevoke(const UUID& client_id, const std::string& key) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    SegmentPool::ReadView view(pool_);
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto position = index_.Find(where);
    if (position == ObjectIndex::kNotFound) return Error(ErrorCode::OBJECT_NOT_FOUND);
    const ObjectMeta& meta = where.shard.objects.meta(position);
    if (meta.complete() || meta.owner() != client_id) {
        LOG(WARNING) << "PutRevoke of " << key << " by client " << client_id.ToString()
                     << " refused: " << (meta.complete() ? "the put has ended" : "not its put");
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    index_.Touch(where.shard, position);  // before the frees (change_log.h)
    FreeReplicas(view, meta);
    EraseObject(where.shard, position);
    Bump(counters_.put_revokes);
    return OkStatus();
}

// ---- reads --------------------------------------------------------------------

Result<GetReplicaListResult> MasterService::GetReplicaList(const std::string& key) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    const int64_t now_us = clock_->NowUs();
    const int64_t now_ms = now_us / 1000;
    GetReplicaListResult result;
    SegmentPool::ReadView view(pool_);
    {
        const KeyLocation where = index_.Locate(key);
        MutexLock lock(where.shard.mutex);
        const auto position = index_.Find(where);
        if (position == ObjectIndex::kNotFound) return DiskOnlyReplicaList(key);
        ObjectMeta& meta = where.shard.objects.meta(position);
        if (!meta.complete()) return Error(ErrorCode::REPLICA_IS_NOT_READY);
        result.replicas.reserve(meta.replica_count());
        for (size_t i = 0; i < meta.replica_count(); ++i) {
            const ReplicaSlot& slot = meta.replica(i);
            if (slot.status != ReplicaStatus::COMPLETE) continue;
            // A replica on a segment being unmounted is about to vanish.
            const SegmentPool::Segment* segment = view.FindActive(slot.segment);
            if (segment != nullptr)
                result.replicas.push_back(Describe(*segment, slot, meta.size()));
        }
        if (result.replicas.empty()) return DiskOnlyReplicaList(key);
        meta.ExtendLease(now_us + lease_ttl_us_);
        meta.Touch(now_ms);
    }
    // Disk copies after the memory ones: readers try memory first.
    for (ReplicaDescriptor& disk : offload_.Find(key)) result.replicas.push_back(std::move(disk));
    result.lease_ttl_ms = static_cast<uint64_t>(lease_ttl_ms_);
    Bump(counters_.gets);
    return result;
}

Result<std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>>
MasterService::GetReplicaListByRegex(const std::string& regex) {
    auto compiled = CompileRegex(regex);
    if (!compiled) return Error(compiled.error());
    std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>> found;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        std::vector<std::string> keys = MatchingKeys(index_.shard(i), *compiled);
        if (keys.empty()) continue;
        SegmentPool::ReadView view(pool_);
        for (std::string& key : keys) {
            const KeyLocation where = index_.Locate(key);
            MutexLock lock(where.shard.mutex);
            const auto position = index_.Find(where);
            if (position == ObjectIndex::kNotFound) continue;
            const ObjectMeta& meta = where.shard.objects.meta(position);
            if (!meta.complete()) continue;
            std::vector<ReplicaDescriptor> replicas;
            for (size_t r = 0; r < meta.replica_count(); ++r) {
                const ReplicaSlot& slot = meta.replica(r);
                const SegmentPool::Segment* segment = view.FindActive(slot.segment);
                if (slot.status == ReplicaStatus::COMPLETE && segment != nullptr) {
                    replicas.push_back(Describe(*segment, slot, meta.size()));
                }
            }
            if (!replicas.empty()) found.emplace_back(std::move(key), std::move(replicas));
        }
    }
    return found;
}

Result<bool> MasterService::ExistKey(const std::string& key) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    const int64_t now_ms = clock_->NowMs();
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto position = index_.Find(where);
    if (position == ObjectIndex::kNotFound) return offload_.Contains(key);
    ObjectMeta& meta = where.shard.objects.meta(position);
    if (!meta.complete()) return false;
    // An exist probe grants no lease: connectors probe every request, and
    // leases renewed by probes would keep the whole cache unevictable
    // (docs/master.md, "Leases"). It still counts as a use for eviction order.
    meta.Touch(now_ms);
    return true;
}

// ---- removes ------------------------------------------------------------------

Status MasterService::Remove(const std::string& key, bool force) {
    if (!IsValidKey(key)) return Error(ErrorCode::INVALID_KEY);
    const int64_t now_us = clock_->NowUs();
    SegmentPool::ReadView view(pool_);
    const KeyLocation where = index_.Locate(key);
    MutexLock lock(where.shard.mutex);
    const auto position = index_.Find(where);
    if (position == ObjectIndex::kNotFound) {
        if (!offload_.RemoveKey(key)) return Error(ErrorCode::OBJECT_NOT_FOUND);
        Bump(counters_.removes);
        return OkStatus();
    }
    const ObjectMeta& meta = where.shard.objects.meta(position);
    if (!meta.complete()) return Error(ErrorCode::REPLICA_IS_NOT_READY);
    // A copy or move in flight holds the object like a reader's lease, even
    // against `force` (which only overrides readers' leases).
    if (meta.op_in_flight()) return Error(ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    if (!force && meta.IsLeased(now_us)) return Error(ErrorCode::OBJECT_HAS_LEASE);
    index_.Touch(where.shard, position);  // before the frees (change_log.h)
    ReleaseReplicas(view, meta, now_us);
    index_.Erase(where.shard, position);
    offload_.RemoveKey(key);
    Bump(counters_.removes);
    return OkStatus();
}

Result<int64_t> MasterService::RemoveByRegex(const std::string& regex, bool force) {
    auto compiled = CompileRegex(regex);
    if (!compiled) return Error(compiled.error());
    int64_t removed = 0;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        std::vector<std::string> keys = MatchingKeys(shard, *compiled);
        if (keys.empty()) continue;
        const int64_t now_ms = clock_->NowMs();
        SegmentPool::ReadView view(pool_);
        MutexLock lock(shard.mutex);
        for (const std::string& key : keys) {
            const auto position = index_.FindIn(shard, key);
            if (position == ObjectIndex::kNotFound) continue;
            if (RemoveIfIdle(view, shard, position, now_ms, force)) ++removed;
        }
        ObjectIndex::Compact(shard);
    }
    removed +=
        RemoveDiskOnly([&](const std::string& key) { return std::regex_search(key, *compiled); });
    Bump(counters_.removes, static_cast<uint64_t>(removed));
    LOG(INFO) << "RemoveByRegex \"" << regex << "\" removed " << removed << " objects";
    return removed;
}

int64_t MasterService::RemoveAll(bool force) {
    int64_t removed = 0;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        const int64_t now_ms = clock_->NowMs();
        SegmentPool::ReadView view(pool_);
        MutexLock lock(shard.mutex);
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            if (RemoveIfIdle(view, shard, position, now_ms, force)) ++removed;
        });
        ObjectIndex::Compact(shard);
    }
    removed += RemoveDiskOnly([](const std::string&) { return true; });
    Bump(counters_.removes, static_cast<uint64_t>(removed));
    LOG(INFO) << "RemoveAll removed " << removed << " objects";
    return removed;
}

// ---- batches ------------------------------------------------------------------

std::vector<Result<std::vector<ReplicaDescriptor>>> MasterService::BatchPutStart(
    const UUID& client_id, const std::vector<std::string>& keys,
    const std::vector<uint64_t>& value_sizes, const ReplicateConfig& config) {
    std::vector<Result<std::vector<ReplicaDescriptor>>> results;
    results.reserve(keys.size());
    const bool sizes_match = keys.size() == value_sizes.size();
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!sizes_match) {
            results.emplace_back(Error(ErrorCode::INVALID_PARAMS));
        } else {
            results.push_back(PutStart(client_id, keys[i], value_sizes[i], config));
        }
    }
    return results;
}

std::vector<Status> MasterService::BatchPutEnd(const UUID& client_id,
                                               const std::vector<std::string>& keys) {
    return EachKey(keys, [&](const std::string& key) { return PutEnd(client_id, key); });
}

std::vector<Status> MasterService::BatchPutRevoke(const UUID& client_id,
                                                  const std::vector<std::string>& keys) {
    return EachKey(keys, [&](const std::string& key) { return PutRevoke(client_id, key); });
}

std::vector<Result<GetReplicaListResult>> MasterService::BatchGetReplicaList(
    const std::vector<std::string>& keys) {
    return EachKey(keys, [&](const std::string& key) { return GetReplicaList(key); });
}

std::vector<Result<bool>> MasterService::BatchExistKey(const std::vector<std::string>& keys) {
    return EachKey(keys, [&](const std::string& key) { return ExistKey(key); });
}

}  // namespace mooncake
