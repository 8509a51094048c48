// The dummy client's gets: sizes first when the caller gave no buffer, then
// one request naming the shared-memory ranges the standalone client fills.
#include <glog/logging.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "client/dummy_call_plan.h"
#include "client/dummy_client.h"
#include "client/dummy_rpc_protocol.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using dummy_wire::AddPlannedItems;
using dummy_wire::CodeFromWire;

}  // namespace

std::vector<DummyClient::SizeAnswer> DummyClient::QuerySizes(const std::vector<std::string>& keys) {
    std::vector<SizeAnswer> answers(keys.size());
    if (keys.empty()) return answers;
    dummy_rpc::Response response;
    const Status called = QueryKeys(&dummy_rpc::Request::mutable_get_size, keys,
                                    dummy_rpc::Response::kSizes, &response);
    const dummy_rpc::SizeList& sizes = response.sizes();
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!called.has_value()) {
            answers[i].error = called.error();
            continue;
        }
        answers[i].error = CodeFromWire(sizes.error_codes(static_cast<int>(i)));
        answers[i].size = sizes.sizes(static_cast<int>(i));
    }
    return answers;
}

std::vector<Result<size_t>> DummyClient::GetIntoPlanned(const std::vector<std::string>& keys,
                                                        std::vector<ItemPlan>& plans,
                                                        bool report_sizes) {
    std::vector<Result<size_t>> results(keys.size(), size_t{0});
    dummy_rpc::Request request;
    dummy_rpc::GetIntoRequest* get = request.mutable_get_into();
    get->set_report_sizes(report_sizes);
    const std::vector<size_t> sent = AddPlannedItems(keys, plans, get->mutable_items(), results);
    if (sent.empty()) return results;
    dummy_rpc::Response response;
    bool maybe_delivered = false;
    const Status called = CallForEach(&request, &response, dummy_rpc::Response::kSizes, sent.size(),
                                      &maybe_delivered);
    const dummy_rpc::SizeList& sizes = response.sizes();
    if (!called.has_value()) {
        if (maybe_delivered) Quarantine(plans);
        for (size_t i : sent) results[i] = Error(called.error());
        return results;
    }
    for (size_t k = 0; k < sent.size(); ++k) {
        ItemPlan& plan = plans[sent[k]];
        const ErrorCode code = CodeFromWire(sizes.error_codes(static_cast<int>(k)));
        const uint64_t size = sizes.sizes(static_cast<int>(k));
        if (code != ErrorCode::OK) {
            results[sent[k]] = Error(code);
            plan.reported_size = size;
            continue;
        }
        if (size > plan.capacity) {
            LOG_EVERY_T(ERROR, 10.0) << "Dummy client: the standalone client reported " << size
                                     << " bytes read into " << plan.capacity;
            results[sent[k]] = Error(ErrorCode::RPC_FAIL);
            continue;
        }
        for (const ItemPlan::StagedPiece& piece : plan.staged) {
            if (piece.object_offset >= size) break;
            std::memcpy(piece.destination, piece.staged,
                        std::min(piece.length, size - piece.object_offset));
        }
        results[sent[k]] = static_cast<size_t>(size);
    }
    return results;
}

