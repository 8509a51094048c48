// Mount, unmount, re-mount and client expiry.
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kAlice{0xA11CE, 1};
const UUID kBob{0xB0B, 2};

class SegmentsTest : public MasterCoreTest {
   protected:
    // Restarts with a client TTL of `ttl_sec`; then Alice mounts alice:1 and
    // alice:2, Bob bob:1, each of `size` bytes.
    void RestartWithTwoForAliceOneForBob(int64_t ttl_sec, uint64_t size) {
        config_.client_ttl_sec = ttl_sec;
        Restart();
        Mount(kAlice, "alice:1", size);
        Mount(kAlice, "alice:2", size);
        Mount(kBob, "bob:1", size);
    }
    ReplicateConfig OnBoth(const std::string& preferred) {
        ReplicateConfig config;
        config.replica_num = 2;
        config.preferred_segment = preferred;
        return config;
    }
    ReplicateConfig Only(const std::string& preferred) {
        ReplicateConfig config;
        config.preferred_segment = preferred;
        return config;
    }
};

TEST_F(SegmentsTest, MountRegistersSegmentAndClient) {
    const SegmentInfo segment = Mount(kAlice, "alice:1", 4 * kMiB);
    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"alice:1"});
    auto usage = service_->QuerySegment("alice:1");
    ASSERT_TRUE(usage.has_value());
    EXPECT_EQ(usage->capacity, 4 * kMiB);
    EXPECT_EQ(usage->used, 0u);
    const MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.segments_mounted, 1u);
    EXPECT_EQ(stats.capacity_bytes, 4 * kMiB);
    EXPECT_EQ(stats.clients_alive, 1u);
    EXPECT_EQ(service_->Ping(kAlice)->status, ClientStatus::OK);

    // Same segment id again, from anyone: refused, nothing changes.
    EXPECT_EQ(service_->MountSegment(kAlice, segment).error(), ErrorCode::SEGMENT_ALREADY_EXISTS);
    EXPECT_EQ(service_->MountSegment(kBob, segment).error(), ErrorCode::SEGMENT_ALREADY_EXISTS);
    // Overlapping range under the same name: refused.
    SegmentInfo overlapping{UUID::Generate(), "alice:1", segment.base + 4096, 4096};
    EXPECT_EQ(service_->MountSegment(kAlice, overlapping).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(StateOf(service_->GetStats()), StateOf(stats));
}

TEST_F(SegmentsTest, PingFromAnUnknownClientAsksForARemount) {
    auto ping = service_->Ping(kBob);
    ASSERT_TRUE(ping.has_value());
    EXPECT_EQ(ping->status, ClientStatus::NEED_REMOUNT);
    EXPECT_TRUE(ping->tasks.empty());
    EXPECT_EQ(service_->GetStats().clients_alive, 0u);
}

TEST_F(SegmentsTest, UnmountDropsReplicasAndOrphanedObjects) {
    const SegmentInfo alice = Mount(kAlice, "alice:1", 4 * kMiB);
    Mount(kBob, "bob:1", 4 * kMiB);
    Put("both", 1000, OnBoth("alice:1"));
    Put("alice-only", 1000, Only("alice:1"));
    Put("bob-only", 1000, Only("bob:1"));
    ASSERT_TRUE(service_->PutStart(kWriter, "alice-pending", 1000, Only("alice:1")));

    // Only the owner can unmount.
    EXPECT_EQ(service_->UnmountSegment(kBob, alice.id).error(), ErrorCode::SEGMENT_NOT_FOUND);
    ASSERT_TRUE(service_->UnmountSegment(kAlice, alice.id).has_value());

    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"bob:1"});
    EXPECT_EQ(GetCode("alice-only"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(GetCode("alice-pending"), ErrorCode::OBJECT_NOT_FOUND);
    auto both = service_->GetReplicaList("both");
    ASSERT_TRUE(both.has_value());
    EXPECT_EQ(Endpoints(both->replicas), std::vector<std::string>{"bob:1"});
    EXPECT_TRUE(Exists("bob-only"));
    const MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.object_count, 2u);
    EXPECT_EQ(stats.segments_mounted, 1u);
    EXPECT_EQ(stats.capacity_bytes, 4 * kMiB);
    EXPECT_EQ(stats.used_bytes, 2 * 1024u);
    EXPECT_EQ(service_->UnmountSegment(kAlice, alice.id).error(), ErrorCode::SEGMENT_NOT_FOUND);
    // The key of a lost object can be written again.
    Put("alice-only", 10);
    // The writer of the lost pending put learns its object is gone.
    EXPECT_EQ(service_->PutEnd(kWriter, "alice-pending").error(), ErrorCode::OBJECT_NOT_FOUND);
}

