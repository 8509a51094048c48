// Puts, reads, leases, removes and zombie puts of the master logic.
#include <set>

#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kClientA{0xA, 1};
const UUID kClientB{0xB, 2};

class ObjectsTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        // These tests move the clock far; keep the segment owner alive.
        config_.client_ttl_sec = int64_t{1} << 30;
        MasterCoreTest::SetUp();
        Mount(kClientA, "host-a:1", 16 * kMiB);
    }
};

TEST_F(ObjectsTest, PutIsInvisibleUntilItEnds) {
    auto replicas = service_->PutStart(kWriter, "k", 1000, {});
    ASSERT_TRUE(replicas.has_value());
    ASSERT_EQ(replicas->size(), 1u);
    EXPECT_EQ((*replicas)[0].status, ReplicaStatus::PROCESSING);
    EXPECT_EQ((*replicas)[0].memory().transport_endpoint, "host-a:1");
    EXPECT_EQ((*replicas)[0].memory().size, 1000u);
    EXPECT_EQ((*replicas)[0].memory().buffer_address % 64, 0u);

    EXPECT_EQ(GetCode("k"), ErrorCode::REPLICA_IS_NOT_READY);
    EXPECT_FALSE(Exists("k"));
    EXPECT_EQ(service_->Remove("k").error(), ErrorCode::REPLICA_IS_NOT_READY);

    ASSERT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    auto got = service_->GetReplicaList("k");
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->replicas.size(), 1u);
    EXPECT_EQ(got->replicas[0].status, ReplicaStatus::COMPLETE);
    EXPECT_EQ(got->replicas[0].memory().buffer_address, (*replicas)[0].memory().buffer_address);
    EXPECT_EQ(got->lease_ttl_ms, config_.default_kv_lease_ttl_ms);
    EXPECT_TRUE(Exists("k"));

    const MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.object_count, 1u);
    EXPECT_EQ(stats.used_bytes, 1024u);
    EXPECT_EQ(stats.put_starts, 1u);
    EXPECT_EQ(stats.put_ends, 1u);
    EXPECT_EQ(stats.gets, 1u);
}

TEST_F(ObjectsTest, KeysAreWriteOnce) {
    Put("k", 100);
    EXPECT_EQ(service_->PutStart(kWriter, "k", 100, {}).error(), ErrorCode::OBJECT_ALREADY_EXISTS);
    // An unfinished put that is not yet a zombie also holds the key.
    ASSERT_TRUE(service_->PutStart(kWriter, "pending", 100, {}).has_value());
    EXPECT_EQ(service_->PutStart(kClientB, "pending", 100, {}).error(),
              ErrorCode::OBJECT_ALREADY_EXISTS);
    EXPECT_EQ(service_->GetStats().object_count, 2u);
    EXPECT_EQ(service_->GetStats().used_bytes, 256u);
}

