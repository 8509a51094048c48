// SSD offload in the master's logic: local-disk mounts, the eager queue,
// LOCAL_DISK replicas in get / exist / remove, eviction in on-evict mode,
// client death (docs/ssd_offload.md).
#include <algorithm>

#include "master/promotion_queue.h"
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

// MasterService::kOffloadPinMs: how long a queued object stays pinned.
constexpr int64_t kOffloadPinMsForTest = 60'000;

class MasterOffloadTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        config_.enable_offload = true;
        Restart();
    }

    // Takes the writer's offload work and reports it written.
    std::vector<OffloadItem> OffloadAll(const UUID& client = kWriter) {
        auto work = service_->OffloadHeartbeat(client, 1000);
        EXPECT_TRUE(work.has_value());
        if (!work) return {};
        EXPECT_TRUE(service_->NotifyOffloadSuccess(client, work->offload, false));
        return work->offload;
    }

    size_t DiskReplicas(const std::string& key) {
        auto list = service_->GetReplicaList(key);
        if (!list) return 0;
        return std::count_if(list->replicas.begin(), list->replicas.end(),
                             [](const ReplicaDescriptor& r) { return r.is_local_disk_replica(); });
    }

    static inline const std::string kEndpoint = "127.0.0.1:7000";
};

TEST_F(MasterOffloadTest, MountNeedsEnableOffload) {
    config_.enable_offload = false;
    Restart();
    EXPECT_EQ(service_->MountLocalDisk(kWriter, kEndpoint, true).error(),
              ErrorCode::UNABLE_OFFLOAD);
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10).error(), ErrorCode::UNABLE_OFFLOAD);
}

TEST_F(MasterOffloadTest, EagerPutIsQueuedForTheSegmentOwnerAndReported) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    Put("a", 1000);
    Put("b", 2000);
    auto items = OffloadAll();
    ASSERT_EQ(items.size(), 2u);
    auto list = service_->GetReplicaList("a");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->replicas.size(), 2u);
    EXPECT_TRUE(list->replicas[0].is_memory_replica());  // memory first
    ASSERT_TRUE(list->replicas[1].is_local_disk_replica());
    EXPECT_FALSE(list->replicas[1].is_disk_replica());
    EXPECT_EQ(list->replicas[1].local_disk().client_id, kWriter);
    EXPECT_EQ(list->replicas[1].local_disk().object_size, 1000u);
    EXPECT_EQ(list->replicas[1].local_disk().transport_endpoint, kEndpoint);
    auto stats = service_->GetLocalDiskStats();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].objects, 2u);
    EXPECT_EQ(stats[0].bytes, 3000u);
    EXPECT_EQ(service_->GetStats().offloaded, 2u);
    // Nothing is queued twice.
    EXPECT_TRUE(service_->OffloadHeartbeat(kWriter, 10)->offload.empty());
}

TEST_F(MasterOffloadTest, ClientWithoutDiskIsNotQueued) {
    Mount(kWriter, "w:1", 16 * kMiB);
    Put("a", 1000);
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10).error(), ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(service_->GetStats().offload_queued, 0u);
}

TEST_F(MasterOffloadTest, QueueLimitRejectsBeyondIt) {
    config_.offloading_queue_limit = 2;
    Restart();
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    for (const char* key : {"a", "b", "c"}) Put(key, 100);
    EXPECT_EQ(service_->GetStats().offload_queue_rejected, 1u);
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10)->offload.size(), 2u);
}

TEST_F(MasterOffloadTest, DiskCopySurvivesEvictionAndIsReadable) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 600 * kKiB);
    OffloadAll();
    AdvanceSec(10);        // the lease of the offload pin ends
    Put("b", 600 * kKiB);  // evicts "a" from memory
    auto list = service_->GetReplicaList("a");
    ASSERT_TRUE(list) << ToInt(list.error());
    ASSERT_EQ(list->replicas.size(), 1u);
    EXPECT_TRUE(list->replicas[0].is_local_disk_replica());
    EXPECT_TRUE(Exists("a"));
    EXPECT_EQ(service_->GetStats().disk_gets, 1u);
    // The key still exists: no second value under it.
    EXPECT_EQ(service_->PutStart(kWriter, "a", 10, {}).error(), ErrorCode::OBJECT_ALREADY_EXISTS);
    auto keys = service_->GetAllKeys();
    EXPECT_EQ(std::count(keys.begin(), keys.end(), "a"), 1);
}