TEST_F(SegmentsTest, GracefulUnmountKeepsReplicasReadableAndTakesNoNewObjects) {
    const SegmentInfo alice = Mount(kAlice, "alice:1", 4 * kMiB);
    Mount(kBob, "bob:1", 4 * kMiB);
    Put("on-alice", 1000, Only("alice:1"));
    // Only its owner may start the grace period.
    EXPECT_EQ(service_->UnmountSegment(kBob, alice.id, 5).error(), ErrorCode::SEGMENT_NOT_FOUND);
    ASSERT_TRUE(service_->UnmountSegment(kAlice, alice.id, 5).has_value());

    auto details = service_->GetSegmentsDetail();
    ASSERT_EQ(details.size(), 2u);
    for (const SegmentDetail& detail : details) {
        EXPECT_EQ(detail.draining, detail.name == "alice:1") << detail.name;
    }
    // Still readable; a put that prefers it goes elsewhere.
    auto read = service_->GetReplicaList("on-alice");
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(Endpoints(read->replicas), std::vector<std::string>{"alice:1"});
    EXPECT_EQ(Endpoints(Put("new", 1000, Only("alice:1"))), std::vector<std::string>{"bob:1"});

    // The second call, after the period, unmounts it.
    ASSERT_TRUE(service_->UnmountSegment(kAlice, alice.id).has_value());
    EXPECT_EQ(GetCode("on-alice"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"bob:1"});
}

TEST_F(SegmentsTest, SilentClientsExpire) {
    config_.client_ttl_sec = 10;
    Restart();
    Mount(kAlice, "alice:1", 4 * kMiB);
    Mount(kBob, "bob:1", 4 * kMiB);
    Put("both", 1000, OnBoth("alice:1"));
    Put("alice-only", 1000, Only("alice:1"));
    Put("bob-only", 1000, Only("bob:1"));

    AdvanceSec(6);
    ASSERT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
    AdvanceSec(3);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().clients_alive, 2u) << "9 s of silence is within the TTL";
    AdvanceSec(1);
    service_->RunMaintenance();

    MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.clients_expired, 1u);
    EXPECT_EQ(stats.clients_alive, 1u);
    EXPECT_EQ(stats.segments_mounted, 1u);
    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"bob:1"});
    EXPECT_EQ(GetCode("alice-only"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(Endpoints(service_->GetReplicaList("both")->replicas),
              std::vector<std::string>{"bob:1"});
    EXPECT_TRUE(Exists("bob-only"));
    EXPECT_EQ(stats.object_count, 2u);

    // Alice comes back: told to re-mount, then carries on.
    EXPECT_EQ(service_->Ping(kAlice)->status, ClientStatus::NEED_REMOUNT);
    EXPECT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
    SegmentInfo again{UUID::Generate(), "alice:1", 0x900000000ULL, 4 * kMiB};
    ASSERT_TRUE(service_->ReMountSegments(kAlice, {again}).has_value());
    EXPECT_EQ(service_->Ping(kAlice)->status, ClientStatus::OK);
    EXPECT_EQ(service_->GetStats().segments_mounted, 2u);
    // Readers may still hold leases on ranges of the segment from before the
    // expiry: nothing lands in it until a lease TTL has passed.
    EXPECT_EQ(Endpoints(Put("alice-early", 1000, Only("alice:1"))),
              std::vector<std::string>{"bob:1"});
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms) + 1);
    service_->RunMaintenance();
    EXPECT_EQ(Endpoints(Put("alice-again", 1000, Only("alice:1"))),
              std::vector<std::string>{"alice:1"});
}

