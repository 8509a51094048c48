// Put credits in the master's logic: space granted ahead of small puts and
// published by one commit (master/put_credit_table.h).
#include "master/put_credit_table.h"
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kOwner{0xA, 1};
const UUID kOther{0xB, 2};

class CreditsTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        config_.client_ttl_sec = int64_t{1} << 30;  // the clock moves far
        config_.put_start_release_timeout_sec = 60;
        MasterCoreTest::SetUp();
        segment_ = Mount(kOwner, "host-a:1", 16 * kMiB);
    }

    std::vector<PutCredit> Grant(size_t count, uint64_t size = 1000, const UUID& client = kWriter) {
        auto grant = service_->GrantPutCredits(client, size, count, 1, {});
        EXPECT_TRUE(grant.has_value()) << (grant ? 0 : ToInt(grant.error()));
        return grant ? grant->credits : std::vector<PutCredit>{};
    }

    ErrorCode Commit(const std::string& key, uint64_t credit, const UUID& client = kWriter,
                     ReplicateConfig config = {}) {
        const std::vector<Status> results =
            service_->BatchPutCommit(client, {key}, {credit}, config);
        EXPECT_EQ(results.size(), 1u);
        return results.empty() || results[0].has_value() ? ErrorCode::OK
                                                         : results[0].error().code();
    }

    SegmentInfo segment_;
};

TEST_F(CreditsTest, ACommitPublishesTheGrantedSpace) {
    auto grant = service_->GrantPutCredits(kWriter, 1000, 4, 1, {});
    ASSERT_TRUE(grant.has_value());
    ASSERT_EQ(grant->credits.size(), 4u);
    // Writes may begin for a while, well within the re-mount fence.
    EXPECT_EQ(grant->usable_ms, 2000u);
    EXPECT_LT(grant->usable_ms, config_.default_kv_lease_ttl_ms);
    const PutCredit& credit = grant->credits[0];
    ASSERT_EQ(credit.replicas.size(), 1u);
    EXPECT_EQ(credit.replicas[0].memory().transport_endpoint, "host-a:1");
    EXPECT_EQ(credit.replicas[0].memory().size, 1000u);
    EXPECT_NE(grant->credits[0].id, grant->credits[1].id);

    // Reserved, and reported apart: usage shows objects only.
    MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.used_bytes, 0u);
    EXPECT_EQ(stats.object_count, 0u);
    EXPECT_EQ(stats.put_credits_outstanding, 4u);
    EXPECT_EQ(stats.put_credit_reserved_bytes, 4 * 1024u);
    auto usage = service_->QuerySegment("host-a:1");
    ASSERT_TRUE(usage.has_value());
    EXPECT_EQ(usage->used, 0u);
    ASSERT_EQ(service_->GetSegmentsDetail().size(), 1u);
    EXPECT_EQ(service_->GetSegmentsDetail()[0].used, 0u);

    EXPECT_EQ(Commit("k", credit.id), ErrorCode::OK);
    auto got = service_->GetReplicaList("k");
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->replicas.size(), 1u);
    EXPECT_EQ(got->replicas[0].status, ReplicaStatus::COMPLETE);
    EXPECT_EQ(got->replicas[0].memory().buffer_address, credit.replicas[0].memory().buffer_address);
    EXPECT_EQ(got->replicas[0].memory().size, 1000u);

    stats = service_->GetStats();
    EXPECT_EQ(stats.object_count, 1u);
    EXPECT_EQ(stats.used_bytes, 1024u);
    EXPECT_EQ(stats.put_credit_reserved_bytes, 3 * 1024u);
    EXPECT_EQ(service_->QuerySegment("host-a:1")->used, 1024u);
    EXPECT_EQ(stats.put_credits_outstanding, 3u);
    EXPECT_EQ(stats.put_credits_granted, 4u);
    EXPECT_EQ(stats.put_credit_commits, 1u);
    EXPECT_EQ(stats.put_starts, 1u);
    EXPECT_EQ(stats.put_ends, 1u);
    // A credit publishes one object only.
    EXPECT_EQ(Commit("k2", credit.id), ErrorCode::INVALID_PARAMS);
    // The object is an ordinary one from now on.
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms) + 1);  // the get's lease
    ASSERT_TRUE(service_->Remove("k").has_value());
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 3 * 1024u);
}

TEST_F(CreditsTest, AKeyTakenKeepsTheCreditForAnotherKey) {
    Put("k", 1000);
    const std::vector<PutCredit> credits = Grant(1);
    ASSERT_EQ(credits.size(), 1u);
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::OBJECT_ALREADY_EXISTS);
    // An unfinished put (not yet a zombie) holds its key too.
    ASSERT_TRUE(service_->PutStart(kOther, "pending", 1000, {}).has_value());
    EXPECT_EQ(Commit("pending", credits[0].id), ErrorCode::OBJECT_ALREADY_EXISTS);
    EXPECT_EQ(Commit("fresh", credits[0].id), ErrorCode::OK);
    EXPECT_TRUE(Exists("fresh"));
    EXPECT_EQ(GetCode("pending"), ErrorCode::REPLICA_IS_NOT_READY);
}