TEST_F(MasterOffloadTest, QueuedReplicaIsPinnedUntilWritten) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 600 * kKiB);
    // Not offloaded yet: "a" may not be evicted for "b".
    auto second = service_->PutStart(kWriter, "b", 600 * kKiB, {});
    EXPECT_FALSE(second);
    OffloadAll();
    AdvanceSec(10);
    EXPECT_TRUE(service_->PutStart(kWriter, "b", 600 * kKiB, {}));
}

TEST_F(MasterOffloadTest, HeartbeatHandsOutTheMemoryCopyUnderThePin) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 600 * kKiB);
    auto work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(work);
    ASSERT_EQ(work->offload.size(), 1u);
    const OffloadItem& item = work->offload[0];
    ASSERT_EQ(item.sources.size(), 1u);
    EXPECT_TRUE(item.sources[0].is_memory_replica());
    EXPECT_EQ(item.sources[0].memory().size, 600 * kKiB);
    // Never promised for longer than a lease (the restart grace covers it).
    EXPECT_EQ(item.pin_ms, config_.default_kv_lease_ttl_ms);
    // The worker read it without a lease: once reported, its space is free
    // at once for the next put.
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, work->offload, false));
    EXPECT_TRUE(service_->PutStart(kWriter, "b", 600 * kKiB, {}));
}

TEST_F(MasterOffloadTest, NoSourcesOnceThePinIsNearlyOver) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 1000);
    AdvanceMs(kOffloadPinMsForTest - 500);
    auto work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(work);
    ASSERT_EQ(work->offload.size(), 1u);
    EXPECT_EQ(work->offload[0].pin_ms, 500u);
    EXPECT_FALSE(work->offload[0].sources.empty());
    // A pin that has run out promises nothing: the worker must go through
    // GetReplicaList (and its lease) instead.
    Put("b", 1000);
    AdvanceMs(kOffloadPinMsForTest);
    work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(work);
    ASSERT_EQ(work->offload.size(), 1u);  // only "b": "a" was taken already
    EXPECT_EQ(work->offload[0].key, "b");
    EXPECT_TRUE(work->offload[0].sources.empty());
    EXPECT_EQ(work->offload[0].pin_ms, 0u);
}

TEST_F(MasterOffloadTest, RemoveDropsDiskReplicasAndTellsTheHolder) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    Put("a", 100);
    Put("b", 100);
    OffloadAll();
    AdvanceSec(10);
    ASSERT_TRUE(service_->Remove("a"));
    EXPECT_FALSE(Exists("a"));
    auto work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(work);
    EXPECT_EQ(work->remove, std::vector<std::string>{"a"});
    EXPECT_EQ(service_->RemoveAll(), 1);
    EXPECT_FALSE(Exists("b"));
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10)->remove, std::vector<std::string>{"b"});
}

TEST_F(MasterOffloadTest, OffloadOfARemovedObjectDoesNotBringItBack) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    Put("a", 100);
    auto work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_EQ(work->offload.size(), 1u);
    ASSERT_TRUE(service_->Remove("a", /*force=*/true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, work->offload, false));
    EXPECT_FALSE(Exists("a"));
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10)->remove, std::vector<std::string>{"a"});
}

