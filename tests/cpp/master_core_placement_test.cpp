// Where PutStart puts replicas.
#include <map>
#include <set>

#include "master/placement.h"
#include "master/segment_pool.h"
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kClients[] = {{0xC0, 0}, {0xC1, 1}, {0xC2, 2}, {0xC3, 3}, {0xC4, 4}};

class PlacementTest : public MasterCoreTest {
   protected:
    ReplicateConfig Replicas(size_t count, const std::string& preferred = "") {
        ReplicateConfig config;
        config.replica_num = count;
        config.preferred_segment = preferred;
        return config;
    }

    // Segments "old0:1".."old2:1" with `filled` bytes taken in each, then an
    // empty "new:1", all of 64 MiB.
    void MountThreeFilledAndOneEmpty(uint64_t filled) {
        for (int i = 0; i < 3; ++i) {
            const std::string name = "old" + std::to_string(i) + ":1";
            Mount(kClients[i], name, 64 * kMiB);
            Put("fill" + std::to_string(i), filled, Replicas(1, name));
        }
        Mount(kClients[3], "new:1", 64 * kMiB);
    }

    // Puts `count` objects of `size` bytes, one replica each; how many went
    // to each segment name.
    std::map<std::string, int> PlacementsOf(int count, uint64_t size) {
        std::map<std::string, int> hits;
        for (int round = 0; round < count; ++round) {
            auto replicas = Put("k" + std::to_string(round), size);
            EXPECT_EQ(replicas.size(), 1u);
            if (replicas.size() != 1) break;
            ++hits[replicas[0].memory().transport_endpoint];
        }
        return hits;
    }
};

TEST_F(PlacementTest, ReplicasLandOnDistinctSegmentNames) {
    for (int i = 0; i < 4; ++i) Mount(kClients[i], "node" + std::to_string(i) + ":1", 8 * kMiB);
    for (int round = 0; round < 50; ++round) {
        auto replicas = Put("k" + std::to_string(round), 4096, Replicas(3));
        ASSERT_EQ(replicas.size(), 3u);
        const std::vector<std::string> names = Endpoints(replicas);
        EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 3u);
    }
}

TEST_F(PlacementTest, SegmentsSharingANameCountAsOne) {
    // One client with two segments under one name, and one other client.
    Mount(kClients[0], "node0:1", 8 * kMiB);
    Mount(kClients[0], "node0:1", 8 * kMiB);
    Mount(kClients[1], "node1:1", 8 * kMiB);
    EXPECT_EQ(service_->GetAllSegments(), (std::vector<std::string>{"node0:1", "node1:1"}));
    EXPECT_EQ(service_->QuerySegment("node0:1")->capacity, 16 * kMiB);
    for (int round = 0; round < 20; ++round) {
        auto replicas = Put("k" + std::to_string(round), 4096, Replicas(3));
        ASSERT_EQ(replicas.size(), 2u) << "best effort: only two distinct names exist";
        const std::vector<std::string> names = Endpoints(replicas);
        EXPECT_NE(names[0], names[1]);
    }
}

TEST_F(PlacementTest, PreferredSegmentGetsTheFirstReplica) {
    for (int i = 0; i < 5; ++i) Mount(kClients[i], "node" + std::to_string(i) + ":1", 8 * kMiB);
    for (int round = 0; round < 30; ++round) {
        auto single = Put("single" + std::to_string(round), 1000, Replicas(1, "node3:1"));
        ASSERT_EQ(single.size(), 1u);
        EXPECT_EQ(single[0].memory().transport_endpoint, "node3:1");
        auto pair = Put("pair" + std::to_string(round), 1000, Replicas(2, "node1:1"));
        ASSERT_EQ(pair.size(), 2u);
        EXPECT_EQ(pair[0].memory().transport_endpoint, "node1:1");
        EXPECT_NE(pair[1].memory().transport_endpoint, "node1:1");
    }
}

