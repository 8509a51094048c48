// The transfer engine moves bytes between this process and the registered
// memory of peers ("segments"), choosing a transport per peer: memcpy inside
// one process, shared memory between processes of one host, TCP or RDMA
// between hosts. It never interprets the bytes.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mooncake/result.h"

namespace mooncake {

struct TransferEngineConfig {
    // "host" (a free port from 12300-14300 is picked) or "host:port". The
    // segment name of this engine is "host:port", with the host as given.
    // Loopback names bind and advertise 127.0.0.1.
    std::string local_hostname;
    // "http://host:port/metadata" (an HTTP metadata server, such as the one
    // embedded in mooncake_master), "etcd://host:port[;host:port...]" (etcd
    // v3) or "P2PHANDSHAKE" (no metadata server: descriptors are fetched
    // from the peer's own endpoint).
    std::string metadata_server = "P2PHANDSHAKE";
    // "tcp" or "rdma". MC_FORCE_TCP=true turns rdma into tcp.
    std::string protocol = "tcp";
    // Comma-separated RDMA NIC names; empty with MC_MS_AUTO_DISC=1 discovers
    // them (filtered by MC_MS_FILTERS).
    std::string rdma_devices;
    // Prefix of metadata keys; empty reads MC_METADATA_CLUSTER_ID /
    // MC_STORE_CLUSTER_ID (default "mooncake").
    std::string cluster_id;
    // Where a port is picked when local_hostname names none; 0 keeps the
    // default 12300-14300. (The Python TransferEngine in P2P mode uses
    // MC_MIN_PRC_PORT..MC_MAX_PRC_PORT, 15000-17000, as the reference's.)
    uint16_t auto_port_first = 0;
    uint16_t auto_port_last = 0;
    // With a metadata service (not P2PHANDSHAKE): name the segment
    // local_hostname exactly as given, as the reference's engine does
    // ("10.0.0.5" stays "10.0.0.5"; peers find the endpoint in the
    // descriptor), and listen on a free port unless MC_LEGACY_RPC_PORT_BINDING
    // is set. The Python TransferEngine sets it; the store does not, so that
    // every store of a host gets a name of its own.
    bool name_as_given = false;
};

enum class TransferOpcode : uint8_t {
    READ = 0,   // peer memory -> local memory
    WRITE = 1,  // local memory -> peer memory
};

using SegmentHandle = uint64_t;
using BatchId = uint64_t;

struct TransferRequest {
    TransferOpcode opcode = TransferOpcode::READ;
    void* local_address = nullptr;
    SegmentHandle segment = 0;
    uint64_t remote_address = 0;
    size_t length = 0;
};

enum class TransferState : uint8_t { PENDING, COMPLETED, FAILED };

// A short message a peer sends after its data (SendNotify), queued by the
// receiving engine until TakeNotifies. Both fields are opaque to the engine.
struct TransferNotifyMessage {
    std::string name;
    std::string message;
};

struct TransferStatus {
    TransferState state = TransferState::PENDING;
    ErrorCode error = ErrorCode::OK;  // set when FAILED
    size_t transferred_bytes = 0;
};

class TransferEngineImpl;

class TransferEngine {
   public:
    // Starts the engine's servers and publishes its segment descriptor.
    // INVALID_PARAMS for a bad hostname or metadata URL; UNAVAILABLE_IN_CURRENT_MODE
    // when protocol="rdma" and no usable device exists.
    static Result<std::unique_ptr<TransferEngine>> Create(const TransferEngineConfig& config);
    // Stops the servers, unpublishes the descriptor, frees shared memory.
    ~TransferEngine();
    TransferEngine(const TransferEngine&) = delete;
    TransferEngine& operator=(const TransferEngine&) = delete;

    // "host:port": what peers pass to OpenSegment to reach this engine.
    const std::string& segment_name() const;
    // Transport actually in use for remote hosts: "tcp" or "rdma".
    const std::string& protocol() const;
    // The TCP port of this engine's server (the port of segment_name()).
    uint16_t rpc_port() const;
    // Requests (attempts) routed to "memcpy", "shm", "tcp" or "rdma" so
    // far; for tests and tools.
    uint64_t RoutedRequests(std::string_view transport) const;

    // ---- memory -----------------------------------------------------------
    // Memory peers on this host can map directly (memfd backed) and peers
    // elsewhere reach through the network transport. Registered, remotely
    // accessible, zero-filled, pages committed up front.
    Result<void*> AllocateSharedMemory(size_t length);
    Status FreeSharedMemory(void* address);

    // Makes [address, address + length) usable as local memory of transfers
    // (needed for RDMA) and, when `remote_accessible`, readable and writable
    // by peers. Overlapping an existing registration gives INVALID_PARAMS.
    Status RegisterLocalMemory(void* address, size_t length, bool remote_accessible = true);
    Status UnregisterLocalMemory(void* address);
    // True when [address, address + length) lies in one registered range.
    bool IsRegistered(const void* address, size_t length) const;

    // Publishes the segment descriptor to the metadata server again: after
    // that server restarted and lost it (the master's embedded one restarts
    // with the master), peers could not open this segment otherwise. OK
    // without a metadata server (P2PHANDSHAKE); RPC_FAIL when it cannot be
    // reached.
    Status RepublishDescriptor();

    // ---- peers ------------------------------------------------------------
    // Resolves a peer by segment name, cached; the cache entry is refreshed
    // when the peer restarted. SEGMENT_NOT_FOUND when it cannot be resolved.
    Result<SegmentHandle> OpenSegment(const std::string& segment_name);
    Status CloseSegment(SegmentHandle handle);
    // The lowest address of the peer's remotely accessible memory, as the
    // peer publishes it now. INVALID_PARAMS for an unknown handle,
    // SEGMENT_NOT_FOUND when the peer registered nothing.
    Result<uint64_t> FirstBufferAddress(SegmentHandle handle);

    // ---- notifications ----------------------------------------------------
    // Delivers `notify` to the peer's queue; returns once the peer holds it.
    // Sent after a transfer completed, the peer sees it after the data.
    // TRANSFER_FAIL when the peer cannot be reached.
    Status SendNotify(SegmentHandle handle, const TransferNotifyMessage& notify);
    // The notifications received since the last call, oldest first.
    std::vector<TransferNotifyMessage> TakeNotifies();

    // ---- transfers --------------------------------------------------------
    // Requests are checked against the peer's registered ranges before any
    // byte moves: a request outside them fails with INVALID_PARAMS.
    Result<BatchId> AllocateBatch(size_t capacity);
    Status SubmitTransfer(BatchId batch, const std::vector<TransferRequest>& requests);
    Result<TransferStatus> GetTransferStatus(BatchId batch, size_t request_index);
    // Waits until every submitted request finished or `timeout` passed;
    // returns the first failure (TRANSFER_FAIL on timeout).
    Status WaitBatch(BatchId batch, std::chrono::milliseconds timeout);
    Status FreeBatch(BatchId batch);

    // Submit, wait, free. `per_request`, when given, receives one code per
    // request. Returns the first failure.
    Status TransferSync(const std::vector<TransferRequest>& requests,
                        std::vector<ErrorCode>* per_request = nullptr,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

   private:
    explicit TransferEngine(std::unique_ptr<TransferEngineImpl> impl);
    std::unique_ptr<TransferEngineImpl> impl_;
};

}  // namespace mooncake
