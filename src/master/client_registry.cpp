#include "master/client_registry.h"

namespace mooncake {

void ClientRegistry::Touch(const UUID& client, int64_t now_ms) {
    MutexLock lock(mutex_);
    last_seen_ms_[client] = now_ms;
}

bool ClientRegistry::Refresh(const UUID& client, int64_t now_ms) {
    MutexLock lock(mutex_);
    auto it = last_seen_ms_.find(client);
    if (it == last_seen_ms_.end()) return false;
    it->second = now_ms;
    return true;
}

bool ClientRegistry::IsAlive(const UUID& client) const {
    MutexLock lock(mutex_);
    return last_seen_ms_.contains(client);
}

bool ClientRegistry::Remove(const UUID& client) {
    MutexLock lock(mutex_);
    return last_seen_ms_.erase(client) > 0;
}

std::vector<UUID> ClientRegistry::TakeExpired(int64_t now_ms, int64_t ttl_ms) {
    MutexLock lock(mutex_);
    std::vector<UUID> expired;
    for (auto it = last_seen_ms_.begin(); it != last_seen_ms_.end();) {
        if (now_ms - it->second >= ttl_ms) {
            expired.push_back(it->first);
            it = last_seen_ms_.erase(it);
        } else {
            ++it;
        }
    }
    return expired;
}

size_t ClientRegistry::size() const {
    MutexLock lock(mutex_);
    return last_seen_ms_.size();
}

}  // namespace mooncake