TEST_F(PlacementTest, FullPreferredSegmentFallsBackToOthers) {
    Mount(kClients[0], "small:1", 64 * kKiB);
    Mount(kClients[1], "big:1", 8 * kMiB);
    auto replicas = Put("k", 128 * kKiB, Replicas(1, "small:1"));
    ASSERT_EQ(replicas.size(), 1u);
    EXPECT_EQ(replicas[0].memory().transport_endpoint, "big:1");
}

TEST_F(PlacementTest, BestEffortWhenSpaceIsShort) {
    Mount(kClients[0], "small:1", 64 * kKiB);
    Mount(kClients[1], "big:1", 8 * kMiB);
    auto replicas = Put("k", 128 * kKiB, Replicas(2));
    ASSERT_EQ(replicas.size(), 1u);
    EXPECT_EQ(replicas[0].memory().transport_endpoint, "big:1");
    EXPECT_EQ(service_->GetReplicaList("k")->replicas.size(), 1u);
}

TEST_F(PlacementTest, FullSegmentsAreSkipped) {
    Mount(kClients[0], "a:1", 64 * kKiB);
    Mount(kClients[1], "b:1", 8 * kMiB);
    Put("fill", 64 * kKiB, Replicas(1, "a:1"));
    EXPECT_EQ(service_->QuerySegment("a:1")->used, 64 * kKiB);
    for (int round = 0; round < 20; ++round) {
        auto replicas = Put("k" + std::to_string(round), 1000);
        ASSERT_EQ(replicas.size(), 1u);
        EXPECT_EQ(replicas[0].memory().transport_endpoint, "b:1");
    }
}

TEST_F(PlacementTest, ReplicasNeverOverlap) {
    for (int i = 0; i < 3; ++i) Mount(kClients[i], "node" + std::to_string(i) + ":1", 4 * kMiB);
    std::map<std::string, std::map<uint64_t, uint64_t>> ranges;  // name -> start -> end
    for (int round = 0; round < 300; ++round) {
        const uint64_t size = 1 + (round * 7919) % 20000;
        for (const ReplicaDescriptor& replica :
             Put("k" + std::to_string(round), size, Replicas(2))) {
            auto& taken = ranges[replica.memory().transport_endpoint];
            const uint64_t start = replica.memory().buffer_address;
            const uint64_t end = start + size;
            auto next = taken.lower_bound(start);
            if (next != taken.end()) {
                ASSERT_LE(end, next->first);
            }
            if (next != taken.begin()) {
                ASSERT_LE(std::prev(next)->second, start);
            }
            taken.emplace(start, end);
        }
    }
}

// A new, empty segment draws more puts than an equal share (it has the
// most free space) but not all of them.
TEST_F(PlacementTest, EmptySegmentGetsMoreThanItsShareButNotEverything) {
    MountThreeFilledAndOneEmpty(32 * kMiB);
    // Weights (free + capacity / 4): 48 + 48 + 48 + 80 MiB; the expected
    // share of "new" is 36 %.
    constexpr int kPuts = 2000;
    std::map<std::string, int> hits = PlacementsOf(kPuts, 4 * kKiB);
    EXPECT_GT(hits["new:1"], kPuts * 30 / 100) << "equal share would be 25 %";
    EXPECT_LT(hits["new:1"], kPuts * 55 / 100) << "it must not take everything";
    for (int i = 0; i < 3; ++i) {
        EXPECT_GT(hits["old" + std::to_string(i) + ":1"], kPuts * 10 / 100);
    }
}

// A peer rejoining a pool whose other segments are nearly full still shares
// the writes with them instead of taking every one.
TEST_F(PlacementTest, EmptySegmentInAFullPoolDoesNotTakeEverything) {
    MountThreeFilledAndOneEmpty(60 * kMiB);
    // Weights: 20 + 20 + 20 + 80 MiB; the expected share of "new" is 57 %.
    constexpr int kPuts = 2000;
    std::map<std::string, int> hits = PlacementsOf(kPuts, 1 * kKiB);
    EXPECT_GT(hits["new:1"], kPuts * 45 / 100);
    EXPECT_LT(hits["new:1"], kPuts * 70 / 100);
}

