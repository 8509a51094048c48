// The write path shared by every put flavour (staged, zero-copy, batch,
// multi-buffer): PutStart, one TransferSync writing every replica of every
// key, PutEnd; PutRevoke for whatever failed, so a reader never sees a
// partial object. A small value with a put credit (client/put_credits.h)
// skips PutStart: it is written into the credit's space and published by
// one BatchPutCommit for the whole call. A key whose replica could not be written because its
// peer is unreachable is revoked and started again with that segment
// excluded (a dead peer keeps its segment until the master notices), a
// bounded number of times. Runs entirely in the caller's thread. The PutEnd
// is pipelined where the master client allows (MasterClient::PutEndPipelined):
// the put returns once it is sent, and a refusal the master answers later is
// logged (docs/performance.md, "Small puts in one round trip").
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "client/client_context.h"
#include "client/memory_piece.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

// The bytes of one value: local ranges whose concatenation is the value.
struct PutSource {
    std::vector<MemoryPiece> pieces;
    uint64_t size = 0;  // sum of the piece lengths
};

class PutPipeline {
   public:
    explicit PutPipeline(const ClientContext& context) : context_(context) {}

    // Puts keys[i] from sources[i] for every i whose results[i] is still OK
    // on entry (callers pre-fill validation errors) and stores the outcome
    // in results[i]. One master round trip per phase whatever the number of
    // keys; a key repeated in one call is put once and every occurrence
    // gets that outcome. A key that already holds an object counts as put.
    void Run(std::span<const std::string> keys, std::span<const PutSource> sources,
             const ReplicateConfig& config, std::span<Status> results) const;

   private:
    // One PutStart / transfer / PutEnd round for the positions in `work`.
    // When `failed_segments` is given, returns the positions worth another
    // round (their write failed for an unreachable peer and was revoked)
    // and adds those peers' segment names to it.
    // `use_credits`: the first round only (a retry avoids segments).
    std::vector<size_t> RunOnce(std::span<const std::string> keys,
                                std::span<const PutSource> sources, const ReplicateConfig& config,
                                const std::vector<size_t>& work, std::span<Status> results,
                                std::vector<std::string>* failed_segments, bool use_credits) const;

    // What every phase of a round reads (and results, which they fill).
    struct RoundInput {
        std::span<const std::string> keys;
        std::span<const PutSource> sources;
        std::span<Status> results;
        const ReplicateConfig& config;
        bool use_credits = false;
    };
    struct KeyRound;  // one key's state through a round (put_pipeline.cpp)

    // Phase 1: a credit for each small key that can have one, PutStart (one
    // call, or one batch call) for the others.
    void StartAll(const RoundInput& in, std::vector<KeyRound>& round) const;
    void TakeCredits(const RoundInput& in, std::vector<KeyRound>& round) const;
    // Phase 2: one TransferSync writing every replica of every started key.
    void WriteAll(const RoundInput& in, std::vector<KeyRound>& round) const;
    // Phase 3: PutEnd what was written, PutRevoke the rest; returns the
    // positions worth another round (see RunOnce).
    std::vector<size_t> FinishAll(const RoundInput& in, std::vector<KeyRound>& round,
                                  std::vector<std::string>* failed_segments) const;
    // Phase 3 for the keys written into credits: one BatchPutCommit;
    // returns the positions worth another round (without credits).
    std::vector<size_t> CommitAll(const RoundInput& in, std::vector<KeyRound>& round,
                                  std::vector<std::string>* failed_segments) const;
    // PutEnd (`end`) or PutRevoke of round[positions...]: one answer each.
    std::vector<Status> EndOrRevoke(const RoundInput& in, const std::vector<KeyRound>& round,
                                    const std::vector<size_t>& positions, bool end) const;

    const ClientContext& context_;
};

}  // namespace mooncake