TEST_F(MasterOffloadTest, UpsertCancelsAQueuedOffloadAndWaitsForOneBeingWritten) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    ReplicateConfig upsert;
    upsert.upsert = true;
    Put("queued", 100);
    // Queued, not yet taken: cancelled, and the pin no longer holds the
    // bytes, so they are rewritten in place.
    auto first = service_->GetReplicaList("queued");
    AdvanceSec(10);  // the reader's lease ends
    auto rewritten = service_->PutStart(kWriter, "queued", 100, upsert);
    ASSERT_TRUE(rewritten.has_value());
    EXPECT_EQ((*rewritten)[0].memory().buffer_address, first->replicas[0].memory().buffer_address);
    ASSERT_TRUE(service_->PutEnd(kWriter, "queued").has_value());
    // The new value is queued once (the old entry is gone).
    auto work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(work.has_value());
    ASSERT_EQ(work->offload.size(), 1u);
    // Being written now: the upsert must not tear that copy.
    EXPECT_EQ(service_->PutStart(kWriter, "queued", 100, upsert).error(),
              ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, work->offload, false));
    EXPECT_EQ(DiskReplicas("queued"), 1u);
    // Written: the upsert goes ahead and the disk copy of the old value goes.
    AdvanceSec(10);
    ASSERT_TRUE(service_->PutStart(kWriter, "queued", 100, upsert).has_value());
    ASSERT_TRUE(service_->PutEnd(kWriter, "queued").has_value());
    work = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(work.has_value());
    EXPECT_EQ(work->remove, std::vector<std::string>{"queued"});
    EXPECT_EQ(work->offload.size(), 1u);  // the new value, again
}

TEST_F(MasterOffloadTest, UpsertOfAKeyOnlyOnDiskPutsItInMemory) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 600 * kKiB);
    OffloadAll();
    AdvanceSec(10);
    Put("b", 600 * kKiB);  // evicts "a" from memory
    ASSERT_EQ(DiskReplicas("a"), 1u);
    ASSERT_TRUE(service_->Remove("b", /*force=*/true));
    ReplicateConfig upsert;
    upsert.upsert = true;
    ASSERT_TRUE(service_->PutStart(kWriter, "a", 10, upsert).has_value());
    ASSERT_TRUE(service_->PutEnd(kWriter, "a").has_value());
    auto list = service_->GetReplicaList("a");
    ASSERT_TRUE(list.has_value());
    ASSERT_EQ(list->replicas.size(), 1u);
    EXPECT_TRUE(list->replicas[0].is_memory_replica());
    EXPECT_EQ(list->replicas[0].memory().size, 10u);
}

TEST_F(MasterOffloadTest, RescanReportRecreatesObjectsAfterRestart) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    EXPECT_FALSE(Exists("old"));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"old", 4096}}, true));
    EXPECT_TRUE(Exists("old"));
    EXPECT_EQ(DiskReplicas("old"), 1u);
}

