// The master's logic: object index, segment pool, placement, leases,
// eviction, zombie puts, client liveness and the copy/move task table.
//
// No networking here: the gRPC service, the hot-path socket and the HTTP
// endpoints are thin adapters over this class, and tests drive it directly.
// All methods are thread-safe.
//
// Where things are:
//   master_service.cpp           construction, background thread, maintenance, stats
//   master_service_objects.cpp   put / get / exist / remove (the hot path), batches
//   master_service_segments.cpp  mount / unmount / client liveness
//   master_service_tasks.cpp     copy / move tasks and their execution
//   master_service_credits.cpp   put credits (space granted ahead of small puts)
//   master_service_offload.cpp   SSD offload
//   master_service_state.cpp     state images and the change log
//   object_index, segment_pool, placement, eviction, client_registry,
//   task_table, deferred_free_list, replication_ops: the parts.
//
// Lock order (a thread holding a lock may only take locks further down):
//   1. membership_mutex_      mount / remount / unmount / client expiry
//   2. eviction_mutex_        one eviction round at a time
//   3. SegmentPool lock       exclusive for mount/retire/forget; shared in a ReadView
//   4. ObjectShard::mutex     one shard at a time, never two
//   5. Segment::mutex         inside SegmentPool::ReadView::Allocate/Free
//      TaskTable lock -> ClientRegistry lock
//      ReplicationOps, DeferredFreeList, PutCreditTable locks (leaves)
// So: take a ReadView before locking a shard, never while holding one; the
// task table is only called with no shard held. No lock is held while
// waiting for anything but another lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "master/change_log.h"
#include "master/client_registry.h"
#include "master/deferred_free_list.h"
#include "master/eviction.h"
#include "master/master_config.h"
#include "master/master_service_types.h"
#include "master/object_index.h"
#include "master/offload_registry.h"
#include "master/promotion_queue.h"
#include "master/put_credit_table.h"
#include "master/replication_ops.h"
#include "master/segment_pool.h"
#include "master/task_table.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "rpc/master_types.h"

namespace mooncake {

class MasterService {
   public:
    explicit MasterService(MasterConfig config,
                           std::shared_ptr<Clock> clock = SystemClock::Instance());
    ~MasterService();
    MasterService(const MasterService&) = delete;
    MasterService& operator=(const MasterService&) = delete;

    const MasterConfig& config() const { return config_; }

    // Starts the background thread that runs maintenance (eviction above the
    // watermark, client expiry, zombie-put reclaim, task timeouts).
    // Tests that use a ManualClock call RunMaintenance() instead.
    void StartBackgroundThread();
    void StopBackgroundThread();
    // One pass of everything the background thread does.
    void RunMaintenance();

    // ---- segments ---------------------------------------------------------
    // INVALID_PARAMS for an empty name, zero size or base; SEGMENT_ALREADY_EXISTS
    // when the segment id is mounted already. Registers the client as alive.
    Status MountSegment(const UUID& client_id, const SegmentInfo& segment);
    // Mounts again what a client held before a master restart; segments it
    // has mounted already are left as they are.
    Status ReMountSegments(const UUID& client_id, const std::vector<SegmentInfo>& segments);
    // Drops every replica in the segment (objects left without a replica are
    // removed). SEGMENT_NOT_FOUND if it is not mounted by this client.
    // grace_period_seconds > 0: the segment stays readable and takes no new
    // objects until the client unmounts it for good (grace 0).
    Status UnmountSegment(const UUID& client_id, const UUID& segment_id,
                          uint32_t grace_period_seconds = 0);
    // A client that closes cleanly: unmounts all its segments and forgets it
    // at once (it is not counted as expired). Idempotent.
    Status UnregisterClient(const UUID& client_id);
    std::vector<std::string> GetAllSegments() const;
    Result<SegmentUsage> QuerySegment(const std::string& name) const;
    // Mounted segments in mount order (admin endpoints).
    std::vector<SegmentDetail> GetSegmentsDetail() const;
    // Keys of every complete object, in no particular order (admin endpoints).
    std::vector<std::string> GetAllKeys();

