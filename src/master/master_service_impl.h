// MasterService's state and rules. The public class forwards here.
//
// Where things are:
//   master_service.cpp           construction, background thread, maintenance, stats
//   master_service_objects.cpp   put / get / exist / remove (the hot path)
//   master_service_segments.cpp  mount / unmount / client liveness
//   master_service_tasks.cpp     copy / move tasks and their execution
//   master_service_credits.cpp   put credits (space granted ahead of small puts)
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
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "master/change_log.h"
#include "master/client_registry.h"
#include "master/deferred_free_list.h"
#include "master/eviction.h"
#include "master/master_config.h"
#include "master/master_service.h"
#include "master/object_index.h"
#include "master/offload_registry.h"
#include "master/promotion_queue.h"
#include "master/put_credit_table.h"
#include "master/replication_ops.h"
#include "master/segment_pool.h"
#include "master/task_table.h"

namespace mooncake {

class MasterServiceImpl {
   public:
    // Tasks handed out in one ping reply.
    static constexpr size_t kMaxTasksPerPing = 16;
    // Background maintenance period when nothing wakes it earlier.
    static constexpr int64_t kMaintenanceIntervalMs = 200;
    // A memory replica queued for offload is pinned this long at most: the
    // owner must have read it by then (docs/ssd_offload.md).
    static constexpr int64_t kOffloadPinMs = 60'000;

    MasterServiceImpl(MasterConfig config, std::shared_ptr<Clock> clock);
    ~MasterServiceImpl();

    const MasterConfig& config() const { return config_; }

    void StartBackgroundThread();
    void StopBackgroundThread();
    void RunMaintenance();

    // Segments and clients (master_service_segments.cpp).
    Status MountSegment(const UUID& client_id, const SegmentInfo& segment);
    Status ReMountSegments(const UUID& client_id, const std::vector<SegmentInfo>& segments);
    Status UnmountSegment(const UUID& client_id, const UUID& segment_id,
                          uint32_t grace_period_seconds);
    Status UnregisterClient(const UUID& client_id);
    std::vector<std::string> GetAllSegments() const;
    Result<SegmentUsage> QuerySegment(const std::string& name) const;
    std::vector<SegmentDetail> GetSegmentsDetail() const;
    std::vector<std::string> GetAllKeys();
    Result<PingResult> Ping(const UUID& client_id);

    // Objects (master_service_objects.cpp).
    Result<std::vector<ReplicaDescriptor>> PutStart(const UUID& client_id, const std::string& key,
                                                    uint64_t value_size,
                                                    const ReplicateConfig& config);
    Status PutEnd(const UUID& client_id, const std::string& key);
    Status PutRevoke(const UUID& client_id, const std::string& key);
    Result<GetReplicaListResult> GetReplicaList(const std::string& key);
    Result<std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>>
    GetReplicaListByRegex(const std::string& regex);
    Result<bool> ExistKey(const std::string& key);
    Status Remove(const std::string& key, bool force);
    Result<int64_t> RemoveByRegex(const std::string& regex, bool force);
    int64_t RemoveAll(bool force);
    // master_service_replica_clear.cpp.
    std::vector<std::string> BatchReplicaClear(const UUID& client_id,
                                               const std::vector<std::string>& keys,
                                               const std::string& segment_name);
    // True when `key` was cleared (see MasterService::BatchReplicaClear).
    bool ReplicaClearOne(const SegmentPool::ReadView& view, const UUID& client_id,
                         const std::string& key, const std::vector<uint32_t>& segments,
                         bool whole_object);

    // Put credits (master_service_credits.cpp).
    // Largest value a credit is granted for, and most credits per grant.
    static constexpr uint64_t kMaxCreditedValueSize = 1 << 20;
    static constexpr size_t kMaxCreditsPerGrant = 256;
    // Longest window in which a client may begin writing into a credit.
    static constexpr int64_t kMaxCreditUsableMs = 2000;
    Result<PutCreditGrant> GrantPutCredits(const UUID& client_id, uint64_t value_size, size_t count,
                                           size_t replica_num,
                                           const std::vector<uint64_t>& release);
    std::vector<Status> BatchPutCommit(const UUID& client_id, const std::vector<std::string>& keys,
                                       const std::vector<uint64_t>& credit_ids,
                                       const ReplicateConfig& config);
    size_t OutstandingPutCredits() const { return credits_.size(); }

