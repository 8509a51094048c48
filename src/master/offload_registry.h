// The master's view of the SSD offload tier: which clients mounted a local
// disk, the LOCAL_DISK replicas each holds, and the keys waiting to be
// offloaded by each (docs/ssd_offload.md).
//
// Kept apart from the object index on purpose: a disk replica lives as
// long as the client's file, not as long as the memory replica (it is
// what remains after eviction), and a client restart re-reports it.
// MasterService consults it on get / exist / remove and feeds it on
// put end, eviction and client death.
//
// Thread-safe; a leaf lock (nothing is locked while holding it).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/mutex.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "rpc/master_types.h"

namespace mooncake {

// One client's local disk as /metrics shows it.
struct LocalDiskStats {
    UUID client;
    std::string endpoint;
    bool offloading = false;
    uint64_t objects = 0;
    uint64_t bytes = 0;
    uint64_t queued = 0;
    uint64_t capacity_bytes = 0;  // what the client said its disk tier may hold
};

class OffloadRegistry {
   public:
    explicit OffloadRegistry(uint64_t queue_limit) : queue_limit_(queue_limit) {}

    // Mounts (or, after a master restart, mounts again) the client's disk.
    // A re-mount keeps what is known and updates endpoint and state.
    void Mount(const UUID& client, const std::string& endpoint, bool offloading,
               uint64_t capacity_bytes = 0);
    // Forgets the client's disk with all its replicas and queue; returns
    // the keys that are on no disk any more.
    std::vector<std::string> Unmount(const UUID& client);
    bool IsMounted(const UUID& client) const;
    // The key limit of its disk was reached: queue nothing more for it.
    void DisableOffloading(const UUID& client);

    // UNABLE_OFFLOADING when the client has no disk or stopped offloading;
    // KEYS_ULTRA_LIMIT when its queue is full. Already queued or already on
    // its disk: OK, nothing added.
    Status Enqueue(const UUID& client, const std::string& key, uint64_t size);
    // SEGMENT_NOT_FOUND when the client has no disk mounted (a restarted
    // master: the client mounts again and re-reports).
    Result<OffloadWork> TakeWork(const UUID& client, size_t max_items);

    // Files found on the client's disk by a rescan; how many were taken. A
    // file that another holder's copy contradicts (another size or value
    // id) is stale: handed back for deletion. SEGMENT_NOT_FOUND when it has
    // no disk mounted.
    Result<uint64_t> AddReplicas(const UUID& client, const std::vector<OffloadItem>& items);
    // Files the client wrote for work it took: only items still in flight
    // (not removed meanwhile) become replicas, the others are handed back
    // for deletion. How many were taken.
    Result<uint64_t> CompleteOffload(const UUID& client, const std::vector<OffloadItem>& items);
    // The client must delete these files (their objects changed).
    void ScheduleRemoval(const UUID& client, const std::vector<std::string>& keys);
    // The client's disk eviction dropped these files.
    void RemoveReplicas(const UUID& client, const std::vector<std::string>& keys);
    // The object was removed: every holder is told to delete its file.
    // True when some disk held it.
    bool RemoveKey(const std::string& key);
    // Removes every disk replica; returns how many keys were on disk.
    uint64_t RemoveAll();
    // An upsert is about to replace the key's memory value: drops a queued
    // offload of it (true), or, when a client is copying it to disk right
    // now, changes nothing (false: the copy must not be torn).
    bool CancelQueuedOffload(const std::string& key);

    // LOCAL_DISK descriptors of the key, one per holder.
    std::vector<ReplicaDescriptor> Find(const std::string& key) const;
    // Size recorded by a holder; 0 when on no disk.
    uint64_t SizeOf(const std::string& key) const;
    // Value id recorded by a holder; 0 when on no disk or unknown.
    uint64_t ValueIdOf(const std::string& key) const;
    bool Contains(const std::string& key) const;
    // Cheap: no lock when the tier holds nothing.
    bool Empty() const { return key_count_.load(std::memory_order_relaxed) == 0; }
    std::vector<std::string> AllKeys() const;
    std::vector<LocalDiskStats> Stats() const;

   private:
    struct DiskObject {
        uint64_t size = 0;
        uint64_t value_id = 0;  // 0: unknown (OffloadItem::value_id)
    };
    struct Disk {
        std::string endpoint;
        bool offloading = true;
        uint64_t capacity_bytes = 0;
        std::unordered_map<std::string, DiskObject> objects;
        uint64_t bytes = 0;
        std::deque<OffloadItem> queue;
        std::unordered_set<std::string> queued;
        std::unordered_map<std::string, uint64_t> in_flight;  // taken, not yet reported
        std::vector<std::string> removed;                     // files the client must delete
    };

    void DropReplicaLocked(const UUID& client, Disk& disk, const std::string& key);
    // Takes `key` out of the disk's offload queue, if it is queued.
    static void DropQueuedLocked(Disk& disk, const std::string& key);
    void AddReplicaLocked(const UUID& client, Disk& disk, const OffloadItem& item);
    // Whether a copy another client holds says `item` is not the key's value.
    bool ContradictedLocked(const UUID& client, const OffloadItem& item) const MC_REQUIRES(mutex_);

    const uint64_t queue_limit_;
    mutable Mutex mutex_;
    std::unordered_map<UUID, Disk, UUIDHash> disks_ MC_GUARDED_BY(mutex_);
    // key -> clients whose disk holds it; guarded by mutex_
    std::unordered_map<std::string, std::vector<UUID>> holders_;
    std::atomic<uint64_t> key_count_{0};  // holders_.size()
};

}  // namespace mooncake
