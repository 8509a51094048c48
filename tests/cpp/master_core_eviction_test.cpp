// Eviction: above the high watermark, on allocation failure, LRU order,
// soft pins, and what must never be evicted.
#include <chrono>
#include <thread>

#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kOwner{0xE, 1};
constexpr uint64_t kObjectSize = 4096;
constexpr int kSlots = 100;  // the segment holds exactly this many objects

class EvictionTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        config_.eviction_high_watermark_ratio = 0.9;
        config_.eviction_ratio = 0.2;
        config_.client_ttl_sec = int64_t{1} << 30;
        MasterCoreTest::SetUp();
        MountOne();
    }
    void MountOne() { Mount(kOwner, "node:1", kSlots * kObjectSize); }
    static ReplicateConfig SoftPinned() {
        ReplicateConfig config;
        config.with_soft_pin = true;
        return config;
    }
    // Restarts with config_ but a watermark of 1.0, which never triggers the
    // background eviction: only a failed allocation evicts.
    void RestartWithoutBackgroundEviction() {
        config_.eviction_high_watermark_ratio = 1.0;
        Restart();
        MountOne();
    }

    // Puts objects "k0".."k{count-1}", one millisecond apart (k0 oldest).
    void Fill(int count, const std::string& prefix = "k", ReplicateConfig config = {}) {
        for (int i = 0; i < count; ++i) {
            Put(prefix + std::to_string(i), kObjectSize, config);
            AdvanceMs(1);
        }
    }
    // Objects still stored among prefix0..prefix{count-1}.
    int Surviving(int count, const std::string& prefix = "k") {
        int alive = 0;
        for (int i = 0; i < count; ++i) {
            if (GetCode(prefix + std::to_string(i)) != ErrorCode::OBJECT_NOT_FOUND) ++alive;
        }
        return alive;
    }
    // Like Surviving, without granting leases (ExistKey grants none).
    bool Stored(const std::string& key) { return Exists(key); }
};

TEST_F(EvictionTest, AboveTheWatermarkEvictsTheOldestShare) {
    Fill(95);  // 95 % used, above 90 %
    EXPECT_EQ(service_->GetStats().evictions, 0u) << "no eviction in the put path";
    service_->RunMaintenance();
    const MasterStats stats = service_->GetStats();
    // At least 20 % of 95 objects (19), and usage below 90 % (<= 90 objects).
    EXPECT_EQ(stats.evictions, 19u);
    EXPECT_EQ(stats.eviction_rounds, 1u);
    EXPECT_EQ(stats.object_count, 76u);
    EXPECT_EQ(stats.used_bytes, 76 * kObjectSize);
    for (int i = 0; i < 19; ++i) EXPECT_FALSE(Stored("k" + std::to_string(i))) << i;
    for (int i = 19; i < 95; ++i) EXPECT_TRUE(Stored("k" + std::to_string(i))) << i;
}

TEST_F(EvictionTest, BelowTheWatermarkNothingHappens) {
    Fill(90);  // exactly 90 %: not above
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().evictions, 0u);
    EXPECT_EQ(service_->GetStats().eviction_rounds, 0u);
    EXPECT_EQ(service_->GetStats().object_count, 90u);
}

TEST_F(EvictionTest, UsageIsBroughtBelowTheWatermarkEvenBeyondTheRatio) {
    config_.eviction_ratio = 0.0;
    Restart();
    MountOne();
    Fill(100);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().object_count, 90u);
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(Stored("k" + std::to_string(i)));
}

TEST_F(EvictionTest, RecentlyReadObjectsSurvive) {
    Fill(95);
    // Reading the five oldest makes them the most recent (and leases them;
    // let the lease run out so only recency protects them).
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(service_->GetReplicaList("k" + std::to_string(i)));
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms) + 1);
    service_->RunMaintenance();
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(Stored("k" + std::to_string(i))) << i;
    for (int i = 5; i < 24; ++i) EXPECT_FALSE(Stored("k" + std::to_string(i))) << i;
    EXPECT_EQ(service_->GetStats().object_count, 76u);
}

