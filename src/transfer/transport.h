// The plug-in interface between the transfer engine and the ways it moves
// bytes (memcpy, shared memory, TCP, RDMA). The engine resolves peers,
// checks every request against the peer's descriptor, picks a transport per
// request and hands it TransferTasks; the transport moves the bytes and
// reports each task's outcome through its callback.
//
// Threading: Submit, CanReach and the memory hooks may be called from many
// threads at once. Callbacks may run on any thread, including inside Submit
// (inline transports do that), so the engine never holds a lock while
// calling Submit.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "mooncake/result.h"
#include "mooncake/transfer_engine.h"
#include "mooncake/types.h"
#include "transfer/memory_registry.h"
#include "transfer/segment_descriptor.h"

namespace mooncake {

// Reports how one task ended: OK, or the error (TRANSFER_FAIL for I/O
// failures, RPC_TIMEOUT when the peer stopped answering within the I/O
// timeout, INVALID_PARAMS when the owner refused the range). The engine
// reports RPC_TIMEOUT to its caller as TRANSFER_FAIL.
// Called exactly once per task, from any thread.
using TransferCallback = std::function<void(ErrorCode code)>;

struct TransferTask {
    TransferOpcode opcode = TransferOpcode::READ;
    void* local_address = nullptr;
    uint64_t remote_address = 0;
    size_t length = 0;
    // The peer as the engine resolved it. The engine has already checked
    // that [remote_address, remote_address + length) lies inside `*range`,
    // which points into `*peer`.
    std::shared_ptr<const SegmentDescriptor> peer;
    const SegmentRange* range = nullptr;
    // Becomes true when the caller gave up on the batch (timeout, FreeBatch).
    // Work not started yet should then end with TRANSFER_FAIL without
    // touching memory. Valid until `on_done` has been called. May be null.
    const std::atomic<bool>* cancelled = nullptr;
    // The submitter waits for the outcome anyway, so Submit may do the work
    // on its thread. False for asynchronous batches: Submit must then return
    // without waiting on the peer.
    bool may_run_on_caller = false;
    TransferCallback on_done;
};

// What the engine offers its transports. Outlives every transport's use of
// it (until Transport::Stop returns).
class TransportContext {
   public:
    virtual ~TransportContext() = default;

    virtual const std::string& segment_name() const = 0;
    virtual const UUID& instance_id() const = 0;
    // This engine's registered memory (local and remotely accessible).
    virtual const MemoryRegistry& memory() const = 0;

    // Sends `message` over the engine's TCP control channel to the transport
    // called `transport` in the peer's engine, and returns what that
    // transport's HandleControlMessage answered. Blocking, bounded by the
    // engine's I/O timeout. TRANSFER_FAIL when the peer cannot be reached,
    // UNAVAILABLE_IN_CURRENT_MODE when the peer has no such transport, or the
    // peer handler's own error code.
    virtual Result<nlohmann::json> SendControlMessage(const SegmentDescriptor& peer,
                                                      std::string_view transport,
                                                      const nlohmann::json& message) = 0;

    // Publishes the local descriptor again (after DescribeEndpoint would
    // answer differently).
    virtual Status RepublishDescriptor() = 0;
};

class Transport {
   public:
    virtual ~Transport() = default;

    // "memcpy", "shm", "tcp", "rdma": also the key of this transport's
    // entries in descriptors and control messages.
    virtual std::string_view name() const = 0;

    // Called once after the engine's TCP server listens and before the
    // descriptor is first published. An error aborts engine creation.
    virtual Status Start(TransportContext* context) { return OkStatus(); }
    // Called once before the engine goes away. No Submit follows; tasks
    // still running must end (their callbacks called) before Stop returns.
    virtual void Stop() {}

    // Whether this transport can carry requests to [range] of `peer` from
    // here. Called per request, so it must be cheap (cache per peer).
    virtual bool CanReach(const SegmentDescriptor& peer, const SegmentRange& range) = 0;

    // Starts the tasks. Each task's on_done is called exactly once.
    virtual void Submit(std::vector<TransferTask> tasks) = 0;

    // Memory hooks, called for every registration (remotely accessible or
    // not) before it becomes visible to peers. A transport may put data into
    // `published` (a JSON object); for remotely accessible regions it appears
    // in the descriptor as ranges[i].transports[name()]. An error undoes the
    // registration.
    virtual Status OnRegisterMemory(const RegisteredRegion& region, nlohmann::json* published) {
        return OkStatus();
    }
    // Called after the region stopped being visible to peers.
    virtual void OnUnregisterMemory(const RegisteredRegion& region) {}

    // Endpoint data for the descriptor's transports[name()] entry (e.g. the
    // RDMA device GIDs and LIDs). Leave untouched to publish nothing.
    virtual void DescribeEndpoint(nlohmann::json* endpoint) {}

    // Answers a control message a peer's transport of the same name sent
    // through TransportContext::SendControlMessage (e.g. a queue-pair
    // handshake). `peer_segment` is the sender's segment name as it claims.
    // The message is untrusted: validate it.
    virtual Result<nlohmann::json> HandleControlMessage(const std::string& peer_segment,
                                                        const nlohmann::json& message) {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }

    // The peer restarted, changed its registrations or was closed: drop
    // state cached for this descriptor (mappings, connections, queue pairs).
    virtual void ForgetPeer(const SegmentDescriptor& peer) {}
};

}  // namespace mooncake
