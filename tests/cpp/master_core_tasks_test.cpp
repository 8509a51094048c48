// Copy and move tasks: the table, assignment, timeouts, limits, and the
// CopyStart/MoveStart primitives.
#include "master/task_table.h"
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kAlice{0xA11CE, 1};
const UUID kBob{0xB0B, 2};
const UUID kCarol{0xCA201, 3};  // owns no segment

class TasksTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        config_.client_ttl_sec = 60;
        config_.pending_task_timeout_sec = 100;
        config_.processing_task_timeout_sec = 50;
        config_.max_retry_attempts = 2;
        MasterCoreTest::SetUp();
        MountAll();
    }
    void MountAll() {
        alice_segment_ = Mount(kAlice, "alice:1", 4 * kMiB);
        bob_segment_ = Mount(kBob, "bob:1", 4 * kMiB);
        ASSERT_TRUE(service_->ReMountSegments(kCarol, {}));
    }
    void PutOnAlice(const std::string& key, uint64_t size = 1000) {
        ReplicateConfig config;
        config.preferred_segment = "alice:1";
        Put(key, size, config);
    }
    TaskStatus StatusOf(const UUID& id) { return service_->QueryTask(id)->status; }
    // Puts "k" on Alice's segment and asks for a task copying it to Bob's.
    Result<UUID> CopyKToBob() {
        PutOnAlice("k");
        return service_->CreateCopyTask("k", {"bob:1"});
    }

    SegmentInfo alice_segment_;
    SegmentInfo bob_segment_;
    void PingAll() {
        for (const UUID& client : {kAlice, kBob, kCarol}) {
            ASSERT_EQ(service_->Ping(client)->status, ClientStatus::OK);
        }
    }
};