// The placement function on its own, with a segment pool and no service.
TEST(PlaceReplicasTest, UnknownPreferredSegmentIsOnlyAHint) {
    SegmentPool pool;
    ASSERT_TRUE(pool.Mount(UUID{1, 1}, {UUID{9, 9}, "a:1", 0x10000, 1 << 20}));
    SegmentPool::ReadView view(pool);
    auto elsewhere = PlaceReplicas(view, 100, 1, "b:1");
    ASSERT_TRUE(elsewhere.has_value());
    ASSERT_EQ(elsewhere->size(), 1u);
    EXPECT_EQ((*elsewhere)[0].segment->info.name, "a:1");
    auto placed = PlaceReplicas(view, 100, 1, "a:1");
    ASSERT_TRUE(placed.has_value());
    ASSERT_EQ(placed->size(), 1u);
    EXPECT_EQ((*placed)[0].segment->info.name, "a:1");
    EXPECT_EQ(pool.used_bytes(), 256u);
}

TEST(PlaceReplicasTest, PreferredSegmentsAreTriedInOrder) {
    SegmentPool pool;
    for (uint64_t i = 0; i < 4; ++i) {
        ASSERT_TRUE(pool.Mount(UUID{1, i + 1}, {UUID{9, i + 1}, "s" + std::to_string(i) + ":1",
                                                0x10000 * (i + 1) << 8, 1 << 20}));
    }
    SegmentPool::ReadView view(pool);
    const std::vector<std::string> preferences = {"nowhere:1", "s2:1", "s0:1"};
    for (int round = 0; round < 20; ++round) {
        auto placed = PlaceReplicas(view, 100, 2, preferences, {});
        ASSERT_TRUE(placed.has_value());
        ASSERT_EQ(placed->size(), 2u);
        EXPECT_EQ((*placed)[0].segment->info.name, "s2:1");
        EXPECT_EQ((*placed)[1].segment->info.name, "s0:1");
    }
}

TEST(PlaceReplicasTest, NothingFitsGivesNoReplicas) {
    SegmentPool pool;
    ASSERT_TRUE(pool.Mount(UUID{1, 1}, {UUID{9, 9}, "a:1", 0x10000, 4096}));
    SegmentPool::ReadView view(pool);
    auto placed = PlaceReplicas(view, 8192, 2, "");
    ASSERT_TRUE(placed.has_value());
    EXPECT_TRUE(placed->empty());
    EXPECT_EQ(pool.used_bytes(), 0u);
}

TEST(PlaceReplicasTest, ExcludedSegmentsGetNoReplica) {
    SegmentPool pool;
    ASSERT_TRUE(pool.Mount(UUID{1, 1}, {UUID{9, 1}, "a:1", 0x10000, 1 << 20}));
    ASSERT_TRUE(pool.Mount(UUID{2, 2}, {UUID{9, 2}, "b:1", 0x200000, 1 << 20}));
    SegmentPool::ReadView view(pool);
    const std::vector<std::string> excluded = {"a:1"};
    for (int i = 0; i < 20; ++i) {
        // An excluded preferred segment is skipped, not an error, and a
        // second replica cannot go to the excluded segment either.
        auto placed = PlaceReplicas(view, 100, 2, "a:1", excluded);
        ASSERT_TRUE(placed.has_value());
        ASSERT_EQ(placed->size(), 1u);
        EXPECT_EQ((*placed)[0].segment->info.name, "b:1");
    }
    const std::vector<std::string> all = {"a:1", "b:1"};
    auto none = PlaceReplicas(view, 100, 1, "", all);
    ASSERT_TRUE(none.has_value());
    EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace mooncake::testing