TEST_F(CreditsTest, AZombiePutIsPreemptedLikeByPutStart) {
    ASSERT_TRUE(service_->PutStart(kOther, "k", 1000, {}).has_value());
    const std::vector<PutCredit> credits = Grant(1);
    ASSERT_EQ(credits.size(), 1u);
    AdvanceSec(config_.put_start_discard_timeout_sec);
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::OK);
    EXPECT_TRUE(Exists("k"));
    // The pre-empted writer's late PutEnd does not take the key over.
    EXPECT_EQ(service_->PutEnd(kOther, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
}

TEST_F(CreditsTest, OnlyTheHolderCommitsAndBadInputChangesNothing) {
    const std::vector<PutCredit> credits = Grant(1);
    ASSERT_EQ(credits.size(), 1u);
    EXPECT_EQ(Commit("k", credits[0].id, kOther), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(Commit("k", 987654321), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(Commit("", credits[0].id), ErrorCode::INVALID_KEY);
    EXPECT_EQ(Commit(std::string(kMaxKeyLength + 1, 'x'), credits[0].id), ErrorCode::INVALID_KEY);
    ReplicateConfig bad_pin;
    bad_pin.soft_pin_ttl_ms = 1000;  // a soft-pin length without a soft pin
    EXPECT_EQ(Commit("k", credits[0].id, kWriter, bad_pin), ErrorCode::INVALID_PARAMS);
    ReplicateConfig upsert;
    upsert.upsert = true;
    EXPECT_EQ(Commit("k", credits[0].id, kWriter, upsert), ErrorCode::INVALID_PARAMS);
    auto mismatched = service_->BatchPutCommit(kWriter, {"a", "b"}, {credits[0].id}, {});
    ASSERT_EQ(mismatched.size(), 2u);
    EXPECT_EQ(mismatched[0].error(), ErrorCode::INVALID_PARAMS);
    EXPECT_FALSE(Exists("k"));
    EXPECT_EQ(service_->GetStats().object_count, 0u);
    // Still the holder's.
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::OK);
}

TEST_F(CreditsTest, GrantsAreBounded) {
    auto code = [&](uint64_t size, size_t count, size_t replicas, const UUID& client = kWriter) {
        auto grant = service_->GrantPutCredits(client, size, count, replicas, {});
        return CodeOf(grant);
    };
    EXPECT_EQ(code(0, 1, 1), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(code((1 << 20) + 1, 1, 1), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(code(100, 257, 1), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(code(100, 1, 0), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(code(100, 1, 1, UUID{}), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
    // At most PutCreditTable::kMaxPerClient held by one client.
    size_t granted = 0;
    for (int i = 0; i < 5; ++i) granted += Grant(256, 64).size();
    EXPECT_EQ(granted, PutCreditTable::kMaxPerClient);
    EXPECT_EQ(Grant(1, 64, kOther).size(), 1u);
}

TEST_F(CreditsTest, AFullPoolGrantsNothing) {
    const std::vector<PutCredit> credits = Grant(16, 1 << 20);
    EXPECT_GE(credits.size(), 15u);  // less any allocator overhead
    auto grant = service_->GrantPutCredits(kWriter, 1 << 20, 1, 1, {});
    ASSERT_FALSE(grant.has_value());
    EXPECT_EQ(grant.error(), ErrorCode::NO_AVAILABLE_HANDLE);
    // Released space is granted again.
    ASSERT_TRUE(service_->GrantPutCredits(kWriter, 1, 0, 1, {credits[0].id}).has_value());
    EXPECT_EQ(Grant(1, 1 << 20).size(), 1u);
}

TEST_F(CreditsTest, ReleasedCreditsFreeTheirSpace) {
    const std::vector<PutCredit> credits = Grant(3);
    ASSERT_EQ(credits.size(), 3u);
    ASSERT_TRUE(
        service_->GrantPutCredits(kWriter, 1, 0, 1, {credits[0].id, credits[1].id}).has_value());
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 1024u);
    // Releasing again, or another client's credit, changes nothing.
    ASSERT_TRUE(service_->GrantPutCredits(kWriter, 1, 0, 1, {credits[0].id}).has_value());
    ASSERT_TRUE(service_->GrantPutCredits(kOther, 1, 0, 1, {credits[2].id}).has_value());
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 1024u);
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(Commit("k", credits[2].id), ErrorCode::OK);
}

TEST_F(CreditsTest, UnusedCreditsComeBackAfterTheReleaseTimeout) {
    const std::vector<PutCredit> credits = Grant(2);
    ASSERT_EQ(credits.size(), 2u);
    AdvanceSec(config_.put_start_release_timeout_sec - 1);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 2048u);
    AdvanceSec(1);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 0u);
    EXPECT_EQ(service_->GetStats().put_credits_outstanding, 0u);
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::INVALID_PARAMS);
}

TEST_F(CreditsTest, AClientLeavingFreesItsCredits) {
    ASSERT_EQ(Grant(5, 1000, kOther).size(), 5u);
    ASSERT_EQ(Grant(1).size(), 1u);
    ASSERT_TRUE(service_->UnregisterClient(kOther).has_value());
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 1024u);
    EXPECT_EQ(service_->GetStats().put_credits_outstanding, 1u);
}

TEST_F(CreditsTest, ACreditOnAnUnmountedSegmentPublishesNothing) {
    const std::vector<PutCredit> credits = Grant(1);
    ASSERT_EQ(credits.size(), 1u);
    ASSERT_TRUE(service_->UnmountSegment(kOwner, segment_.id, 0).has_value());
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_FALSE(Exists("k"));
    EXPECT_EQ(service_->GetStats().put_credits_outstanding, 0u);
}

TEST_F(CreditsTest, ACreditOnADrainingSegmentPublishesNothing) {
    const std::vector<PutCredit> credits = Grant(1);
    ASSERT_EQ(credits.size(), 1u);
    ASSERT_TRUE(service_->UnmountSegment(kOwner, segment_.id, /*grace_period_seconds=*/5));
    EXPECT_EQ(Commit("k", credits[0].id), ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_FALSE(Exists("k"));
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 0u);
    // Nor is anything granted there while it drains.
    auto grant = service_->GrantPutCredits(kWriter, 1000, 1, 1, {});
    ASSERT_FALSE(grant.has_value());
    EXPECT_EQ(grant.error(), ErrorCode::NO_AVAILABLE_HANDLE);
}

TEST_F(CreditsTest, ARestartedMasterKnowsNoCreditAndFencesTheSegmentLonger) {
    auto grant = service_->GrantPutCredits(kWriter, 1000, 1, 1, {});
    ASSERT_TRUE(grant.has_value());
    ASSERT_EQ(grant->credits.size(), 1u);
    Restart();
    ASSERT_TRUE(service_->ReMountSegments(kOwner, {segment_}).has_value());
    // The old holder may still write for usable_ms: nothing is placed in
    // the segment for longer than that.
    auto during_fence = service_->GrantPutCredits(kWriter, 1000, 1, 1, {});
    ASSERT_FALSE(during_fence.has_value());
    EXPECT_EQ(during_fence.error(), ErrorCode::NO_AVAILABLE_HANDLE);
    AdvanceMs(static_cast<int64_t>(grant->usable_ms));
    service_->RunMaintenance();
    EXPECT_FALSE(service_->PutStart(kOther, "x", 1000, {}).has_value());
    EXPECT_EQ(Commit("k", grant->credits[0].id), ErrorCode::INVALID_PARAMS);
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    service_->RunMaintenance();
    EXPECT_EQ(Grant(1).size(), 1u);
}

TEST_F(CreditsTest, OffWhenDisabledOrWithAChangeLog) {
    config_.enable_put_credits = false;
    Restart();
    Mount(kOwner, "host-a:1", 16 * kMiB);
    auto grant = service_->GrantPutCredits(kWriter, 1000, 1, 1, {});
    ASSERT_FALSE(grant.has_value());
    EXPECT_EQ(grant.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);

    config_.enable_put_credits = true;
    Restart();
    Mount(kOwner, "host-a:1", 16 * kMiB);
    service_->EnableChangeLog();
    grant = service_->GrantPutCredits(kWriter, 1000, 1, 1, {});
    ASSERT_FALSE(grant.has_value());
    EXPECT_EQ(grant.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(service_->GetStats().put_credit_reserved_bytes, 0u);
}

TEST_F(CreditsTest, ReplicasGoToDistinctSegments) {
    Mount(kOther, "host-b:1", 16 * kMiB);
    auto grant = service_->GrantPutCredits(kWriter, 1000, 2, 2, {});
    ASSERT_TRUE(grant.has_value());
    ASSERT_EQ(grant->credits.size(), 2u);
    for (const PutCredit& credit : grant->credits) {
        ASSERT_EQ(credit.replicas.size(), 2u);
        EXPECT_NE(credit.replicas[0].memory().transport_endpoint,
                  credit.replicas[1].memory().transport_endpoint);
    }
    EXPECT_EQ(Commit("k", grant->credits[0].id), ErrorCode::OK);
    auto got = service_->GetReplicaList("k");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->replicas.size(), 2u);
}

}  // namespace
}  // namespace mooncake::testing
