// The results of master calls that both sides of the wire use: MasterService
// (src/master) returns them and MasterClient (src/client) hands them to its
// callers, so they live in the shared rpc layer and the client never includes
// a master header. Plain values over include/mooncake/types.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mooncake/types.h"

namespace mooncake {

// SSD offload: one object written to (or found on) a client's disk.
// Whether two value ids name different values; an unknown id (0) differs
// from none.
inline bool ValueIdsDiffer(uint64_t a, uint64_t b) { return a != 0 && b != 0 && a != b; }

struct OffloadItem {
    std::string key;
    uint64_t size = 0;
    // The value the file holds (ObjectMeta::value_id): the heartbeat names
    // it, the file header keeps it, reports and rescans bring it back. 0:
    // unknown (a file or state image written before ids existed); then key
    // and size alone decide, as they used to.
    uint64_t value_id = 0;
    // Heartbeat work only: the object's complete memory replicas and how
    // much longer the offload pin holds them (counted from before the
    // heartbeat was sent). The worker reads them without a lease of its own,
    // so the memory can go as soon as the copy is reported; empty sources
    // (or pin_ms 0) send it through GetReplicaList.
    std::vector<ReplicaDescriptor> sources;
    uint64_t pin_ms = 0;
};
// What a client's offload heartbeat takes away.
struct OffloadWork {
    std::vector<OffloadItem> offload;  // write these to disk, then report them
    std::vector<std::string> remove;   // delete these files (objects removed)
    // Read these from disk and put them back into memory (--promotion_on_hit).
    std::vector<std::string> promote;
};
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

// Space for one future object of a fixed size (master/put_credit_table.h):
// where to write each replica, and the id that publishes it.
struct PutCredit {
    uint64_t id = 0;
    std::vector<ReplicaDescriptor> replicas;
};
struct PutCreditGrant {
    std::vector<PutCredit> credits;
    // How long after the grant request was sent a write into these credits
    // may begin (shorter than the re-mount fence of a restarted master).
    uint64_t usable_ms = 0;
};

struct SegmentUsage {
    uint64_t used = 0;
    uint64_t capacity = 0;
};

}  // namespace mooncake