    // ---- objects ----------------------------------------------------------
    // INVALID_KEY for an empty or too long key; INVALID_PARAMS for size 0,
    // replica_num 0 or more than 1024 excluded segments; SEGMENT_NOT_FOUND
    // for an unknown preferred segment (unless excluded: replicas never go
    // to config.excluded_segments);
    // OBJECT_ALREADY_EXISTS when the key holds an object (complete, or being
    // put and not yet a zombie); NO_AVAILABLE_HANDLE when no space is left
    // even after eviction, and when no segment is mounted at all. Fewer
    // replicas than asked when space is short.
    Result<std::vector<ReplicaDescriptor>> PutStart(const UUID& client_id, const std::string& key,
                                                    uint64_t value_size,
                                                    const ReplicateConfig& config);
    // OBJECT_NOT_FOUND when absent (or dropped with its segment meanwhile);
    // UNAVAILABLE_IN_CURRENT_STATUS when the put belongs to another client
    // (e.g. a pre-empted zombie ending late). A repeated PutEnd is OK.
    Status PutEnd(const UUID& client_id, const std::string& key);
    // Frees the space of an unfinished put. UNAVAILABLE_IN_CURRENT_STATUS
    // after PutEnd or for another client's put.
    Status PutRevoke(const UUID& client_id, const std::string& key);
    std::vector<Result<std::vector<ReplicaDescriptor>>> BatchPutStart(
        const UUID& client_id, const std::vector<std::string>& keys,
        const std::vector<uint64_t>& value_sizes, const ReplicateConfig& config);
    std::vector<Status> BatchPutEnd(const UUID& client_id, const std::vector<std::string>& keys);
    std::vector<Status> BatchPutRevoke(const UUID& client_id, const std::vector<std::string>& keys);

    // Put credits (master/put_credit_table.h). Releases the credits in
    // `release` (ids the client will not use), then grants up to `count`
    // credits for values of `value_size` bytes with `replica_num` replicas
    // each, placed as PutStart places them without preferences. Fewer when
    // space is short or the client holds PutCreditTable::kMaxPerClient.
    // UNAVAILABLE_IN_CURRENT_STATUS when credits are off (flag, HA,
    // snapshots); INVALID_PARAMS for a nil client, size 0 or above 1 MiB,
    // more than 256 credits; NO_AVAILABLE_HANDLE when none fits even after
    // eviction. count 0 only releases.
    Result<PutCreditGrant> GrantPutCredits(const UUID& client_id, uint64_t value_size, size_t count,
                                           size_t replica_num,
                                           const std::vector<uint64_t>& release);
    // Publishes keys[i] as a complete object in the space of credit
    // credit_ids[i] (written by the client), with the pins of `config`.
    // Per key: INVALID_KEY; INVALID_PARAMS for an unknown credit (released,
    // reclaimed, another client's, or granted before a master restart: the
    // client then puts the usual way); OBJECT_ALREADY_EXISTS (the credit
    // stays the client's); SEGMENT_NOT_FOUND when a replica's segment was
    // unmounted or began a graceful unmount meanwhile (the credit is gone).
    std::vector<Status> BatchPutCommit(const UUID& client_id, const std::vector<std::string>& keys,
                                       const std::vector<uint64_t>& credit_ids,
                                       const ReplicateConfig& config);

    // Grants a lease. OBJECT_NOT_FOUND when absent, REPLICA_IS_NOT_READY while
    // the put has not ended.
    Result<GetReplicaListResult> GetReplicaList(const std::string& key);
    std::vector<Result<GetReplicaListResult>> BatchGetReplicaList(
        const std::vector<std::string>& keys);
    // INVALID_PARAMS for an invalid regex (ECMAScript syntax; longer than
    // 4096 bytes or with back-references counts as invalid). Matching takes
    // time linear in each key, whatever the pattern.
    Result<std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>>
    GetReplicaListByRegex(const std::string& regex);
    // True when a complete object exists (grants no lease).
    Result<bool> ExistKey(const std::string& key);
    std::vector<Result<bool>> BatchExistKey(const std::vector<std::string>& keys);

