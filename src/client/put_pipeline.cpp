#include "client/put_pipeline.h"

#include <glog/logging.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>

#include "client/replica_transfer.h"

namespace mooncake {

namespace {

constexpr size_t kNotDuplicate = static_cast<size_t>(-1);

// Rounds of PutStart / write / PutEnd one key may take: the first, and a
// retry on other segments for each peer found unreachable, twice at most.
constexpr int kMaxPutRounds = 3;

// Failures of a replica write that another segment would not have: the peer
// is gone or hung (TRANSFER_FAIL), cannot be resolved (SEGMENT_NOT_FOUND),
// or no longer has that memory registered because it restarted
// (INVALID_PARAMS).
bool PeerMayBeAtFault(ErrorCode code) {
    return code == ErrorCode::TRANSFER_FAIL || code == ErrorCode::SEGMENT_NOT_FOUND ||
           code == ErrorCode::INVALID_PARAMS;
}

void AddName(std::vector<std::string>* names, const std::string& name) {
    if (std::find(names->begin(), names->end(), name) == names->end()) names->push_back(name);
}

// The requests [begin, end) writing one replica of a key.
struct ReplicaWrite {
    std::string segment;
    size_t begin = 0;
    size_t end = 0;
};

}  // namespace

void PutPipeline::Run(std::span<const std::string> keys, std::span<const PutSource> sources,
                      const ReplicateConfig& config, std::span<Status> results) const {
    struct TellDiskTier {
        DiskReader* disk;
        ~TellDiskTier() {
            if (disk != nullptr) disk->PutsDone();
        }
    } tell_disk_tier{context_.disk};
    if (context_.engine == nullptr) {  // protocol rpc_only: no way to write the bytes
        for (Status& result : results) {
            if (result.has_value()) result = Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
        }
        return;
    }
    // The positions this call puts: valid so far, first of their key. Keys
    // are write-once, so a key repeated in the call is put once.
    std::vector<size_t> work;
    std::vector<size_t> duplicate_of(keys.size(), kNotDuplicate);
    work.reserve(keys.size());
    std::unordered_map<std::string_view, size_t> first_position;
    if (keys.size() > 1) first_position.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) continue;
        if (keys.size() > 1) {
            auto [it, inserted] = first_position.emplace(keys[i], i);
            if (!inserted) {
                duplicate_of[i] = it->second;
                continue;
            }
        }
        work.push_back(i);
    }

    ReplicateConfig effective = config;
    if (config.prefer_alloc_in_same_node && context_.has_segment &&
        effective.preferred_segment.empty()) {
        effective.preferred_segment = context_.segment_name;
    }
    // Peers that failed a moment ago get no replica from the start.
    if (context_.unreachable != nullptr) {
        for (const std::string& name : context_.unreachable->Current()) {
            AddName(&effective.excluded_segments, name);
        }
    }

    for (int round = 1; !work.empty(); ++round) {
        std::vector<std::string> failed_segments;
        std::vector<size_t> retry =
            RunOnce(keys, sources, effective, work, results,
                    round < kMaxPutRounds ? &failed_segments : nullptr, round == 1);
        if (retry.empty()) break;
        LOG(INFO) << "Putting " << retry.size() << " key(s) again without "
                  << failed_segments.size() << " unreachable segment(s)"
                  << (failed_segments.empty() ? "" : ", e.g. " + failed_segments.front());
        for (const std::string& name : failed_segments) {
            AddName(&effective.excluded_segments, name);
        }
        for (size_t i : retry) results[i] = OkStatus();
        work = std::move(retry);
    }

    // ---- repeated keys share the outcome of their first occurrence ------
    for (size_t i = 0; i < keys.size(); ++i) {
        if (duplicate_of[i] != kNotDuplicate) results[i] = results[duplicate_of[i]];
    }
}

// One key through one round.
struct PutPipeline::KeyRound {
    size_t index = 0;  // into keys, sources and results
    bool started = false;
    uint64_t credit = 0;  // the put credit written into; 0: started by PutStart
    PutCredits::Clock::time_point credit_until;
    std::vector<ReplicaDescriptor> replicas;  // what PutStart (or the credit) handed out
    std::vector<ReplicaWrite> writes;         // their requests in the round's TransferSync
    // Segments whose replica could not be written, each for a reason
    // another segment would not have.
    std::vector<std::string> unreachable;
    // Every failure so far was of that kind: a round elsewhere may succeed.
    bool peer_failures_only = true;