Status DummyClient::PlanGetPieces(const std::vector<void*>& buffers,
                                  const std::vector<size_t>& sizes, uint64_t limit,
                                  ItemPlan* plan) {
    if (buffers.empty() || buffers.size() != sizes.size()) return Error(ErrorCode::INVALID_PARAMS);
    for (size_t p = 0; p < buffers.size(); ++p) {
        if (buffers[p] == nullptr || sizes[p] == 0) return Error(ErrorCode::INVALID_PARAMS);
        const bool shared = memory_ != nullptr && memory_->Contains(buffers[p], sizes[p]);
        if (!shared && !IsRegisteredRange(buffers[p], sizes[p])) {
            LOG(WARNING) << "Zero-copy range " << buffers[p] << "+" << sizes[p]
                         << " is neither in the dummy's shared memory nor registered "
                         << "(RegisterBuffer it first)";
            return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    uint64_t object_offset = 0;
    for (size_t p = 0; p < buffers.size() && object_offset < limit; ++p) {
        auto* destination = static_cast<uint8_t*>(buffers[p]);
        const uint64_t length = std::min<uint64_t>(sizes[p], limit - object_offset);
        if (memory_ != nullptr && memory_->Contains(destination, length)) {
            plan->ranges.emplace_back(memory_->OffsetOf(destination), length);
        } else {
            if (memory_ == nullptr) return Error(ErrorCode::BUFFER_OVERFLOW);
            auto slice = memory_->Allocate(DummyMemory::Pool::kLocalBuffer, length);
            if (!slice.has_value()) return Error(slice.error());
            plan->ranges.emplace_back((*slice)->offset(), length);
            plan->staged.push_back({destination, (*slice)->data(), length, object_offset});
            plan->slices.push_back(std::move(*slice));
        }
        object_offset += length;
        plan->capacity += length;
    }
    return OkStatus();
}

std::vector<Result<size_t>> DummyClient::GetIntoPieces(
    const std::vector<std::string>& keys, const std::vector<std::vector<void*>>& buffers,
    const std::vector<std::vector<size_t>>& sizes, const std::vector<Result<size_t>>& checked) {
    std::vector<ItemPlan> plans(keys.size());
    // Keys whose staging for the whole capacity did not fit: staged again
    // for the object's size only, once it is known.
    std::vector<size_t> restage;
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = checked[i].has_value() ? OkStatus() : Status(Error(checked[i].error()));
        if (valid.has_value()) {
            valid = PlanGetPieces(buffers[i], sizes[i], std::numeric_limits<uint64_t>::max(),
                                  &plans[i]);
        }
        if (!valid.has_value()) {
            plans[i] = ItemPlan{};
            plans[i].error = valid.error();
            if (valid.error() == ErrorCode::BUFFER_OVERFLOW && memory_ != nullptr) {
                restage.push_back(i);
            }
        }
    }
    if (!restage.empty()) {
        std::vector<std::string> restage_keys;
        for (size_t i : restage) restage_keys.push_back(keys[i]);
        const std::vector<SizeAnswer> answers = QuerySizes(restage_keys);
        for (size_t k = 0; k < restage.size(); ++k) {
            const size_t i = restage[k];
            uint64_t capacity = 0;
            for (size_t length : sizes[i]) capacity += length;
            ItemPlan plan;
            if (answers[k].error != ErrorCode::OK) {
                plan.error = answers[k].error;
            } else if (answers[k].size > capacity) {
                plan.error = ErrorCode::INVALID_PARAMS;
            } else if (Status staged = PlanGetPieces(buffers[i], sizes[i], answers[k].size, &plan);
                       !staged.has_value()) {
                plan = ItemPlan{};
                plan.error = staged.error();
            }
            plans[i] = std::move(plan);
        }
    }
    return GetIntoPlanned(keys, plans);
}

Result<size_t> DummyClient::DoGetInto(const std::string& key, void* buffer, size_t capacity) {
    return GetIntoPieces({key}, {{buffer}}, {{capacity}}, {size_t{0}})[0];
}

void DummyClient::DoBatchGetInto(const std::vector<std::string>& keys,
                                 const std::vector<void*>& buffers,
                                 const std::vector<size_t>& capacities,
                                 std::vector<Result<size_t>>& results) {
    std::vector<std::vector<void*>> pieces(keys.size());
    std::vector<std::vector<size_t>> lengths(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        pieces[i] = {buffers[i]};
        lengths[i] = {capacities[i]};
    }
    results = GetIntoPieces(keys, pieces, lengths, results);
}

void DummyClient::DoBatchGetIntoMultiBuffers(const std::vector<std::string>& keys,
                                             const std::vector<std::vector<void*>>& buffers,
                                             const std::vector<std::vector<size_t>>& sizes,
                                             std::vector<Result<size_t>>& results) {
    results = GetIntoPieces(keys, buffers, sizes, results);
}

std::vector<Result<std::shared_ptr<Buffer>>> DummyClient::GetIntoSlices(
    const std::vector<std::string>& keys, const std::vector<SizeAnswer>& sizes) {
    using Entry = Result<std::shared_ptr<Buffer>>;
    std::vector<Entry> results(keys.size(), Error(ErrorCode::INTERNAL_ERROR));
    std::vector<ItemPlan> plans(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        ItemPlan& plan = plans[i];
        if (sizes[i].error != ErrorCode::OK) {
            plan.error = sizes[i].error;
            continue;
        }
        if (memory_ == nullptr) {
            plan.error = ErrorCode::BUFFER_OVERFLOW;
            continue;
        }
        auto slice = memory_->Allocate(DummyMemory::Pool::kLocalBuffer, sizes[i].size);
        if (!slice.has_value()) {
            plan.error = slice.error();
            continue;
        }
        plan.ranges.emplace_back((*slice)->offset(), sizes[i].size);
        plan.capacity = sizes[i].size;
        plan.slices.push_back(std::move(*slice));
    }
    std::vector<Result<size_t>> read = GetIntoPlanned(keys, plans);
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!read[i].has_value()) {
            results[i] = Error(read[i].error());
            continue;
        }
        std::shared_ptr<DummyMemorySlice> slice = std::move(plans[i].slices.front());
        slice->Truncate(*read[i]);
        results[i] = std::shared_ptr<Buffer>(std::move(slice));
    }
    return results;
}