    // Tasks (master_service_tasks.cpp).
    Result<UUID> CreateCopyTask(const std::string& key, const std::vector<std::string>& targets);
    Result<UUID> CreateMoveTask(const std::string& key, const std::string& source,
                                const std::string& target);
    Result<TaskInfo> QueryTask(const UUID& task_id) const;
    std::vector<TaskAssignment> FetchTasks(const UUID& client_id, size_t max_tasks);
    Status MarkTaskComplete(const UUID& client_id, const UUID& task_id, TaskStatus status,
                            const std::string& message);
    Result<CopyStartResult> CopyStart(const UUID& client_id, const std::string& key,
                                      const std::vector<std::string>& targets);
    Status CopyEnd(const UUID& client_id, const std::string& key);
    Status CopyRevoke(const UUID& client_id, const std::string& key);
    Result<MoveStartResult> MoveStart(const UUID& client_id, const std::string& key,
                                      const std::string& source, const std::string& target);
    Status MoveEnd(const UUID& client_id, const std::string& key);
    Status MoveRevoke(const UUID& client_id, const std::string& key);

    MasterStats GetStats() const;
    uint64_t CountSoftPinnedObjects();

    // SSD offload (master_service_offload.cpp).
    Status MountLocalDisk(const UUID& client_id, const std::string& endpoint, bool offloading,
                          uint64_t capacity_bytes);
    Status UnmountLocalDisk(const UUID& client_id);
    Result<OffloadWork> OffloadHeartbeat(const UUID& client_id, size_t max_items);
    Status NotifyOffloadSuccess(const UUID& client_id, const std::vector<OffloadItem>& items,
                                bool from_rescan);
    Status NotifyDiskEvicted(const UUID& client_id, const std::vector<std::string>& keys);
    std::vector<LocalDiskStats> GetLocalDiskStats() const { return offload_.Stats(); }

    // State images (master_service_state.cpp).
    MasterStateImage ExportState();
    Result<ImportStats> ImportState(const MasterStateImage& image);

    // Change log (master_service_state.cpp).
    ChangeLog& EnableChangeLog();
    ChangeLog* change_log() { return log_.get(); }
    uint64_t FlushChanges();
    MasterStateImage ExportState(uint64_t* version);
    void ReleaseHeldFrees(uint64_t acked);

   private:
    struct Counters {
        std::atomic<uint64_t> put_starts{0};
        std::atomic<uint64_t> put_ends{0};
        std::atomic<uint64_t> put_revokes{0};
        std::atomic<uint64_t> gets{0};
        std::atomic<uint64_t> removes{0};
        std::atomic<uint64_t> evictions{0};
        std::atomic<uint64_t> eviction_rounds{0};
        std::atomic<uint64_t> zombie_puts_discarded{0};
        std::atomic<uint64_t> clients_expired{0};
        std::atomic<uint64_t> offload_queued{0};
        std::atomic<uint64_t> offload_queue_rejected{0};
        std::atomic<uint64_t> offloaded{0};
        std::atomic<uint64_t> disk_gets{0};  // get-replica-list answered from disk only
        std::atomic<uint64_t> promotions_handed_out{0};
        std::atomic<uint64_t> put_credits_granted{0};
        std::atomic<uint64_t> put_credit_commits{0};
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
                           const ReplicateConfig& config, size_t replica_num);
    // The object a put starts; an upsert carries over the pins of the value
    // it `replaced` (nullptr: none).
    static ObjectMeta NewObject(const UUID& client_id, uint64_t value_size,
                                const ReplicateConfig& config, int64_t now_ms,
                                const ObjectMeta* replaced);
    // Upserts (shard locked): why `old` may not be replaced now (OK: it may).
    // Cancels a queued offload of it.
    ErrorCode UpsertRefusal(const UUID& client_id, const std::string& key, ObjectMeta& old);
    // Same size, not leased, every replica complete on a usable segment.
    bool CanRewriteInPlace(const SegmentPool::ReadView& view, const ObjectMeta& old,
                           uint64_t value_size, const ReplicateConfig& config,
                           int64_t now_us) const;
    // The object at `position` restarts as an unfinished put of `client_id`
    // into its own replicas.
    Result<std::vector<ReplicaDescriptor>> RewriteInPlace(
        const SegmentPool::ReadView& view, ObjectShard& shard, ObjectTable::Position position,
        const UUID& client_id, const ReplicateConfig& config, int64_t now_ms);
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
                      ObjectTable::Position position, int64_t now_ms, bool ignore_lease = false);
    // Erases an object, ending its copy/move record if it has one.
    void EraseObject(ObjectShard& shard, ObjectTable::Position position);
    // The object at `where` (its shard locked by the caller), or nullptr.
    ObjectMeta* FindObject(const KeyLocation& where) {
        const auto position = index_.Find(where);
        return position == ObjectIndex::kNotFound ? nullptr : &where.shard.objects.meta(position);
    }

