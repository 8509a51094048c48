#include "master/offload_registry.h"

#include <algorithm>
#include <utility>

namespace mooncake {

void OffloadRegistry::Mount(const UUID& client, const std::string& endpoint, bool offloading,
                            uint64_t capacity_bytes) {
    MutexLock lock(mutex_);
    Disk& disk = disks_[client];
    disk.endpoint = endpoint;
    disk.offloading = offloading;
    disk.capacity_bytes = capacity_bytes;
}

std::vector<std::string> OffloadRegistry::Unmount(const UUID& client) {
    MutexLock lock(mutex_);
    std::vector<std::string> orphaned;
    auto it = disks_.find(client);
    if (it == disks_.end()) return orphaned;
    for (const auto& [key, size] : it->second.objects) {
        auto holders = holders_.find(key);
        if (holders == holders_.end()) continue;
        std::erase(holders->second, client);
        if (holders->second.empty()) {
            holders_.erase(holders);
            orphaned.push_back(key);
        }
    }
    disks_.erase(it);
    key_count_.store(holders_.size(), std::memory_order_relaxed);
    return orphaned;
}

bool OffloadRegistry::IsMounted(const UUID& client) const {
    MutexLock lock(mutex_);
    return disks_.contains(client);
}

void OffloadRegistry::DisableOffloading(const UUID& client) {
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end()) return;
    it->second.offloading = false;
    it->second.queue.clear();
    it->second.queued.clear();
}

Status OffloadRegistry::Enqueue(const UUID& client, const std::string& key, uint64_t size) {
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end() || !it->second.offloading) {
        return Error(ErrorCode::UNABLE_OFFLOADING);
    }
    Disk& disk = it->second;
    if (disk.queued.contains(key) || disk.in_flight.contains(key) || disk.objects.contains(key)) {
        return OkStatus();
    }
    if (disk.queue.size() >= queue_limit_) return Error(ErrorCode::KEYS_ULTRA_LIMIT);
    disk.queue.push_back(OffloadItem{.key = key, .size = size});
    disk.queued.insert(key);
    return OkStatus();
}

Result<OffloadWork> OffloadRegistry::TakeWork(const UUID& client, size_t max_items) {
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end()) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    Disk& disk = it->second;
    OffloadWork work;
    while (!disk.queue.empty() && work.offload.size() < max_items) {
        disk.queued.erase(disk.queue.front().key);
        disk.in_flight[disk.queue.front().key] = disk.queue.front().size;
        work.offload.push_back(std::move(disk.queue.front()));
        disk.queue.pop_front();
    }
    work.remove = std::exchange(disk.removed, {});
    return work;
}

void OffloadRegistry::AddReplicaLocked(const UUID& client, Disk& disk, const OffloadItem& item) {
    auto [slot, added] = disk.objects.try_emplace(item.key);
    if (added) {
        holders_[item.key].push_back(client);
    } else {
        disk.bytes -= slot->second.size;
    }
    slot->second = DiskObject{item.size, item.value_id};
    disk.bytes += item.size;
}

bool OffloadRegistry::ContradictedLocked(const UUID& client, const OffloadItem& item) const {
    auto holders = holders_.find(item.key);
    if (holders == holders_.end()) return false;
    for (const UUID& other : holders->second) {
        if (other == client) continue;
        const DiskObject& held = disks_.at(other).objects.at(item.key);
        if (held.size != item.size || ValueIdsDiffer(held.value_id, item.value_id)) return true;
    }
    return false;
}

Result<uint64_t> OffloadRegistry::AddReplicas(const UUID& client,
                                              const std::vector<OffloadItem>& items) {
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end()) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    uint64_t taken = 0;
    for (const OffloadItem& item : items) {
        if (ContradictedLocked(client, item)) {
            DropReplicaLocked(client, it->second, item.key);
            it->second.removed.push_back(item.key);
            continue;
        }
        AddReplicaLocked(client, it->second, item);
        ++taken;
    }
    key_count_.store(holders_.size(), std::memory_order_relaxed);
    return taken;
}

Result<uint64_t> OffloadRegistry::CompleteOffload(const UUID& client,
                                                  const std::vector<OffloadItem>& items) {
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end()) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    Disk& disk = it->second;
    uint64_t taken = 0;
    for (const OffloadItem& item : items) {
        auto flight = disk.in_flight.find(item.key);
        if (flight == disk.in_flight.end() || flight->second != item.size) {
            disk.removed.push_back(item.key);  // removed meanwhile: delete the file
            continue;
        }
        disk.in_flight.erase(flight);
        AddReplicaLocked(client, disk, item);
        ++taken;
    }
    key_count_.store(holders_.size(), std::memory_order_relaxed);
    return taken;
}

void OffloadRegistry::ScheduleRemoval(const UUID& client, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end()) return;
    for (const std::string& key : keys) {
        DropReplicaLocked(client, it->second, key);
        it->second.in_flight.erase(key);
        it->second.removed.push_back(key);
    }
    key_count_.store(holders_.size(), std::memory_order_relaxed);
}

