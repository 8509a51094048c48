#include "client/get_pipeline.h"

#include <glog/logging.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "client/replica_transfer.h"

namespace mooncake {

namespace {

using SteadyClock = std::chrono::steady_clock;

// The first LOCAL_DISK replica, or null.
const ReplicaDescriptor* DiskReplicaOf(const std::vector<ReplicaDescriptor>& replicas) {
    for (const ReplicaDescriptor& replica : replicas) {
        if (replica.is_local_disk_replica()) return &replica;
    }
    return nullptr;
}

// The latest time a read may complete and still be returned. The master
// holds the object's space until it granted the lease plus the TTL on its
// own monotonic clock; we count from before the request left, and leave a
// margin of 1% of the TTL for the two steady clocks running at slightly
// different rates (NTP slews a clock by at most 0.05%).
SteadyClock::time_point LeaseDeadline(SteadyClock::time_point query_start,
                                      const GetReplicaListResult& found) {
    const auto ttl = std::chrono::microseconds(static_cast<int64_t>(found.lease_ttl_ms) * 1000);
    return query_start + ttl - ttl / 100;
}

constexpr int kNotReadyRetries = 3;
constexpr std::chrono::microseconds kNotReadyPause{100};

}  // namespace

std::vector<Result<GetReplicaListResult>> GetPipeline::Locate(
    std::span<const std::string> keys, const std::vector<size_t>& work) const {
    std::vector<Result<GetReplicaListResult>> found;
    found.reserve(work.size());
    if (work.size() == 1) {
        found.push_back(context_.master->GetReplicaList(keys[work[0]]));
        return found;
    }
    std::vector<std::string> batch_keys;
    batch_keys.reserve(work.size());
    for (size_t i : work) batch_keys.push_back(keys[i]);
    auto answers = context_.master->BatchGetReplicaList(batch_keys);
    if (answers.has_value() && answers->size() == work.size()) return std::move(*answers);
    if (answers.has_value()) {
        LOG(ERROR) << "BatchGetReplicaList answered " << answers->size() << " entries for "
                   << work.size() << " keys";
    }
    const ErrorCode code = answers.has_value() ? ErrorCode::INTERNAL_ERROR : answers.error().code();
    found.assign(work.size(), Error(code));
    return found;
}

void GetPipeline::Run(std::span<const std::string> keys,
                      std::span<const GetDestination> destinations,
                      std::span<GetOutcome> outcomes) const {
    std::vector<size_t> work;
    work.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        if (outcomes[i].error == ErrorCode::OK) work.push_back(i);
    }
    if (work.empty()) return;

    // ---- phase 1: where the objects are (grants the leases) -------------
    // The lease runs from when the master granted it, which is after we
    // sent the request: counting from here is on the safe side.
    const SteadyClock::time_point query_start = SteadyClock::now();
    std::vector<Result<GetReplicaListResult>> found = Locate(keys, work);
    // An object whose put has written every byte but whose PutEnd the
    // master has not served yet (the writer returned right after sending
    // it, docs/performance.md) is a few microseconds from complete: ask
    // again briefly before calling it not ready.
    for (int round = 0; round < kNotReadyRetries; ++round) {
        std::vector<size_t> again;
        std::vector<size_t> again_keys;
        for (size_t w = 0; w < work.size(); ++w) {
            if (!found[w].has_value() && found[w].error() == ErrorCode::REPLICA_IS_NOT_READY) {
                again.push_back(w);
                again_keys.push_back(work[w]);
            }
        }
        if (again.empty()) break;
        std::this_thread::sleep_for(kNotReadyPause * (1 << round));
        std::vector<Result<GetReplicaListResult>> answers = Locate(keys, again_keys);
        for (size_t k = 0; k < again.size(); ++k) found[again[k]] = std::move(answers[k]);
    }
    Read(keys, destinations, outcomes, work, std::move(found), query_start);
}

void GetPipeline::RunLocated(std::span<const std::string> keys,
                             std::vector<Result<GetReplicaListResult>> found,
                             std::chrono::steady_clock::time_point located_at,
                             std::span<GetOutcome> outcomes) const {
    std::vector<size_t> work(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) work[i] = i;
    Read(keys, {}, outcomes, work, std::move(found), located_at);
}

