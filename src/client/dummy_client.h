// The dummy client (setup_dummy): a Client whose requests a standalone
// mooncake_client process on this host serves with its real client.
//
// Data path: the dummy owns shared memory (DummyMemory) that the standalone
// client maps and registers, and requests name ranges of it. So
//   - put_from / get_into on that memory (alloc_from_mem_pool memory, or
//     any range of it) move no byte through the dummy: the standalone
//     client's transfer reads or writes it directly;
//   - get / get_buffer land in a slice of the local buffer part, returned as
//     the Buffer itself (no copy in the dummy);
//   - put / get of bytes, and put_from / get_into on registered memory
//     outside the shared memory, cost one memcpy through a staging slice.
// A single get first reads into a speculative slice (one request when the
// object fits, the slice then shrinks to the object); batch gets, and
// objects that do not fit, ask for the sizes first (two requests).
//
// Connections: up to kMaxConnections, opened as concurrent calls need them;
// each starts with an attach that (re)describes the shared memory, so a
// standalone client that restarted is served again from the next call on,
// with nothing to set up by the caller. Every call has a deadline; a
// standalone client that is gone gives RPC_FAIL at once.
//
// Memory the standalone client may still touch is never reused: slices of
// a call whose outcome is unknown (the connection broke after the request
// was sent) are kept aside until that standalone client is known to be gone
// (a restart) or the dummy closes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "client/client_front_end.h"
#include "client/dummy_memory.h"
#include "common/mutex.h"
#include "mooncake/client.h"
#include "real_client.pb.h"
#include "rpc/framed_rpc_client.h"
#include "transfer/memory_registry.h"