Result<std::shared_ptr<Buffer>> DummyClient::DoGet(const std::string& key) {
    const std::vector<std::string> keys{key};
    std::vector<SizeAnswer> sizes;
    auto speculative = memory_ != nullptr ? memory_->Allocate(DummyMemory::Pool::kLocalBuffer,
                                                              kSpeculativeGetBytes)
                                          : Error(ErrorCode::BUFFER_OVERFLOW);
    if (speculative.has_value()) {
        std::vector<ItemPlan> plans(1);
        plans[0].ranges.emplace_back((*speculative)->offset(), kSpeculativeGetBytes);
        plans[0].capacity = kSpeculativeGetBytes;
        // The plan holds the only reference: a call of unknown outcome keeps
        // the slice aside.
        plans[0].slices.push_back(std::move(*speculative));
        const Result<size_t> read = GetIntoPlanned(keys, plans, /*report_sizes=*/true)[0];
        if (read.has_value()) {
            std::shared_ptr<DummyMemorySlice> slice = std::move(plans[0].slices.front());
            slice->Truncate(*read);
            return std::shared_ptr<Buffer>(std::move(slice));
        }
        if (read.error() != ErrorCode::INVALID_PARAMS ||
            plans[0].reported_size <= kSpeculativeGetBytes) {
            return Error(read.error());
        }
        sizes.push_back(SizeAnswer{ErrorCode::OK, plans[0].reported_size});
    } else {
        sizes = QuerySizes(keys);
    }
    std::vector<Result<std::shared_ptr<Buffer>>> got = GetIntoSlices(keys, sizes);
    // Removed and put again larger in between: once more.
    if (!got[0].has_value() && got[0].error() == ErrorCode::INVALID_PARAMS) {
        got = GetIntoSlices(keys, QuerySizes(keys));
    }
    return std::move(got[0]);
}

void DummyClient::DoBatchGet(const std::vector<std::string>& keys,
                             std::vector<Result<std::shared_ptr<Buffer>>>& results) {
    std::vector<std::string> valid_keys;
    std::vector<size_t> positions;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (!results[i].has_value()) continue;
        valid_keys.push_back(keys[i]);
        positions.push_back(i);
    }
    if (valid_keys.empty()) return;
    auto got = GetIntoSlices(valid_keys, QuerySizes(valid_keys));
    for (size_t k = 0; k < positions.size(); ++k) {
        if (!got[k].has_value() && got[k].error() == ErrorCode::INVALID_PARAMS) {
            const std::vector<std::string> retry{valid_keys[k]};
            got[k] = GetIntoSlices(retry, QuerySizes(retry))[0];
        }
        results[positions[k]] = std::move(got[k]);
    }
}

}  // namespace mooncake
