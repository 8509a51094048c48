// Turning "these local pieces <-> that replica" into transfer requests.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "client/memory_piece.h"
#include "mooncake/result.h"
#include "mooncake/transfer_engine.h"
#include "mooncake/types.h"

namespace mooncake {

// Appends requests that move `length` bytes of the replica, starting
// `replica_offset` bytes into it, to or from `pieces`, filled in order (the
// pieces may hold more than `length`). Resolves the replica's segment
// through the engine (cached there). INVALID_REPLICA for a disk replica or
// one that ends before replica_offset + length,
// INVALID_PARAMS when the pieces hold fewer than `length` bytes, the
// engine's error when the segment cannot be opened. On error nothing is
// appended.
Status AppendReplicaTransfers(TransferEngine& engine, TransferOpcode opcode,
                              const ReplicaDescriptor& replica, std::span<const MemoryPiece> pieces,
                              uint64_t length, std::vector<TransferRequest>* requests,
                              uint64_t replica_offset = 0);

// The first failure among requests [begin, end) of a TransferSync whose
// per-request codes are `codes` (OK when all succeeded). `fallback` is used
// when the engine reported no per-request codes.
ErrorCode FirstFailure(const std::vector<ErrorCode>& codes, size_t begin, size_t end,
                       ErrorCode fallback);

}  // namespace mooncake
