#include "transfer/rdma/chunking.h"

#include <algorithm>

namespace mooncake::rdma {

uint64_t ChunkCount(uint64_t length, uint64_t chunk_size) {
    return length / chunk_size + (length % chunk_size != 0 ? 1 : 0);
}

std::vector<ByteSpan> SplitAcrossLanes(uint64_t length, uint64_t chunk_size, size_t lanes) {
    std::vector<ByteSpan> parts;
    if (length == 0 || lanes == 0 || chunk_size == 0) return parts;
    const uint64_t chunks = ChunkCount(length, chunk_size);
    const uint64_t part_count = std::min<uint64_t>(lanes, chunks);
    const uint64_t base = chunks / part_count;
    const uint64_t extra = chunks % part_count;
    parts.reserve(part_count);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < part_count; ++i) {
        const uint64_t part_chunks = base + (i < extra ? 1 : 0);
        // Only the last part reaches the end (and is trimmed); written so
        // that lengths near 2^64 cannot overflow.
        const uint64_t remaining = length - offset;
        const uint64_t part_length =
            part_chunks >= ChunkCount(remaining, chunk_size) ? remaining : part_chunks * chunk_size;
        parts.push_back({offset, part_length});
        offset += part_length;
    }
    return parts;
}

}  // namespace mooncake::rdma