    // OBJECT_NOT_FOUND, OBJECT_HAS_LEASE while leased (unless `force`) or
    // while a copy/move runs (also with `force`), REPLICA_IS_NOT_READY while
    // being put.
    Status Remove(const std::string& key, bool force = false);
    // Removes complete objects whose key matches, skipping leased ones unless
    // `force` and those under a copy/move; returns how many.
    Result<int64_t> RemoveByRegex(const std::string& regex, bool force = false);
    int64_t RemoveAll(bool force = false);
    // Of `keys`, removes the complete objects `client_id` wrote whose lease
    // has run out and no copy/move holds: whole objects when `segment_name`
    // is empty, else their complete replicas on that segment (an object left
    // without a complete replica goes). Returns the keys cleared.
    std::vector<std::string> BatchReplicaClear(const UUID& client_id,
                                               const std::vector<std::string>& keys,
                                               const std::string& segment_name);

    // ---- clients ----------------------------------------------------------
    // Keeps the client alive. NEED_REMOUNT when the master does not know it.
    Result<PingResult> Ping(const UUID& client_id);

    // ---- copy / move tasks ------------------------------------------------
    // Create: INVALID_KEY; OBJECT_NOT_FOUND / REPLICA_IS_NOT_READY for the
    // object; INVALID_PARAMS for no targets, source == target, or no complete
    // replica on the move source; SEGMENT_NOT_FOUND for an unmounted segment;
    // UNAVAILABLE_IN_CURRENT_STATUS when the pending-task limit is reached.
    // QueryTask / MarkTaskComplete: OBJECT_NOT_FOUND for an unknown task;
    // MarkTaskComplete: INVALID_PARAMS unless SUCCESS or FAILED,
    // UNAVAILABLE_IN_CURRENT_STATUS unless the task is PROCESSING on this client.
    Result<UUID> CreateCopyTask(const std::string& key, const std::vector<std::string>& targets);
    Result<UUID> CreateMoveTask(const std::string& key, const std::string& source,
                                const std::string& target);
    Result<TaskInfo> QueryTask(const UUID& task_id) const;
    std::vector<TaskAssignment> FetchTasks(const UUID& client_id, size_t max_tasks);
    Status MarkTaskComplete(const UUID& client_id, const UUID& task_id, TaskStatus status,
                            const std::string& message);

    // The client running a task allocates, transfers, then ends or revokes.
    // One copy or move per object at a time (UNAVAILABLE_IN_CURRENT_STATUS
    // otherwise); it holds the object like a lease (no remove, no eviction)
    // until it ends, is revoked, or put_start_release_timeout_sec passes.
    // End/Revoke by anyone but the starting client, or with no such
    // operation in flight: UNAVAILABLE_IN_CURRENT_STATUS. MoveEnd whose
    // target segment was unmounted meanwhile keeps the source and fails
    // with SEGMENT_NOT_FOUND.
    Result<CopyStartResult> CopyStart(const UUID& client_id, const std::string& key,
                                      const std::vector<std::string>& targets);
    Status CopyEnd(const UUID& client_id, const std::string& key);
    Status CopyRevoke(const UUID& client_id, const std::string& key);
    Result<MoveStartResult> MoveStart(const UUID& client_id, const std::string& key,
                                      const std::string& source, const std::string& target);
    Status MoveEnd(const UUID& client_id, const std::string& key);
    Status MoveRevoke(const UUID& client_id, const std::string& key);

    MasterStats GetStats() const;
    // Objects with a soft pin set: a walk over every object (for the
    // /metrics/summary line, not for hot paths).
    uint64_t CountSoftPinnedObjects();

    // ---- SSD offload (docs/ssd_offload.md) -----------------------------------
    // UNABLE_OFFLOAD without config.enable_offload. `endpoint` is where other
    // clients read this client's disk. Mounting again (after a master
    // restart) keeps what is known. Registers the client as alive.
    // `capacity_bytes`: what the client's disk tier may hold (0: unknown).
    Status MountLocalDisk(const UUID& client_id, const std::string& endpoint, bool offloading,
                          uint64_t capacity_bytes = 0);
    // Drops the client's LOCAL_DISK replicas. SEGMENT_NOT_FOUND if none mounted.
    Status UnmountLocalDisk(const UUID& client_id);
    // Keys to write to disk (their memory replicas pinned until reported)
    // and files to delete. SEGMENT_NOT_FOUND when no disk is mounted (the
    // client mounts again and re-reports its files).
    Result<OffloadWork> OffloadHeartbeat(const UUID& client_id, size_t max_items);
    // Files written for the heartbeat's work, or found by a start-up rescan
    // (`from_rescan`: the object is created when the master does not know
    // it). Items whose object was removed or changed meanwhile are handed
    // back for deletion.
    Status NotifyOffloadSuccess(const UUID& client_id, const std::vector<OffloadItem>& items,
                                bool from_rescan);
    // The client's disk eviction is about to delete these files.
    Status NotifyDiskEvicted(const UUID& client_id, const std::vector<std::string>& keys);
    std::vector<LocalDiskStats> GetLocalDiskStats() const { return offload_.Stats(); }

