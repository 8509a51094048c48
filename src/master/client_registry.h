// Which clients are alive: the last time each mounted or pinged.
//
// A client is known from its first mount (or re-mount) until it is silent
// for the client TTL; MasterService then unmounts its segments. A ping
// from a client not known here is answered with NEED_REMOUNT.
//
// Thread-safe; a leaf lock (nothing is locked while holding it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "mooncake/types.h"

namespace mooncake {

class ClientRegistry {
   public:
    // Registers the client (or refreshes it) as seen at `now_ms`.
    void Touch(const UUID& client, int64_t now_ms);
    // Refreshes a known client; false when it is not known.
    bool Refresh(const UUID& client, int64_t now_ms);
    bool IsAlive(const UUID& client) const;
    // Forgets the client (it closed); false when it was not known.
    bool Remove(const UUID& client);
    // Removes and returns the clients last seen `ttl_ms` or longer before `now_ms`.
    std::vector<UUID> TakeExpired(int64_t now_ms, int64_t ttl_ms);
    size_t size() const;

   private:
    mutable Mutex mutex_;
    std::unordered_map<UUID, int64_t, UUIDHash> last_seen_ms_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
