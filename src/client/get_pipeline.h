// The read path shared by every get flavour: GetReplicaList (which grants a
// lease), one TransferSync reading the best replica of every key, another
// round for keys whose transfer failed (next replica), and the lease check:
// bytes that arrived after the lease ran out are not returned, because the
// object may have been removed and its space reused meanwhile. Runs entirely
// in the caller's thread.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "client/client_context.h"
#include "client/local_buffer.h"
#include "client/memory_piece.h"
#include "mooncake/result.h"

namespace mooncake {

// Where the bytes of one object go.
struct GetDestination {
    // Caller memory filled in order. Ignored when the pipeline allocates.
    std::vector<MemoryPiece> pieces;
    uint64_t capacity = 0;  // sum of the piece lengths
};

struct GetOutcome {
    Failure error = ErrorCode::OK;  // OK, or why the key was not read
    uint64_t size = 0;
    // The bytes, when the pipeline allocated the destination.
    std::shared_ptr<LocalBufferSlice> slice;
};

class GetPipeline {
   public:
    explicit GetPipeline(const ClientContext& context) : context_(context) {}

    // Reads keys[i] for every i whose outcomes[i].error is still OK on entry
    // (callers pre-fill validation errors). With `destinations` empty, each
    // object lands in a fresh slice of the local buffer (BUFFER_OVERFLOW
    // when it has no room); otherwise into destinations[i], and a
    // destination smaller than the object gives INVALID_PARAMS with nothing
    // written. Missing keys give OBJECT_NOT_FOUND.
    void Run(std::span<const std::string> keys, std::span<const GetDestination> destinations,
             std::span<GetOutcome> outcomes) const;

    // Reads keys[i] from the replicas found[i] a caller already holds (the
    // offload worker gets them with its work, held by the offload pin
    // rather than a lease): no GetReplicaList, no lease granted. The bytes
    // are returned only if they arrived within found[i].lease_ttl_ms of
    // `located_at` (taken before the replicas were asked for); each object
    // lands in a fresh slice of the local buffer.
    void RunLocated(std::span<const std::string> keys,
                    std::vector<Result<GetReplicaListResult>> found,
                    std::chrono::steady_clock::time_point located_at,
                    std::span<GetOutcome> outcomes) const;

   private:
    // Phases 2-4 of Run: found[w] is where keys[work[w]] lives, as learnt
    // at `query_start`.
    void Read(std::span<const std::string> keys, std::span<const GetDestination> destinations,
              std::span<GetOutcome> outcomes, const std::vector<size_t>& work,
              std::vector<Result<GetReplicaListResult>> found,
              std::chrono::steady_clock::time_point query_start) const;

    struct PendingRead;  // get_pipeline.cpp
    // Phase 2: picks the replicas of each found key and where its bytes go
    // (a slice of the local buffer, or the caller's destination); refusals
    // go to `outcomes`.
    std::vector<PendingRead> Prepare(std::span<const GetDestination> destinations,
                                     std::span<GetOutcome> outcomes,
                                     const std::vector<size_t>& work,
                                     std::vector<Result<GetReplicaListResult>> found,
                                     std::chrono::steady_clock::time_point query_start) const;
    // Phase 3: reads every pending key, from disk or from its replicas.
    void Transfer(std::span<const std::string> keys, std::vector<PendingRead>& reads,
                  std::span<GetOutcome> outcomes) const;
    // The reads[which[...]] that only a disk holds, on up to
    // kDiskReadThreads threads.
    void ReadFromDisk(std::span<const std::string> keys, std::vector<PendingRead>& reads,
                      std::span<const size_t> which, std::span<GetOutcome> outcomes) const;
    // A file read is a chain of syscalls, a copy and a checksum, all on the
    // CPU when the page cache or a fast NVMe serves it: a batch's files are
    // read side by side.
    static constexpr size_t kDiskReadThreads = 4;
    // Phase 4: a read that finished after its lease is LEASE_EXPIRED; sizes
    // of the good ones, slices of the failed ones released.
    void Settle(std::span<const std::string> keys, const std::vector<PendingRead>& reads,
                std::span<GetOutcome> outcomes) const;
    // GetReplicaList for keys[work[0..]], one entry per position (the whole
    // batch's error for each when the call failed).
    std::vector<Result<GetReplicaListResult>> Locate(std::span<const std::string> keys,
                                                     const std::vector<size_t>& work) const;

    const ClientContext& context_;
};

}  // namespace mooncake
