// Segments a client mounts after setup (mount_segment,
// allocate_and_mount_segment) and the deferred unmounts of those given
// back with a grace period.
//
// Each segment is registered with the transfer engine (so peers can read
// and write it), then mounted at the master under the client's segment
// name; giving it back reverses that: unmount at the master first, so no
// new replica lands there, then unregister and unmap. A segment being
// given back is left out of re-mounts at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/master_client.h"
#include "common/mutex.h"
#include "mooncake/result.h"
#include "mooncake/transfer_engine.h"
#include "mooncake/types.h"

namespace mooncake {

class RuntimeSegments {
   public:
    RuntimeSegments(MasterClient* master, TransferEngine* engine, UUID client_id,
                    std::string segment_name);
    // Stop() and ReleaseAll() must have run (RealClient::Close does).
    ~RuntimeSegments();
    RuntimeSegments(const RuntimeSegments&) = delete;
    RuntimeSegments& operator=(const RuntimeSegments&) = delete;

    // INVALID_PARAMS for size 0, an offset not page aligned or a range
    // beyond the file; FILE_OPEN_FAIL when the file cannot be opened
    // read-write; the engine's or master's code otherwise.
    Result<UUID> MountFile(const std::string& path, uint64_t size, uint64_t offset);
    // `size` is already rounded by the caller.
    Result<UUID> Allocate(uint64_t size);
    // INTERNAL_ERROR for an id not mounted here with that kind.
    Status Unmount(const UUID& id, bool allocated, uint32_t grace_period_seconds);

    // What the master should hold for re-mounts.
    std::vector<SegmentInfo> Active() const;
    size_t active_count() const;
    uint64_t active_bytes() const;

    // Stops the grace-period thread; pending unmounts are left to
    // ReleaseAll.
    void Stop();
    // Unregisters and unmaps everything, without asking the master (the
    // caller unregistered the client there, which unmounts all).
    void ReleaseAll();

   private:
    struct Entry {
        SegmentInfo info;
        bool allocated = false;   // engine shared memory; else a file mapping
        bool leaving = false;     // unmount under way or scheduled
        void* mapping = nullptr;  // the mmap of a file segment
    };

    Result<UUID> MountAtMaster(Entry entry);
    // Local half of giving a segment back.
    void Release(const Entry& entry);
    // Master unmount then local release of a segment marked leaving.
    Status Finish(const UUID& id);
    void GraceLoop();

    MasterClient* const master_;
    TransferEngine* const engine_;
    const UUID client_id_;
    const std::string segment_name_;

    mutable Mutex mutex_;
    std::map<UUID, Entry> entries_ MC_GUARDED_BY(mutex_);
    // Deadline -> segment, for unmounts with a grace period.
    std::multimap<std::chrono::steady_clock::time_point, UUID> pending_ MC_GUARDED_BY(mutex_);
    CondVar wake_;
    bool stopping_ MC_GUARDED_BY(mutex_) = false;
    std::thread grace_thread_;
};

}  // namespace mooncake