TEST_F(MasterOffloadTest, RescannedFileOfAnEarlierValueIsNotTakenForTheCurrentOne) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    Put("k", 100);
    const std::vector<OffloadItem> first = OffloadAll();
    ASSERT_EQ(first.size(), 1u);
    ASSERT_NE(first[0].value_id, 0u);
    AdvanceSec(10);
    // The holder dies before its heartbeat deletes the removed value's
    // file, and the key is put again with a value of the same size.
    ASSERT_TRUE(service_->Remove("k"));
    Put("k", 100);
    auto second = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(second.has_value());
    ASSERT_EQ(second->offload.size(), 1u);
    EXPECT_NE(second->offload[0].value_id, first[0].value_id);
    // The restarted holder's rescan finds the old file: it is not taken for
    // the new value, and the holder is told to delete it.
    const UUID restarted{7, 7};
    ASSERT_TRUE(service_->MountLocalDisk(restarted, "127.0.0.1:7002", true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(restarted, first, /*from_rescan=*/true));
    EXPECT_EQ(DiskReplicas("k"), 0u);
    EXPECT_EQ(service_->OffloadHeartbeat(restarted, 10)->remove, std::vector<std::string>{"k"});
    // A file of the current value is taken; so is one that names no value
    // (written before ids existed): key and size decide, as before.
    ASSERT_TRUE(service_->NotifyOffloadSuccess(restarted, second->offload, true));
    EXPECT_EQ(DiskReplicas("k"), 1u);
    const UUID old_file{8, 8};
    ASSERT_TRUE(service_->MountLocalDisk(old_file, "127.0.0.1:7003", true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(old_file, {{"k", 100}}, true));
    EXPECT_EQ(DiskReplicas("k"), 2u);
}

TEST_F(MasterOffloadTest, RescannedFileThatAnotherDiskContradictsIsNotTaken) {
    // After a master restart only the disks know the object: the first
    // report decides, and a file of another value or size is stale.
    const UUID second{7, 7};
    const UUID third{8, 8};
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    ASSERT_TRUE(service_->MountLocalDisk(second, "127.0.0.1:7002", true));
    ASSERT_TRUE(service_->MountLocalDisk(third, "127.0.0.1:7003", true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"d", 4096, 41}}, true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(second, {{"d", 4096, 42}}, true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(third, {{"d", 100, 41}}, true));
    EXPECT_EQ(DiskReplicas("d"), 1u);
    EXPECT_EQ(service_->OffloadHeartbeat(second, 10)->remove, std::vector<std::string>{"d"});
    EXPECT_EQ(service_->OffloadHeartbeat(third, 10)->remove, std::vector<std::string>{"d"});
    ASSERT_TRUE(service_->NotifyOffloadSuccess(second, {{"d", 4096, 41}}, true));
    EXPECT_EQ(DiskReplicas("d"), 2u);
}

TEST_F(MasterOffloadTest, DiskEvictionAndClientDeathDropReplicas) {
    const UUID other{0x3333, 0x4444};
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    ASSERT_TRUE(service_->MountLocalDisk(other, "127.0.0.1:7001", true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"a", 10}, {"b", 10}}, true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(other, {{"b", 10}}, true));
    EXPECT_EQ(DiskReplicas("b"), 2u);
    ASSERT_TRUE(service_->NotifyDiskEvicted(kWriter, {"a"}));
    EXPECT_FALSE(Exists("a"));
    ASSERT_TRUE(service_->UnregisterClient(kWriter));
    EXPECT_EQ(DiskReplicas("b"), 1u);
    // `other` goes silent: its disk is no longer readable.
    AdvanceSec(config_.client_ttl_sec + 1);
    service_->RunMaintenance();
    EXPECT_FALSE(Exists("b"));
    EXPECT_EQ(service_->OffloadHeartbeat(other, 10).error(), ErrorCode::SEGMENT_NOT_FOUND);
}

TEST_F(MasterOffloadTest, OnEvictQueuesFirstThenEvicts) {
    config_.offload_on_evict = true;
    Restart();
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 600 * kKiB);
    EXPECT_EQ(service_->GetStats().offload_queued, 0u);  // nothing at put end
    // "b" does not fit: eviction queues "a" instead of dropping it.
    EXPECT_FALSE(service_->PutStart(kWriter, "b", 600 * kKiB, {}));
    EXPECT_EQ(service_->GetStats().offload_queued, 1u);
    EXPECT_TRUE(Exists("a"));
    OffloadAll();
    AdvanceSec(10);
    ASSERT_TRUE(service_->PutStart(kWriter, "b", 600 * kKiB, {}));  // now "a" leaves memory
    EXPECT_EQ(DiskReplicas("a"), 1u);
    auto list = service_->GetReplicaList("a");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->replicas.size(), 1u);
}

TEST_F(MasterOffloadTest, OnEvictWithoutDiskEvictsAsBefore) {
    config_.offload_on_evict = true;
    Restart();
    Mount(kWriter, "w:1", 1 * kMiB);
    Put("a", 600 * kKiB);
    AdvanceSec(10);
    EXPECT_TRUE(service_->PutStart(kWriter, "b", 600 * kKiB, {}));
    EXPECT_FALSE(Exists("a"));
}

