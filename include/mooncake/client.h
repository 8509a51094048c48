// The store client: what a C++ inference server links (libmooncake_client)
// and what the Python module mooncake.store wraps.
//
// A client plays two roles at once. As a server it mounts a segment of
// `global_segment_size` bytes into the pool; as a client it puts and gets
// objects, staging non-zero-copy data in its local buffer of
// `local_buffer_size` bytes. All methods are thread-safe; every blocking
// call has a deadline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

class TransferEngine;

struct ClientConfig {
    // "host" (port picked from 12300-14300) or "host:port".
    std::string local_hostname;
    // "http://host:8080/metadata", "etcd://host:2379[;host:2379...]" or
    // "P2PHANDSHAKE".
    std::string metadata_server;
    uint64_t global_segment_size = 16ull << 20;  // 0: contributes no memory
    uint64_t local_buffer_size = 1ull << 30;     // 0: puts and gets fail
    // "tcp", "rdma", or "rpc_only": no transfer engine, only the master's
    // calls (exist, replica lists, removes, ...); puts, gets, segments and
    // buffer registration then fail with UNAVAILABLE_IN_CURRENT_MODE.
    std::string protocol = "tcp";
    std::string rdma_devices;  // "mlx5_0,mlx5_1"; empty: auto
    std::string master_server_address = "127.0.0.1:50051";
    // An engine to share (e.g. the Python TransferEngine's): the client
    // mounts its segment in it instead of starting its own, and leaves it
    // running at Close. local_hostname, metadata_server, protocol and
    // rdma_devices are then the engine's. Null: the client owns an engine.
    std::shared_ptr<TransferEngine> engine;
    // SSD offload tier (docs/ssd_offload.md): objects are also written to
    // files under ssd_offload_path (empty: MOONCAKE_OFFLOAD_FILE_STORAGE_PATH)
    // and stay readable from there. Needs a master with --enable_offload.
    bool enable_ssd_offload = false;
    std::string ssd_offload_path;
};

// A dummy client: the store as served by a standalone mooncake_client process
// on this host (see docs/standalone_client.md). It owns shared memory that
// the standalone client maps, so data moves without a copy through the
// socket.
struct DummyClientConfig {
    uint64_t mem_pool_size = 0;      // memory for AllocFromMemPool
    uint64_t local_buffer_size = 0;  // staging of puts and gets, Get results
    // "host:port" of the standalone client's dummy service (its --port).
    std::string server_address = "127.0.0.1:50052";
    // Longest a call waits for the standalone client; 0: 120 s. A standalone
    // client that is gone is noticed at once (RPC_FAIL), not after this.
    uint32_t rpc_timeout_ms = 0;
};

// Bytes owned by the client (a slice of its local buffer, or of shared
// memory for a dummy client). Released when the last reference goes.
class Buffer {
   public:
    virtual ~Buffer() = default;
    virtual const uint8_t* data() const = 0;
    virtual uint8_t* mutable_data() = 0;
    virtual size_t size() const = 0;
};

// One part of a value: the bytes are read, not kept, by the call.
using ConstBytes = std::span<const uint8_t>;

class Client {
   public:
    // Connects to the master, starts the transfer engine, mounts the
    // segment, allocates the local buffer, starts the heartbeat.
    static Result<std::unique_ptr<Client>> Create(const ClientConfig& config);

    // Connects to a standalone client (mooncake_client) and shares memory
    // with it. INVALID_PARAMS for a bad address or sizes, RPC_FAIL when no
    // standalone client answers there, TRANSFER_FAIL when it cannot map this
    // process's memory (not on this host). Every method works on the
    // result; when the standalone client dies, calls fail with RPC_FAIL
    // until it is back, then work again.
    static Result<std::unique_ptr<Client>> ConnectDummy(const DummyClientConfig& config);

    virtual ~Client() = default;

    // Unmounts the segment (objects whose only replica lived there are
    // gone), stops the heartbeat, frees memory. Idempotent.
    virtual Status Close() = 0;

    // "host:port", the segment name of this client.
    virtual std::string GetHostname() const = 0;

    // ---- puts ------------------------------------------------------------
    // The value is the concatenation of `parts`. A key that already holds a
    // complete object is left as it is and the call succeeds.
    virtual Status Put(const std::string& key, std::span<const ConstBytes> parts,
                       const ReplicateConfig& config) = 0;
    // One result per key, in order.
    virtual std::vector<Status> BatchPut(const std::vector<std::string>& keys,
                                         const std::vector<std::vector<ConstBytes>>& values,
                                         const ReplicateConfig& config) = 0;
    // Zero copy from memory registered with RegisterBuffer.
    virtual Status PutFrom(const std::string& key, const void* buffer, size_t size,
                           const ReplicateConfig& config) = 0;
    virtual std::vector<Status> BatchPutFrom(const std::vector<std::string>& keys,
                                             const std::vector<const void*>& buffers,
                                             const std::vector<size_t>& sizes,
                                             const ReplicateConfig& config) = 0;
    // Each value is the concatenation of its registered buffers.
    virtual std::vector<Status> BatchPutFromMultiBuffers(
        const std::vector<std::string>& keys, const std::vector<std::vector<const void*>>& buffers,
        const std::vector<std::vector<size_t>>& sizes, const ReplicateConfig& config) = 0;

