// The change log behind HA standbys (master/change_log.h): notes, records,
// the free gate, and a follower that catches up from an image plus records
// to exactly the leader's state.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "master/change_log.h"
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

using Objects =
    std::map<std::string,
             std::tuple<uint64_t, bool, bool, uint32_t, std::vector<std::pair<UUID, uint64_t>>>>;

// An image as comparable values (the order of objects is the index's).
Objects Normalize(const std::vector<MasterStateImage::Object>& objects) {
    Objects out;
    for (const auto& object : objects) {
        std::vector<std::pair<UUID, uint64_t>> replicas;
        for (const auto& replica : object.replicas)
            replicas.emplace_back(replica.segment, replica.address);
        std::sort(replicas.begin(), replicas.end(), [](const auto& a, const auto& b) {
            return std::tie(a.first.hi, a.first.lo, a.second) <
                   std::tie(b.first.hi, b.first.lo, b.second);
        });
        out[object.key] = {object.size, object.soft_pin, object.hard_pin, object.soft_pin_ttl_ms,
                           replicas};
    }
    return out;
}

void ExpectSameState(const MasterStateImage& expected, const MasterStateImage& actual) {
    EXPECT_EQ(Normalize(expected.objects), Normalize(actual.objects));
    EXPECT_EQ(Normalize(expected.reserved), Normalize(actual.reserved));
    ASSERT_EQ(expected.segments.size(), actual.segments.size());
    for (size_t i = 0; i < expected.segments.size(); ++i) {
        EXPECT_EQ(expected.segments[i].info.id, actual.segments[i].info.id);
    }
}

TEST(ChangeLogTest, DrainsDistinctKeysAndServesRecordsUntilDropped) {
    ChangeLog log(/*capacity=*/3);
    log.NoteKey("a");
    log.NoteKey("b");
    log.NoteKey("a");
    EXPECT_TRUE(log.HasNotes());
    ChangeLog::Drained drained = log.Drain();
    EXPECT_EQ(drained.keys, (std::vector<std::string>{"a", "b"}));
    EXPECT_FALSE(drained.membership);
    EXPECT_EQ(drained.notes_upto, 3u);
    EXPECT_FALSE(log.HasNotes());
    std::vector<ChangeRecord> records(2);
    records[0].key = "a";
    records[1].key = "b";
    EXPECT_EQ(log.Append(std::move(records), drained.notes_upto), 2u);

    std::vector<ChangeRecord> out;
    uint64_t upto = 0;
    ASSERT_TRUE(log.Since(0, 10, &out, &upto));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].key, "b");
    EXPECT_EQ(upto, 2u);
    out.clear();
    ASSERT_TRUE(log.Since(1, 10, &out, &upto));
    EXPECT_EQ(out.size(), 1u);
    // Two more records push the first out of a 3-record log.
    EXPECT_EQ(log.Append(std::vector<ChangeRecord>(2), 3), 4u);
    out.clear();
    EXPECT_FALSE(log.Since(0, 10, &out, &upto));
    EXPECT_TRUE(log.Since(1, 10, &out, &upto));
    EXPECT_FALSE(log.Since(5, 10, &out, &upto));  // beyond the log
}

TEST(ChangeLogTest, HeldFreesWaitForTheRecordOfTheirChange) {
    ChangeLog log;
    log.NoteKey("gone");
    log.HoldFree(1, 4096, 100);
    // Drained and recorded at version 1, but nobody holds version 1 yet.
    ChangeLog::Drained drained = log.Drain();
    EXPECT_EQ(log.Append(std::vector<ChangeRecord>(1), drained.notes_upto), 1u);
    EXPECT_TRUE(log.Release(0).empty());
    EXPECT_EQ(log.held_frees(), 1u);
    // A free after the drain needs a later record.
    log.NoteKey("later");
    log.HoldFree(1, 8192, 100);
    auto due = log.Release(1);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].address, 4096u);
    EXPECT_EQ(log.held_frees(), 1u);
    drained = log.Drain();
    EXPECT_EQ(log.Append(std::vector<ChangeRecord>(1), drained.notes_upto), 2u);
    EXPECT_EQ(log.Release(2).size(), 1u);
    EXPECT_EQ(log.held_frees(), 0u);
}

TEST(ChangeLogTest, MembershipChangesArePendingUntilHeld) {
    ChangeLog log;
    EXPECT_FALSE(log.MembershipPending(0));
    log.NoteMembership();
    EXPECT_TRUE(log.MembershipPending(0));
    ChangeLog::Drained drained = log.Drain();
    EXPECT_TRUE(drained.membership);
    const uint64_t version = log.Append(std::vector<ChangeRecord>(1), drained.notes_upto);
    EXPECT_TRUE(log.MembershipPending(version - 1));
    EXPECT_FALSE(log.MembershipPending(version));
}

class ChangeLogServiceTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        MasterCoreTest::SetUp();
        log_ = &service_->EnableChangeLog();
    }
    // Applies the records after `*version` to `shadow`.
    void CatchUp(ShadowState* shadow, uint64_t* version) {
        service_->FlushChanges();
        std::vector<ChangeRecord> records;
        uint64_t upto = 0;
        ASSERT_TRUE(log_->Since(*version, 1u << 20, &records, &upto));
        for (const ChangeRecord& record : records) shadow->Apply(record);
        *version = upto;
    }
    ChangeLog* log_ = nullptr;
};

