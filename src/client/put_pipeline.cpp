#include "client/put_pipeline.h"

#include <glog/logging.h>

#include <string_view>
#include <unordered_map>

#include "client/replica_transfer.h"

namespace mooncake {

namespace {

constexpr size_t kNotDuplicate = static_cast<size_t>(-1);

}  // namespace

void PutPipeline::Run(std::span<const std::string> keys, std::span<const PutSource> sources,
                      const ReplicateConfig& config, std::span<Status> results) const {
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
            0, context_.master->PutStart(context_.client_id, keys[i], sources[i].size, effective));
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
            context_.master->BatchPutStart(context_.client_id, batch_keys, batch_sizes, effective);
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
    std::vector<std::pair<size_t, size_t>> request_ranges(work.size());
    for (size_t w = 0; w < work.size(); ++w) {
        if (!started[w]) continue;
        const size_t i = work[w];
        const size_t begin = requests.size();
        Status built =
            replicas[w].empty() ? Status(Error(ErrorCode::NO_AVAILABLE_HANDLE)) : OkStatus();
        for (const ReplicaDescriptor& replica : replicas[w]) {
            if (!built.has_value()) break;
            built = AppendReplicaTransfers(*context_.engine, TransferOpcode::WRITE, replica,
                                           sources[i].pieces, sources[i].size, &requests);
        }
        if (!built.has_value()) {
            requests.resize(begin);
            results[i] = Error(built.error());
        }
        request_ranges[w] = {begin, requests.size()};
    }
    if (!requests.empty()) {
        std::vector<ErrorCode> codes;
        Status transferred = context_.engine->TransferSync(requests, &codes);
        const ErrorCode fallback = transferred.has_value() ? ErrorCode::OK : transferred.error();
        for (size_t w = 0; w < work.size(); ++w) {
            const size_t i = work[w];
            if (!started[w] || !results[i].has_value()) continue;
            const auto [begin, end] = request_ranges[w];
            const ErrorCode failure = FirstFailure(codes, begin, end, fallback);
            if (failure != ErrorCode::OK) {
                LOG(WARNING) << "Writing the replicas of '" << keys[i]
                             << "' failed: " << ErrorCodeName(failure);
                results[i] = Error(failure);
            }
        }
    }

    // ---- phase 3: PutEnd what was written, PutRevoke the rest ------------
    std::vector<size_t> to_end;
    std::vector<size_t> to_revoke;
    for (size_t w = 0; w < work.size(); ++w) {
        if (!started[w]) continue;
        (results[work[w]].has_value() ? to_end : to_revoke).push_back(work[w]);
    }
    auto finish = [&](const std::vector<size_t>& positions, bool end) -> std::vector<Status> {
        if (positions.empty()) return {};
        if (positions.size() == 1) {
            const std::string& key = keys[positions[0]];
            return {end ? context_.master->PutEnd(context_.client_id, key)
                        : context_.master->PutRevoke(context_.client_id, key)};
        }
        std::vector<std::string> batch_keys;
        batch_keys.reserve(positions.size());
        for (size_t i : positions) batch_keys.push_back(keys[i]);
        auto answers = end ? context_.master->BatchPutEnd(context_.client_id, batch_keys)
                           : context_.master->BatchPutRevoke(context_.client_id, batch_keys);
        if (!answers.has_value() || answers->size() != positions.size()) {
            const ErrorCode code =
                answers.has_value() ? ErrorCode::INTERNAL_ERROR : answers.error();
            return std::vector<Status>(positions.size(), Error(code));
        }
        return std::move(*answers);
    };
    const std::vector<Status> ended = finish(to_end, /*end=*/true);
    for (size_t k = 0; k < to_end.size(); ++k) {
        if (ended[k].has_value()) continue;
        LOG(WARNING) << "PutEnd of '" << keys[to_end[k]]
                     << "' failed: " << ErrorCodeName(ended[k].error());
        results[to_end[k]] = Error(ended[k].error());
        // Nothing half-visible: try to give the space back as well.
        to_revoke.push_back(to_end[k]);
    }
    const std::vector<Status> revoked = finish(to_revoke, /*end=*/false);
    for (size_t k = 0; k < to_revoke.size(); ++k) {
        if (!revoked[k].has_value()) {
            LOG(WARNING) << "PutRevoke of '" << keys[to_revoke[k]]
                         << "' failed: " << ErrorCodeName(revoked[k].error())
                         << " (the master reclaims it after put_start_release_timeout_sec)";
        }
    }

    // ---- repeated keys share the outcome of their first occurrence ------
    for (size_t i = 0; i < keys.size(); ++i) {
        if (duplicate_of[i] != kNotDuplicate) results[i] = results[duplicate_of[i]];
    }
}

}  // namespace mooncake
