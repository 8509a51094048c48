#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "common/offset_allocator.h"

namespace mooncake {
namespace {

TEST(OffsetAllocatorTest, AlignsStartSizesAndAddresses) {
    OffsetAllocator allocator(1000, 10000);
    EXPECT_EQ(allocator.start(), 1024u);
    EXPECT_EQ(allocator.capacity(), (11000u / 64 * 64) - 1024u);
    auto first = allocator.Allocate(1);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->offset, 1024u);
    EXPECT_EQ(first->size, 64u);
    auto second = allocator.Allocate(100);
    ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->offset, 1088u);
    EXPECT_EQ(second->size, 128u);
    EXPECT_EQ(allocator.used_bytes(), 192u);
    EXPECT_EQ(allocator.RoundedSize(65), 128u);
    EXPECT_EQ(allocator.RoundedSize(64), 64u);
}

TEST(OffsetAllocatorTest, RejectsZeroAndOversizedRequests) {
    OffsetAllocator allocator(4096, 4096);
    EXPECT_EQ(allocator.Allocate(0).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.Allocate(4097).error(), ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(allocator.Allocate(UINT64_MAX).error(), ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(allocator.used_bytes(), 0u);
    auto all = allocator.Allocate(4096);
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(allocator.Allocate(1).error(), ErrorCode::NO_AVAILABLE_HANDLE);
}

TEST(OffsetAllocatorTest, UnusableRangesHaveNoCapacity) {
    EXPECT_EQ(OffsetAllocator(4096, 10).capacity(), 0u);
    EXPECT_EQ(OffsetAllocator(4096, 0).capacity(), 0u);
    EXPECT_EQ(OffsetAllocator(UINT64_MAX - 10, 100).capacity(), 0u);
    OffsetAllocator tiny(4096, 10);
    EXPECT_FALSE(tiny.Allocate(1).has_value());
}

TEST(OffsetAllocatorTest, BadFreesAreRefusedAndChangeNothing) {
    OffsetAllocator allocator(4096, 64 * 1024);
    auto a = allocator.Allocate(64).value();
    auto b = allocator.Allocate(64).value();
    const uint64_t used = allocator.used_bytes();
    const size_t blocks = allocator.free_block_count();

    EXPECT_TRUE(allocator.Free(a).has_value());
    EXPECT_EQ(allocator.Free(a).error(), ErrorCode::INVALID_PARAMS);  // double free
    EXPECT_EQ(allocator.used_bytes(), used - 64);
    EXPECT_EQ(allocator.Free({b.offset + 1, 64}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.Free({b.offset, 63}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.Free({b.offset, 0}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.Free({0, 64}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.Free({b.offset, 128 * 1024}).error(), ErrorCode::INVALID_PARAMS);
    // Overlaps free space after b: never handed out as one range.
    EXPECT_EQ(allocator.Free({b.offset, 128}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(allocator.used_bytes(), used - 64);
    EXPECT_TRUE(allocator.Free(b).has_value());
    EXPECT_EQ(allocator.used_bytes(), 0u);
    EXPECT_EQ(allocator.free_block_count(), 1u);
    EXPECT_LE(blocks, 2u);
}

TEST(OffsetAllocatorTest, FreedNeighboursCoalesce) {
    OffsetAllocator allocator(0x10000, 64 * 10);
    auto a = allocator.Allocate(64).value();
    auto b = allocator.Allocate(64).value();
    auto c = allocator.Allocate(64).value();
    EXPECT_EQ(allocator.free_block_count(), 1u);  // the tail

    ASSERT_TRUE(allocator.Free(a).has_value());
    EXPECT_EQ(allocator.free_block_count(), 2u);  // a, tail
    ASSERT_TRUE(allocator.Free(c).has_value());
    EXPECT_EQ(allocator.free_block_count(), 2u);  // a, c+tail merged
    ASSERT_TRUE(allocator.Free(b).has_value());
    EXPECT_EQ(allocator.free_block_count(), 1u);  // everything
    EXPECT_EQ(allocator.largest_free_block(), allocator.capacity());
}

TEST(OffsetAllocatorTest, FullReuseAfterFreeingEverything) {
    OffsetAllocator allocator(0x200000, 1 << 20);
    std::mt19937_64 random(7);
    std::vector<OffsetAllocation> live;
    while (true) {
        auto allocation = allocator.Allocate(1 + random() % 5000);
        if (!allocation) break;
        live.push_back(*allocation);
    }
    EXPECT_GT(live.size(), 100u);
    EXPECT_GT(allocator.used_bytes(), allocator.capacity() - 5000 - 64);
    std::shuffle(live.begin(), live.end(), random);
    for (const OffsetAllocation& allocation : live) {
        ASSERT_TRUE(allocator.Free(allocation).has_value());
    }
    EXPECT_EQ(allocator.used_bytes(), 0u);
    EXPECT_EQ(allocator.free_block_count(), 1u);
    auto whole = allocator.Allocate(allocator.capacity());
    ASSERT_TRUE(whole.has_value());
    EXPECT_EQ(whole->offset, allocator.start());
}

TEST(OffsetAllocatorTest, RandomAllocFreeNeverOverlaps) {
    const uint64_t base = 0x7f0000001000;
    OffsetAllocator allocator(base, 4 << 20);
    std::mt19937_64 random(12345);
    std::map<uint64_t, uint64_t> live;  // offset -> size
    uint64_t live_bytes = 0;
    for (int step = 0; step < 20000; ++step) {
        if (live.empty() || random() % 100 < 55) {
            const uint64_t size = 1 + random() % (random() % 8 == 0 ? 200000 : 2000);
            auto allocation = allocator.Allocate(size);
            if (!allocation) continue;
            ASSERT_EQ(allocation->offset % 64, 0u);
            ASSERT_GE(allocation->size, size);
            ASSERT_GE(allocation->offset, allocator.start());
            ASSERT_LE(allocation->offset + allocation->size,
                      allocator.start() + allocator.capacity());
            auto next = live.lower_bound(allocation->offset);
            if (next != live.end()) {
                ASSERT_LE(allocation->offset + allocation->size, next->first) << "step " << step;
            }
            if (next != live.begin()) {
                auto previous = std::prev(next);
                ASSERT_LE(previous->first + previous->second, allocation->offset)
                    << "step " << step;
            }
            live.emplace(allocation->offset, allocation->size);
            live_bytes += allocation->size;
        } else {
            auto victim = live.begin();
            std::advance(victim, random() % live.size());
            ASSERT_TRUE(allocator.Free({victim->first, victim->second}).has_value());
            live_bytes -= victim->second;
            live.erase(victim);
        }
        ASSERT_EQ(allocator.used_bytes(), live_bytes);
    }
    for (const auto& [offset, size] : live) ASSERT_TRUE(allocator.Free({offset, size}));
    EXPECT_EQ(allocator.free_block_count(), 1u);
}

TEST(OffsetAllocatorTest, BestFitPicksTheSmallestHoleThatFits) {
    OffsetAllocator allocator(0x10000, 64 * 1024);
    // [a:256][guard][b:128][guard][c:192][guard][tail]
    auto a = allocator.Allocate(256).value();
    allocator.Allocate(64).value();
    auto b = allocator.Allocate(128).value();
    allocator.Allocate(64).value();
    auto c = allocator.Allocate(192).value();
    allocator.Allocate(64).value();
    ASSERT_TRUE(allocator.Free(a));
    ASSERT_TRUE(allocator.Free(b));
    ASSERT_TRUE(allocator.Free(c));

    // 100 bytes -> 128: exactly hole b, not a, c or the tail.
    EXPECT_EQ(allocator.Allocate(100)->offset, b.offset);
    // 150 -> 192: hole c.
    EXPECT_EQ(allocator.Allocate(150)->offset, c.offset);
    // 64: the smallest remaining hole is a (256), still before the tail.
    EXPECT_EQ(allocator.Allocate(64)->offset, a.offset);
}

TEST(OffsetAllocatorTest, SmallRequestsRefillHolesInsteadOfGrowing) {
    OffsetAllocator allocator(0x10000, 1 << 20);
    std::vector<OffsetAllocation> blocks;
    for (int i = 0; i < 1000; ++i) blocks.push_back(allocator.Allocate(64).value());
    const uint64_t high_water = blocks.back().offset + blocks.back().size;
    // Free every other block: half the space is free, in 64-byte holes.
    for (size_t i = 0; i < blocks.size(); i += 2) ASSERT_TRUE(allocator.Free(blocks[i]));
    EXPECT_EQ(allocator.free_block_count(), 501u);
    // A larger request cannot use the holes and takes the tail...
    auto large = allocator.Allocate(128).value();
    EXPECT_GE(large.offset, high_water);
    // ...while small ones fill the holes and never go past the high water.
    for (int i = 0; i < 500; ++i) {
        auto small = allocator.Allocate(64).value();
        EXPECT_LT(small.offset, high_water);
    }
    EXPECT_EQ(allocator.free_block_count(), 1u);
    // Freeing everything merges it back into one block.
    for (size_t i = 1; i < blocks.size(); i += 2) ASSERT_TRUE(allocator.Free(blocks[i]));
}

TEST(OffsetAllocatorTest, IsMovable) {
    OffsetAllocator original(0x10000, 4096);
    auto a = original.Allocate(64).value();
    OffsetAllocator moved(std::move(original));
    EXPECT_EQ(moved.used_bytes(), 64u);
    EXPECT_TRUE(moved.Free(a).has_value());
    EXPECT_EQ(moved.used_bytes(), 0u);
}

}  // namespace
}  // namespace mooncake