    void RecordFailure(const std::string& segment, ErrorCode code) {
        if (PeerMayBeAtFault(code)) {
            AddName(&unreachable, segment);
        } else {
            peer_failures_only = false;
        }
    }
};

std::vector<size_t> PutPipeline::RunOnce(std::span<const std::string> keys,
                                         std::span<const PutSource> sources,
                                         const ReplicateConfig& config,
                                         const std::vector<size_t>& work, std::span<Status> results,
                                         std::vector<std::string>* failed_segments,
                                         bool use_credits) const {
    const RoundInput in{keys, sources, results, config, use_credits};
    std::vector<KeyRound> round(work.size());
    for (size_t w = 0; w < work.size(); ++w) round[w].index = work[w];
    StartAll(in, round);
    WriteAll(in, round);
    if (context_.unreachable != nullptr) {
        for (const KeyRound& key : round) {
            for (const std::string& name : key.unreachable) context_.unreachable->Add(name);
        }
    }
    return FinishAll(in, round, failed_segments);
}

void PutPipeline::TakeCredits(const RoundInput& in, std::vector<KeyRound>& round) const {
    PutCredits* credits = context_.credits;
    if (credits == nullptr || !in.use_credits) return;
    // The eligible keys by value size: one grant at most per size.
    std::map<uint64_t, std::vector<size_t>> by_size;
    for (size_t w = 0; w < round.size(); ++w) {
        const uint64_t size = in.sources[round[w].index].size;
        if (credits->Eligible(size, in.config)) by_size[size].push_back(w);
    }
    for (const auto& [size, positions] : by_size) {
        std::vector<PutCredits::Credit> taken =
            credits->Take(size, in.config.replica_num, positions.size());
        for (size_t k = 0; k < taken.size(); ++k) {
            KeyRound& key = round[positions[k]];
            key.credit = taken[k].id;
            key.credit_until = taken[k].usable_until;
            key.replicas = std::move(taken[k].replicas);
            key.started = true;
        }
    }
}

void PutPipeline::StartAll(const RoundInput& in, std::vector<KeyRound>& round) const {
    TakeCredits(in, round);
    std::vector<KeyRound*> pending;
    for (KeyRound& key : round) {
        if (!key.started) pending.push_back(&key);
    }
    auto record = [&](KeyRound& key, Result<std::vector<ReplicaDescriptor>> start) {
        if (start.has_value()) {
            key.replicas = std::move(*start);
            key.started = true;
        } else if (start.error() == ErrorCode::OBJECT_ALREADY_EXISTS) {
            in.results[key.index] = OkStatus();  // write-once: the stored value stays
        } else {
            in.results[key.index] = Error(start.error());
        }
    };
    if (pending.empty()) return;
    if (pending.size() == 1) {
        KeyRound& key = *pending[0];
        record(key, context_.master->PutStart(context_.client_id, in.keys[key.index],
                                              in.sources[key.index].size, in.config));
        return;
    }
    std::vector<std::string> batch_keys;
    std::vector<uint64_t> batch_sizes;
    batch_keys.reserve(pending.size());
    batch_sizes.reserve(pending.size());
    for (const KeyRound* key : pending) {
        batch_keys.push_back(in.keys[key->index]);
        batch_sizes.push_back(in.sources[key->index].size);
    }
    auto starts =
        context_.master->BatchPutStart(context_.client_id, batch_keys, batch_sizes, in.config);
    if (starts.has_value() && starts->size() != pending.size()) {
        LOG(ERROR) << "BatchPutStart answered " << starts->size() << " entries for "
                   << pending.size() << " keys";
        starts = Error(ErrorCode::INTERNAL_ERROR);
    }
    for (size_t w = 0; w < pending.size(); ++w) {
        record(*pending[w], starts.has_value()
                                ? std::move((*starts)[w])
                                : Result<std::vector<ReplicaDescriptor>>(Error(starts.error())));
    }
}

