// ClientFrontEnd::GetIntoRanges: range reads of whole objects, written once
// over the backends' DoGet (the object is fetched once per key, then each
// range is copied out of it).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>

#include "client/client_config_util.h"
#include "client/client_front_end.h"

namespace mooncake {

namespace {

using KeyResults = std::vector<Result<size_t>>;

// Ranges of key (b, k): every range any of the three lists names.
size_t RangeCount(const Client::RangeOffsets& dst, const Client::RangeOffsets& src,
                  const Client::RangeOffsets& sizes, size_t b, size_t k) {
    size_t count = 0;
    for (const Client::RangeOffsets* list : {&dst, &src, &sizes}) {
        if (b < list->size() && k < (*list)[b].size())
            count = std::max(count, (*list)[b][k].size());
    }
    return count;
}

bool SameShape(const Client::RangeOffsets& dst, const Client::RangeOffsets& src,
               const Client::RangeOffsets& sizes, size_t b, size_t k) {
    const size_t n = dst[b][k].size();
    return src[b][k].size() == n && sizes[b][k].size() == n;
}

// Copies the ranges of one key out of `object` into `buffer`.
void CopyRanges(const Buffer& object, uint8_t* buffer, const std::vector<uint64_t>& dst_offsets,
                const std::vector<uint64_t>& src_offsets, const std::vector<uint64_t>& sizes,
                const std::function<bool(const void*, size_t)>& caller_memory,
                KeyResults& results) {
    for (size_t r = 0; r < results.size(); ++r) {
        const uint64_t size = sizes[r];
        const uint64_t src = src_offsets[r];
        const bool inside_object = src <= object.size() && size <= object.size() - src;
        uint8_t* destination = buffer + dst_offsets[r];
        if (!inside_object || dst_offsets[r] > UINTPTR_MAX - reinterpret_cast<uintptr_t>(buffer) ||
            (size > 0 && !caller_memory(destination, size))) {
            results[r] = Error(ErrorCode::INVALID_PARAMS);
            continue;
        }
        if (size > 0) std::memcpy(destination, object.data() + src, size);
        results[r] = size;
    }
}

}  // namespace

Client::RangeResults ClientFrontEnd::GetIntoRanges(
    const std::vector<void*>& buffers, const std::vector<std::vector<std::string>>& keys,
    const RangeOffsets& dst_offsets, const RangeOffsets& src_offsets, const RangeOffsets& sizes) {
    // The answer has one list per buffer, one per key, one entry per range.
    RangeResults results(buffers.size());
    for (size_t b = 0; b < buffers.size(); ++b) {
        if (b >= keys.size()) continue;
        results[b].resize(keys[b].size());
        for (size_t k = 0; k < keys[b].size(); ++k) {
            results[b][k].assign(RangeCount(dst_offsets, src_offsets, sizes, b, k),
                                 Error(ErrorCode::INVALID_PARAMS));
        }
    }
    const size_t n = buffers.size();
    if (keys.size() != n || dst_offsets.size() != n || src_offsets.size() != n ||
        sizes.size() != n) {
        return results;  // every range INVALID_PARAMS
    }
    auto lock = LockOpen();
    auto caller_memory = [this](const void* address, size_t size) {
        return IsCallerMemory(address, size);
    };
    for (size_t b = 0; b < buffers.size(); ++b) {
        const size_t key_count = keys[b].size();
        if (dst_offsets[b].size() != key_count || src_offsets[b].size() != key_count ||
            sizes[b].size() != key_count || buffers[b] == nullptr) {
            continue;  // INVALID_PARAMS already
        }
        for (size_t k = 0; k < key_count; ++k) {
            KeyResults& key_results = results[b][k];
            if (!SameShape(dst_offsets, src_offsets, sizes, b, k)) continue;
            if (!lock.owns_lock()) {
                key_results.assign(key_results.size(), Error(kClientClosed));
                continue;
            }
            if (Status key = ValidateKey(keys[b][k]); !key.has_value()) {
                key_results.assign(key_results.size(), Error(key.error()));
                continue;
            }
            if (key_results.empty()) continue;
            auto object = DoGet(keys[b][k]);
            if (!object.has_value()) {
                key_results.assign(key_results.size(), Error(object.error()));
                continue;
            }
            CopyRanges(**object, static_cast<uint8_t*>(buffers[b]), dst_offsets[b][k],
                       src_offsets[b][k], sizes[b][k], caller_memory, key_results);
        }
    }
    return results;
}

}  // namespace mooncake
