// State images (HA promotion, snapshot restore): export, import into a fresh
// master, and the allocator's AllocateAt that the import relies on.
#include <gtest/gtest.h>

#include "common/offset_allocator.h"
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

TEST(OffsetAllocatorAtTest, ReservesExactRangesAndRefusesOverlaps) {
    OffsetAllocator allocator(4096, 4096);
    auto middle = allocator.AllocateAt(4096 + 1024, 100);
    ASSERT_TRUE(middle.has_value());
    EXPECT_EQ(middle->offset, 4096u + 1024u);
    EXPECT_EQ(middle->size, 128u);
    EXPECT_EQ(allocator.used_bytes(), 128u);
    // Overlapping, misaligned, outside: refused, nothing changes.
    EXPECT_EQ(allocator.AllocateAt(4096 + 1024 + 64, 64).error(), ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(allocator.AllocateAt(4096 + 960, 128).error(), ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(allocator.AllocateAt(4096 + 1, 64).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.AllocateAt(8192, 64).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.AllocateAt(8192 - 64, 128).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.AllocateAt(4096, 0).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.used_bytes(), 128u);
    // The rest stays usable, and freeing merges everything back.
    ASSERT_TRUE(allocator.AllocateAt(4096, 1024).has_value());
    ASSERT_TRUE(allocator.Free(*middle).has_value());
    ASSERT_TRUE(allocator.Free({4096, 1024}).has_value());
    EXPECT_EQ(allocator.used_bytes(), 0u);
    EXPECT_EQ(allocator.free_block_count(), 1u);
    EXPECT_EQ(allocator.largest_free_block(), 4096u);
}

class MasterStateTest : public MasterCoreTest {};

TEST_F(MasterStateTest, ImportedMasterServesTheSameObjectsAndNeverReusesTheirSpace) {
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 1 * kMiB);
    Mount(client, "host:2", 1 * kMiB);
    std::map<std::string, std::vector<ReplicaDescriptor>> stored;
    for (int i = 0; i < 20; ++i) {
        const std::string key = "k" + std::to_string(i);
        stored[key] = Put(key, 10 * kKiB + i, ReplicateConfig{.replica_num = 2, .with_soft_pin = i % 2 == 0});
    }
    // An unfinished put: its space must stay out of use after the restore.
    auto unfinished = service_->PutStart(client, "pending", 64 * kKiB, {});
    ASSERT_TRUE(unfinished.has_value());

    MasterStateImage image = service_->ExportState();
    EXPECT_EQ(image.segments.size(), 2u);
    EXPECT_EQ(image.objects.size(), 20u);
    EXPECT_EQ(image.reserved.size(), 1u);

    MasterService restored(config_, clock_);
    auto stats = restored.ImportState(image);
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->segments, 2u);
    EXPECT_EQ(stats->objects, 20u);
    EXPECT_EQ(stats->skipped_objects, 0u);
    for (const auto& [key, replicas] : stored) {
        auto got = restored.GetReplicaList(key);
        ASSERT_TRUE(got.has_value()) << key;
        ASSERT_EQ(got->replicas.size(), replicas.size());
        for (size_t i = 0; i < replicas.size(); ++i) {
            EXPECT_EQ(got->replicas[i].memory().buffer_address,
                      replicas[i].memory().buffer_address);
            EXPECT_EQ(got->replicas[i].memory().transport_endpoint,
                      replicas[i].memory().transport_endpoint);
        }
    }
    EXPECT_EQ(restored.GetReplicaList("pending").error(), ErrorCode::OBJECT_NOT_FOUND);
    // New puts land on space nobody holds: no overlap with any old range.
    std::vector<std::pair<uint64_t, uint64_t>> taken;
    for (const auto& [key, replicas] : stored) {
        for (const auto& r : replicas)
            taken.emplace_back(r.memory().buffer_address, r.memory().size);
    }
    for (const auto& r : *unfinished)
        taken.emplace_back(r.memory().buffer_address, r.memory().size);
    for (int i = 0; i < 20; ++i) {
        auto fresh = restored.PutStart(client, "new" + std::to_string(i), 8 * kKiB, {});
        if (!fresh) break;
        for (const auto& r : *fresh) {
            for (const auto& [address, size] : taken) {
                const uint64_t start = r.memory().buffer_address;
                EXPECT_TRUE(start + r.memory().size <= address || address + size <= start)
                    << "new replica overlaps an old one";
            }
        }
    }
    // A second import into a master that has segments is refused.
    EXPECT_EQ(restored.ImportState(image).error(), ErrorCode::INVALID_PARAMS);
}

TEST_F(MasterStateTest, ConflictingOrUnknownObjectsAreSkipped) {
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 1 * kMiB);
    Put("a", 4 * kKiB);
    MasterStateImage image = service_->ExportState();
    ASSERT_EQ(image.objects.size(), 1u);
    // The same range under another key, and a replica on a segment nobody mounted.
    MasterStateImage::Object twin = image.objects[0];
    twin.key = "b";
    MasterStateImage::Object orphan = image.objects[0];
    orphan.key = "c";
    orphan.replicas[0].segment = UUID::Generate();
    image.objects.push_back(twin);
    image.objects.push_back(orphan);
    MasterService restored(config_, clock_);
    auto stats = restored.ImportState(image);
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->objects, 1u);
    EXPECT_EQ(stats->skipped_objects, 2u);
    EXPECT_TRUE(restored.GetReplicaList("a").has_value());
    EXPECT_FALSE(restored.GetReplicaList("b").has_value());
    EXPECT_FALSE(restored.GetReplicaList("c").has_value());
}

}  // namespace
}  // namespace mooncake::testing
