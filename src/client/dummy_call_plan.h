// The layout of one dummy-client call in the shared memory: per key, the
// ranges its bytes occupy (puts and gets), and the request items built from
// them. Private to dummy_client*.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/dummy_client.h"
#include "client/dummy_rpc_protocol.h"

namespace mooncake {

namespace dummy_wire {

inline ErrorCode CodeFromWire(int32_t code) {
    return code == 0 ? ErrorCode::OK : ErrorCodeFromInt(code);
}

}  // namespace dummy_wire

struct DummyClient::ItemPlan {
    // Set when the key is not sent (refused before the request).
    ErrorCode error = ErrorCode::OK;
    // (offset, length) in the shared memory; their concatenation is the value.
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    uint64_t capacity = 0;  // gets: total length of the ranges
    // Gets: staged pieces, copied to the caller's memory after the read.
    struct StagedPiece {
        uint8_t* destination;
        const uint8_t* staged;
        uint64_t length;
        uint64_t object_offset;  // where the piece starts in the object
    };
    std::vector<StagedPiece> staged;
    // Staging (and get result) slices, held for the duration of the call.
    std::vector<std::shared_ptr<DummyMemorySlice>> slices;
    // Gets with report_sizes: the object's size when the ranges were too small.
    uint64_t reported_size = 0;
};

struct DummyClient::SizeAnswer {
    ErrorCode error = ErrorCode::OK;
    uint64_t size = 0;
};

namespace dummy_wire {

// Adds a DataItem (key and shared-memory ranges) to `items` for every key
// whose plan holds no error, and records the errors in `results`. Returns
// the positions sent, in request order.
template <typename Plan, typename ResultT>
std::vector<size_t> AddPlannedItems(const std::vector<std::string>& keys,
                                    const std::vector<Plan>& plans,
                                    google::protobuf::RepeatedPtrField<dummy_rpc::DataItem>* items,
                                    std::vector<ResultT>& results) {
    std::vector<size_t> sent;
    for (size_t i = 0; i < keys.size(); ++i) {
        if (plans[i].error != ErrorCode::OK) {
            results[i] = Error(plans[i].error);
            continue;
        }
        dummy_rpc::DataItem* item = items->Add();
        item->set_key(keys[i]);
        for (const auto& [offset, length] : plans[i].ranges) {
            dummy_rpc::ShmRange* range = item->add_ranges();
            range->set_offset(offset);
            range->set_length(length);
        }
        sent.push_back(i);
    }
    return sent;
}

}  // namespace dummy_wire

}  // namespace mooncake
