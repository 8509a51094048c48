// Where the replicas of a new object go.
//
// Each replica lands on a different segment name (a name is a client's
// "host:port"; one client may mount several segments under it), so losing
// one client never loses every copy. The preferred segment, when given, gets
// the first replica if it has room. The others are drawn at random with a
// weight of each segment's free bytes plus a quarter of its capacity: a
// newly joined, empty segment receives more writes than the fuller ones, yet
// not all of them even when the rest of the pool is full, so load spreads
// while usage evens out. Placement is best effort: when space
// is short the object gets fewer replicas than asked, possibly none.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "master/segment_pool.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

struct PlacedReplica {
    SegmentPool::Segment* segment = nullptr;
    uint64_t address = 0;
};

// Allocates `size` bytes on up to `replica_num` segments with distinct
// names, none of them named in `excluded` (segments the client could not
// reach; an excluded preferred segment is simply skipped).
// `preferred_segment` (when mounted and not excluded) gets the first replica
// if it has room; it is a hint, so an unknown name is ignored. Returns the
// replicas that fitted (the caller decides what zero means).
Result<std::vector<PlacedReplica>> PlaceReplicas(const SegmentPool::ReadView& view, uint64_t size,
                                                 size_t replica_num,
                                                 std::string_view preferred_segment,
                                                 std::span<const std::string> excluded = {});
// The same with several preferred segments, tried in order for successive
// replicas (each a hint like `preferred_segment`).
Result<std::vector<PlacedReplica>> PlaceReplicas(const SegmentPool::ReadView& view, uint64_t size,
                                                 size_t replica_num,
                                                 std::span<const std::string> preferences,
                                                 std::span<const std::string> excluded);

// The preferences of a put: preferred_segment when set, else
// preferred_segments.
std::vector<std::string> Preferences(const ReplicateConfig& config);

// True when some segment not in `excluded` takes new objects and is large
// enough for `size` bytes: an eviction round might then make room there.
bool SomeSegmentCouldHold(const SegmentPool::ReadView& view, uint64_t size,
                          std::span<const std::string> excluded = {});

// True when `name` is listed in `excluded`.
bool IsExcluded(std::span<const std::string> excluded, std::string_view name);

// Allocates `size` bytes on one of the segments named `name`, trying the
// one with the most free bytes first. nullopt when none has room.
std::optional<PlacedReplica> AllocateOnName(const SegmentPool::ReadView& view,
                                            std::string_view name, uint64_t size);

}  // namespace mooncake