    // ---- gets ------------------------------------------------------------
    // The object's bytes in a buffer owned by the client.
    virtual Result<std::shared_ptr<Buffer>> Get(const std::string& key) = 0;
    virtual std::vector<Result<std::shared_ptr<Buffer>>> BatchGet(
        const std::vector<std::string>& keys) = 0;
    // Zero copy into registered memory; returns the object size.
    // INVALID_PARAMS when `capacity` is smaller than the object.
    virtual Result<size_t> GetInto(const std::string& key, void* buffer, size_t capacity) = 0;
    virtual std::vector<Result<size_t>> BatchGetInto(const std::vector<std::string>& keys,
                                                     const std::vector<void*>& buffers,
                                                     const std::vector<size_t>& capacities) = 0;
    // Scatters each object over its buffers in order.
    virtual std::vector<Result<size_t>> BatchGetIntoMultiBuffers(
        const std::vector<std::string>& keys, const std::vector<std::vector<void*>>& buffers,
        const std::vector<std::vector<size_t>>& sizes) = 0;
    // Range reads, shaped [buffer][key][range]: copies sizes[b][k][r] bytes
    // of object keys[b][k] from byte src_offsets[b][k][r] to
    // buffers[b] + dst_offsets[b][k][r] (registered memory). Each range gets
    // the bytes copied or its error: INVALID_PARAMS for lists of different
    // lengths, a null or unregistered destination, or a range beyond the
    // object.
    using RangeOffsets = std::vector<std::vector<std::vector<uint64_t>>>;
    using RangeResults = std::vector<std::vector<std::vector<Result<size_t>>>>;
    virtual RangeResults GetIntoRanges(const std::vector<void*>& buffers,
                                       const std::vector<std::vector<std::string>>& keys,
                                       const RangeOffsets& dst_offsets,
                                       const RangeOffsets& src_offsets,
                                       const RangeOffsets& sizes) = 0;

    // ---- memory ----------------------------------------------------------
    virtual Status RegisterBuffer(void* buffer, size_t size) = 0;
    virtual Status UnregisterBuffer(void* buffer) = 0;
    // Memory from the client's local buffer, registered; nullptr-free:
    // BUFFER_OVERFLOW when exhausted.
    virtual Result<void*> AllocFromMemPool(size_t size) = 0;

    // ---- queries ---------------------------------------------------------
    virtual Result<bool> IsExist(const std::string& key) = 0;
    virtual std::vector<Result<bool>> BatchIsExist(const std::vector<std::string>& keys) = 0;
    virtual Result<uint64_t> GetSize(const std::string& key) = 0;
    virtual Result<std::vector<ReplicaDescriptor>> GetReplicaDesc(const std::string& key) = 0;
    virtual std::map<std::string, std::vector<ReplicaDescriptor>> BatchGetReplicaDesc(
        const std::vector<std::string>& keys) = 0;

    // `force` removes objects even while readers hold leases (never those
    // being put, copied or moved).
    virtual Status Remove(const std::string& key, bool force = false) = 0;
    virtual Result<int64_t> RemoveByRegex(const std::string& regex, bool force = false) = 0;
    virtual Result<int64_t> RemoveAll(bool force = false) = 0;

    // ---- copy / move tasks -----------------------------------------------
    virtual Result<UUID> CreateCopyTask(const std::string& key,
                                        const std::vector<std::string>& targets) = 0;
    virtual Result<UUID> CreateMoveTask(const std::string& key, const std::string& source,
                                        const std::string& target) = 0;
    virtual Result<TaskInfo> QueryTask(const UUID& task_id) = 0;

    // ---- segments added at runtime (docs/python_api.md, "Segments") -----
    // Defaults refuse with UNAVAILABLE_IN_CURRENT_MODE: only an in-process
    // client (Client::Create) contributes memory of its own.
    //
    // Maps `size` bytes of the file at `path` from `offset` (page aligned;
    // offset + size within the file) shared and mounts them as one more
    // segment of this client. Returns the new segment ids.
    virtual Result<std::vector<UUID>> MountFileSegment(const std::string& path, uint64_t size,
                                                       uint64_t offset) {
        (void)path, (void)size, (void)offset;
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    // Allocates `size` bytes rounded up to kRuntimeSegmentGranularity and
    // mounts them; returns the ids and the size allocated.
    static constexpr uint64_t kRuntimeSegmentGranularity = 16ull << 20;
    virtual Result<std::pair<std::vector<UUID>, uint64_t>> AllocateAndMountSegment(uint64_t size) {
        (void)size;
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    // Unmounts one segment from MountFileSegment (`allocated` false) or
    // AllocateAndMountSegment (true) and gives its memory back. With a grace
    // period the segment stays readable that long first. INTERNAL_ERROR for
    // an id this client did not mount that way.
    virtual Status UnmountRuntimeSegment(const UUID& segment_id, bool allocated,
                                         uint32_t grace_period_seconds) {
        (void)segment_id, (void)allocated, (void)grace_period_seconds;
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }

    // ---- replica clear ---------------------------------------------------
    // Of `keys`, removes those this client wrote whose lease has expired:
    // the whole object when `segment_name` is empty (all replicas complete),
    // else its complete replicas on that segment (the object goes when none
    // is left). Returns the keys cleared; others are skipped silently.
    virtual std::vector<std::string> BatchReplicaClear(const std::vector<std::string>& keys,
                                                       const std::string& segment_name) {
        (void)keys, (void)segment_name;
        return {};
    }

    // ---- SSD offload -------------------------------------------------------
    // The master stops naming this client as owner of its offloaded keys;
    // then waits the grace period for reads in flight. OK without the tier.
    virtual Status UnmountLocalDisk(uint32_t grace_period_seconds) {
        (void)grace_period_seconds;
        return {};
    }
    // Reads of this client's SSD served to other clients.
    virtual uint64_t OffloadRpcReadCount() const { return 0; }

    // ---- metrics ---------------------------------------------------------
    // Gauges of this client as (Prometheus name, value); empty when it has
    // none (the client HTTP server's /metrics).
    virtual std::vector<std::pair<std::string, double>> MetricValues() const { return {}; }
};

}  // namespace mooncake