    // ---- state images (HA, snapshots) ----------------------------------------
    // A consistent image: no mount, put or remove runs while it is taken.
    MasterStateImage ExportState();
    // Restores an image into a master that has no segment mounted yet
    // (INVALID_PARAMS otherwise): mounts the segments (their clients count
    // as alive from now), places every object at its recorded addresses and
    // keeps the reserved space out of use for put_start_discard_timeout_sec.
    // Objects whose range is taken or whose segment is unknown are skipped:
    // a restore never makes two objects share bytes.
    Result<ImportStats> ImportState(const MasterStateImage& image);

    // ---- change log (HA standbys, snapshots; change_log.h) -----------------
    // Starts noting changes and holding frees. Call once, before serving.
    ChangeLog& EnableChangeLog();
    ChangeLog* change_log() { return log_.get(); }
    // Turns the changes noted so far into records; returns the log version.
    uint64_t FlushChanges();
    // Flush, then ExportState; `version` = the log version the image holds.
    MasterStateImage ExportState(uint64_t* version);
    // Every follower holds log version `acked`: gives back the space it
    // covers.
    void ReleaseHeldFrees(uint64_t acked);

   private:
    // Tasks handed out in one ping reply.
    static constexpr size_t kMaxTasksPerPing = 16;
    // Background maintenance period when nothing wakes it earlier.
    static constexpr int64_t kMaintenanceIntervalMs = 200;
    // A memory replica queued for offload is pinned this long at most: the
    // owner must have read it by then (docs/ssd_offload.md).
    static constexpr int64_t kOffloadPinMs = 60'000;
    // Largest value a credit is granted for, and most credits per grant.
    static constexpr uint64_t kMaxCreditedValueSize = 1 << 20;
    static constexpr size_t kMaxCreditsPerGrant = 256;
    // Longest window in which a client may begin writing into a credit.
    static constexpr int64_t kMaxCreditUsableMs = 2000;

    // The event counters. GetStats copies each into the MasterStats field
    // of the same name: one list, so that no counter is kept and never
    // reported (disk_gets: get-replica-list calls answered from disk only).
    // clang-format off
#define MOONCAKE_MASTER_COUNTERS(X)                                                  \
    X(put_starts) X(put_ends) X(put_revokes) X(gets) X(removes) X(evictions)         \
    X(eviction_rounds) X(zombie_puts_discarded) X(clients_expired) X(offload_queued) \
    X(offload_queue_rejected) X(offloaded) X(disk_gets) X(promotions_handed_out)     \
    X(put_credits_granted) X(put_credit_commits)
    // clang-format on

    struct Counters {
#define MOONCAKE_MASTER_COUNTER_FIELD(name) std::atomic<uint64_t> name{0};
        MOONCAKE_MASTER_COUNTERS(MOONCAKE_MASTER_COUNTER_FIELD)
#undef MOONCAKE_MASTER_COUNTER_FIELD
    };

    // Outcome of one placement attempt inside PutStart.
    struct PutAttempt {
        Result<std::vector<ReplicaDescriptor>> result;
        // NO_AVAILABLE_HANDLE that evicting might cure (some segment could
        // hold the object if it were emptier).
        bool eviction_may_help = false;
    };

    // HA: a change made through an ObjectMeta reference (change_log.h).
    void NoteKey(std::string_view key) {
        if (log_) log_->NoteKey(key);
    }
    // The state of `keys` (and the mounted segments) for the change log.
    std::vector<ChangeRecord> DescribeChanges(const std::vector<std::string>& keys,
                                              bool membership);