// --promotion_on_hit: reads answered from disk alone are counted; at the
// admission threshold the holder is handed the key by its heartbeat (at most
// promotion_max_per_heartbeat a time), and the put that brings it back to
// memory is not offloaded again.
TEST_F(MasterOffloadTest, RepeatedDiskReadsHandTheHolderAPromotion) {
    config_.promotion_on_hit = true;
    config_.promotion_admission_threshold = 2;
    config_.promotion_max_per_heartbeat = 1;
    Restart();
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"hot", 4096, 5}, {"warm", 4096}}, true));
    EXPECT_EQ(DiskReplicas("hot"), 1u);  // one read: below the threshold
    EXPECT_TRUE(service_->OffloadHeartbeat(kWriter, 10)->promote.empty());
    EXPECT_EQ(DiskReplicas("hot"), 1u);
    EXPECT_EQ(DiskReplicas("hot"), 1u);  // queued once, however often read
    EXPECT_EQ(DiskReplicas("warm"), 1u);
    EXPECT_EQ(DiskReplicas("warm"), 1u);
    EXPECT_EQ(service_->GetStats().promotion_queue_length, 2u);
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10)->promote, (std::vector<std::string>{"hot"}));

    // The holder puts it back into memory: memory replica first, the disk
    // copy stays, nothing is queued to be written again. Another client
    // may not put the key.
    Mount(kWriter, "w:1", 16 * kMiB);
    const UUID other{0x3333, 0x4444};
    EXPECT_EQ(CodeOf(service_->PutStart(other, "hot", 4096, {})), ErrorCode::OBJECT_ALREADY_EXISTS);
    Put("hot", 4096);
    auto list = service_->GetReplicaList("hot");
    ASSERT_TRUE(list);
    ASSERT_FALSE(list->replicas.empty());
    EXPECT_TRUE(list->replicas[0].is_memory_replica());
    EXPECT_EQ(DiskReplicas("hot"), 1u);
    // Reads served from memory do not count.
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(service_->GetReplicaList("hot"));

    auto next = service_->OffloadHeartbeat(kWriter, 10);
    ASSERT_TRUE(next);
    EXPECT_TRUE(next->offload.empty());
    EXPECT_EQ(next->promote, (std::vector<std::string>{"warm"}));
    EXPECT_TRUE(service_->OffloadHeartbeat(kWriter, 10)->promote.empty());
    EXPECT_EQ(service_->GetStats().promotions_handed_out, 2u);
    // A promotion not put before the next heartbeat lapses: the key is on
    // disk, so a put of it is refused again.
    EXPECT_EQ(CodeOf(service_->PutStart(kWriter, "warm", 4096, {})),
              ErrorCode::OBJECT_ALREADY_EXISTS);
    // The promoted memory copy is the disk copy's value: a file of it (as a
    // restarted holder's rescan reports it) is taken, one of another is not.
    const UUID second_disk{0x5555, 0x6666};
    ASSERT_TRUE(service_->MountLocalDisk(second_disk, "127.0.0.1:7002", true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(second_disk, {{"hot", 4096, 6}}, true));
    EXPECT_EQ(DiskReplicas("hot"), 1u);
    ASSERT_TRUE(service_->NotifyOffloadSuccess(second_disk, {{"hot", 4096, 5}}, true));
    EXPECT_EQ(DiskReplicas("hot"), 2u);
}

// A promotion whose disk copy is removed before the holder puts it does not
// bring the key back.
TEST_F(MasterOffloadTest, RemovedKeyIsNotResurrectedByItsPromotion) {
    config_.promotion_on_hit = true;
    config_.promotion_admission_threshold = 1;
    Restart();
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    Mount(kWriter, "w:1", 16 * kMiB);
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"gone", 4096}}, true));
    EXPECT_EQ(DiskReplicas("gone"), 1u);
    EXPECT_EQ(service_->OffloadHeartbeat(kWriter, 10)->promote, (std::vector<std::string>{"gone"}));
    ASSERT_TRUE(service_->Remove("gone"));
    EXPECT_EQ(CodeOf(service_->PutStart(kWriter, "gone", 4096, {})), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(GetCode("gone"), ErrorCode::OBJECT_NOT_FOUND);
    // The claim is spent: a later put of the key is an ordinary new put.
    Put("gone", 4096);
}

