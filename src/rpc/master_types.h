// The results of master calls that both sides of the wire use: MasterService
// (src/master) returns them and MasterClient (src/client) hands them to its
// callers, so they live in the shared rpc layer and the client never includes
// a master header. Plain values over include/mooncake/types.h.
#pragma once

#include <cstdint>
#include <vector>

#include "mooncake/types.h"

namespace mooncake {

struct GetReplicaListResult {
    std::vector<ReplicaDescriptor> replicas;  // complete replicas only
    uint64_t lease_ttl_ms = 0;                // lease granted by the call
};

struct PingResult {
    ClientStatus status = ClientStatus::OK;
    std::vector<TaskAssignment> tasks;  // tasks assigned to this client now
};

struct CopyStartResult {
    ReplicaDescriptor source;
    std::vector<ReplicaDescriptor> targets;
};

struct MoveStartResult {
    ReplicaDescriptor source;
    ReplicaDescriptor target;
};

struct SegmentUsage {
    uint64_t used = 0;
    uint64_t capacity = 0;
};

}  // namespace mooncake
