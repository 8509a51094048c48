// How a transfer is cut into RDMA operations. A request is first split into
// at most one contiguous part per usable device (lanes), with boundaries on
// chunk multiples, so that large transfers use every NIC; each part is then
// posted as operations of at most `chunk_size` bytes, cut as they are posted
// so that a huge request costs no memory up front.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mooncake::rdma {

struct ByteSpan {
    uint64_t offset = 0;
    uint64_t length = 0;

    friend bool operator==(const ByteSpan&, const ByteSpan&) = default;
};

// Operations needed for `length` bytes: ceil(length / chunk_size).
// chunk_size must be positive.
uint64_t ChunkCount(uint64_t length, uint64_t chunk_size);

// Splits [0, length) into min(lanes, ChunkCount) contiguous, non-empty parts
// in order, each a whole number of chunks except possibly the last, sizes
// differing by at most one chunk. Empty when length or lanes is 0.
std::vector<ByteSpan> SplitAcrossLanes(uint64_t length, uint64_t chunk_size, size_t lanes);

}  // namespace mooncake::rdma