TEST_F(ObjectsTest, PutEndAndRevokeBelongToThePutter) {
    ASSERT_TRUE(service_->PutStart(kWriter, "k", 100, {}).has_value());
    EXPECT_EQ(service_->PutEnd(kClientB, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(service_->PutRevoke(kClientB, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(GetCode("k"), ErrorCode::REPLICA_IS_NOT_READY);
    ASSERT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    // A repeated PutEnd is harmless; a revoke after the end is refused.
    EXPECT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    EXPECT_EQ(service_->PutRevoke(kWriter, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(service_->PutEnd(kWriter, "missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->PutRevoke(kWriter, "missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->GetStats().put_ends, 1u);
}

TEST_F(ObjectsTest, ForcedRemoveKeepsTheSpaceUntilTheLeaseRunsOut) {
    Put("k", 100);
    ASSERT_TRUE(service_->GetReplicaList("k").has_value());
    const uint64_t used = service_->GetStats().used_bytes;
    ASSERT_TRUE(service_->Remove("k", /*force=*/true).has_value());
    EXPECT_EQ(GetCode("k"), ErrorCode::OBJECT_NOT_FOUND);
    // A reader may still be copying the bytes: the range is not reusable yet.
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().used_bytes, used);
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
}

TEST_F(ObjectsTest, RevokeFreesTheSpace) {
    ASSERT_TRUE(service_->PutStart(kWriter, "k", 5000, {}).has_value());
    EXPECT_EQ(service_->GetStats().used_bytes, 5056u);
    ASSERT_TRUE(service_->PutRevoke(kWriter, "k").has_value());
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
    EXPECT_EQ(service_->GetStats().object_count, 0u);
    EXPECT_EQ(service_->GetStats().put_revokes, 1u);
    EXPECT_EQ(GetCode("k"), ErrorCode::OBJECT_NOT_FOUND);
    // The key is free again.
    Put("k", 10);
    EXPECT_TRUE(Exists("k"));
}

TEST_F(ObjectsTest, KeysAreByteStringsUpToTheLimit) {
    const std::string binary("a\0b\xff", 4);
    Put(binary, 10);
    EXPECT_TRUE(Exists(binary));
    EXPECT_FALSE(Exists(std::string("a")));
    const std::string longest(kMaxKeyLength, 'x');
    Put(longest, 10);
    EXPECT_TRUE(Exists(longest));
}

TEST_F(ObjectsTest, UnknownPreferredSegmentIsOnlyAHint) {
    ReplicateConfig unknown_preferred;
    unknown_preferred.preferred_segment = "nowhere:1";
    auto placed = service_->PutStart(kWriter, "hinted", 10, unknown_preferred);
    ASSERT_TRUE(placed.has_value());
    EXPECT_EQ(placed->size(), 1u);
}

TEST_F(ObjectsTest, LeaseBlocksRemoveUntilItRunsOut) {
    Put("k", 100);
    ASSERT_TRUE(service_->GetReplicaList("k").has_value());
    EXPECT_EQ(service_->Remove("k").error(), ErrorCode::OBJECT_HAS_LEASE);
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms) - 1);
    EXPECT_EQ(service_->Remove("k").error(), ErrorCode::OBJECT_HAS_LEASE);
    AdvanceMs(1);
    ASSERT_TRUE(service_->Remove("k").has_value());
    EXPECT_EQ(GetCode("k"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
    EXPECT_EQ(service_->GetStats().removes, 1u);
    EXPECT_EQ(service_->Remove("k").error(), ErrorCode::OBJECT_NOT_FOUND);
}

TEST_F(ObjectsTest, ExistGrantsNoLeaseAndEachReadExtendsTheLease) {
    Put("k", 100);
    ASSERT_TRUE(Exists("k"));
    EXPECT_TRUE(service_->Remove("k").has_value()) << "an exist probe must not lease";
    Put("k", 100);
    ASSERT_TRUE(service_->GetReplicaList("k").has_value());  // lease to now + 5000
    AdvanceMs(3000);
    ASSERT_TRUE(service_->GetReplicaList("k").has_value());  // lease to now + 5000
    AdvanceMs(3000);
    ASSERT_TRUE(Exists("k"));  // does not extend it
    EXPECT_EQ(service_->Remove("k").error(), ErrorCode::OBJECT_HAS_LEASE);
    AdvanceMs(2000);
    EXPECT_TRUE(service_->Remove("k").has_value());
    // Exist of a missing key grants nothing and fails nothing.
    EXPECT_FALSE(Exists("k"));
}

TEST_F(ObjectsTest, RemoveAllAndRemoveByRegexSkipLeasedAndUnfinished) {
    for (const char* key : {"a/1", "a/2", "a/3", "b/1", "b/2"}) Put(key, 100);
    ASSERT_TRUE(service_->PutStart(kWriter, "a/unfinished", 100, {}).has_value());
    ASSERT_TRUE(service_->GetReplicaList("a/3").has_value());  // leased

    auto removed = service_->RemoveByRegex("^a/");
    ASSERT_TRUE(removed.has_value());
    EXPECT_EQ(*removed, 2);
    EXPECT_FALSE(Exists("a/1"));
    EXPECT_EQ(GetCode("a/unfinished"), ErrorCode::REPLICA_IS_NOT_READY);
    EXPECT_EQ(service_->GetStats().object_count, 4u);

    // A pattern matching nothing removes nothing.
    EXPECT_EQ(service_->RemoveByRegex("^zzz").value(), 0);

    EXPECT_EQ(service_->RemoveAll(), 2);  // b/1, b/2; a/3 leased, a/unfinished pending
    EXPECT_EQ(service_->GetStats().object_count, 2u);
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    EXPECT_EQ(service_->RemoveAll(), 1);  // a/3 now
    EXPECT_EQ(service_->GetStats().object_count, 1u);
    EXPECT_EQ(service_->GetStats().used_bytes, 128u);  // only the unfinished put
    EXPECT_EQ(service_->GetStats().removes, 5u);
}

TEST_F(ObjectsTest, RegexSearchesAnywhereInTheKey) {
    for (const char* key : {"user_session_1", "user_session_2", "other_user_session", "x"}) {
        Put(key, 10);
    }
    auto listed = service_->GetReplicaListByRegex("session");
    ASSERT_TRUE(listed.has_value());
    std::set<std::string> keys;
    for (const auto& [key, replicas] : *listed) {
        keys.insert(key);
        EXPECT_EQ(replicas.size(), 1u);
        EXPECT_EQ(replicas[0].status, ReplicaStatus::COMPLETE);
    }
    EXPECT_EQ(keys,
              (std::set<std::string>{"user_session_1", "user_session_2", "other_user_session"}));
    EXPECT_EQ(service_->RemoveByRegex("^user_session_.*").value(), 2);
    EXPECT_TRUE(Exists("other_user_session"));
}

// Regression: the backtracking regex executor takes time exponential in the
// key for patterns like "(a*)*b"; with 64 'a's a remove_by_regex would never
// return. Matching is linear now, and back-references are refused.
TEST_F(ObjectsTest, PathologicalRegexFinishesAndBackReferencesAreRefused) {
    const std::string key(64, 'a');
    Put(key, 10);
    EXPECT_EQ(service_->RemoveByRegex("^(a*)*b$").value(), 0);
    EXPECT_EQ(service_->GetReplicaListByRegex("(a|aa)+$").value().size(), 1u);
    EXPECT_EQ(service_->RemoveByRegex("(a)\\1").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(Exists(key));
}

TEST_F(ObjectsTest, MultipleReplicasAreAllReturned) {
    Mount(kClientB, "host-b:1", 16 * kMiB);
    ReplicateConfig config;
    config.replica_num = 2;
    auto replicas = Put("k", 4096, config);
    ASSERT_EQ(replicas.size(), 2u);
    auto got = service_->GetReplicaList("k");
    ASSERT_TRUE(got.has_value());
    const std::vector<std::string> endpoints = Endpoints(got->replicas);
    EXPECT_EQ(std::set<std::string>(endpoints.begin(), endpoints.end()),
              (std::set<std::string>{"host-a:1", "host-b:1"}));
    EXPECT_EQ(service_->GetStats().used_bytes, 2 * 4096u);
}

TEST_F(ObjectsTest, BatchCallsAnswerPerKey) {
    auto started = service_->BatchPutStart(kWriter, {"x", "", "y"}, {10, 10, 0}, {});
    ASSERT_EQ(started.size(), 3u);
    EXPECT_TRUE(started[0].has_value());
    EXPECT_EQ(started[1].error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(started[2].error(), ErrorCode::INVALID_PARAMS);
    auto ended = service_->BatchPutEnd(kWriter, {"x", "y"});
    EXPECT_TRUE(ended[0].has_value());
    EXPECT_EQ(ended[1].error(), ErrorCode::OBJECT_NOT_FOUND);
    auto got = service_->BatchGetReplicaList({"y", "x"});
    EXPECT_EQ(got[0].error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_TRUE(got[1].has_value());
    auto exist = service_->BatchExistKey({"x", "y"});
    EXPECT_TRUE(exist[0].value());
    EXPECT_FALSE(exist[1].value());

    // Keys and sizes that do not line up: every entry refused, nothing stored.
    const uint64_t objects = service_->GetStats().object_count;
    auto mismatched = service_->BatchPutStart(kWriter, {"p", "q"}, {10}, {});
    ASSERT_EQ(mismatched.size(), 2u);
    EXPECT_EQ(mismatched[0].error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(mismatched[1].error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->GetStats().object_count, objects);

    ASSERT_TRUE(service_->BatchPutStart(kWriter, {"r1", "r2"}, {10, 10}, {})[1].has_value());
    auto revoked = service_->BatchPutRevoke(kWriter, {"r1", "r2", "x"});
    EXPECT_TRUE(revoked[0].has_value());
    EXPECT_TRUE(revoked[1].has_value());
    EXPECT_EQ(revoked[2].error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
}

// ---- zombie puts ------------------------------------------------------------------

TEST_F(ObjectsTest, ZombiePutIsPreemptedAndItsSpaceReclaimedLater) {
    const int64_t discard_ms = config_.put_start_discard_timeout_sec * 1000;
    const int64_t release_ms = config_.put_start_release_timeout_sec * 1000;
    auto zombie = service_->PutStart(kClientA, "k", 1000, {});
    ASSERT_TRUE(zombie.has_value());

    AdvanceMs(discard_ms - 1);
    EXPECT_EQ(service_->PutStart(kClientB, "k", 2000, {}).error(),
              ErrorCode::OBJECT_ALREADY_EXISTS);
    AdvanceMs(1);
    auto fresh = service_->PutStart(kClientB, "k", 2000, {});
    ASSERT_TRUE(fresh.has_value());
    EXPECT_NE((*fresh)[0].memory().buffer_address, (*zombie)[0].memory().buffer_address);
    EXPECT_EQ(service_->GetStats().zombie_puts_discarded, 1u);
    EXPECT_EQ(service_->GetStats().object_count, 1u);
    // Both ranges are held: the zombie may still be writing into its own.
    EXPECT_EQ(service_->GetStats().used_bytes, 1024u + 2048u);

    // The zombie cannot end or revoke the new put.
    EXPECT_EQ(service_->PutEnd(kClientA, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(service_->PutRevoke(kClientA, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    ASSERT_TRUE(service_->PutEnd(kClientB, "k").has_value());
    EXPECT_EQ(service_->GetReplicaList("k")->replicas[0].memory().size, 2000u);

    // Reclaimed only at put start + release timeout.
    AdvanceMs(release_ms - discard_ms - 1);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().used_bytes, 1024u + 2048u);
    AdvanceMs(1);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().used_bytes, 2048u);
    EXPECT_TRUE(Exists("k"));
}

TEST_F(ObjectsTest, UnfinishedPutsAreReclaimedAfterTheReleaseTimeout) {
    ASSERT_TRUE(service_->PutStart(kWriter, "stuck", 4000, {}).has_value());
    Put("done", 100);
    const int64_t release_ms = config_.put_start_release_timeout_sec * 1000;
    AdvanceMs(release_ms - 1);
    service_->RunMaintenance();
    EXPECT_EQ(GetCode("stuck"), ErrorCode::REPLICA_IS_NOT_READY);
    AdvanceMs(1);
    service_->RunMaintenance();
    EXPECT_EQ(GetCode("stuck"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->GetStats().object_count, 1u);
    EXPECT_EQ(service_->GetStats().used_bytes, 128u);
    EXPECT_EQ(service_->PutEnd(kWriter, "stuck").error(), ErrorCode::OBJECT_NOT_FOUND);
}

// ---- upserts --------------------------------------------------------------------------

ReplicateConfig Upsert(ReplicateConfig config = {}) {
    config.upsert = true;
    return config;
}

uint64_t AddressOf(const std::vector<ReplicaDescriptor>& replicas) {
    return replicas.empty() ? 0 : replicas[0].memory().buffer_address;
}

TEST_F(ObjectsTest, UpsertOfAMissingKeyIsAPut) {
    auto started = service_->PutStart(kWriter, "k", 1000, Upsert());
    ASSERT_TRUE(started.has_value());
    EXPECT_EQ(GetCode("k"), ErrorCode::REPLICA_IS_NOT_READY);
    ASSERT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    EXPECT_TRUE(Exists("k"));
}

TEST_F(ObjectsTest, UpsertOfAnUnreadValueOfTheSameSizeRewritesItInPlace) {
    ReplicateConfig hard;
    hard.with_hard_pin = true;
    const auto first = Put("k", 1000, hard);
    const uint64_t used = service_->GetStats().used_bytes;
    auto again = service_->PutStart(kClientB, "k", 1000, Upsert());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(AddressOf(*again), AddressOf(first));
    EXPECT_EQ(service_->GetStats().used_bytes, used);
    // Readers wait for the new bytes; nobody else may end the put.
    EXPECT_EQ(GetCode("k"), ErrorCode::REPLICA_IS_NOT_READY);
    EXPECT_EQ(service_->PutEnd(kWriter, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    ASSERT_TRUE(service_->PutEnd(kClientB, "k").has_value());
    auto got = service_->GetReplicaList("k");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->replicas[0].memory().buffer_address, AddressOf(first));
    // The hard pin of the old value is kept, the soft pin asked for added.
    const MasterStateImage image = service_->ExportState();
    ASSERT_EQ(image.objects.size(), 1u);
    EXPECT_TRUE(image.objects[0].hard_pin);
    EXPECT_FALSE(image.objects[0].soft_pin);
    ReplicateConfig soft;
    soft.with_soft_pin = true;
    ASSERT_TRUE(service_->PutStart(kClientB, "k", 1000, Upsert(soft)).has_value());
    ASSERT_TRUE(service_->PutEnd(kClientB, "k").has_value());
    const MasterStateImage pinned = service_->ExportState();
    ASSERT_EQ(pinned.objects.size(), 1u);
    EXPECT_TRUE(pinned.objects[0].hard_pin);
    EXPECT_TRUE(pinned.objects[0].soft_pin);
    // A plain upsert keeps that soft pin; SoftPinAction::DISABLE drops it.
    ASSERT_TRUE(service_->PutStart(kClientB, "k", 1000, Upsert()).has_value());
    ASSERT_TRUE(service_->PutEnd(kClientB, "k").has_value());
    EXPECT_TRUE(service_->ExportState().objects[0].soft_pin);
    ReplicateConfig unpin;
    unpin.soft_pin_action = SoftPinAction::DISABLE;
    ASSERT_TRUE(service_->PutStart(kClientB, "k", 1000, Upsert(unpin)).has_value());
    ASSERT_TRUE(service_->PutEnd(kClientB, "k").has_value());
    EXPECT_FALSE(service_->ExportState().objects[0].soft_pin);
    EXPECT_TRUE(service_->ExportState().objects[0].hard_pin);
}

TEST_F(ObjectsTest, UpsertOfAReadOrResizedValueAllocatesAnewAndFreesTheOldAfterItsLease) {
    const auto first = Put("k", 1000);
    ASSERT_TRUE(service_->GetReplicaList("k").has_value());  // a reader's lease
    auto leased = service_->PutStart(kWriter, "k", 1000, Upsert());
    ASSERT_TRUE(leased.has_value());
    EXPECT_NE(AddressOf(*leased), AddressOf(first));
    ASSERT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    // The old range is held until the reader's lease is over.
    EXPECT_EQ(service_->GetStats().used_bytes, 2048u);
    AdvanceMs(config_.default_kv_lease_ttl_ms + 1);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().used_bytes, 1024u);

    // A new size never reuses the old range; unread, it is freed at once.
    auto resized = service_->PutStart(kWriter, "k", 3072, Upsert());
    ASSERT_TRUE(resized.has_value());
    EXPECT_EQ(service_->GetStats().used_bytes, 3072u);
    ASSERT_TRUE(service_->PutEnd(kWriter, "k").has_value());
    EXPECT_EQ(service_->GetReplicaList("k")->replicas[0].memory().size, 3072u);
    EXPECT_EQ(service_->GetStats().object_count, 1u);
}

TEST_F(ObjectsTest, UpsertThatFindsNoSpaceLeavesTheOldValue) {
    Put("k", 1000);
    auto huge = service_->PutStart(kWriter, "k", 64 * kMiB, Upsert());
    ASSERT_FALSE(huge.has_value());
    EXPECT_EQ(huge.error(), ErrorCode::NO_AVAILABLE_HANDLE);
    auto got = service_->GetReplicaList("k");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->replicas[0].memory().size, 1000u);
}

TEST_F(ObjectsTest, RevokedUpsertDropsTheKey) {
    Put("k", 1000);
    ASSERT_TRUE(service_->PutStart(kWriter, "k", 1000, Upsert()).has_value());
    ASSERT_TRUE(service_->PutRevoke(kWriter, "k").has_value());
    // The old bytes were (partly) overwritten: nothing to return.
    EXPECT_EQ(GetCode("k"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
}

TEST_F(ObjectsTest, UpsertPreemptsAnotherClientsUnfinishedPut) {
    auto first = service_->PutStart(kClientA, "k", 1000, {});
    ASSERT_TRUE(first.has_value());
    // The same client's second put cannot be told apart at PutEnd: it waits.
    EXPECT_EQ(service_->PutStart(kClientA, "k", 1000, Upsert()).error(),
              ErrorCode::REPLICA_IS_NOT_READY);
    auto second = service_->PutStart(kClientB, "k", 1000, Upsert());
    ASSERT_TRUE(second.has_value());
    // The first writer may still be writing into its range: not reused.
    EXPECT_NE(AddressOf(*second), AddressOf(*first));
    EXPECT_EQ(service_->GetStats().used_bytes, 2048u);
    EXPECT_EQ(service_->PutEnd(kClientA, "k").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    ASSERT_TRUE(service_->PutEnd(kClientB, "k").has_value());
    AdvanceMs(config_.put_start_release_timeout_sec * 1000);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().used_bytes, 1024u);
}

TEST_F(ObjectsTest, UpsertWaitsForACopyInFlight) {
    Mount(kClientB, "host-b:1", 16 * kMiB);
    ReplicateConfig on_a;
    on_a.preferred_segment = "host-a:1";
    Put("k", 1000, on_a);
    ASSERT_TRUE(service_->CopyStart(kWriter, "k", {"host-b:1"}).has_value());
    EXPECT_EQ(service_->PutStart(kWriter, "k", 1000, Upsert()).error(),
              ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    ASSERT_TRUE(service_->CopyEnd(kWriter, "k").has_value());
    // Two complete replicas: both rewritten in place once the lease is over.
    AdvanceMs(config_.default_kv_lease_ttl_ms + 1);
    auto again = service_->PutStart(kWriter, "k", 1000, Upsert());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->size(), 2u);
}

// ---- bad input ----------------------------------------------------------------------

TEST_F(ObjectsTest, BadInputGetsItsCodeAndChangesNothing) {
    Put("existing", 100);
    ASSERT_TRUE(service_->GetReplicaList("existing").has_value());
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    const MasterStats before = service_->GetStats();
    const std::string too_long(kMaxKeyLength + 1, 'k');
    ReplicateConfig zero_replicas;
    zero_replicas.replica_num = 0;

    EXPECT_EQ(service_->PutStart(kWriter, "", 10, {}).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->PutStart(kWriter, too_long, 10, {}).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->PutStart(kWriter, "k", 0, {}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->PutStart(kWriter, "k", 10, zero_replicas).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->PutStart(kWriter, "k", 1ULL << 40, {}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(service_->PutEnd(kWriter, "").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->PutRevoke(kWriter, too_long).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->GetReplicaList("").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->GetReplicaList(too_long).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->ExistKey("").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->Remove("").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->Remove(too_long).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->RemoveByRegex("([").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->RemoveByRegex("*").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->GetReplicaListByRegex("a{2,1}").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->RemoveByRegex(std::string(100000, 'a')).error(), ErrorCode::INVALID_PARAMS);

    // Segments.
    EXPECT_EQ(service_->MountSegment(kWriter, {UUID::Generate(), "", 0x1000, 4096}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MountSegment(kWriter, {UUID::Generate(), "h:1", 0, 4096}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MountSegment(kWriter, {UUID::Generate(), "h:1", 0x1000, 0}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MountSegment(kWriter, {UUID{}, "h:1", 0x1000, 4096}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MountSegment(UUID{}, {UUID::Generate(), "h:1", 0x1000, 4096}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(
        service_->MountSegment(kWriter, {UUID::Generate(), "h:1", UINT64_MAX - 10, 4096}).error(),
        ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MountSegment(kWriter, {UUID::Generate(), "h:1", 0x1000, 10}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(
        service_->MountSegment(kWriter, {UUID::Generate(), std::string(10000, 'h'), 0x1000, 4096})
            .error(),
        ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->UnmountSegment(kWriter, UUID::Generate()).error(),
              ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(service_->QuerySegment("nowhere:1").error(), ErrorCode::SEGMENT_NOT_FOUND);

    // Tasks.
    EXPECT_EQ(service_->CreateCopyTask("", {"host-a:1"}).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->CreateCopyTask("missing", {"host-a:1"}).error(),
              ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->CreateCopyTask("existing", {}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->CreateCopyTask("existing", {"nowhere:1"}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->CreateMoveTask("existing", "host-a:1", "host-a:1").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->CreateMoveTask("existing", "host-a:1", "nowhere:1").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->QueryTask(UUID::Generate()).error(), ErrorCode::TASK_NOT_FOUND);
    EXPECT_EQ(
        service_->MarkTaskComplete(kWriter, UUID::Generate(), TaskStatus::SUCCESS, "").error(),
        ErrorCode::TASK_NOT_FOUND);

    const MasterStats after = service_->GetStats();
    EXPECT_EQ(StateOf(after), StateOf(before));
    EXPECT_EQ(after.put_starts, before.put_starts);
    EXPECT_EQ(after.removes, before.removes);
    EXPECT_EQ(after.evictions, before.evictions);
    EXPECT_TRUE(Exists("existing"));
    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"host-a:1"});
}

TEST(ObjectsWithoutSegmentsTest, PutWithNoSegmentMountedHasNoHandle) {
    MasterService service(MasterConfig{}, std::make_shared<ManualClock>());
    EXPECT_EQ(service.PutStart(UUID{1, 1}, "k", 10, {}).error(), ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(service.GetStats().object_count, 0u);
    EXPECT_EQ(service.GetStats().put_starts, 0u);
}

}  // namespace
}  // namespace mooncake::testing