TEST_F(ChangeLogServiceTest, FollowerFromImagePlusRecordsEqualsTheLeader) {
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 4 * kMiB);
    for (int i = 0; i < 30; ++i) Put("early" + std::to_string(i), 8 * kKiB);
    ShadowState shadow;
    uint64_t version = 0;
    shadow.Reset(service_->ExportState(&version));
    ExpectSameState(service_->ExportState(), shadow.ToImage());

    // After the image: removes, an unfinished put, a revoked put, pins, a
    // second segment mounted and a third mounted then unmounted.
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(service_->Remove("early" + std::to_string(i), false));
    ASSERT_TRUE(service_->PutStart(kWriter, "pending", 16 * kKiB, {}).has_value());
    ASSERT_TRUE(service_->PutStart(kWriter, "revoked", 16 * kKiB, {}).has_value());
    ASSERT_TRUE(service_->PutRevoke(kWriter, "revoked").has_value());
    Put("hard", 4 * kKiB, ReplicateConfig{.with_hard_pin = true});
    Put("soft", 4 * kKiB, ReplicateConfig{.with_soft_pin = true, .soft_pin_ttl_ms = 1234});
    Mount(client, "host:2", 1 * kMiB);
    const UUID other = UUID::Generate();
    const SegmentInfo third = Mount(other, "host:3", 1 * kMiB);
    ASSERT_TRUE(service_->UnmountSegment(other, third.id).has_value());
    CatchUp(&shadow, &version);
    const MasterStateImage leader = service_->ExportState();
    ExpectSameState(leader, shadow.ToImage());
    const auto objects = Normalize(shadow.ToImage().objects);
    ASSERT_TRUE(objects.contains("hard"));
    EXPECT_TRUE(std::get<2>(objects.at("hard")));
    EXPECT_EQ(std::get<3>(objects.at("soft")), 1234u);
    EXPECT_TRUE(std::get<1>(objects.at("soft")));
    EXPECT_FALSE(objects.contains("early0"));
    EXPECT_EQ(Normalize(shadow.ToImage().reserved).count("pending"), 1u);

    // The follower's copy restores with the pins.
    MasterService promoted(config_, clock_);
    ASSERT_TRUE(promoted.ImportState(shadow.ToImage()).has_value());
    EXPECT_EQ(Normalize(promoted.ExportState().objects), Normalize(leader.objects));
}

TEST_F(ChangeLogServiceTest, FreedSpaceIsReusedOnlyOnceFollowersHoldTheChange) {
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 64 * kKiB);
    Put("a", 64 * kKiB);
    ASSERT_TRUE(service_->Remove("a", false).has_value());
    // The free is held: the segment is still full.
    EXPECT_EQ(CodeOf(service_->PutStart(kWriter, "b", 64 * kKiB, {})),
              ErrorCode::NO_AVAILABLE_HANDLE);
    const uint64_t before = log_->version();
    const uint64_t version = service_->FlushChanges();
    ASSERT_GT(version, before);
    service_->ReleaseHeldFrees(before);  // a follower that lacks the remove
    EXPECT_EQ(CodeOf(service_->PutStart(kWriter, "b", 64 * kKiB, {})),
              ErrorCode::NO_AVAILABLE_HANDLE);
    service_->ReleaseHeldFrees(version);
    EXPECT_TRUE(service_->PutStart(kWriter, "b", 64 * kKiB, {}).has_value());
}

TEST_F(ChangeLogServiceTest, UpsertNeverOverwritesWhatAFollowerStillServes) {
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 4 * kMiB);
    const auto first = Put("k", 8 * kKiB);
    ShadowState shadow;
    uint64_t version = 0;
    shadow.Reset(service_->ExportState(&version));
    // Unread and the same size, but a follower promoted now would serve the
    // old value from its ranges: the upsert takes new ones.
    ReplicateConfig upsert;
    upsert.upsert = true;
    auto again = service_->PutStart(kWriter, "k", 8 * kKiB, upsert);
    ASSERT_TRUE(again.has_value());
    ASSERT_EQ(first.size(), 1u);
    EXPECT_NE((*again)[0].memory().buffer_address, first[0].memory().buffer_address);
    ASSERT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    CatchUp(&shadow, &version);
    ExpectSameState(service_->ExportState(), shadow.ToImage());
}

TEST_F(ChangeLogServiceTest, EvictionsAreRecordedToo) {
    config_.eviction_high_watermark_ratio = 0.5;
    Restart();
    log_ = &service_->EnableChangeLog();
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 1 * kMiB);
    ShadowState shadow;
    uint64_t version = 0;
    shadow.Reset(service_->ExportState(&version));
    for (int i = 0; i < 12; ++i) Put("k" + std::to_string(i), 64 * kKiB);
    AdvanceSec(10);  // leases over
    service_->RunMaintenance();
    CatchUp(&shadow, &version);
    ExpectSameState(service_->ExportState(), shadow.ToImage());
}

TEST_F(ChangeLogServiceTest, EvictionWithHeldFreesEvictsWhatTheWatermarkAsks) {
    config_.eviction_high_watermark_ratio = 0.5;
    config_.eviction_ratio = 0.05;
    config_.client_ttl_sec = int64_t{1} << 30;  // the writer never heartbeats here
    Restart();
    log_ = &service_->EnableChangeLog();
    const UUID client = UUID::Generate();
    Mount(client, "host:1", 1 * kMiB);
    for (int i = 0; i < 12; ++i) Put("k" + std::to_string(i), 64 * kKiB);  // 75 % used
    AdvanceSec(10);                                                        // leases over
    service_->RunMaintenance();
    // Down to 50 %: four objects go. The frees are held (no follower has the
    // change yet), which must not make the round evict more.
    EXPECT_EQ(service_->GetStats().object_count, 8u);
}

}  // namespace
}  // namespace mooncake::testing