TEST_F(SegmentsTest, UnregisterForgetsTheClientAtOnce) {
    RestartWithTwoForAliceOneForBob(10, 4 * kMiB);
    Put("alice-only", 1000, Only("alice:1"));
    Put("bob-only", 1000, Only("bob:1"));
    ASSERT_EQ(service_->GetStats().clients_alive, 2u);

    ASSERT_TRUE(service_->UnregisterClient(kAlice).has_value());
    MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.clients_alive, 1u);
    EXPECT_EQ(stats.segments_mounted, 1u);
    EXPECT_EQ(GetCode("alice-only"), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_TRUE(Exists("bob-only"));
    EXPECT_TRUE(service_->UnregisterClient(kAlice).has_value()) << "idempotent";

    // Nothing is left to expire: the close is not counted as a crash.
    AdvanceSec(11);
    ASSERT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().clients_expired, 0u);
    EXPECT_EQ(service_->Ping(kAlice)->status, ClientStatus::NEED_REMOUNT);
}

TEST_F(SegmentsTest, ReMountedSegmentTakesNoPutForALeaseTtl) {
    // As after a master restart: the client re-mounts a segment that readers
    // of the previous master may still be reading.
    const SegmentInfo segment{UUID::Generate(), "alice:1", 0x800000000ULL, 4 * kMiB};
    ASSERT_TRUE(service_->ReMountSegments(kAlice, {segment}).has_value());
    EXPECT_EQ(service_->PutStart(kAlice, "early", 1000, ReplicateConfig{}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    // A segment mounted for the first time is usable at once.
    Mount(kBob, "bob:1", 4 * kMiB);
    EXPECT_EQ(Endpoints(Put("fresh", 1000, Only("alice:1"))), std::vector<std::string>{"bob:1"});

    const auto ttl = static_cast<int64_t>(config_.default_kv_lease_ttl_ms);
    AdvanceMs(ttl);
    service_->RunMaintenance();
    EXPECT_EQ(Endpoints(Put("still-fenced", 1000, Only("alice:1"))),
              std::vector<std::string>{"bob:1"});
    AdvanceMs(1);
    service_->RunMaintenance();
    EXPECT_EQ(Endpoints(Put("open", 1000, Only("alice:1"))), std::vector<std::string>{"alice:1"});
}

TEST_F(SegmentsTest, ReMountKeepsWhatIsMountedAndAddsTheRest) {
    const SegmentInfo first = Mount(kAlice, "alice:1", 4 * kMiB);
    Put("k", 1000, Only("alice:1"));
    SegmentInfo second{UUID::Generate(), "alice:1", 0x900000000ULL, 4 * kMiB};
    ASSERT_TRUE(service_->ReMountSegments(kAlice, {first, second}).has_value());
    EXPECT_EQ(service_->GetStats().segments_mounted, 2u);
    EXPECT_TRUE(Exists("k")) << "the already mounted segment was left as it was";
    // Someone else's segment cannot be re-mounted by another client.
    EXPECT_EQ(service_->ReMountSegments(kBob, {first}).error(), ErrorCode::SEGMENT_ALREADY_EXISTS);
    // A pure client (no segments) re-mounts nothing and is alive.
    ASSERT_TRUE(service_->ReMountSegments(kBob, {}).has_value());
    EXPECT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
}

TEST_F(SegmentsTest, ExpiryUnmountsEverySegmentOfTheClient) {
    RestartWithTwoForAliceOneForBob(5, 1 * kMiB);
    Put("a1", 100, Only("alice:1"));
    Put("a2", 100, Only("alice:2"));
    for (int i = 0; i < 6; ++i) {
        AdvanceSec(1);
        ASSERT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
    }
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"bob:1"});
    EXPECT_EQ(service_->GetStats().object_count, 0u);
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
    EXPECT_EQ(service_->GetStats().capacity_bytes, 1 * kMiB);
}

}  // namespace
}  // namespace mooncake::testing
