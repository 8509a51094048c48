// The client's SSD offload tier (docs/ssd_offload.md): the disk store, the
// worker that writes the objects the master queues for this client and
// reports them, and the offload RPC server through which other clients
// read this client's files.
//
// Worker: every heartbeat interval (and at once again while there is work)
// it takes its queue from the master, reads each object from memory into a
// bounded staging buffer (MOONCAKE_OFFLOAD_LOCAL_BUFFER_SIZE_BYTES), writes
// it to disk and reports the batch. Keys the master hands back for
// promotion (--promotion_on_hit) go the other way: file to staging buffer,
// then an ordinary put into the memory pool. A master that no longer knows the disk
// (restart) answers SEGMENT_NOT_FOUND: the worker mounts it again and
// re-reports every file (the same as at start-up).
//
// Offload RPC (one TCP connection per read): the reader sends the key and
// the size it expects; this client reads the file into its staging buffer,
// checksum verified, and sends a status and the bytes. A file that fails
// its checksum is an error, never data.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "client/client_context.h"
#include "client/get_pipeline.h"
#include "client/local_buffer.h"
#include "client/memory_piece.h"
#include "client/offload/disk_store.h"
#include "common/mutex.h"
#include "common/unique_fd.h"

namespace mooncake {

// Reads another client's SSD replica through its offload RPC endpoint into
// `pieces`. What a client without its own tier reads disk objects with.
Status ReadOffloadRpc(const std::string& key, const std::string& endpoint,
                      std::span<const MemoryPiece> pieces, uint64_t size);

class RemoteDiskReader final : public DiskReader {
   public:
    Status ReadDisk(const std::string& key, const ReplicaDescriptor& replica,
                    std::span<const MemoryPiece> pieces, uint64_t size) override {
        if (!replica.is_local_disk_replica()) return Error(ErrorCode::INVALID_REPLICA);
        return ReadOffloadRpc(key, replica.local_disk().transport_endpoint, pieces, size);
    }
};

class OffloadTier final : public DiskReader {
   public:
    // Opens (and rescans) the disk store under `path` (empty: the
    // environment's), mounts it at the master and reports what it holds,
    // starts the worker and the RPC server. `host` is where other clients
    // reach this one. UNABLE_OFFLOAD when the master runs without
    // --enable_offload.
    static Result<std::unique_ptr<OffloadTier>> Start(const ClientContext& context,
                                                      const std::string& path,
                                                      const std::string& host);
    ~OffloadTier() override;
    // Stops the threads; idempotent.
    void Stop();
    // unmount_local_disk_segment: the master stops naming this client.
    Status Unmount();

    Status ReadDisk(const std::string& key, const ReplicaDescriptor& replica,
                    std::span<const MemoryPiece> pieces, uint64_t size) override;
    // Wakes an idle worker (at most every few ms) instead of leaving new
    // offload work to its next heartbeat.
    void PutsDone() override;

    uint64_t rpc_reads() const { return rpc_reads_.load(std::memory_order_relaxed); }
    uint64_t promotions() const { return promotions_.load(std::memory_order_relaxed); }
    const std::string& endpoint() const { return endpoint_; }
    offload::DiskStoreStats disk_stats() const { return store_->GetStats(); }
    const char* io_backend() const { return store_->io_backend(); }

   private:
    explicit OffloadTier(const ClientContext& context);
    Status Mount();
    // Reports every file of the store (batches of the scan limit).
    Status ReportAll();
    // At Stop: deletes the files of objects removed since the last heartbeat.
    void DeleteRemovedFiles();
    void WorkerLoop();
    // One heartbeat; true when it found work (ask again at once).
    bool WorkOnce();
    // `asked_at`: taken before the heartbeat that handed `item` out.
    void WriteObject(const OffloadItem& item, std::chrono::steady_clock::time_point asked_at,
                     std::vector<OffloadItem>* written);
    // --promotion_on_hit: reads the key's file and puts it back into memory.
    void Promote(const std::string& key);
    void ServeLoop();
    void ServeOne(int fd);
    Status ReadLocal(const std::string& key, std::span<const MemoryPiece> pieces, uint64_t size);

    const ClientContext& client_;
    // The worker's own read path: staging buffer, no disk fallback.
    ClientContext worker_context_;
    std::unique_ptr<GetPipeline> worker_reads_;
    std::shared_ptr<LocalBuffer> staging_;
    std::unique_ptr<offload::DiskStore> store_;
    std::string endpoint_;
    UniqueFd listener_;
    std::atomic<bool> offloading_{true};
    // unmount_local_disk_segment was called: no re-mount, no more work.
    std::atomic<bool> unmounted_{false};
    std::atomic<uint64_t> rpc_reads_{0};
    std::atomic<uint64_t> promotions_{0};

    Mutex mutex_;
    CondVar wake_;
    bool stopping_ MC_GUARDED_BY(mutex_) = false;
    std::atomic<bool> idle_{false};      // the worker waits for its next heartbeat
    std::atomic<bool> put_hint_{false};  // a put happened since: ask at once
    std::thread worker_;
    std::thread server_;
};

}  // namespace mooncake