    static bool IsValidKey(const std::string& key) {
        return !key.empty() && key.size() <= kMaxKeyLength;
    }
    // A soft-pin length needs a soft pin, and is bounded.
    bool PinsAreValid(const ReplicateConfig& config) const {
        return config.soft_pin_ttl_ms <= config_.max_kv_soft_pin_ttl_ms &&
               (config.soft_pin_ttl_ms == 0 || config.soft_pinned());
    }
    // An unfinished put past put_start_discard_timeout_sec: a new put of its
    // key may pre-empt it.
    bool IsZombie(const ObjectMeta& meta, int64_t now_ms) const {
        return !meta.complete() && now_ms - meta.put_start_ms() >= put_discard_ms_;
    }
    static void Bump(std::atomic<uint64_t>& counter, uint64_t by = 1) {
        counter.fetch_add(by, std::memory_order_relaxed);
    }
    static ReplicaDescriptor Describe(const SegmentPool::Segment& segment, const ReplicaSlot& slot,
                                      uint64_t size);

    PutAttempt TryPutStart(const UUID& client_id, const std::string& key, uint64_t value_size,
                           const ReplicateConfig& config, size_t replica_num, uint64_t value_id);
    // The object a put starts; an upsert carries over the pins of the value
    // it `replaced` (nullptr: none). `value_id` 0 draws a new id.
    ObjectMeta NewObject(const UUID& client_id, uint64_t value_size, const ReplicateConfig& config,
                         int64_t now_ms, const ObjectMeta* replaced, uint64_t value_id = 0);
    // Upserts (shard locked): why `old` may not be replaced now (OK: it may).
    // Cancels a queued offload of it.
    ErrorCode UpsertRefusal(const UUID& client_id, const std::string& key, ObjectMeta& old);
    // Same size, not leased, every replica complete on a usable segment.
    bool CanRewriteInPlace(const SegmentPool::ReadView& view, const ObjectMeta& old,
                           uint64_t value_size, const ReplicateConfig& config,
                           int64_t now_us) const;
    // The object at `position` restarts as an unfinished put of `client_id`
    // into its own replicas.
    Result<std::vector<ReplicaDescriptor>> RewriteInPlace(const SegmentPool::ReadView& view,
                                                          ObjectShard& shard,
                                                          ObjectTable::Position position,
                                                          const UUID& client_id,
                                                          const ReplicateConfig& config,
                                                          int64_t now_ms) MC_REQUIRES(shard.mutex);
    // The space of `old`, replaced by a new put of `key`: after its readers'
    // leases when it was complete, after its put's release timeout when its
    // writer may still be writing.
    void ReleaseReplaced(const SegmentPool::ReadView& view, const std::string& key,
                         const UUID& client_id, const ObjectMeta& old, int64_t now_ms);
    // Frees every replica of `meta` now.
    static void FreeReplicas(const SegmentPool::ReadView& view, const ObjectMeta& meta);
    // Frees the slot's `size` bytes now when `release_at_ms` <= `now_ms`,
    // else once release_at_ms has passed.
    void FreeAt(const SegmentPool::ReadView& view, const ReplicaSlot& slot, uint64_t size,
                int64_t release_at_ms, int64_t now_ms);
    // FreeAt for every replica of `meta`.
    void ReleaseReplicasAt(const SegmentPool::ReadView& view, const ObjectMeta& meta,
                           int64_t release_at_ms, int64_t now_ms);
    // When readers leased at `now_us` are done with `meta` (ms, rounded up);
    // 0 when none is.
    static int64_t ReadersDoneMs(const ObjectMeta& meta, int64_t now_us);
    // FreeReplicas, or, while `meta` is leased at `now_us`, defers the frees
    // to the lease's end (a forced remove must not hand out space being read).
    void ReleaseReplicas(const SegmentPool::ReadView& view, const ObjectMeta& meta, int64_t now_us);
    // For remove_all / remove_by_regex: frees and erases the object at
    // `position` (shard locked by the caller) unless it is unfinished,
    // leased (unless `ignore_lease`) or being copied/moved. True when it
    // was removed.
    bool RemoveIfIdle(const SegmentPool::ReadView& view, ObjectShard& shard,
                      ObjectTable::Position position, int64_t now_ms, bool ignore_lease = false)
        MC_REQUIRES(shard.mutex);
    // Erases an object, ending its copy/move record if it has one.
    void EraseObject(ObjectShard& shard, ObjectTable::Position position) MC_REQUIRES(shard.mutex);
    // The object at `where` (its shard locked by the caller), or nullptr.
    ObjectMeta* FindObject(const KeyLocation& where) MC_REQUIRES(where.shard.mutex) {
        const auto position = index_.Find(where);
        return position == ObjectIndex::kNotFound ? nullptr : &where.shard.objects.meta(position);
    }

