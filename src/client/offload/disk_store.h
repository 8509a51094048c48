// The client's SSD tier: one file per object under the offload directory,
// an in-memory index of what is there, limits and watermark eviction.
//
// Why one file per key (and not buckets): an object is written once and
// read whole, so a file is exactly one object's life. Deleting it returns
// the space at once (buckets need compaction or leave holes), a torn
// write spoils one object only, and a restart needs only the file's header
// to rebuild the index. The cost, one inode per object, is small next to
// KV-cache objects of hundreds of KiB to MiB.
//
// Layout: <storage_path>/<fsdir>/<hh>/<hash16>-<gen16>.mco, where hash16 is
// the FNV-1a hash of the key (hh its low byte, to spread the directory) and
// gen16 a per-store write generation: every put writes a new file, so an
// eviction or overwrite never deletes a file a later put made; a rescan
// keeps the newest generation of a key.
//
// Memory: the index holds the key, size and file name of each object
// (about 100 bytes plus the key); values are never cached in memory, reads
// go straight into the caller's buffer. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/offload/file_io.h"
#include "client/offload/offload_config.h"
#include "common/mutex.h"
#include "mooncake/result.h"

namespace mooncake::offload {

struct DiskObject {
    std::string key;
    uint64_t size = 0;
    uint64_t value_id = 0;  // as the master named the value (0: unknown)
};

struct DiskStoreStats {
    uint64_t keys = 0;
    uint64_t bytes = 0;  // value bytes on disk
    uint64_t size_limit = 0;
    uint64_t keys_limit = 0;
    uint64_t puts = 0;
    uint64_t put_failures = 0;
    uint64_t reads = 0;
    uint64_t read_failures = 0;  // corrupt, missing or unreadable files
    uint64_t evicted = 0;
    uint64_t rescan_keys = 0;
    uint64_t rescan_ms = 0;
};

class DiskStore {
   public:
    // Told the keys an eviction drops, before their files are deleted (the
    // master must stop naming this client as their holder first).
    using EvictListener = std::function<void(const std::vector<std::string>& keys)>;

    // Validates `config`, creates the object directory and rescans it.
    static Result<std::unique_ptr<DiskStore>> Open(const OffloadConfig& config);
    ~DiskStore();

    void SetEvictListener(EvictListener listener);

    // Stores `key` (replacing an older copy). INVALID_PARAMS for an empty or
    // over-long key; KEYS_ULTRA_LIMIT when the key or size limit is reached
    // and eviction cannot make room; FILE_* when the write fails (disk
    // full: FILE_WRITE_FAIL). A failed put leaves what was stored intact.
    // A full volume (smaller than the size limit, or shared) lowers the
    // limit to what it holds and, with eviction on, evicts down to the low
    // watermark of that and writes again once.
    // `value_id` is the master's id of the value (kept in the file header,
    // listed by ListObjects, so a rescan's report names the value it holds).
    Status Put(const std::string& key, const std::vector<std::span<const uint8_t>>& parts,
               uint64_t value_id = 0);
    // Reads the whole value into `dest` (dest.size() must be the value size,
    // else FILE_INVALID_BUFFER). OBJECT_NOT_FOUND when not stored;
    // FILE_READ_FAIL when the file is corrupt (the entry is then dropped).
    Status Get(const std::string& key, std::span<uint8_t> dest);
    std::optional<uint64_t> SizeOf(const std::string& key) const;
    // OBJECT_NOT_FOUND when not stored.
    Status Remove(const std::string& key);
    // Every object stored, in no order.
    std::vector<DiskObject> ListObjects() const;
    DiskStoreStats GetStats() const;
    // Less than 1 MiB is free on the volume of the object directory.
    bool VolumeIsFull() const {
        const std::optional<uint64_t> free = FreeOnVolume();
        return free && *free < (1u << 20);
    }
    const OffloadConfig& config() const { return config_; }
    // "io_uring" or "pread": what moves the object files' bytes.
    const char* io_backend() const { return io_->name(); }

   private:
    struct Entry {
        uint64_t size = 0;
        uint64_t generation = 0;
        uint64_t value_id = 0;
        std::list<std::string>::iterator order;  // position in order_
    };

    explicit DiskStore(OffloadConfig config);
    void Rescan();
    Status PutOnce(const std::string& key, const std::vector<std::span<const uint8_t>>& parts,
                   uint64_t value_id);
    // Free bytes for us on the volume of the object directory.
    std::optional<uint64_t> FreeOnVolume() const;
    // At open: a limit beyond what the volume can hold is lowered to it.
    void FitLimitToVolume();
    // After a failed write: when the volume has no room for `wanted` more
    // bytes, lowers the limit and evicts; true when something was evicted.
    bool ShrinkToFullVolume(uint64_t wanted);
    std::string PathOf(const std::string& key, uint64_t generation) const;
    // Reserves room for a new object of `size` (evicting if allowed);
    // returns the victims to delete once the lock is dropped.
    Status Reserve(const std::string& key, uint64_t size, std::vector<DiskObject>* victims,
                   std::vector<std::string>* victim_paths) MC_REQUIRES(mutex_);
    // Picks victims (lock held) until keys/bytes are at most the targets.
    void EvictLocked(uint64_t target_keys, uint64_t target_bytes, std::vector<DiskObject>* victims,
                     std::vector<std::string>* victim_paths) MC_REQUIRES(mutex_);
    void DropLocked(const std::string& key) MC_REQUIRES(mutex_);
    // Tells the listener, then deletes the files (lock not held).
    void FinishEviction(const std::vector<DiskObject>& victims,
                        const std::vector<std::string>& paths);

    const OffloadConfig config_;
    std::unique_ptr<FileIo> uring_;  // set when use_uring asked and available
    FileIo* io_ = &PosixFileIo();    // uring_ or the plain one
    mutable Mutex mutex_;
    std::unordered_map<std::string, Entry> index_ MC_GUARDED_BY(mutex_);
    std::list<std::string> order_ MC_GUARDED_BY(mutex_);  // oldest (or least recently read) first
    uint64_t bytes_ MC_GUARDED_BY(mutex_) = 0;
    // The configured size limit, lowered to what the volume holds.
    uint64_t size_limit_ MC_GUARDED_BY(mutex_);
    uint64_t reserved_bytes_ MC_GUARDED_BY(mutex_) = 0;  // puts being written
    uint64_t reserved_keys_ MC_GUARDED_BY(mutex_) = 0;
    uint64_t next_generation_ MC_GUARDED_BY(mutex_) = 1;
    EvictListener listener_ MC_GUARDED_BY(mutex_);
    DiskStoreStats stats_ MC_GUARDED_BY(mutex_);  // counters
};

}  // namespace mooncake::offload