TEST_F(EvictionTest, LeasedAndUnfinishedObjectsAreNeverEvicted) {
    // The oldest 10: five unfinished puts, five leased objects.
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(service_->PutStart(kWriter, "pending" + std::to_string(i), kObjectSize, {}));
        AdvanceMs(1);
    }
    Fill(5, "leased");
    Fill(85);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(service_->GetReplicaList("leased" + std::to_string(i)));
    service_->RunMaintenance();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(GetCode("pending" + std::to_string(i)), ErrorCode::REPLICA_IS_NOT_READY);
        EXPECT_TRUE(Stored("leased" + std::to_string(i)));
    }
    EXPECT_EQ(service_->GetStats().evictions, 19u);
    for (int i = 0; i < 19; ++i) EXPECT_FALSE(Stored("k" + std::to_string(i))) << i;
}

TEST_F(EvictionTest, AFailedAllocationEvictsSynchronously) {
    config_.eviction_ratio = 0.05;
    RestartWithoutBackgroundEviction();
    Fill(kSlots);
    service_->RunMaintenance();
    EXPECT_EQ(service_->GetStats().evictions, 0u);

    auto replicas = service_->PutStart(kWriter, "one-more", kObjectSize, {});
    ASSERT_TRUE(replicas.has_value());
    const MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.eviction_rounds, 1u);
    EXPECT_EQ(stats.evictions, 5u);  // 5 % of 100
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(Stored("k" + std::to_string(i)));
    EXPECT_TRUE(Stored("k5"));
}