    // Removes replicas on the given (retired) segments from every object;
    // objects left without a replica are removed. Returns objects removed.
    uint64_t DropReplicasOn(const std::unordered_set<uint32_t>& segment_ids);
    // Retires, sweeps and forgets segments; returns objects removed.
    uint64_t SweepRetiredSegments(const std::vector<uint32_t>& segment_ids);

    // True when `key` was cleared (see BatchReplicaClear;
    // master_service_replica_clear.cpp).
    bool ReplicaClearOne(const SegmentPool::ReadView& view, const UUID& client_id,
                         const std::string& key, const std::vector<uint32_t>& segments,
                         bool whole_object);

    // Put credit helpers (master_service_credits.cpp).
    int64_t CreditUsableMs() const;
    // Adds up to `count` credits to `grant`; false when it fell short and
    // an eviction round might make room.
    bool TryGrant(const UUID& client_id, uint64_t value_size, size_t count, size_t replica_num,
                  PutCreditGrant& grant);
    void ReleasePutCredits(const UUID& client_id, const std::vector<uint64_t>& ids);
    // Frees the space of credits taken out of credits_ (no shard lock held).
    void FreeCredits(const std::vector<PutCreditRecord>& credits);
    static void FreeCredit(const SegmentPool::ReadView& view, const PutCreditRecord& credit);
    Status CommitOne(const UUID& client_id, const std::string& key, uint64_t credit_id,
                     const ReplicateConfig& config);

    // Maintenance steps.
    void ReclaimDueCredits(int64_t now_ms);
    void ExpireClients(int64_t now_ms);
    // Lifts the allocation fences of re-mounted segments that are due.
    void LiftDueFences(int64_t now_ms);
    void ReleaseDeferred(int64_t now_ms);
    void ReclaimUnfinishedPuts(int64_t now_ms);
    void ReclaimStaleReplicationOps(int64_t now_ms);
    bool AboveHighWatermark() const;
    void EvictAboveWatermark(int64_t now_ms);
    // After a failed allocation: one round unless another thread ran one
    // since `seen_generation`.
    void EvictForAllocation(uint64_t seen_generation);
    uint64_t RunEvictionRound(uint64_t min_objects, int64_t now_ms) MC_REQUIRES(eviction_mutex_);
    void WakeBackgroundIfAboveWatermark();

    // Offload helpers (master_service_offload.cpp).
    // Queues the object for the client owning its first replica's segment
    // and pins it (a lease) until the copy is written (shard locked).
    // OK, UNABLE_OFFLOADING (owner has no disk) or KEYS_ULTRA_LIMIT.
    ErrorCode QueueOffload(const SegmentPool::ReadView& view, const std::string& key,
                           ObjectMeta& meta);
    // On-evict mode: whether eviction keeps `meta` (queued for a disk copy
    // first). Objects already on disk are evicted at once.
    bool KeepForOffload(const SegmentPool::ReadView& view, std::string_view key, ObjectMeta& meta)
        MC_REQUIRES(eviction_mutex_);
    // Heartbeat work: fills each item's memory replicas and how long the
    // offload pin still holds them (none when it holds for under 1 ms).
    void DescribeOffloadSources(std::vector<OffloadItem>& items);
    // GetReplicaList of an object with no memory replica.
    Result<GetReplicaListResult> DiskOnlyReplicaList(const std::string& key);
    // Removes keys only on disk (not in the index) that `matches`; returns how many.
    int64_t RemoveDiskOnly(const std::function<bool(const std::string&)>& matches);
    // A client is gone: its disk replicas with it.
    void DropLocalDisk(const UUID& client_id);