// One key being read: its replicas, the one tried now, where the bytes go.
struct GetPipeline::PendingRead {
    size_t position = 0;  // index into keys / outcomes
    std::vector<ReplicaDescriptor> replicas;
    std::vector<size_t> order;  // readable replicas, best first
    size_t attempt = 0;         // index into `order` of the replica tried now
    uint64_t size = 0;
    std::span<const MemoryPiece> pieces;
    MemoryPiece allocated_piece;  // backs `pieces` when the pipeline allocated
    SteadyClock::time_point lease_deadline = SteadyClock::time_point::max();
    size_t request_begin = 0;
    size_t request_end = 0;
    // Only on some client's SSD: read through the offload tier.
    const ReplicaDescriptor* disk = nullptr;
};

void GetPipeline::Read(std::span<const std::string> keys,
                       std::span<const GetDestination> destinations, std::span<GetOutcome> outcomes,
                       const std::vector<size_t>& work,
                       std::vector<Result<GetReplicaListResult>> found,
                       SteadyClock::time_point query_start) const {
    std::vector<PendingRead> reads =
        Prepare(destinations, outcomes, work, std::move(found), query_start);
    Transfer(keys, reads, outcomes);
    Settle(keys, reads, outcomes);
}

std::vector<GetPipeline::PendingRead> GetPipeline::Prepare(
    std::span<const GetDestination> destinations, std::span<GetOutcome> outcomes,
    const std::vector<size_t>& work, std::vector<Result<GetReplicaListResult>> found,
    SteadyClock::time_point query_start) const {
    const bool allocate = destinations.empty();
    std::vector<PendingRead> reads;
    reads.reserve(work.size());
    for (size_t w = 0; w < work.size(); ++w) {
        const size_t i = work[w];
        GetOutcome& outcome = outcomes[i];
        if (!found[w].has_value()) {
            outcome.error = found[w].error();
            continue;
        }
        PendingRead read;
        read.position = i;
        read.replicas = std::move(found[w]->replicas);
        read.order = context_.selector->Order(read.replicas);
        if (context_.unreachable != nullptr && read.order.size() > 1) {
            // Replicas on peers that just failed us go last.
            std::stable_partition(read.order.begin(), read.order.end(), [&](size_t r) {
                return !read.replicas[r].is_memory_replica() ||
                       !context_.unreachable->Contains(
                           read.replicas[r].memory().transport_endpoint);
            });
        }
        if (read.order.empty() && context_.disk != nullptr)
            read.disk = DiskReplicaOf(read.replicas);
        if (read.order.empty() && read.disk == nullptr) {
            outcome.error = ErrorCode::INVALID_REPLICA;
            continue;
        }
        if (read.disk != nullptr) {
            // A disk read checks its bytes itself (checksum, key): no lease.
            read.size = read.disk->local_disk().object_size;
        } else {
            read.size = read.replicas[read.order.front()].memory().size;
            if (found[w]->lease_ttl_ms > 0)
                read.lease_deadline = LeaseDeadline(query_start, *found[w]);
        }
        if (allocate) {
            if (context_.local_buffer == nullptr) {
                outcome.error = Failure(ErrorCode::BUFFER_OVERFLOW,
                                        "this client has no local buffer (local_buffer_size 0) to "
                                        "copy the value into");
                continue;
            }
            auto slice = context_.local_buffer->Allocate(read.size);
            if (!slice.has_value()) {
                outcome.error = slice.error();
                continue;
            }
            outcome.slice = std::move(*slice);
            read.allocated_piece = {outcome.slice->mutable_data(), read.size};
        } else if (destinations[i].capacity < read.size) {
            outcome.error = Failure(ErrorCode::INVALID_PARAMS,
                                    "a buffer of " + std::to_string(destinations[i].capacity) +
                                        " bytes for a value of " + std::to_string(read.size));
            continue;
        }
        reads.push_back(std::move(read));
        // Point at the piece only once the read sits at its final address
        // (`reads` was reserved up front, so it never moves again).
        PendingRead& placed = reads.back();
        placed.pieces = allocate ? std::span<const MemoryPiece>(&placed.allocated_piece, 1)
                                 : std::span<const MemoryPiece>(destinations[i].pieces);
    }

    return reads;
}

