// The master's logic: object index, segment pool, placement, leases,
// eviction, zombie puts, client liveness and the copy/move task table.
//
// No networking here: the gRPC service, the hot-path socket and the HTTP
// endpoints are thin adapters over this class, and tests drive it directly.
// All methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "master/master_config.h"
#include "master/offload_registry.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "rpc/master_types.h"

namespace mooncake {

class MasterServiceImpl;
class ChangeLog;

// The master's metadata as a value, to rebuild it elsewhere: on an HA
// standby when it is promoted, or from a snapshot after a restart
// (master_service_state.cpp, docs/ha.md).
struct MasterStateImage {
    struct Segment {
        UUID client;
        SegmentInfo info;
    };
    struct Replica {
        UUID segment;
        uint64_t address = 0;
    };
    struct Object {
        std::string key;
        uint64_t size = 0;
        bool soft_pin = false;
        bool hard_pin = false;
        uint32_t soft_pin_ttl_ms = 0;  // the put's own soft-pin length; 0: default
        std::vector<Replica> replicas;
    };
    std::vector<Segment> segments;
    // Complete objects with their complete replicas.
    std::vector<Object> objects;
    // Space that unfinished puts and copies in flight hold: kept out of use
    // after a restore, because their writers may still be writing there.
    std::vector<Object> reserved;
};

struct ImportStats {
    uint64_t segments = 0;
    uint64_t objects = 0;
    uint64_t skipped_objects = 0;  // unknown segment or overlapping range
};

// Counters and gauges for /metrics and the periodic log line.
struct MasterStats {
    uint64_t segments_mounted = 0;
    uint64_t capacity_bytes = 0;
    uint64_t used_bytes = 0;  // allocated to objects; put credits apart
    uint64_t object_count = 0;
    // Filled only for the summary line (MasterServer::CollectMetrics with
    // walk_objects, CountSoftPinnedObjects), not by GetStats.
    uint64_t soft_pinned_objects = 0;
    uint64_t clients_alive = 0;
    uint64_t put_starts = 0;
    uint64_t put_ends = 0;
    uint64_t put_revokes = 0;
    // Put credits (docs/performance.md): granted and committed (counters),
    // held now and the bytes they reserve (gauges).
    uint64_t put_credits_granted = 0;
    uint64_t put_credit_commits = 0;
    uint64_t put_credits_outstanding = 0;
    uint64_t put_credit_reserved_bytes = 0;
    uint64_t gets = 0;  // get-replica-list calls that found the object
    uint64_t removes = 0;
    uint64_t evictions = 0;  // objects evicted
    uint64_t eviction_rounds = 0;
    uint64_t zombie_puts_discarded = 0;
    uint64_t clients_expired = 0;
    uint64_t tasks_pending = 0;     // gauge
    uint64_t tasks_processing = 0;  // gauge
    uint64_t tasks_finished = 0;    // counter: tasks that reached SUCCESS or FAILED
    // SSD offload (docs/ssd_offload.md).
    uint64_t offload_queued = 0;          // counter: keys queued for offload
    uint64_t offload_queue_rejected = 0;  // counter: queue full (KEYS_ULTRA_LIMIT)
    uint64_t offloaded = 0;               // counter: LOCAL_DISK replicas reported written
    uint64_t disk_gets = 0;               // counter: reads answered by disk replicas only
    // Promotion of disk-only objects back to memory (--promotion_on_hit).
    uint64_t promotions_queued = 0;           // counter
    uint64_t promotions_rejected = 0;         // counter: the queues were full
    uint64_t promotions_handed_out = 0;       // counter: given to clients by heartbeats
    uint64_t promotion_queue_length = 0;      // gauge
    std::vector<LocalDiskStats> local_disks;  // one per client with a local disk mounted
};

// One mounted segment as the admin endpoint /get_segments_detail lists it.
struct SegmentDetail {
    std::string name;
    UUID id;
    UUID client;
    uint64_t base = 0;
    uint64_t size = 0;
    uint64_t used = 0;
    uint64_t capacity = 0;
    bool draining = false;  // being unmounted after a grace period
};

class MasterService {
   public:
    explicit MasterService(MasterConfig config,
                           std::shared_ptr<Clock> clock = SystemClock::Instance());
    ~MasterService();
    MasterService(const MasterService&) = delete;
    MasterService& operator=(const MasterService&) = delete;

    const MasterConfig& config() const;

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
    std::vector<std::string> GetAllKeys() const;

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
    std::vector<LocalDiskStats> GetLocalDiskStats() const;

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
    ChangeLog* change_log();
    // Turns the changes noted so far into records; returns the log version.
    uint64_t FlushChanges();
    // Flush, then ExportState; `version` = the log version the image holds.
    MasterStateImage ExportState(uint64_t* version);
    // Every follower holds log version `acked`: gives back the space it
    // covers.
    void ReleaseHeldFrees(uint64_t acked);

   private:
    std::unique_ptr<MasterServiceImpl> impl_;
};

}  // namespace mooncake