    // Removes replicas on the given (retired) segments from every object;
    // objects left without a replica are removed. Returns objects removed.
    uint64_t DropReplicasOn(const std::unordered_set<uint32_t>& segment_ids);
    // Retires, sweeps and forgets segments; returns objects removed.
    uint64_t SweepRetiredSegments(const std::vector<uint32_t>& segment_ids);

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
    uint64_t RunEvictionRound(uint64_t min_objects, int64_t now_ms);
    void WakeBackgroundIfAboveWatermark();

    // Offload helpers (master_service_offload.cpp).
    // Queues the object for the client owning its first replica's segment
    // and pins it (a lease) until the copy is written (shard locked).
    // OK, UNABLE_OFFLOADING (owner has no disk) or KEYS_ULTRA_LIMIT.
    ErrorCode QueueOffload(const SegmentPool::ReadView& view, const std::string& key,
                           ObjectMeta& meta);
    // On-evict mode: whether eviction keeps `meta` (queued for a disk copy
    // first). Objects already on disk are evicted at once.
    bool KeepForOffload(const SegmentPool::ReadView& view, std::string_view key, ObjectMeta& meta);
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

    std::mutex membership_mutex_;
    // Re-mounted segments and when their allocation fence may be lifted:
    // a lease granted before the re-mount (by a previous master, or before
    // the client expired) has ended by then.
    struct Fence {
        UUID segment;
        int64_t lift_at_ms = 0;
    };
    std::vector<Fence> fences_;  // guarded by membership_mutex_
    std::mutex eviction_mutex_;
    std::atomic<uint64_t> eviction_generation_{0};
    // A synchronous round that found nothing to evict is not repeated for
    // kEmptyEvictionBackoffMs unless something may have become evictable
    // meanwhile (a put ended, an offload report ended pins): when everything
    // is leased, every failing put would otherwise rescan the whole index.
    static constexpr int64_t kEmptyEvictionBackoffMs = 100;
    std::optional<int64_t> empty_round_at_ms_;      // guarded by eviction_mutex_
    uint64_t offloads_this_round_ = 0;              // guarded by eviction_mutex_
    uint64_t evictable_events_at_empty_round_ = 0;  // guarded by eviction_mutex_
    // Offload reports that ended pins (NotifyOffloadSuccess).
    std::atomic<uint64_t> pin_ends_{0};
    uint64_t EvictableEvents() const {
        return counters_.put_ends.load(std::memory_order_relaxed) +
               pin_ends_.load(std::memory_order_relaxed);
    }

    std::mutex background_mutex_;
    std::condition_variable background_cv_;
    bool background_stop_ = false;  // guarded by background_mutex_
    std::atomic<bool> background_wake_{false};
    std::thread background_thread_;
};

}  // namespace mooncake
