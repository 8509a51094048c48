// Space granted to clients ahead of their puts (put credits).
//
// A credit is the space of one future object: `size` bytes on each of its
// replicas' segments, allocated by the master and reserved for one client.
// The client writes a value of that size there and publishes it with one
// call (MasterService::BatchPutCommit), so a small put needs one master
// round trip instead of two. A credit the client neither commits nor
// releases is reclaimed after put_start_release_timeout_sec, like an
// unfinished put: its holder may have died, or be writing still.
// docs/performance.md ("Small puts in one round trip") gives the argument.
//
// Thread-safe; a leaf lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "master/object_meta.h"
#include "mooncake/types.h"

namespace mooncake {

struct PutCreditRecord {
    UUID client;
    uint64_t size = 0;
    std::vector<ReplicaSlot> replicas;
    int64_t reclaim_at_ms = 0;
};

class PutCreditTable {
   public:
    // Credits one client may hold at once (bounds a client's reservation
    // and the table whatever it asks).
    static constexpr size_t kMaxPerClient = 1024;

    // Stores a credit; returns its id (never 0, never reused).
    uint64_t Add(PutCreditRecord record);
    // Credits `client` may still be granted.
    size_t Room(const UUID& client) const;
    // Removes and returns credit `id` when `client` holds it.
    std::optional<PutCreditRecord> Take(const UUID& client, uint64_t id);
    // Puts back a credit Take returned (its commit did not use it).
    void Restore(uint64_t id, PutCreditRecord record);
    // Removes and returns every credit of `client` (it left cleanly).
    std::vector<PutCreditRecord> TakeClient(const UUID& client);
    // Removes and returns the credits whose reclaim time has come.
    std::vector<PutCreditRecord> TakeDue(int64_t now_ms);
    size_t size() const;

   private:
    mutable Mutex mutex_;
    uint64_t next_id_ MC_GUARDED_BY(mutex_) = 1;
    std::unordered_map<uint64_t, PutCreditRecord> credits_ MC_GUARDED_BY(mutex_);
    std::unordered_map<UUID, size_t, UUIDHash> per_client_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
