#include "client/put_pipeline.h"

#include <glog/logging.h>

#include <algorithm>
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
        std::vector<size_t> retry = RunOnce(keys, sources, effective, work, results,
                                            round < kMaxPutRounds ? &failed_segments : nullptr);
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

std::vector<size_t> PutPipeline::RunOnce(std::span<const std::string> keys,
                                         std::span<const PutSource> sources,
                                         const ReplicateConfig& config,
                                         const std::vector<size_t>& work, std::span<Status> results,
                                         std::vector<std::string>* failed_segments) const {
    // ---- phase 1: PutStart ---------------------------------------------
    std::vector<std::vector<ReplicaDescriptor>> replicas(work.size());
    std::vector<bool> started(work.size(), false);
    auto record_start = [&](size_t w, Result<std::vector<ReplicaDescriptor>> start) {
        const size_t i = work[w];
        if (start.has_value()) {
            replicas[w] = std::move(*start);
            started[w] = true;
        } else if (start.error() == ErrorCode::OBJECT_ALREADY_EXISTS) {
            results[i] = OkStatus();  // write-once: the stored value stays
        } else {
            results[i] = Error(start.error());
        }
    };
    if (work.size() == 1) {
        const size_t i = work[0];
        record_start(
            0, context_.master->PutStart(context_.client_id, keys[i], sources[i].size, config));
    } else if (!work.empty()) {
        std::vector<std::string> batch_keys;
        std::vector<uint64_t> batch_sizes;
        batch_keys.reserve(work.size());
        batch_sizes.reserve(work.size());
        for (size_t i : work) {
            batch_keys.push_back(keys[i]);
            batch_sizes.push_back(sources[i].size);
        }
        auto starts =
            context_.master->BatchPutStart(context_.client_id, batch_keys, batch_sizes, config);
        if (starts.has_value() && starts->size() != work.size()) {
            LOG(ERROR) << "BatchPutStart answered " << starts->size() << " entries for "
                       << work.size() << " keys";
            starts = Error(ErrorCode::INTERNAL_ERROR);
        }
        for (size_t w = 0; w < work.size(); ++w) {
            record_start(w, starts.has_value()
                                ? std::move((*starts)[w])
                                : Result<std::vector<ReplicaDescriptor>>(Error(starts.error())));
        }
    }

    // ---- phase 2: one TransferSync writing every replica ----------------
    std::vector<TransferRequest> requests;
    std::vector<std::vector<ReplicaWrite>> writes(work.size());
    // Per started key: the segments whose replica could not be written, all
    // for a reason another segment would not have.
    std::vector<std::vector<std::string>> unreachable(work.size());
    std::vector<bool> peer_failures_only(work.size(), true);
    auto record_failure = [&](size_t w, const std::string& segment, ErrorCode code) {
        if (PeerMayBeAtFault(code)) {
            AddName(&unreachable[w], segment);
        } else {
            peer_failures_only[w] = false;
        }
    };
    for (size_t w = 0; w < work.size(); ++w) {
        if (!started[w]) continue;
        const size_t i = work[w];
        const size_t begin = requests.size();
        Status built =
            replicas[w].empty() ? Status(Error(ErrorCode::NO_AVAILABLE_HANDLE)) : OkStatus();
        if (!built.has_value()) peer_failures_only[w] = false;
        for (const ReplicaDescriptor& replica : replicas[w]) {
            if (!built.has_value()) break;
            const size_t replica_begin = requests.size();
            built = AppendReplicaTransfers(*context_.engine, TransferOpcode::WRITE, replica,
                                           sources[i].pieces, sources[i].size, &requests);
            const std::string& segment =
                replica.is_memory_replica() ? replica.memory().transport_endpoint : std::string();
            if (built.has_value()) {
                writes[w].push_back({segment, replica_begin, requests.size()});
            } else {
                record_failure(w, segment, built.error());
            }
        }
        if (!built.has_value()) {
            requests.resize(begin);
            writes[w].clear();
            results[i] = Error(built.error());
        }
    }
    if (!requests.empty()) {
        std::vector<ErrorCode> codes;
        Status transferred = context_.engine->TransferSync(requests, &codes);
        const ErrorCode fallback = transferred.has_value() ? ErrorCode::OK : transferred.error();
        for (size_t w = 0; w < work.size(); ++w) {
            const size_t i = work[w];
            if (!started[w] || !results[i].has_value()) continue;
            for (const ReplicaWrite& write : writes[w]) {
                const ErrorCode failure = FirstFailure(codes, write.begin, write.end, fallback);
                if (failure == ErrorCode::OK) continue;
                LOG(WARNING) << "Writing the replica of '" << keys[i] << "' on " << write.segment
                             << " failed: " << ErrorCodeName(failure);
                record_failure(w, write.segment, failure);
                if (results[i].has_value()) results[i] = Error(failure);
            }
        }
    }
    if (context_.unreachable != nullptr) {
        for (const auto& names : unreachable) {
            for (const std::string& name : names) context_.unreachable->Add(name);
        }
    }

    // ---- phase 3: PutEnd what was written, PutRevoke the rest ------------
    std::vector<size_t> to_end;
    std::vector<size_t> to_revoke;
    for (size_t w = 0; w < work.size(); ++w) {
        if (!started[w]) continue;
        (results[work[w]].has_value() ? to_end : to_revoke).push_back(w);
    }
    auto finish = [&](const std::vector<size_t>& positions, bool end) -> std::vector<Status> {
        if (positions.empty()) return {};
        if (positions.size() == 1) {
            const std::string& key = keys[work[positions[0]]];
            return {end ? context_.master->PutEndPipelined(context_.client_id, key)
                        : context_.master->PutRevoke(context_.client_id, key)};
        }
        std::vector<std::string> batch_keys;
        batch_keys.reserve(positions.size());
        for (size_t w : positions) batch_keys.push_back(keys[work[w]]);
        auto answers = end ? context_.master->BatchPutEndPipelined(context_.client_id, batch_keys)
                           : context_.master->BatchPutRevoke(context_.client_id, batch_keys);
        if (!answers.has_value() || answers->size() != positions.size()) {
            const ErrorCode code =
                answers.has_value() ? ErrorCode::INTERNAL_ERROR : answers.error();
            return std::vector<Status>(positions.size(), Error(code));
        }
        return std::move(*answers);
    };
    const std::vector<Status> ended = finish(to_end, /*end=*/true);
    std::vector<bool> may_retry(work.size(), false);
    for (size_t w : to_revoke) {
        may_retry[w] = !unreachable[w].empty() && peer_failures_only[w];
    }
    for (size_t k = 0; k < to_end.size(); ++k) {
        if (ended[k].has_value()) continue;
        const size_t i = work[to_end[k]];
        LOG(WARNING) << "PutEnd of '" << keys[i] << "' failed: " << ErrorCodeName(ended[k].error());
        results[i] = Error(ended[k].error());
        // Nothing half-visible: try to give the space back as well.
        to_revoke.push_back(to_end[k]);
    }
    const std::vector<Status> revoked = finish(to_revoke, /*end=*/false);
    std::vector<size_t> retry;
    for (size_t k = 0; k < to_revoke.size(); ++k) {
        const size_t w = to_revoke[k];
        if (!revoked[k].has_value() && revoked[k].error() == ErrorCode::OBJECT_NOT_FOUND &&
            failed_segments != nullptr) {
            // The master dropped the unfinished object: its segment was
            // unmounted meanwhile (the owner left). The key is free and the
            // live segments may have room: another round.
            retry.push_back(work[w]);
            for (const std::string& name : unreachable[w]) AddName(failed_segments, name);
            continue;
        }
        if (!revoked[k].has_value()) {
            LOG(WARNING) << "PutRevoke of '" << keys[work[w]]
                         << "' failed: " << ErrorCodeName(revoked[k].error())
                         << " (the master reclaims it after put_start_release_timeout_sec)";
            continue;
        }
        // Revoked, so the key is free again: worth a round elsewhere.
        if (may_retry[w] && failed_segments != nullptr) {
            retry.push_back(work[w]);
            for (const std::string& name : unreachable[w]) AddName(failed_segments, name);
        }
    }
    return retry;
}

}  // namespace mooncake
