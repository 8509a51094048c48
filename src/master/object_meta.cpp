#include "master/object_meta.h"

#include <algorithm>

namespace mooncake {

void ObjectMeta::MarkComplete(int64_t now_ms) {
    flags_ |= kComplete;
    stamp_ms_ = now_ms;
    for (size_t i = 0; i < replica_count_; ++i) replica(i).status = ReplicaStatus::COMPLETE;
}

bool ObjectMeta::AddReplica(const ReplicaSlot& slot) {
    if (replica_count_ == kMaxReplicas) return false;
    if (replica_count_ == 0) {
        first_replica_ = slot;
    } else {
        // Exact-size storage: more than one replica is the rare case, and
        // the list changes only on put, copy, move and unmount.
        auto grown = std::make_unique<ReplicaSlot[]>(replica_count_);
        std::copy_n(more_replicas_.get(), replica_count_ - 1, grown.get());
        grown[replica_count_ - 1] = slot;
        more_replicas_ = std::move(grown);
    }
    ++replica_count_;
    return true;
}

void ObjectMeta::RemoveReplica(size_t index) {
    if (index >= replica_count_) return;
    if (index == 0 && replica_count_ > 1) {
        first_replica_ = more_replicas_[0];
        index = 1;
    }
    // Shift replicas after `index` down by one within more_replicas_.
    for (size_t i = index; i + 1 < replica_count_; ++i) {
        more_replicas_[i - 1] = more_replicas_[i];
    }
    --replica_count_;
    if (replica_count_ <= 1) {
        more_replicas_.reset();
    } else {
        auto shrunk = std::make_unique<ReplicaSlot[]>(replica_count_ - 1);
        std::copy_n(more_replicas_.get(), replica_count_ - 1, shrunk.get());
        more_replicas_ = std::move(shrunk);
    }
}

size_t ObjectMeta::FindReplicaOn(uint32_t segment) const {
    for (size_t i = 0; i < replica_count_; ++i) {
        if (replica(i).segment == segment) return i;
    }
    return replica_count_;
}

size_t ObjectMeta::CountComplete() const {
    size_t count = 0;
    for (size_t i = 0; i < replica_count_; ++i) {
        if (replica(i).status == ReplicaStatus::COMPLETE) ++count;
    }
    return count;
}

}  // namespace mooncake
