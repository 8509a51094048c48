#include "master/replication_ops.h"

namespace mooncake {

bool ReplicationOps::Begin(const std::string& key, const ReplicationOp& op) {
    MutexLock lock(mutex_);
    return ops_.emplace(key, op).second;
}

std::optional<ReplicationOp> ReplicationOps::Find(const std::string& key) const {
    MutexLock lock(mutex_);
    auto it = ops_.find(key);
    if (it == ops_.end()) return std::nullopt;
    return it->second;
}

void ReplicationOps::End(const std::string& key) {
    MutexLock lock(mutex_);
    ops_.erase(key);
}

std::vector<std::string> ReplicationOps::StaleKeys(int64_t now_ms, int64_t max_age_ms) const {
    MutexLock lock(mutex_);
    std::vector<std::string> stale;
    for (const auto& [key, op] : ops_) {
        if (now_ms - op.started_ms >= max_age_ms) stale.push_back(key);
    }
    return stale;
}

size_t ReplicationOps::size() const {
    MutexLock lock(mutex_);
    return ops_.size();
}

}  // namespace mooncake
