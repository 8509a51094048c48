#include "master/put_credit_table.h"

namespace mooncake {

uint64_t PutCreditTable::Add(PutCreditRecord record) {
    MutexLock lock(mutex_);
    const uint64_t id = next_id_++;
    ++per_client_[record.client];
    credits_.emplace(id, std::move(record));
    return id;
}

size_t PutCreditTable::Room(const UUID& client) const {
    MutexLock lock(mutex_);
    const auto it = per_client_.find(client);
    const size_t held = it == per_client_.end() ? 0 : it->second;
    return held >= kMaxPerClient ? 0 : kMaxPerClient - held;
}

std::optional<PutCreditRecord> PutCreditTable::Take(const UUID& client, uint64_t id) {
    MutexLock lock(mutex_);
    const auto it = credits_.find(id);
    if (it == credits_.end() || it->second.client != client) return std::nullopt;
    PutCreditRecord record = std::move(it->second);
    credits_.erase(it);
    if (--per_client_[record.client] == 0) per_client_.erase(record.client);
    return record;
}

void PutCreditTable::Restore(uint64_t id, PutCreditRecord record) {
    MutexLock lock(mutex_);
    ++per_client_[record.client];
    credits_.emplace(id, std::move(record));
}

std::vector<PutCreditRecord> PutCreditTable::TakeClient(const UUID& client) {
    std::vector<PutCreditRecord> taken;
    MutexLock lock(mutex_);
    if (!per_client_.contains(client)) return taken;
    for (auto it = credits_.begin(); it != credits_.end();) {
        if (it->second.client != client) {
            ++it;
            continue;
        }
        taken.push_back(std::move(it->second));
        it = credits_.erase(it);
    }
    per_client_.erase(client);
    return taken;
}

std::vector<PutCreditRecord> PutCreditTable::TakeDue(int64_t now_ms) {
    std::vector<PutCreditRecord> due;
    MutexLock lock(mutex_);
    for (auto it = credits_.begin(); it != credits_.end();) {
        if (it->second.reclaim_at_ms > now_ms) {
            ++it;
            continue;
        }
        if (--per_client_[it->second.client] == 0) per_client_.erase(it->second.client);
        due.push_back(std::move(it->second));
        it = credits_.erase(it);
    }
    return due;
}

size_t PutCreditTable::size() const {
    MutexLock lock(mutex_);
    return credits_.size();
}

}  // namespace mooncake