void PutPipeline::WriteAll(const RoundInput& in, std::vector<KeyRound>& round) const {
    std::vector<TransferRequest> requests;
    for (KeyRound& key : round) {
        if (!key.started) continue;
        const PutSource& source = in.sources[key.index];
        const size_t begin = requests.size();
        Status built =
            key.replicas.empty() ? Status(Error(ErrorCode::NO_AVAILABLE_HANDLE)) : OkStatus();
        if (!built.has_value()) key.peer_failures_only = false;
        for (const ReplicaDescriptor& replica : key.replicas) {
            if (!built.has_value()) break;
            const size_t replica_begin = requests.size();
            built = AppendReplicaTransfers(*context_.engine, TransferOpcode::WRITE, replica,
                                           source.pieces, source.size, &requests);
            const std::string segment =
                replica.is_memory_replica() ? replica.memory().transport_endpoint : std::string();
            if (built.has_value()) {
                key.writes.push_back({segment, replica_begin, requests.size()});
            } else {
                key.RecordFailure(segment, built.error());
            }
        }
        if (!built.has_value()) {
            requests.resize(begin);
            key.writes.clear();
            in.results[key.index] = Error(built.error());
        }
    }
    if (requests.empty()) return;
    std::vector<ErrorCode> codes;
    Status transferred = context_.engine->TransferSync(requests, &codes);
    const ErrorCode fallback = CodeOf(transferred);
    for (KeyRound& key : round) {
        Status& result = in.results[key.index];
        if (!key.started || !result.has_value()) continue;
        for (const ReplicaWrite& write : key.writes) {
            const ErrorCode failure = FirstFailure(codes, write.begin, write.end, fallback);
            if (failure == ErrorCode::OK) continue;
            LOG(WARNING) << "Writing the replica of '" << in.keys[key.index] << "' on "
                         << write.segment << " failed: " << ErrorCodeName(failure);
            key.RecordFailure(write.segment, failure);
            if (result.has_value()) result = Error(failure);
        }
    }
}

std::vector<Status> PutPipeline::EndOrRevoke(const RoundInput& in,
                                             const std::vector<KeyRound>& round,
                                             const std::vector<size_t>& positions, bool end) const {
    if (positions.empty()) return {};
    if (positions.size() == 1) {
        const std::string& key = in.keys[round[positions[0]].index];
        return {end ? context_.master->PutEndPipelined(context_.client_id, key)
                    : context_.master->PutRevoke(context_.client_id, key)};
    }
    std::vector<std::string> batch_keys;
    batch_keys.reserve(positions.size());
    for (size_t w : positions) batch_keys.push_back(in.keys[round[w].index]);
    auto answers = end ? context_.master->BatchPutEndPipelined(context_.client_id, batch_keys)
                       : context_.master->BatchPutRevoke(context_.client_id, batch_keys);
    if (!answers.has_value() || answers->size() != positions.size()) {
        const ErrorCode code =
            answers.has_value() ? ErrorCode::INTERNAL_ERROR : answers.error().code();
        return std::vector<Status>(positions.size(), Error(code));
    }
    return std::move(*answers);
}

