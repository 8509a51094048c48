#include "client/replica_transfer.h"

#include <glog/logging.h>

#include <algorithm>

namespace mooncake {

Status AppendReplicaTransfers(TransferEngine& engine, TransferOpcode opcode,
                              const ReplicaDescriptor& replica, std::span<const MemoryPiece> pieces,
                              uint64_t length, std::vector<TransferRequest>* requests,
                              uint64_t replica_offset) {
    if (!replica.is_memory_replica() || replica.memory().size < replica_offset ||
        replica.memory().size - replica_offset < length) {
        return Error(ErrorCode::INVALID_REPLICA);
    }
    const MemoryDescriptor& memory = replica.memory();
    auto segment = engine.OpenSegment(memory.transport_endpoint);
    if (!segment.has_value()) {
        LOG(WARNING) << "Cannot open segment " << memory.transport_endpoint << ": "
                     << ErrorCodeName(segment.error());
        return Error(segment.error());
    }
    const size_t first_request = requests->size();
    uint64_t offset = 0;
    for (const MemoryPiece& piece : pieces) {
        if (offset == length) break;
        const uint64_t chunk = std::min(piece.length, length - offset);
        if (chunk == 0) continue;
        requests->push_back(TransferRequest{
            .opcode = opcode,
            .local_address = piece.address,
            .segment = *segment,
            .remote_address = memory.buffer_address + replica_offset + offset,
            .length = chunk,
        });
        offset += chunk;
    }
    if (offset != length) {
        requests->resize(first_request);
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return OkStatus();
}

ErrorCode FirstFailure(const std::vector<ErrorCode>& codes, size_t begin, size_t end,
                       ErrorCode fallback) {
    if (codes.size() < end) return fallback;
    for (size_t i = begin; i < end; ++i) {
        if (codes[i] != ErrorCode::OK) return codes[i];
    }
    return ErrorCode::OK;
}

}  // namespace mooncake
