// The engines alive in this process, by instance id. A peer descriptor whose
// instance is listed here lives in our own address space: its memory is
// reached with memcpy, checked against that engine's own registry.
#pragma once

#include <memory>

#include "mooncake/types.h"
#include "transfer/memory_registry.h"

namespace mooncake {

class LocalEngineDirectory {
   public:
    static void Add(const UUID& instance, std::shared_ptr<const MemoryRegistry> memory);
    static void Remove(const UUID& instance);
    // The registry of the live engine `instance`, or null when it is not
    // (or no longer) in this process.
    static std::shared_ptr<const MemoryRegistry> Find(const UUID& instance);
};

}  // namespace mooncake