std::vector<size_t> PutPipeline::FinishAll(const RoundInput& in, std::vector<KeyRound>& round,
                                           std::vector<std::string>* failed_segments) const {
    // Positions in `round` of the started keys, by what their write did.
    std::vector<size_t> to_end;
    std::vector<size_t> to_revoke;
    for (size_t w = 0; w < round.size(); ++w) {
        if (!round[w].started || round[w].credit != 0) continue;
        (in.results[round[w].index].has_value() ? to_end : to_revoke).push_back(w);
    }
    const std::vector<Status> ended = EndOrRevoke(in, round, to_end, /*end=*/true);
    // Decided before failed PutEnds join the revokes: those are not retried.
    std::vector<bool> may_retry(round.size(), false);
    for (size_t w : to_revoke) {
        may_retry[w] = !round[w].unreachable.empty() && round[w].peer_failures_only;
    }
    for (size_t k = 0; k < to_end.size(); ++k) {
        if (ended[k].has_value()) continue;
        const size_t i = round[to_end[k]].index;
        LOG(WARNING) << "PutEnd of '" << in.keys[i]
                     << "' failed: " << ErrorCodeName(ended[k].error());
        in.results[i] = Error(ended[k].error());
        // Nothing half-visible: try to give the space back as well.
        to_revoke.push_back(to_end[k]);
    }
    const std::vector<Status> revoked = EndOrRevoke(in, round, to_revoke, /*end=*/false);
    std::vector<size_t> retry = CommitAll(in, round, failed_segments);
    auto retry_elsewhere = [&](const KeyRound& key) {
        retry.push_back(key.index);
        for (const std::string& name : key.unreachable) AddName(failed_segments, name);
    };
    for (size_t k = 0; k < to_revoke.size(); ++k) {
        const KeyRound& key = round[to_revoke[k]];
        if (!revoked[k].has_value() && revoked[k].error() == ErrorCode::OBJECT_NOT_FOUND &&
            failed_segments != nullptr) {
            // The master dropped the unfinished object: its segment was
            // unmounted meanwhile (the owner left). The key is free and the
            // live segments may have room: another round.
            retry_elsewhere(key);
            continue;
        }
        if (!revoked[k].has_value()) {
            LOG(WARNING) << "PutRevoke of '" << in.keys[key.index]
                         << "' failed: " << ErrorCodeName(revoked[k].error())
                         << " (the master reclaims it after put_start_release_timeout_sec)";
            continue;
        }
        // Revoked, so the key is free again: worth a round elsewhere.
        if (may_retry[to_revoke[k]] && failed_segments != nullptr) retry_elsewhere(key);
    }
    return retry;
}

std::vector<size_t> PutPipeline::CommitAll(const RoundInput& in, std::vector<KeyRound>& round,
                                           std::vector<std::string>* failed_segments) const {
    std::vector<size_t> retry;
    // Another round, started at the master and away from unreachable peers.
    auto retry_without_credit = [&](KeyRound& key, ErrorCode code) {
        if (failed_segments == nullptr) {
            in.results[key.index] = Error(code);
            return;
        }
        in.results[key.index] = OkStatus();
        retry.push_back(key.index);
        for (const std::string& name : key.unreachable) AddName(failed_segments, name);
    };
    std::vector<size_t> to_commit;
    std::vector<std::string> keys;
    std::vector<uint64_t> ids;
    for (size_t w = 0; w < round.size(); ++w) {
        KeyRound& key = round[w];
        if (key.credit == 0) continue;
        if (in.results[key.index].has_value()) {
            to_commit.push_back(w);
            keys.push_back(in.keys[key.index]);
            ids.push_back(key.credit);
            continue;
        }
        // A failed write leaves no value there: the space goes back.
        context_.credits->Discard(key.credit);
        if (!key.unreachable.empty() && key.peer_failures_only) {
            retry_without_credit(key, in.results[key.index].error());
        }
    }
    if (to_commit.empty()) return retry;
    auto answers = context_.master->BatchPutCommit(context_.client_id, keys, ids, in.config);
    if (answers.has_value() && answers->size() != to_commit.size()) {
        answers = Error(ErrorCode::RPC_FAIL);
    }
    for (size_t k = 0; k < to_commit.size(); ++k) {
        KeyRound& key = round[to_commit[k]];
        // The call failed: whether it published is unknown. A PutStart of
        // a published key finds it (write-once) and counts as put.
        const ErrorCode code = answers.has_value() ? CodeOf((*answers)[k]) : answers.error().code();
        if (code == ErrorCode::OK) continue;
        if (code == ErrorCode::OBJECT_ALREADY_EXISTS || code == ErrorCode::INVALID_KEY) {
            // Not used: still ours at the master.
            in.results[key.index] =
                code == ErrorCode::INVALID_KEY ? Status(Error(code)) : OkStatus();
            context_.credits->GiveBack(in.sources[key.index].size, in.config.replica_num,
                                       {key.credit, std::move(key.replicas), key.credit_until});
            continue;
        }
        LOG(INFO) << "Committing '" << keys[k]
                  << "' from a put credit failed: " << ErrorCodeName(code)
                  << "; putting it the usual way";
        // INVALID_PARAMS: the master does not know the credit (it restarted,
        // or reclaimed it): none of ours is worth keeping.
        if (code == ErrorCode::INVALID_PARAMS) context_.credits->DropAll();
        context_.credits->Discard(key.credit);
        retry_without_credit(key, code);
    }
    return retry;
}

}  // namespace mooncake