TEST_F(TasksTest, CopyTaskLifecycle) {
    auto id = CopyKToBob();
    ASSERT_TRUE(id.has_value());
    TaskInfo info = service_->QueryTask(*id).value();
    EXPECT_EQ(info.status, TaskStatus::PENDING);
    EXPECT_EQ(info.type, TaskType::REPLICA_COPY);
    EXPECT_EQ(info.key, "k");
    EXPECT_EQ(info.targets, std::vector<std::string>{"bob:1"});
    EXPECT_EQ(info.created_at_ms_epoch, clock_->EpochMs());
    EXPECT_EQ(service_->GetStats().tasks_pending, 1u);

    // Bob and Carol ping first, but Alice owns the source replica.
    EXPECT_TRUE(service_->Ping(kBob)->tasks.empty());
    EXPECT_TRUE(service_->Ping(kCarol)->tasks.empty());
    AdvanceMs(10);
    auto ping = service_->Ping(kAlice);
    ASSERT_EQ(ping->tasks.size(), 1u);
    EXPECT_EQ(ping->tasks[0].id, *id);
    EXPECT_EQ(ping->tasks[0].key, "k");
    EXPECT_EQ(ping->tasks[0].targets, std::vector<std::string>{"bob:1"});
    info = service_->QueryTask(*id).value();
    EXPECT_EQ(info.status, TaskStatus::PROCESSING);
    EXPECT_EQ(info.assigned_client, kAlice);
    EXPECT_EQ(info.last_updated_at_ms_epoch, clock_->EpochMs());
    EXPECT_TRUE(service_->Ping(kAlice)->tasks.empty()) << "handed out once";

    // Alice runs it.
    auto copy = service_->CopyStart(kAlice, "k", {"bob:1"});
    ASSERT_TRUE(copy.has_value());
    EXPECT_EQ(copy->source.memory().transport_endpoint, "alice:1");
    EXPECT_EQ(copy->source.status, ReplicaStatus::COMPLETE);
    ASSERT_EQ(copy->targets.size(), 1u);
    EXPECT_EQ(copy->targets[0].memory().transport_endpoint, "bob:1");
    EXPECT_EQ(copy->targets[0].status, ReplicaStatus::PROCESSING);
    EXPECT_EQ(service_->GetReplicaList("k")->replicas.size(), 1u) << "target not complete yet";
    ASSERT_TRUE(service_->CopyEnd(kAlice, "k").has_value());
    EXPECT_EQ(Endpoints(service_->GetReplicaList("k")->replicas),
              (std::vector<std::string>{"alice:1", "bob:1"}));

    ASSERT_TRUE(service_->MarkTaskComplete(kAlice, *id, TaskStatus::SUCCESS, "").has_value());
    info = service_->QueryTask(*id).value();
    EXPECT_EQ(info.status, TaskStatus::SUCCESS);
    const MasterStats stats = service_->GetStats();
    EXPECT_EQ(stats.tasks_pending, 0u);
    EXPECT_EQ(stats.tasks_processing, 0u);
    EXPECT_EQ(stats.tasks_finished, 1u);
    // Reported once only.
    EXPECT_EQ(service_->MarkTaskComplete(kAlice, *id, TaskStatus::SUCCESS, "").error(),
              ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
}

TEST_F(TasksTest, OrphanedTasksGoToAnyLiveClientWithASegment) {
    auto id = CopyKToBob();
    ASSERT_TRUE(id.has_value());
    // Alice goes silent and expires; her replica goes with her, but the task
    // stays in the table until someone runs (and fails) it or it times out.
    for (int i = 0; i < 61; ++i) {
        AdvanceSec(1);
        ASSERT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
        ASSERT_EQ(service_->Ping(kCarol)->status, ClientStatus::OK);
    }
    service_->RunMaintenance();
    EXPECT_EQ(service_->Ping(kAlice)->status, ClientStatus::NEED_REMOUNT);
    EXPECT_TRUE(service_->Ping(kCarol)->tasks.empty()) << "Carol owns no segment";
    auto ping = service_->Ping(kBob);
    ASSERT_EQ(ping->tasks.size(), 1u);
    EXPECT_EQ(ping->tasks[0].id, *id);
    EXPECT_EQ(service_->QueryTask(*id)->assigned_client, kBob);
    // The object is gone, so Bob fails it.
    EXPECT_EQ(service_->CopyStart(kBob, "k", {"bob:1"}).error(), ErrorCode::OBJECT_NOT_FOUND);
    ASSERT_TRUE(service_->MarkTaskComplete(kBob, *id, TaskStatus::FAILED, "object gone"));
    EXPECT_EQ(service_->QueryTask(*id)->status, TaskStatus::FAILED);
    EXPECT_EQ(service_->QueryTask(*id)->message, "object gone");
}

TEST_F(TasksTest, PendingTaskFailsWhenNoOneTakesIt) {
    auto id = CopyKToBob();
    ASSERT_TRUE(id.has_value());
    AdvanceSec(99);
    service_->RunMaintenance();
    EXPECT_EQ(StatusOf(*id), TaskStatus::PENDING);
    AdvanceSec(1);
    service_->RunMaintenance();
    EXPECT_EQ(StatusOf(*id), TaskStatus::FAILED);
    EXPECT_FALSE(service_->QueryTask(*id)->message.empty());
    EXPECT_EQ(service_->GetStats().tasks_finished, 1u);
    EXPECT_EQ(service_->GetStats().tasks_pending, 0u);
}

TEST_F(TasksTest, ProcessingTasksAreRetriedThenFailed) {
    auto id = CopyKToBob();
    ASSERT_TRUE(id.has_value());
    // max_retry_attempts = 2: three assignments, then failure.
    for (uint32_t attempt = 0; attempt <= 2; ++attempt) {
        ASSERT_EQ(service_->Ping(kAlice)->tasks.size(), 1u) << "attempt " << attempt;
        EXPECT_EQ(StatusOf(*id), TaskStatus::PROCESSING);
        EXPECT_EQ(service_->QueryTask(*id)->attempts, attempt);
        AdvanceSec(49);
        ASSERT_EQ(service_->Ping(kAlice)->status, ClientStatus::OK);
        ASSERT_EQ(service_->Ping(kBob)->status, ClientStatus::OK);
        service_->RunMaintenance();
        EXPECT_EQ(StatusOf(*id), TaskStatus::PROCESSING);
        AdvanceSec(1);
        service_->RunMaintenance();
    }
    EXPECT_EQ(StatusOf(*id), TaskStatus::FAILED);
    EXPECT_EQ(service_->QueryTask(*id)->attempts, 2u);
    EXPECT_EQ(service_->MarkTaskComplete(kAlice, *id, TaskStatus::SUCCESS, "late").error(),
              ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
}

TEST_F(TasksTest, ReportsAreChecked) {
    auto id = CopyKToBob();
    ASSERT_TRUE(id.has_value());
    // Not assigned yet.
    EXPECT_EQ(service_->MarkTaskComplete(kAlice, *id, TaskStatus::SUCCESS, "").error(),
              ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    ASSERT_EQ(service_->FetchTasks(kAlice, 10).size(), 1u);
    EXPECT_EQ(service_->MarkTaskComplete(kBob, *id, TaskStatus::SUCCESS, "").error(),
              ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(service_->MarkTaskComplete(kAlice, *id, TaskStatus::PENDING, "").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MarkTaskComplete(kAlice, *id, TaskStatus::PROCESSING, "").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(StatusOf(*id), TaskStatus::PROCESSING);
    const std::string long_message(100000, 'm');
    ASSERT_TRUE(service_->MarkTaskComplete(kAlice, *id, TaskStatus::FAILED, long_message));
    EXPECT_LE(service_->QueryTask(*id)->message.size(), TaskTable::kMaxMessageLength);
    // FetchTasks from an unknown client hands out nothing.
    EXPECT_TRUE(service_->FetchTasks(UUID{42, 42}, 10).empty());
}

TEST_F(TasksTest, TableLimits) {
    config_.max_total_pending_tasks = 2;
    config_.max_total_finished_tasks = 2;
    config_.max_total_processing_tasks = 1;
    Restart();
    MountAll();
    PutOnAlice("k");
    auto first = service_->CreateCopyTask("k", {"bob:1"});
    auto second = service_->CreateCopyTask("k", {"bob:1"});
    ASSERT_TRUE(first && second);
    const MasterStats before = service_->GetStats();
    EXPECT_EQ(service_->CreateCopyTask("k", {"bob:1"}).error(),
              ErrorCode::TASK_PENDING_LIMIT_EXCEEDED);
    EXPECT_EQ(StateOf(service_->GetStats()), StateOf(before));

    // One processing at a time.
    auto assigned = service_->FetchTasks(kAlice, 10);
    ASSERT_EQ(assigned.size(), 1u);
    EXPECT_EQ(assigned[0].id, *first);
    EXPECT_TRUE(service_->FetchTasks(kAlice, 10).empty());
    ASSERT_TRUE(service_->MarkTaskComplete(kAlice, *first, TaskStatus::SUCCESS, ""));
    ASSERT_EQ(service_->FetchTasks(kAlice, 10).size(), 1u);
    ASSERT_TRUE(service_->MarkTaskComplete(kAlice, *second, TaskStatus::SUCCESS, ""));

    // The third finished task pushes the oldest out of the table.
    auto third = service_->CreateCopyTask("k", {"bob:1"});
    ASSERT_TRUE(third.has_value());
    ASSERT_EQ(service_->FetchTasks(kAlice, 10).size(), 1u);
    ASSERT_TRUE(service_->MarkTaskComplete(kAlice, *third, TaskStatus::SUCCESS, ""));
    EXPECT_EQ(service_->QueryTask(*first).error(), ErrorCode::TASK_NOT_FOUND);
    EXPECT_TRUE(service_->QueryTask(*second).has_value());
    EXPECT_TRUE(service_->QueryTask(*third).has_value());
    EXPECT_EQ(service_->GetStats().tasks_finished, 3u);
}

TEST_F(TasksTest, MoveTaskLeavesOneReplicaOnTheTarget) {
    PutOnAlice("k", 5000);
    EXPECT_EQ(service_->CreateMoveTask("k", "bob:1", "alice:1").error(), ErrorCode::INVALID_PARAMS)
        << "no replica on the source";
    auto id = service_->CreateMoveTask("k", "alice:1", "bob:1");
    ASSERT_TRUE(id.has_value());
    auto ping = service_->Ping(kAlice);
    ASSERT_EQ(ping->tasks.size(), 1u);
    EXPECT_EQ(ping->tasks[0].type, TaskType::REPLICA_MOVE);
    EXPECT_EQ(ping->tasks[0].source, "alice:1");
    EXPECT_EQ(ping->tasks[0].targets, std::vector<std::string>{"bob:1"});

    auto move = service_->MoveStart(kAlice, "k", "alice:1", "bob:1");
    ASSERT_TRUE(move.has_value());
    EXPECT_EQ(move->source.memory().transport_endpoint, "alice:1");
    EXPECT_EQ(move->target.memory().transport_endpoint, "bob:1");
    EXPECT_EQ(move->target.status, ReplicaStatus::PROCESSING);
    ASSERT_TRUE(service_->MoveEnd(kAlice, "k").has_value());
    ASSERT_TRUE(service_->MarkTaskComplete(kAlice, *id, TaskStatus::SUCCESS, ""));

    auto replicas = service_->GetReplicaList("k");
    ASSERT_TRUE(replicas.has_value());
    EXPECT_EQ(Endpoints(replicas->replicas), std::vector<std::string>{"bob:1"});
    // Alice's range is reused only after the lease MoveStart granted ends.
    EXPECT_EQ(service_->QuerySegment("alice:1")->used, 5056u);
    service_->RunMaintenance();
    EXPECT_EQ(service_->QuerySegment("alice:1")->used, 5056u);
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    service_->RunMaintenance();
    EXPECT_EQ(service_->QuerySegment("alice:1")->used, 0u);
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 5056u);
}

TEST_F(TasksTest, MoveWhoseTargetVanishedKeepsTheSource) {
    PutOnAlice("k", 5000);
    ASSERT_TRUE(service_->MoveStart(kAlice, "k", "alice:1", "bob:1").has_value());
    ASSERT_TRUE(service_->UnmountSegment(kBob, bob_segment_.id).has_value());
    EXPECT_EQ(service_->MoveEnd(kAlice, "k").error(), ErrorCode::SEGMENT_NOT_FOUND);
    auto replicas = service_->GetReplicaList("k");
    ASSERT_TRUE(replicas.has_value());
    EXPECT_EQ(Endpoints(replicas->replicas), std::vector<std::string>{"alice:1"});
    EXPECT_EQ(service_->QuerySegment("alice:1")->used, 5056u);
    // The move is over: the object can be moved again.
    Mount(kBob, "bob:1", 4 * kMiB);
    ASSERT_TRUE(service_->MoveStart(kAlice, "k", "alice:1", "bob:1").has_value());
    ASSERT_TRUE(service_->MoveEnd(kAlice, "k").has_value());
    EXPECT_EQ(Endpoints(service_->GetReplicaList("k")->replicas),
              std::vector<std::string>{"bob:1"});
}

TEST_F(TasksTest, RevokedMoveAndCopyGiveTheSpaceBack) {
    PutOnAlice("k", 5000);
    ASSERT_TRUE(service_->MoveStart(kAlice, "k", "alice:1", "bob:1").has_value());
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 5056u);
    EXPECT_EQ(service_->MoveEnd(kBob, "k").error(), ErrorCode::OBJECT_NO_REPLICATION_TASK);
    EXPECT_EQ(service_->CopyEnd(kAlice, "k").error(), ErrorCode::OBJECT_NO_REPLICATION_TASK);
    ASSERT_TRUE(service_->MoveRevoke(kAlice, "k").has_value());
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 0u);
    EXPECT_EQ(Endpoints(service_->GetReplicaList("k")->replicas),
              std::vector<std::string>{"alice:1"});

    ASSERT_TRUE(service_->CopyStart(kAlice, "k", {"bob:1"}).has_value());
    ASSERT_TRUE(service_->CopyRevoke(kAlice, "k").has_value());
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 0u);
    EXPECT_EQ(service_->QuerySegment("alice:1")->used, 5056u);
    EXPECT_EQ(service_->CopyEnd(kAlice, "k").error(), ErrorCode::OBJECT_NO_REPLICATION_TASK);
}

TEST_F(TasksTest, OneCopyOrMoveAtATimeAndTheObjectIsHeldMeanwhile) {
    PutOnAlice("k");
    ASSERT_TRUE(service_->CopyStart(kAlice, "k", {"bob:1"}).has_value());
    EXPECT_EQ(service_->CopyStart(kBob, "k", {"bob:1"}).error(),
              ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    EXPECT_EQ(service_->MoveStart(kBob, "k", "alice:1", "bob:1").error(),
              ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    // Even after the lease ends, the copy in flight holds the object.
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms) + 1);
    EXPECT_EQ(service_->Remove("k").error(), ErrorCode::OBJECT_HAS_REPLICATION_TASK);
    EXPECT_EQ(service_->RemoveAll(), 0);
    ASSERT_TRUE(service_->CopyEnd(kAlice, "k").has_value());
    EXPECT_EQ(service_->RemoveAll(), 1);
    EXPECT_EQ(service_->GetStats().used_bytes, 0u);
}

TEST_F(TasksTest, CopySkipsTargetsThatHoldAReplica) {
    PutOnAlice("k");
    auto copy = service_->CopyStart(kAlice, "k", {"alice:1", "bob:1", "bob:1"});
    ASSERT_TRUE(copy.has_value());
    ASSERT_EQ(copy->targets.size(), 1u);
    EXPECT_EQ(copy->targets[0].memory().transport_endpoint, "bob:1");
    ASSERT_TRUE(service_->CopyEnd(kAlice, "k"));
    // Nothing left to copy: succeeds with no target.
    auto again = service_->CopyStart(kAlice, "k", {"bob:1"});
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(again->targets.empty());
    ASSERT_TRUE(service_->CopyEnd(kAlice, "k"));
    EXPECT_EQ(service_->GetReplicaList("k")->replicas.size(), 2u);
}

TEST_F(TasksTest, CopyStartErrorsChangeNothing) {
    PutOnAlice("k");
    ASSERT_TRUE(service_->PutStart(kWriter, "pending", 100, {}));
    const MasterStats before = service_->GetStats();
    EXPECT_EQ(service_->CopyStart(kAlice, "", {"bob:1"}).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(service_->CopyStart(kAlice, "k", {}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->CopyStart(kAlice, "missing", {"bob:1"}).error(),
              ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(service_->CopyStart(kAlice, "pending", {"bob:1"}).error(),
              ErrorCode::REPLICA_IS_NOT_READY);
    EXPECT_EQ(service_->CopyStart(kAlice, "k", {"bob:1", "nowhere:1"}).error(),
              ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(service_->MoveStart(kAlice, "k", "alice:1", "alice:1").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MoveStart(kAlice, "k", "bob:1", "alice:1").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(service_->MoveStart(kAlice, "k", "alice:1", "nowhere:1").error(),
              ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(service_->CreateCopyTask("pending", {"bob:1"}).error(),
              ErrorCode::REPLICA_IS_NOT_READY);
    EXPECT_EQ(StateOf(service_->GetStats()), StateOf(before));
    // No copy in flight was left behind: a real one still starts.
    EXPECT_TRUE(service_->CopyStart(kAlice, "k", {"bob:1"}).has_value());
}

TEST_F(TasksTest, CopyWithoutSpaceFailsCleanly) {
    Mount(kCarol, "carol:1", 64 * kKiB);
    PutOnAlice("big", 128 * kKiB);
    const MasterStats before = service_->GetStats();
    EXPECT_EQ(service_->CopyStart(kAlice, "big", {"bob:1", "carol:1"}).error(),
              ErrorCode::NO_AVAILABLE_HANDLE);
    EXPECT_EQ(StateOf(service_->GetStats()), StateOf(before));
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 0u);
}

TEST_F(TasksTest, AbandonedCopyIsReclaimed) {
    PutOnAlice("k");
    ASSERT_TRUE(service_->CopyStart(kAlice, "k", {"bob:1"}).has_value());
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 1024u);
    const int64_t release_ms = config_.put_start_release_timeout_sec * 1000;
    for (int64_t elapsed = 0; elapsed < release_ms; elapsed += 30'000) {
        AdvanceMs(30'000);
        PingAll();
    }
    service_->RunMaintenance();
    EXPECT_EQ(service_->QuerySegment("bob:1")->used, 0u);
    EXPECT_EQ(service_->CopyEnd(kAlice, "k").error(), ErrorCode::OBJECT_NO_REPLICATION_TASK);
    EXPECT_EQ(Endpoints(service_->GetReplicaList("k")->replicas),
              std::vector<std::string>{"alice:1"});
    AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms));
    EXPECT_TRUE(service_->Remove("k").has_value()) << "no copy holds it any more";
}

}  // namespace
}  // namespace mooncake::testing