TEST_F(EvictionTest, NoSpaceWhenEverythingIsLeased) {
    RestartWithoutBackgroundEviction();
    Fill(kSlots);
    for (int i = 0; i < kSlots; ++i) ASSERT_TRUE(service_->GetReplicaList("k" + std::to_string(i)));
    const MasterStats before = service_->GetStats();
    EXPECT_EQ(service_->PutStart(kWriter, "one-more", kObjectSize, {}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(StateOf(service_->GetStats()), StateOf(before));
    EXPECT_EQ(service_->GetStats().evictions, 0u);
    // Once the leases end the same put succeeds.
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    EXPECT_TRUE(service_->PutStart(kWriter, "one-more", kObjectSize, {}).has_value());
}

TEST_F(EvictionTest, ObjectsLargerThanEverySegmentEvictNothing) {
    Fill(50);
    EXPECT_EQ(service_->PutStart(kWriter, "huge", 2 * kSlots * kObjectSize, {}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(service_->GetStats().evictions, 0u);
    EXPECT_EQ(service_->GetStats().object_count, 50u);
}

// ---- soft pin ---------------------------------------------------------------------

TEST_F(EvictionTest, SoftPinnedObjectsGoLast) {
    Fill(10, "pinned", SoftPinned());  // the oldest
    Fill(85);
    service_->RunMaintenance();
    // 19 evicted, all unpinned, though the pinned ones are older.
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(Stored("pinned" + std::to_string(i))) << i;
    EXPECT_EQ(Surviving(85), 85 - 19);
}

TEST_F(EvictionTest, SoftPinnedObjectsAreTakenWhenNothingElseIsLeft) {
    RestartWithoutBackgroundEviction();
    Fill(kSlots, "pinned", SoftPinned());
    EXPECT_TRUE(service_->PutStart(kWriter, "new", kObjectSize, {}).has_value());
    // 20 % of the objects, oldest first, though all are pinned.
    EXPECT_EQ(service_->GetStats().evictions, 20u);
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(Stored("pinned" + std::to_string(i))) << i;
    EXPECT_TRUE(Stored("pinned20"));
}

TEST_F(EvictionTest, SoftPinnedObjectsStayWhenTheConfigSaysSo) {
    config_.allow_evict_soft_pinned_objects = false;
    RestartWithoutBackgroundEviction();
    Fill(kSlots, "pinned", SoftPinned());
    EXPECT_EQ(service_->PutStart(kWriter, "new", kObjectSize, {}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(service_->GetStats().object_count, static_cast<uint64_t>(kSlots));
}

TEST_F(EvictionTest, SoftPinLapsesWhenNotAccessed) {
    config_.default_kv_soft_pin_ttl_ms = 60'000;
    Restart();
    MountOne();
    Fill(2, "pinned", SoftPinned());
    Fill(93);
    // pinned1 is read now and then, pinned0 never again.
    for (int minute = 0; minute < 2; ++minute) {
        AdvanceMs(40'000);
        ASSERT_TRUE(service_->GetReplicaList("pinned1"));
    }
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    service_->RunMaintenance();
    EXPECT_FALSE(Stored("pinned0")) << "its pin lapsed: the oldest ordinary object";
    EXPECT_TRUE(Stored("pinned1")) << "still pinned: accessed within the TTL";
    EXPECT_EQ(service_->GetStats().evictions, 19u);
    EXPECT_EQ(Surviving(93), 93 - 18);
}

TEST_F(EvictionTest, APutsOwnSoftPinTtlEndsItsPin) {
    ReplicateConfig short_pin;
    short_pin.soft_pin_action = SoftPinAction::ENABLE;
    short_pin.soft_pin_ttl_ms = 10'000;
    ReplicateConfig default_pin;
    default_pin.with_soft_pin = true;  // the master's 30 min
    Fill(1, "short", short_pin);
    Fill(1, "long", default_pin);
    Fill(93);
    AdvanceMs(20'000);
    service_->RunMaintenance();
    EXPECT_FALSE(Stored("short0")) << "its own 10 s pin ended: the oldest ordinary object";
    EXPECT_TRUE(Stored("long0"));
}

TEST_F(EvictionTest, SoftPinTtlNeedsASoftPinAndABound) {
    ReplicateConfig config;
    config.soft_pin_ttl_ms = 1000;
    EXPECT_EQ(service_->PutStart(kWriter, "ttl", 10, config).error(), ErrorCode::INVALID_PARAMS);
    config.with_soft_pin = true;
    config.soft_pin_ttl_ms = kMaxSoftPinTtlMs + 1;
    EXPECT_EQ(service_->PutStart(kWriter, "ttl", 10, config).error(), ErrorCode::INVALID_PARAMS);
}

TEST_F(EvictionTest, HardPinnedObjectsAreNeverEvicted) {
    RestartWithoutBackgroundEviction();
    ReplicateConfig hard;
    hard.with_hard_pin = true;
    Fill(kSlots, "hard", hard);
    EXPECT_EQ(service_->PutStart(kWriter, "new", kObjectSize, {}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(service_->GetStats().evictions, 0u);
    EXPECT_TRUE(service_->Remove("hard0").has_value()) << "removable, only not evictable";
}

// ---- the background thread ----------------------------------------------------------

TEST(EvictionBackgroundTest, TheBackgroundThreadEvictsAboveTheWatermark) {
    MasterConfig config;
    config.eviction_high_watermark_ratio = 0.5;
    config.eviction_ratio = 0.1;
    config.client_ttl_sec = 3600;
    MasterService service(config);  // system clock
    service.StartBackgroundThread();
    ASSERT_TRUE(service.MountSegment(
        kOwner, {UUID::Generate(), "node:1", 0x10000000, kSlots * kObjectSize}));
    for (int i = 0; i < 80; ++i) {
        const std::string key = "k" + std::to_string(i);
        if (service.PutStart(kOwner, key, kObjectSize, {})) {
            ASSERT_TRUE(service.PutEnd(kOwner, key));
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (service.GetStats().used_bytes > kSlots * kObjectSize / 2 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_LE(service.GetStats().used_bytes, kSlots * kObjectSize / 2);
    EXPECT_GE(service.GetStats().eviction_rounds, 1u);
    service.StopBackgroundThread();
}

}  // namespace
}  // namespace mooncake::testing