    // Copy/move helpers (master_service_tasks.cpp).
    // Frees the PROCESSING replicas of an op in flight and clears its marks.
    void UndoReplicationOp(const SegmentPool::ReadView& view, const std::string& key,
                           ObjectMeta& meta);
    // The complete object at `where` (its shard locked by the caller), for
    // the task calls: OBJECT_NOT_FOUND or REPLICA_IS_NOT_READY otherwise.
    Result<ObjectMeta*> FindComplete(const KeyLocation& where) MC_REQUIRES(where.shard.mutex);
    // FindComplete, and no copy/move holds the object (CopyStart, MoveStart):
    // else OBJECT_HAS_REPLICATION_TASK.
    Result<ObjectMeta*> FindReplicable(const KeyLocation& where) MC_REQUIRES(where.shard.mutex);
    // The object at `where` (its shard locked by the caller) with the op of
    // `kind` that `client_id` started on it, for the End and Revoke calls:
    // OBJECT_NOT_FOUND, or OBJECT_NO_REPLICATION_TASK when no such op runs.
    struct OwnOp {
        ObjectMeta* meta = nullptr;
        ReplicationOp op;
    };
    Result<OwnOp> FindOwnOp(const KeyLocation& where, const std::string& key, const UUID& client_id,
                            ReplicationOp::Kind kind) MC_REQUIRES(where.shard.mutex);
    // CopyRevoke / MoveRevoke: undoes `client_id`'s op of `kind` on `key`.
    Status RevokeReplicationOp(const UUID& client_id, const std::string& key,
                               ReplicationOp::Kind kind);
    std::vector<TaskAssignment> AssignTasks(const UUID& client_id, size_t max_tasks);

    const MasterConfig config_;
    const std::shared_ptr<Clock> clock_;
    const int64_t lease_ttl_ms_;
    const int64_t lease_ttl_us_;
    const int64_t client_ttl_ms_;
    const int64_t put_discard_ms_;
    const int64_t put_release_ms_;

    ObjectIndex index_;
    SegmentPool pool_;
    ClientRegistry clients_;
    TaskTable tasks_;
    DeferredFreeList deferred_;
    ReplicationOps ops_;
    Evictor evictor_;
    OffloadRegistry offload_;
    PromotionQueue promotions_;
    PutCreditTable credits_;
    Counters counters_;
    std::unique_ptr<ChangeLog> log_;  // HA only; set before serving

    Mutex membership_mutex_;
    // Re-mounted segments and when their allocation fence may be lifted:
    // a lease granted before the re-mount (by a previous master, or before
    // the client expired) has ended by then.
    struct Fence {
        UUID segment;
        int64_t lift_at_ms = 0;
    };
    std::vector<Fence> fences_ MC_GUARDED_BY(membership_mutex_);
    Mutex eviction_mutex_;
    std::atomic<uint64_t> eviction_generation_{0};
    // A synchronous round that found nothing to evict is not repeated for
    // kEmptyEvictionBackoffMs unless something may have become evictable
    // meanwhile (a put ended, an offload report ended pins): when everything
    // is leased, every failing put would otherwise rescan the whole index.
    static constexpr int64_t kEmptyEvictionBackoffMs = 100;
    std::optional<int64_t> empty_round_at_ms_ MC_GUARDED_BY(eviction_mutex_);
    uint64_t offloads_this_round_ MC_GUARDED_BY(eviction_mutex_) = 0;
    uint64_t evictable_events_at_empty_round_ MC_GUARDED_BY(eviction_mutex_) = 0;
    // Offload reports that ended pins (NotifyOffloadSuccess).
    std::atomic<uint64_t> pin_ends_{0};
    // The next ObjectMeta::value_id; starts at a random point so that the
    // ids of two master lifetimes do not meet.
    std::atomic<uint64_t> next_value_id_{UUID::Generate().lo | 1};
    uint64_t EvictableEvents() const {
        return counters_.put_ends.load(std::memory_order_relaxed) +
               pin_ends_.load(std::memory_order_relaxed);
    }

    Mutex background_mutex_;
    CondVar background_cv_;
    bool background_stop_ MC_GUARDED_BY(background_mutex_) = false;
    std::atomic<bool> background_wake_{false};
    std::thread background_thread_;
};

}  // namespace mooncake