void GetPipeline::ReadFromDisk(std::span<const std::string> keys, std::vector<PendingRead>& reads,
                               std::span<const size_t> which,
                               std::span<GetOutcome> outcomes) const {
    // Each read writes its own destination and its own outcome.
    auto read_one = [&](size_t r) {
        PendingRead& read = reads[r];
        Status read_back =
            context_.disk->ReadDisk(keys[read.position], *read.disk, read.pieces, read.size);
        if (!read_back.has_value()) {
            LOG(WARNING) << "Reading '" << keys[read.position]
                         << "' from disk failed: " << ErrorCodeName(read_back.error());
            outcomes[read.position].error = read_back.error();
        }
    };
    const size_t threads = std::min(which.size(), kDiskReadThreads);
    if (threads <= 1) {
        for (size_t r : which) read_one(r);
        return;
    }
    std::atomic<size_t> next{0};
    auto drain = [&] {
        for (size_t i = next.fetch_add(1); i < which.size(); i = next.fetch_add(1)) {
            read_one(which[i]);
        }
    };
    std::vector<std::jthread> helpers;
    helpers.reserve(threads - 1);
    for (size_t t = 1; t < threads; ++t) helpers.emplace_back(drain);
    drain();
}

void GetPipeline::Transfer(std::span<const std::string> keys, std::vector<PendingRead>& reads,
                           std::span<GetOutcome> outcomes) const {
    // Disk reads first; then one TransferSync per round, failures trying the
    // next replica.
    std::vector<size_t> pending;
    std::vector<size_t> from_disk;
    pending.reserve(reads.size());
    for (size_t r = 0; r < reads.size(); ++r) {
        (reads[r].disk == nullptr ? pending : from_disk).push_back(r);
    }
    if (!from_disk.empty()) ReadFromDisk(keys, reads, from_disk, outcomes);
    if (context_.engine == nullptr) {  // protocol rpc_only: memory is out of reach
        for (size_t r : pending) {
            outcomes[reads[r].position].error = ErrorCode::UNAVAILABLE_IN_CURRENT_MODE;
        }
        return;
    }
    std::vector<TransferRequest> requests;
    std::vector<ErrorCode> codes;
    while (!pending.empty()) {
        requests.clear();
        std::vector<size_t> submitted;
        submitted.reserve(pending.size());
        for (size_t r : pending) {
            PendingRead& read = reads[r];
            ErrorCode last_error = ErrorCode::TRANSFER_FAIL;
            read.request_begin = requests.size();
            while (read.attempt < read.order.size()) {
                Status built = AppendReplicaTransfers(*context_.engine, TransferOpcode::READ,
                                                      read.replicas[read.order[read.attempt]],
                                                      read.pieces, read.size, &requests);
                if (built.has_value()) break;
                last_error = built.error();
                ++read.attempt;
            }
            if (read.attempt == read.order.size()) {
                outcomes[read.position].error = last_error;
                continue;
            }
            read.request_end = requests.size();
            submitted.push_back(r);
        }
        pending.clear();
        if (requests.empty()) break;
        codes.clear();
        Status transferred = context_.engine->TransferSync(requests, &codes);
        const ErrorCode fallback = CodeOf(transferred);
        for (size_t r : submitted) {
            PendingRead& read = reads[r];
            const ErrorCode failure =
                FirstFailure(codes, read.request_begin, read.request_end, fallback);
            if (failure == ErrorCode::OK) continue;
            const ReplicaDescriptor& replica = read.replicas[read.order[read.attempt]];
            LOG(WARNING) << "Reading '" << keys[read.position] << "' from "
                         << replica.memory().transport_endpoint
                         << " failed: " << ErrorCodeName(failure);
            if (context_.unreachable != nullptr && failure == ErrorCode::TRANSFER_FAIL) {
                context_.unreachable->Add(replica.memory().transport_endpoint);
            }
            if (++read.attempt < read.order.size()) {
                pending.push_back(r);
            } else {
                outcomes[read.position].error = failure;
            }
        }
    }
}

void GetPipeline::Settle(std::span<const std::string> keys, const std::vector<PendingRead>& reads,
                         std::span<GetOutcome> outcomes) const {
    // Bytes that outlived their lease are not returned.
    const SteadyClock::time_point finished = SteadyClock::now();
    for (const PendingRead& read : reads) {
        GetOutcome& outcome = outcomes[read.position];
        if (outcome.error == ErrorCode::OK && finished > read.lease_deadline) {
            LOG(WARNING) << "Read of '" << keys[read.position]
                         << "' finished after its lease ran out";
            outcome.error = ErrorCode::LEASE_EXPIRED;
        }
        if (outcome.error == ErrorCode::OK) {
            outcome.size = read.size;
        } else {
            outcome.slice.reset();
        }
    }
}

}  // namespace mooncake
