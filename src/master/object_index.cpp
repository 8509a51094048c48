#include "master/object_index.h"

#include <functional>
#include <utility>

#include "master/change_log.h"

namespace mooncake {

KeyLocation ObjectIndex::Locate(std::string_view key) {
    const uint64_t hash = HashOf(key);
    // The shard's table indexes by the low bits of the hash; pick the shard
    // from the high bits of a mixed copy so both spread well.
    const size_t shard = static_cast<size_t>((hash * 0x9e3779b97f4a7c15ULL) >> 54) % kShardCount;
    return KeyLocation{key, hash, shards_[shard]};
}

void ObjectIndex::Fill(ObjectShard& shard, Position position, ObjectMeta meta) {
    if (!meta.complete()) ++shard.unfinished;
    shard.objects.meta(position) = std::move(meta);
    size_.fetch_add(1, std::memory_order_relaxed);
    Touch(shard, position);
}

void ObjectIndex::Replace(ObjectShard& shard, Position position, ObjectMeta meta) {
    ObjectMeta& stored = shard.objects.meta(position);
    if (!stored.complete()) --shard.unfinished;
    if (!meta.complete()) ++shard.unfinished;
    stored = std::move(meta);
    Touch(shard, position);
}

void ObjectIndex::MarkComplete(ObjectShard& shard, Position position, int64_t now_ms) {
    ObjectMeta& meta = shard.objects.meta(position);
    if (meta.complete()) return;
    meta.MarkComplete(now_ms);
    --shard.unfinished;
    Touch(shard, position);
}

void ObjectIndex::Touch(ObjectShard& shard, Position position) {
    if (log_ != nullptr) log_->NoteKey(shard.objects.key(position));
}

void ObjectIndex::Erase(ObjectShard& shard, Position position) {
    Touch(shard, position);
    if (!shard.objects.meta(position).complete()) --shard.unfinished;
    size_.fetch_sub(1, std::memory_order_relaxed);
    shard.objects.EraseAt(position);
}

}  // namespace mooncake
