// A range of local memory that a put reads from or a get writes to.
#pragma once

#include <cstdint>

namespace mooncake {

// Mutable because transfer requests carry a mutable address; a put only
// ever reads through it.
struct MemoryPiece {
    void* address = nullptr;
    uint64_t length = 0;
};

}  // namespace mooncake
