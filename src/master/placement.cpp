#include "master/placement.h"

#include <algorithm>
#include <random>

namespace mooncake {

namespace {

// A fast per-thread generator; placement needs spread, not secrecy.
uint64_t NextRandom() {
    thread_local uint64_t state = [] {
        std::random_device device;
        return (uint64_t{device()} << 32) ^ device() ^ 0x9e3779b97f4a7c15ULL;
    }();
    // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Uniform in [0, bound) without modulo bias worth speaking of.
uint64_t RandomBelow(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(NextRandom()) * bound) >> 64);
}

uint64_t RoundedSize(uint64_t size) {
    constexpr uint64_t kMask = OffsetAllocator::kDefaultAlignment - 1;
    return size > UINT64_MAX - kMask ? UINT64_MAX : (size + kMask) & ~kMask;
}

// A segment's chance in the draw: its free bytes plus a quarter of its
// capacity. Free bytes alone steer new objects to the emptiest segment,
// which floods a peer that has just (re)joined a full pool; the capacity
// term keeps a share on every segment that still has room, so the empty one
// fills faster than the others, not alone.
uint64_t DrawWeight(const SegmentPool::Segment& segment) {
    return segment.free_bytes() + segment.capacity / 4;
}

bool Contains(const std::vector<const SegmentPool::Segment*>& segments,
              const SegmentPool::Segment* segment) {
    return std::find(segments.begin(), segments.end(), segment) != segments.end();
}

}  // namespace

std::optional<PlacedReplica> AllocateOnName(const SegmentPool::ReadView& view,
                                            std::string_view name, uint64_t size) {
    const std::vector<SegmentPool::Segment*>* named = view.FindByName(name);
    if (named == nullptr) return std::nullopt;
    if (named->size() == 1) {
        auto address = view.Allocate(*named->front(), size);
        if (!address) return std::nullopt;
        return PlacedReplica{named->front(), *address};
    }
    std::vector<SegmentPool::Segment*> by_free(*named);
    std::sort(by_free.begin(), by_free.end(),
              [](const auto* a, const auto* b) { return a->free_bytes() > b->free_bytes(); });
    for (SegmentPool::Segment* segment : by_free) {
        if (auto address = view.Allocate(*segment, size)) return PlacedReplica{segment, *address};
    }
    return std::nullopt;
}

bool SomeSegmentCouldHold(const SegmentPool::ReadView& view, uint64_t size,
                          std::span<const std::string> excluded) {
    return std::any_of(view.active().begin(), view.active().end(),
                       [&](const SegmentPool::Segment* segment) {
                           return segment->capacity >= size && segment->TakesNewObjects() &&
                                  !IsExcluded(excluded, segment->info.name);
                       });
}

bool IsExcluded(std::span<const std::string> excluded, std::string_view name) {
    return std::find(excluded.begin(), excluded.end(), name) != excluded.end();
}

std::vector<std::string> Preferences(const ReplicateConfig& config) {
    if (!config.preferred_segment.empty()) return {config.preferred_segment};
    return config.preferred_segments;
}

Result<std::vector<PlacedReplica>> PlaceReplicas(const SegmentPool::ReadView& view, uint64_t size,
                                                 size_t replica_num,
                                                 std::string_view preferred_segment,
                                                 std::span<const std::string> excluded) {
    std::vector<std::string> preferences;
    if (!preferred_segment.empty()) preferences.emplace_back(preferred_segment);
    return PlaceReplicas(view, size, replica_num, preferences, excluded);
}

Result<std::vector<PlacedReplica>> PlaceReplicas(const SegmentPool::ReadView& view, uint64_t size,
                                                 size_t replica_num,
                                                 std::span<const std::string> preferences,
                                                 std::span<const std::string> excluded) {
    std::vector<PlacedReplica> placed;
    // Names already holding a replica (or found full, or excluded), and
    // segments whose allocator refused despite enough free bytes
    // (fragmentation).
    std::vector<std::string_view> used_names(excluded.begin(), excluded.end());
    std::vector<const SegmentPool::Segment*> refused;

    // Preferences are hints, as in the reference: unknown or full segments
    // leave the replica to the weighted draw below.
    for (const std::string& name : preferences) {
        if (placed.size() >= replica_num) break;
        if (name.empty() || IsExcluded(excluded, name) || view.FindByName(name) == nullptr ||
            std::find(used_names.begin(), used_names.end(), name) != used_names.end()) {
            continue;
        }
        if (auto replica = AllocateOnName(view, name, size)) placed.push_back(*replica);
        used_names.push_back(name);
    }

    const uint64_t needed = RoundedSize(size);
    const std::vector<SegmentPool::Segment*>& candidates = view.active();
    auto eligible = [&](const SegmentPool::Segment* segment) {
        return segment->free_bytes() >= needed &&
               std::find(used_names.begin(), used_names.end(), segment->info.name) ==
                   used_names.end() &&
               !Contains(refused, segment);
    };

    while (placed.size() < replica_num) {
        uint64_t total_weight = 0;
        for (const SegmentPool::Segment* segment : candidates) {
            if (eligible(segment)) total_weight += DrawWeight(*segment);
        }
        if (total_weight == 0) break;

        // Free bytes change under us (other puts run concurrently), so walk
        // with the same weights we summed and fall back to the last
        // eligible segment should the draw overshoot.
        const uint64_t draw = RandomBelow(total_weight);
        uint64_t cumulative = 0;
        SegmentPool::Segment* chosen = nullptr;
        for (SegmentPool::Segment* segment : candidates) {
            if (!eligible(segment)) continue;
            chosen = segment;
            cumulative += DrawWeight(*segment);
            if (draw < cumulative) break;
        }
        if (chosen == nullptr) break;

        if (auto address = view.Allocate(*chosen, size)) {
            placed.push_back({chosen, *address});
            if (placed.size() < replica_num) used_names.push_back(chosen->info.name);
        } else {
            refused.push_back(chosen);
        }
    }
    return placed;
}

}  // namespace mooncake
