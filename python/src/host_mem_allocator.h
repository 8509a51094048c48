// MooncakeHostMemAllocator: page-aligned host memory for zero-copy buffers,
// handed to Python as integer addresses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mooncake/result.h"

namespace mooncake::python {

// Allocations belong to the process, not to one allocator object: any
// instance frees any address it handed out, and dropping an instance frees
// nothing (Python code keeps raw addresses that must stay valid).
class HostMemAllocator {
   public:
    // Anonymous mmap, rounded up to the page size. INVALID_PARAMS for 0;
    // BUFFER_OVERFLOW when the system refuses the memory.
    static Result<uintptr_t> Alloc(size_t size);
    // INVALID_PARAMS for an address Alloc() did not return (or freed).
    static Status Free(uintptr_t address);
};

}  // namespace mooncake::python
