// The open-addressing table behind each object-index shard, checked
// against std::unordered_map under random inserts, lookups and erases.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "master/object_table.h"

namespace mooncake {
namespace {

uint64_t HashOf(std::string_view key) { return std::hash<std::string_view>()(key); }

ObjectTable::Position Insert(ObjectTable& table, const std::string& key, uint64_t size) {
    auto [position, inserted] = table.FindOrInsert(key, HashOf(key));
    EXPECT_TRUE(inserted) << key;
    table.meta(position) = ObjectMeta(size, UUID{1, 2}, 0, false);
    return position;
}

TEST(ObjectTableTest, StartsEmptyAndFindsNothing) {
    ObjectTable table;
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.capacity(), 0u);
    EXPECT_EQ(table.Find("k", HashOf("k")), ObjectTable::kNotFound);
}

TEST(ObjectTableTest, InsertFindEraseRoundTrip) {
    ObjectTable table;
    Insert(table, "alpha", 10);
    Insert(table, "beta", 20);
    EXPECT_EQ(table.size(), 2u);
    const auto alpha = table.Find("alpha", HashOf("alpha"));
    ASSERT_NE(alpha, ObjectTable::kNotFound);
    EXPECT_EQ(table.key(alpha), "alpha");
    EXPECT_EQ(table.meta(alpha).size(), 10u);
    // FindOrInsert of a present key finds it and inserts nothing.
    auto [again, inserted] = table.FindOrInsert("beta", HashOf("beta"));
    EXPECT_FALSE(inserted);
    EXPECT_EQ(table.meta(again).size(), 20u);
    table.EraseAt(table.Find("alpha", HashOf("alpha")));
    EXPECT_EQ(table.size(), 1u);
    EXPECT_EQ(table.Find("alpha", HashOf("alpha")), ObjectTable::kNotFound);
    EXPECT_NE(table.Find("beta", HashOf("beta")), ObjectTable::kNotFound);
}

TEST(ObjectTableTest, KeysMayHoldAnyBytesAndAnyLength) {
    ObjectTable table;
    const std::vector<std::string> keys = {std::string("\0", 1), std::string("a\0b", 3), "x",
                                           std::string(4096, 'z'), std::string(17, '\xff')};
    for (size_t i = 0; i < keys.size(); ++i) Insert(table, keys[i], i + 1);
    for (size_t i = 0; i < keys.size(); ++i) {
        const auto position = table.Find(keys[i], HashOf(keys[i]));
        ASSERT_NE(position, ObjectTable::kNotFound) << i;
        EXPECT_EQ(table.key(position), keys[i]);
        EXPECT_EQ(table.meta(position).size(), i + 1);
    }
    EXPECT_EQ(table.Find("a", HashOf("a")), ObjectTable::kNotFound);
}

// Equal hashes for different keys: the key bytes decide.
TEST(ObjectTableTest, CollidingHashesAreToldApart) {
    ObjectTable table;
    constexpr uint64_t kSameHash = 42;
    for (int i = 0; i < 100; ++i) {
        auto [position, inserted] = table.FindOrInsert("key" + std::to_string(i), kSameHash);
        ASSERT_TRUE(inserted);
        table.meta(position) = ObjectMeta(i + 1, UUID{}, 0, false);
    }
    for (int i = 0; i < 100; i += 2) {
        table.EraseAt(table.Find("key" + std::to_string(i), kSameHash));
    }
    for (int i = 0; i < 100; ++i) {
        const auto position = table.Find("key" + std::to_string(i), kSameHash);
        if (i % 2 == 0) {
            EXPECT_EQ(position, ObjectTable::kNotFound) << i;
        } else {
            ASSERT_NE(position, ObjectTable::kNotFound) << i;
            EXPECT_EQ(table.meta(position).size(), static_cast<uint64_t>(i + 1));
        }
    }
    EXPECT_EQ(table.size(), 50u);
}

TEST(ObjectTableTest, EraseWhileIteratingVisitsEveryObjectOnce) {
    ObjectTable table;
    for (int i = 0; i < 1000; ++i) Insert(table, "k" + std::to_string(i), i);
    std::unordered_map<std::string, int> visits;
    table.ForEach([&](ObjectTable::Position position) {
        ++visits[std::string(table.key(position))];
        if (table.meta(position).size() % 3 == 0) table.EraseAt(position);
    });
    EXPECT_EQ(visits.size(), 1000u);
    for (const auto& [key, count] : visits) EXPECT_EQ(count, 1) << key;
    EXPECT_EQ(table.size(), 1000u - 334u);
    size_t seen = 0;
    table.ForEach([&](ObjectTable::Position position) {
        EXPECT_NE(table.meta(position).size() % 3, 0u);
        ++seen;
    });
    EXPECT_EQ(seen, table.size());
}

TEST(ObjectTableTest, CompactShrinksAndKeepsEverything) {
    ObjectTable table;
    for (int i = 0; i < 4096; ++i) Insert(table, "k" + std::to_string(i), i);
    const size_t grown = table.capacity();
    EXPECT_GE(grown, 4096u * 4 / 3);
    table.ForEach([&](ObjectTable::Position position) {
        if (table.meta(position).size() >= 10) table.EraseAt(position);
    });
    table.Compact();
    EXPECT_LT(table.capacity(), grown / 8);
    EXPECT_EQ(table.size(), 10u);
    for (int i = 0; i < 10; ++i) {
        EXPECT_NE(table.Find("k" + std::to_string(i), HashOf("k" + std::to_string(i))),
                  ObjectTable::kNotFound);
    }
    table.ForEach([&](ObjectTable::Position position) { table.EraseAt(position); });
    table.Compact();
    EXPECT_EQ(table.capacity(), 0u);
    Insert(table, "after", 1);
    EXPECT_NE(table.Find("after", HashOf("after")), ObjectTable::kNotFound);
}

TEST(ObjectTableTest, MatchesAReferenceMapUnderRandomOperations) {
    ObjectTable table;
    std::unordered_map<std::string, uint64_t> reference;
    std::mt19937_64 random(2024);
    for (int step = 0; step < 200000; ++step) {
        // A small key space forces many erase/re-insert cycles over
        // tombstones; the occasional compaction changes positions.
        const std::string key = "key-" + std::to_string(random() % 3000);
        const uint64_t hash = HashOf(key);
        const auto position = table.Find(key, hash);
        const bool present = reference.contains(key);
        ASSERT_EQ(position != ObjectTable::kNotFound, present) << "step " << step;
        switch (random() % 4) {
            case 0:
            case 1: {
                auto [at, inserted] = table.FindOrInsert(key, hash);
                ASSERT_EQ(inserted, !present);
                if (inserted) {
                    const uint64_t value = random();
                    table.meta(at) = ObjectMeta(value, UUID{}, 0, false);
                    reference[key] = value;
                } else {
                    ASSERT_EQ(table.meta(at).size(), reference[key]);
                }
                break;
            }
            case 2:
                if (present) {
                    table.EraseAt(position);
                    reference.erase(key);
                }
                break;
            default:
                if (random() % 1000 == 0) table.Compact();
                break;
        }
        ASSERT_EQ(table.size(), reference.size());
    }
    size_t visited = 0;
    table.ForEach([&](ObjectTable::Position position) {
        auto it = reference.find(std::string(table.key(position)));
        ASSERT_NE(it, reference.end());
        EXPECT_EQ(table.meta(position).size(), it->second);
        ++visited;
    });
    EXPECT_EQ(visited, reference.size());
    // Load stays under the limit.
    EXPECT_LE(table.size() * 4, table.capacity() * 3);
}

}  // namespace
}  // namespace mooncake