void OffloadRegistry::DropReplicaLocked(const UUID& client, Disk& disk, const std::string& key) {
    auto found = disk.objects.find(key);
    if (found == disk.objects.end()) return;
    disk.bytes -= found->second.size;
    disk.objects.erase(found);
    auto holders = holders_.find(key);
    if (holders == holders_.end()) return;
    std::erase(holders->second, client);
    if (holders->second.empty()) holders_.erase(holders);
}

void OffloadRegistry::RemoveReplicas(const UUID& client, const std::vector<std::string>& keys) {
    MutexLock lock(mutex_);
    auto it = disks_.find(client);
    if (it == disks_.end()) return;
    for (const std::string& key : keys) DropReplicaLocked(client, it->second, key);
    key_count_.store(holders_.size(), std::memory_order_relaxed);
}

void OffloadRegistry::DropQueuedLocked(Disk& disk, const std::string& key) {
    if (disk.queued.erase(key) > 0) {
        std::erase_if(disk.queue, [&](const OffloadItem& item) { return item.key == key; });
    }
}

bool OffloadRegistry::RemoveKey(const std::string& key) {
    MutexLock lock(mutex_);
    bool held = false;
    auto holders = holders_.find(key);
    if (holders != holders_.end()) {
        const std::vector<UUID> clients = holders->second;
        for (const UUID& client : clients) {
            auto disk = disks_.find(client);
            if (disk == disks_.end()) continue;
            DropReplicaLocked(client, disk->second, key);
            disk->second.removed.push_back(key);
            held = true;
        }
        holders_.erase(key);
    }
    // A queued offload of a removed object must not bring it back.
    for (auto& [client, disk] : disks_) {
        disk.in_flight.erase(key);
        DropQueuedLocked(disk, key);
    }
    key_count_.store(holders_.size(), std::memory_order_relaxed);
    return held;
}

bool OffloadRegistry::CancelQueuedOffload(const std::string& key) {
    MutexLock lock(mutex_);
    for (const auto& [client, disk] : disks_) {
        if (disk.in_flight.contains(key)) return false;
    }
    for (auto& [client, disk] : disks_) {
        DropQueuedLocked(disk, key);
    }
    return true;
}

uint64_t OffloadRegistry::RemoveAll() {
    MutexLock lock(mutex_);
    const uint64_t count = holders_.size();
    for (auto& [client, disk] : disks_) {
        for (const auto& [key, size] : disk.objects) disk.removed.push_back(key);
        disk.objects.clear();
        disk.bytes = 0;
        disk.queue.clear();
        disk.queued.clear();
        disk.in_flight.clear();
    }
    holders_.clear();
    key_count_.store(0, std::memory_order_relaxed);
    return count;
}

std::vector<ReplicaDescriptor> OffloadRegistry::Find(const std::string& key) const {
    std::vector<ReplicaDescriptor> out;
    if (Empty()) return out;
    MutexLock lock(mutex_);
    auto holders = holders_.find(key);
    if (holders == holders_.end()) return out;
    for (const UUID& client : holders->second) {
        const Disk& disk = disks_.at(client);
        ReplicaDescriptor replica;
        replica.status = ReplicaStatus::COMPLETE;
        replica.location = LocalDiskDescriptor{client, disk.objects.at(key).size, disk.endpoint};
        out.push_back(std::move(replica));
    }
    return out;
}

uint64_t OffloadRegistry::SizeOf(const std::string& key) const {
    if (Empty()) return 0;
    MutexLock lock(mutex_);
    auto holders = holders_.find(key);
    if (holders == holders_.end() || holders->second.empty()) return 0;
    return disks_.at(holders->second.front()).objects.at(key).size;
}

uint64_t OffloadRegistry::ValueIdOf(const std::string& key) const {
    if (Empty()) return 0;
    MutexLock lock(mutex_);
    auto holders = holders_.find(key);
    if (holders == holders_.end()) return 0;
    for (const UUID& client : holders->second) {
        const uint64_t id = disks_.at(client).objects.at(key).value_id;
        if (id != 0) return id;
    }
    return 0;
}

bool OffloadRegistry::Contains(const std::string& key) const {
    if (Empty()) return false;
    MutexLock lock(mutex_);
    return holders_.contains(key);
}

std::vector<std::string> OffloadRegistry::AllKeys() const {
    MutexLock lock(mutex_);
    std::vector<std::string> keys;
    keys.reserve(holders_.size());
    for (const auto& [key, clients] : holders_) keys.push_back(key);
    return keys;
}

std::vector<LocalDiskStats> OffloadRegistry::Stats() const {
    MutexLock lock(mutex_);
    std::vector<LocalDiskStats> out;
    for (const auto& [client, disk] : disks_) {
        out.push_back(LocalDiskStats{client, disk.endpoint, disk.offloading, disk.objects.size(),
                                     disk.bytes, disk.queue.size(), disk.capacity_bytes});
    }
    return out;
}

}  // namespace mooncake