namespace mooncake {

class DummyClient final : public ClientFrontEnd {
   public:
    static constexpr size_t kMaxConnections = 16;
    static constexpr std::chrono::milliseconds kDefaultRpcTimeout{120'000};
    static constexpr std::chrono::milliseconds kConnectTimeout{5'000};
    // A single Get first reads into a slice of this size: an object that
    // fits comes back in one request, its size learnt with its bytes.
    static constexpr uint64_t kSpeculativeGetBytes = 1ull << 20;

    // Validates `config`, allocates the shared memory and attaches it to the
    // standalone client. See Client::ConnectDummy for the errors.
    static Result<std::unique_ptr<DummyClient>> Connect(const DummyClientConfig& config);
    ~DummyClient() override;

    Status Close() override;
    // The standalone client's segment name.
    std::string GetHostname() const override;

    // ---- for tests ----------------------------------------------------------
    // Null when both sizes are 0.
    const DummyMemory* memory() const { return memory_.get(); }
    // Bytes of slices kept aside after calls of unknown outcome.
    uint64_t quarantined_bytes() const;

   private:
    // How the bytes of one key travel in a put or get_into request.
    struct ItemPlan;
    // Sizes of keys as the standalone client reports them.
    struct SizeAnswer;

    explicit DummyClient(const DummyClientConfig& config);
    Status Setup() override;

    // Memory outside the shared memory may be registered too: its bytes are
    // staged through the local buffer part (one memcpy). AllocFromMemPool
    // memory comes from the memory pool part, zero copy, held until Close.
    MOONCAKE_CLIENT_BACKEND_PRIMITIVES(override)

    // One round trip: checks out a connection (attaching it first when it
    // is new), sends `request`, waits for the answer until the deadline.
    // `maybe_delivered` tells whether the standalone client may have
    // received the request when the call failed. Non-zero response codes
    // become the returned error; a response without the body `expected`
    // gives RPC_FAIL.
    Status Call(dummy_rpc::Request* request, dummy_rpc::Response* response,
                dummy_rpc::Response::BodyCase expected, bool* maybe_delivered);
    Status Attach(FramedRpcConnection& connection, net::SteadyDeadline deadline);
    // Call for an answer with one entry per item sent (`count`): RPC_FAIL,
    // as maybe delivered, when one of its lists has another length.
    Status CallForEach(dummy_rpc::Request* request, dummy_rpc::Response* response,
                       dummy_rpc::Response::BodyCase expected, size_t count, bool* maybe_delivered);
    // CallForEach of a query about `keys` (get_size, is_exist,
    // get_replica_desc): `body` is the request's accessor, such as
    // &dummy_rpc::Request::mutable_is_exist.
    Status QueryKeys(dummy_rpc::KeysRequest* (dummy_rpc::Request::*body)(),
                     const std::vector<std::string>& keys, dummy_rpc::Response::BodyCase expected,
                     dummy_rpc::Response* response);

    // Sends the planned put of every key whose plan has no error.
    std::vector<Status> PutPlanned(const std::vector<std::string>& keys,
                                   std::vector<ItemPlan>& plans, const ReplicateConfig& config);
    // Put of bytes: each value is copied into one staging slice.
    std::vector<Status> BatchPutStaged(const std::vector<std::string>& keys,
                                       const std::vector<std::vector<ConstBytes>>& values,
                                       const std::vector<uint64_t>& sizes,
                                       std::vector<ItemPlan>& plans, const ReplicateConfig& config);
    // A zero-copy piece (shared memory) or a staged copy of registered memory.
    Status PlanPutPiece(const void* data, size_t length, ItemPlan* plan);
    // DoBatchPutFrom(MultiBuffers): plans every piece of every key, then
    // PutPlanned (dummy_client.cpp).
    template <typename Buffers, typename Sizes>
    void PutPieces(const std::vector<std::string>& keys, const Buffers& buffers, const Sizes& sizes,
                   const ReplicateConfig& config, std::vector<Status>& results);
    // Get into caller memory: plans every key, sends one request, copies
    // staged bytes back.
    // Keys whose result is an error on entry are left out.
    std::vector<Result<size_t>> GetIntoPieces(const std::vector<std::string>& keys,
                                              const std::vector<std::vector<void*>>& buffers,
                                              const std::vector<std::vector<size_t>>& sizes,
                                              const std::vector<Result<size_t>>& checked);
    // Plans one key's destination pieces, using at most `limit` bytes of
    // them (the object's size, when known).
    Status PlanGetPieces(const std::vector<void*>& buffers, const std::vector<size_t>& sizes,
                         uint64_t limit, ItemPlan* plan);
    // Sends the planned get_into of every key whose plan has no error.
    // With `report_sizes`, a plan too small for its object learns the
    // object's size (ItemPlan::reported_size).
    std::vector<Result<size_t>> GetIntoPlanned(const std::vector<std::string>& keys,
                                               std::vector<ItemPlan>& plans,
                                               bool report_sizes = false);
    std::vector<SizeAnswer> QuerySizes(const std::vector<std::string>& keys);
    // Get/BatchGet of valid keys of known sizes, each into a fresh local
    // buffer slice of that size.
    std::vector<Result<std::shared_ptr<Buffer>>> GetIntoSlices(
        const std::vector<std::string>& keys, const std::vector<SizeAnswer>& sizes);

    // True when [buffer, buffer + size) lies in one registered range.
    bool IsRegisteredRange(const void* buffer, size_t size) const {
        return registered_.Contains(reinterpret_cast<uintptr_t>(buffer), size);
    }
    bool IsCallerMemory(const void* buffer, size_t size) const override {
        return (memory_ != nullptr && memory_->Contains(buffer, size)) ||
               IsRegisteredRange(buffer, size);
    }
    // Keeps the slices of a call of unknown outcome from being reused.
    void Quarantine(std::vector<ItemPlan>& plans);
    void ReleaseQuarantine();

    const DummyClientConfig config_;
    const std::chrono::milliseconds rpc_timeout_;
    const UUID session_id_;

    std::shared_ptr<DummyMemory> memory_;  // null when both sizes are 0
    std::unique_ptr<FramedRpcPool> pool_;
    std::atomic<uint64_t> next_request_id_{0};

    // What the standalone client told at the last attach.
    mutable Mutex server_mutex_;
    std::string segment_name_ MC_GUARDED_BY(server_mutex_);
    UUID server_instance_ MC_GUARDED_BY(server_mutex_);
    std::vector<std::shared_ptr<DummyMemorySlice>> quarantine_ MC_GUARDED_BY(server_mutex_);

    // RegisterBuffer ranges (not remotely accessible: only this process
    // copies from and to them).
    MemoryRegistry registered_;
    mutable Mutex memory_mutex_;
    // AllocFromMemPool memory, held until Close.
    std::vector<std::shared_ptr<DummyMemorySlice>> pool_allocations_ MC_GUARDED_BY(memory_mutex_);
};

}  // namespace mooncake