TEST_F(MasterOffloadTest, PromotionsNeedTheFlagAndFollowTheirDisk) {
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"k", 10}}, true));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(DiskReplicas("k"), 1u);
    EXPECT_TRUE(service_->OffloadHeartbeat(kWriter, 10)->promote.empty());

    config_.promotion_on_hit = true;
    config_.promotion_admission_threshold = 1;
    Restart();
    ASSERT_TRUE(service_->MountLocalDisk(kWriter, kEndpoint, true));
    ASSERT_TRUE(service_->NotifyOffloadSuccess(kWriter, {{"k", 10}}, true));
    EXPECT_EQ(DiskReplicas("k"), 1u);
    EXPECT_EQ(service_->GetStats().promotion_queue_length, 1u);
    // The disk goes away before the heartbeat: so does its promotion.
    ASSERT_TRUE(service_->UnmountLocalDisk(kWriter));
    EXPECT_EQ(service_->GetStats().promotion_queue_length, 0u);
}

TEST(PromotionQueueTest, AdmissionThresholdQueueLimitAndAging) {
    const UUID holder{1, 2};
    PromotionQueue queue(/*admission_threshold=*/3, /*queue_limit=*/2);
    EXPECT_FALSE(queue.RecordDiskRead("a", holder));
    EXPECT_FALSE(queue.RecordDiskRead("a", holder));
    EXPECT_TRUE(queue.RecordDiskRead("a", holder));
    EXPECT_FALSE(queue.RecordDiskRead("a", holder));  // already queued
    for (int i = 0; i < 3; ++i) (void)queue.RecordDiskRead("b", holder);
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(queue.RecordDiskRead("c", holder));
    EXPECT_EQ(queue.queued(), 2u);
    EXPECT_EQ(queue.rejected(), 1u);  // "c" found the queue full
    EXPECT_EQ(queue.Take(holder, 10), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(queue.Take(UUID{9, 9}, 10).empty());
    // Thousands of one-off reads age the counters: a key read twice long ago
    // needs fresh reads again.
    (void)queue.RecordDiskRead("d", holder);
    (void)queue.RecordDiskRead("d", holder);
    for (int i = 0; i < 200000; ++i)
        (void)queue.RecordDiskRead("x" + std::to_string(i), UUID{3, 3});
    (void)queue.Take(UUID{3, 3}, 1u << 20);
    EXPECT_FALSE(queue.RecordDiskRead("d", holder));
}

TEST(PromotionQueueTest, HandedOutKeyIsNotQueuedAgainUntilTheNextTake) {
    const UUID holder{1, 2};
    PromotionQueue queue(/*admission_threshold=*/2, /*queue_limit=*/8);
    (void)queue.RecordDiskRead("a", holder);
    EXPECT_TRUE(queue.RecordDiskRead("a", holder));
    EXPECT_EQ(queue.Take(holder, 4), (std::vector<std::string>{"a"}));
    // Reads while the client promotes it (before and after its PutStart).
    EXPECT_FALSE(queue.RecordDiskRead("a", holder));
    EXPECT_TRUE(queue.Claim("a", holder));
    EXPECT_FALSE(queue.Claim("a", holder));  // once
    EXPECT_FALSE(queue.RecordDiskRead("a", holder));
    EXPECT_EQ(queue.admitted(), 1u);
    EXPECT_TRUE(queue.Take(holder, 4).empty());
    // Still read from disk alone after that: the promotion did not happen.
    EXPECT_TRUE(queue.RecordDiskRead("a", holder));
    EXPECT_EQ(queue.admitted(), 2u);
}

TEST(MasterOffloadConfigTest, Validation) {
    MasterConfig config;
    EXPECT_FALSE(ValidateMasterConfig(config));
    config.offloading_queue_limit = 0;
    EXPECT_TRUE(ValidateMasterConfig(config));
    config.offloading_queue_limit = 100'000'001;
    EXPECT_TRUE(ValidateMasterConfig(config));
    config.offloading_queue_limit = 10;
    config.offload_cap_ratio = 1.5;
    EXPECT_TRUE(ValidateMasterConfig(config));
}

}  // namespace
}  // namespace mooncake::testing
