// MasterClient against the real mooncake_master binary: the hot path and the
// gRPC fallback give the same results, many threads share the client, a dead
// or hung master yields RPC_FAIL within the deadline, and a restarted master
// is found again.

#include "client/master_client.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "master_server_test_util.h"

namespace mooncake {
namespace {

using testing::MasterPorts;
using testing::MasterProcess;
using testing::PickFreePort;
using testing::ScrapeMetric;
using testing::WaitUntil;

constexpr uint64_t kSegmentBase = 0x7f0000000000ULL;
constexpr uint64_t kSegmentSize = 256ULL << 20;

SegmentInfo MakeSegment(const std::string& name, uint64_t base = kSegmentBase) {
    return SegmentInfo{UUID::Generate(), name, base, kSegmentSize};
}

ReplicateConfig OneReplica() {
    ReplicateConfig config;
    config.replica_num = 1;
    return config;
}

// Runs call(t, i) for i in [0, calls_per_thread) on each of `threads`
// threads at once; returns how many of the calls returned false.
int FailedCalls(int threads, int calls_per_thread, const std::function<bool(int t, int i)>& call) {
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < calls_per_thread; ++i) {
                if (!call(t, i)) ++failures;
            }
        });
    }
    for (auto& worker : workers) worker.join();
    return failures.load();
}

class MasterClientTest : public ::testing::Test {
   protected:
    void SetUp() override {
        std::string error;
        master_ = MasterProcess::Start({"--default_kv_lease_ttl=60000"}, std::nullopt, &error);
        ASSERT_NE(master_, nullptr) << error;
    }

    std::unique_ptr<MasterClient> Connect(
        bool hot_path, std::chrono::milliseconds timeout = std::chrono::seconds(10),
        bool pipeline_put_end = false) {
        MasterClientOptions options;
        options.use_hot_path = hot_path;
        options.pipeline_put_end = pipeline_put_end;
        options.rpc_timeout = timeout;
        auto client = MasterClient::Connect(master_->grpc_address(), options);
        EXPECT_TRUE(client.has_value()) << ErrorCodeName(client.error());
        return client ? std::move(*client) : nullptr;
    }

    double HotRequests() {
        return ScrapeMetric(master_->ports().metrics, "mooncake_master_hot_rpc_requests_total")
            .value_or(-1);
    }

    std::unique_ptr<MasterProcess> master_;
};

// Runs the same sequence of calls and records every outcome, so that the hot
// path and gRPC can be compared call by call.
std::vector<std::string> RunScript(MasterClient& client, const std::string& prefix) {
    std::vector<std::string> log;
    auto note = [&log](const std::string& what, ErrorCode code) {
        log.push_back(what + "=" + std::string(ErrorCodeName(code)));
    };
    const UUID id = UUID::Generate();
    const std::string segment_name = "127.0.0.1:" + std::to_string(20000 + prefix.size());
    const SegmentInfo segment = MakeSegment(segment_name);
    note("mount", CodeOf(client.MountSegment(id, segment)));
    note("mount-again", CodeOf(client.MountSegment(id, segment)));

    auto started = client.PutStart(id, prefix + "a", 1000, OneReplica());
    note("put-start", CodeOf(started));
    if (started) {
        log.push_back("replicas=" + std::to_string(started->size()));
        if (!started->empty()) {
            const ReplicaDescriptor& replica = started->front();
            log.push_back("endpoint=" + replica.memory().transport_endpoint);
            log.push_back("size=" + std::to_string(replica.memory().size));
            log.push_back("in-segment=" +
                          std::to_string(replica.memory().buffer_address >= kSegmentBase &&
                                         replica.memory().buffer_address + 1000 <=
                                             kSegmentBase + kSegmentSize));
        }
    }
    note("get-before-end", CodeOf(client.GetReplicaList(prefix + "a")));
    note("put-end", CodeOf(client.PutEnd(id, prefix + "a")));
    auto listed = client.GetReplicaList(prefix + "a");
    note("get", CodeOf(listed));
    if (listed) {
        log.push_back("lease=" + std::to_string(listed->lease_ttl_ms));
        log.push_back("complete=" +
                      std::to_string(!listed->replicas.empty() &&
                                     listed->replicas[0].status == ReplicaStatus::COMPLETE));
    }
    auto exists = client.ExistKey(prefix + "a");
    note("exist", CodeOf(exists));
    log.push_back("exists=" + std::to_string(exists.value_or(false)));
    note("exist-missing", CodeOf(client.ExistKey(prefix + "zzz")));
    note("put-start-empty-key", CodeOf(client.PutStart(id, "", 10, OneReplica())));
    note("put-start-zero", CodeOf(client.PutStart(id, prefix + "z", 0, OneReplica())));

    auto batch =
        client.BatchPutStart(id, {prefix + "b1", prefix + "b2", ""}, {10, 20, 30}, OneReplica());
    note("batch-put-start", CodeOf(batch));
    if (batch) {
        for (const auto& entry : *batch) note("  entry", CodeOf(entry));
    }
    auto ended = client.BatchPutEnd(id, {prefix + "b1", prefix + "b2"});
    note("batch-put-end", CodeOf(ended));
    if (ended) {
        for (const auto& entry : *ended) note("  entry", CodeOf(entry));
    }
    auto lists = client.BatchGetReplicaList({prefix + "b1", prefix + "nope"});
    note("batch-get", CodeOf(lists));
    if (lists) {
        for (const auto& entry : *lists) note("  entry", CodeOf(entry));
    }
    auto many_exist = client.BatchExistKey({prefix + "b1", prefix + "nope"});
    note("batch-exist", CodeOf(many_exist));
    if (many_exist) {
        for (const auto& entry : *many_exist)
            log.push_back("  " + std::to_string(entry.value_or(false)));
    }
    auto by_regex = client.GetReplicaListByRegex("^" + prefix + "b.*");
    note("by-regex", CodeOf(by_regex));
    if (by_regex) log.push_back("matches=" + std::to_string(by_regex->size()));
    note("bad-regex", CodeOf(client.RemoveByRegex("(")));
    note("remove-leased", CodeOf(client.Remove(prefix + "a")));

    auto usage = client.QuerySegment(segment_name);
    note("query-segment", CodeOf(usage));
    if (usage) log.push_back("capacity=" + std::to_string(usage->capacity));
    auto segments = client.GetAllSegments();
    note("all-segments", CodeOf(segments));

    auto ping = client.Ping(id);
    note("ping", CodeOf(ping));
    if (ping) log.push_back("status=" + std::to_string(static_cast<int>(ping->status)));
    auto stranger = client.Ping(UUID::Generate());
    if (stranger) log.push_back("stranger=" + std::to_string(static_cast<int>(stranger->status)));

    note("copy-missing", CodeOf(client.CreateCopyTask(prefix + "nope", {segment_name})));
    note("query-missing-task", CodeOf(client.QueryTask(UUID::Generate())));
    note("unmount", CodeOf(client.UnmountSegment(id, segment.id)));
    note("get-after-unmount", CodeOf(client.GetReplicaList(prefix + "a")));
    return log;
}

TEST_F(MasterClientTest, HotPathAndGrpcGiveTheSameResults) {
    auto hot = Connect(true);
    ASSERT_NE(hot, nullptr);
    EXPECT_TRUE(hot->UsingHotPath());
    const double hot_before = HotRequests();
    const auto hot_log = RunScript(*hot, "hot-");
    const double hot_after = HotRequests();
    EXPECT_GE(hot_after - hot_before, static_cast<double>(hot_log.size()) / 2)
        << "the calls did not go over the hot path";

    auto grpc = Connect(false);
    ASSERT_NE(grpc, nullptr);
    EXPECT_FALSE(grpc->UsingHotPath());
    const auto grpc_log = RunScript(*grpc, "rpc-");
    // The gRPC-only client never touches the hot path (the scrape itself is HTTP).
    EXPECT_EQ(HotRequests(), hot_after);

    EXPECT_EQ(hot_log, grpc_log);
    // And the results are the expected ones, not merely equal.
    auto has = [&](const std::string& entry) {
        return std::find(hot_log.begin(), hot_log.end(), entry) != hot_log.end();
    };
    EXPECT_TRUE(has("mount=OK"));
    EXPECT_TRUE(has("mount-again=SEGMENT_ALREADY_EXISTS"));
    EXPECT_TRUE(has("put-start=OK"));
    EXPECT_TRUE(has("get-before-end=REPLICA_IS_NOT_READY"));
    EXPECT_TRUE(has("lease=60000"));
    EXPECT_TRUE(has("complete=1"));
    EXPECT_TRUE(has("exists=1"));
    EXPECT_TRUE(has("put-start-empty-key=INVALID_KEY"));
    EXPECT_TRUE(has("put-start-zero=INVALID_PARAMS"));
    EXPECT_TRUE(has("matches=2"));
    EXPECT_TRUE(has("bad-regex=INVALID_PARAMS"));
    EXPECT_TRUE(has("remove-leased=OBJECT_HAS_LEASE"));
    EXPECT_TRUE(has("status=0"));
    EXPECT_TRUE(has("stranger=1"));
    EXPECT_TRUE(has("copy-missing=OBJECT_NOT_FOUND"));
    EXPECT_TRUE(has("get-after-unmount=OBJECT_NOT_FOUND"));
}

TEST_F(MasterClientTest, ServiceInfo) {
    auto client = Connect(true);
    ASSERT_NE(client, nullptr);
    auto info = client->GetServiceInfo();
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->version, MOONCAKE_TEST_VERSION);
    EXPECT_FALSE(info->master_instance_id.IsNil());
    EXPECT_EQ(info->hot_rpc_port, master_->hot_rpc_port());
    EXPECT_EQ(info->default_kv_lease_ttl_ms, 60000u);
    EXPECT_EQ(info->client_ttl_sec, 10);
    EXPECT_EQ(info->cluster_id, "mooncake_cluster");
}

TEST_F(MasterClientTest, TasksRoundTrip) {
    auto client = Connect(true);
    ASSERT_NE(client, nullptr);
    const UUID owner = UUID::Generate();
    const UUID other = UUID::Generate();
    ASSERT_TRUE(client->MountSegment(owner, MakeSegment("127.0.0.1:21001")));
    ASSERT_TRUE(client->MountSegment(other, MakeSegment("127.0.0.1:21002", kSegmentBase * 2)));
    ReplicateConfig config = OneReplica();
    config.preferred_segment = "127.0.0.1:21001";
    ASSERT_TRUE(client->PutStart(owner, "task-key", 4096, config));
    ASSERT_TRUE(client->PutEnd(owner, "task-key"));

    auto task_id = client->CreateCopyTask("task-key", {"127.0.0.1:21002"});
    ASSERT_TRUE(task_id.has_value()) << ErrorCodeName(task_id.error());
    auto fetched = client->FetchTasks(owner, 10);
    ASSERT_TRUE(fetched.has_value());
    ASSERT_EQ(fetched->size(), 1u);
    EXPECT_EQ(fetched->front().id, *task_id);
    EXPECT_EQ(fetched->front().type, TaskType::REPLICA_COPY);
    EXPECT_EQ(fetched->front().key, "task-key");

    auto copy = client->CopyStart(owner, "task-key", {"127.0.0.1:21002"});
    ASSERT_TRUE(copy.has_value()) << ErrorCodeName(copy.error());
    EXPECT_EQ(copy->source.memory().transport_endpoint, "127.0.0.1:21001");
    ASSERT_EQ(copy->targets.size(), 1u);
    EXPECT_EQ(copy->targets[0].memory().transport_endpoint, "127.0.0.1:21002");
    ASSERT_TRUE(client->CopyEnd(owner, "task-key"));
    ASSERT_TRUE(client->MarkTaskComplete(owner, *task_id, TaskStatus::SUCCESS, "done"));
    auto task = client->QueryTask(*task_id);
    ASSERT_TRUE(task.has_value());
    EXPECT_EQ(task->status, TaskStatus::SUCCESS);
    EXPECT_EQ(task->message, "done");
    EXPECT_EQ(task->targets, std::vector<std::string>{"127.0.0.1:21002"});
    auto replicas = client->GetReplicaList("task-key");
    ASSERT_TRUE(replicas.has_value());
    EXPECT_EQ(replicas->replicas.size(), 2u);

    auto move = client->CreateMoveTask("task-key", "127.0.0.1:21001", "127.0.0.1:21001");
    EXPECT_EQ(CodeOf(move), ErrorCode::INVALID_PARAMS);
}

// Segment names and regexes travel in proto3 `string` fields: text that is
// not UTF-8 used to reach the master, which could not parse the request,
// dropped the hot connection, and the caller saw RPC_FAIL. It is a bad
// argument: INVALID_PARAMS, without disturbing the connection.
TEST_F(MasterClientTest, NonUtf8TextIsRefusedAsInvalidParams) {
    auto client = Connect(true);
    ASSERT_NE(client, nullptr);
    const UUID owner = UUID::Generate();
    ASSERT_TRUE(client->MountSegment(owner, MakeSegment("127.0.0.1:21011")));
    const double errors_before =
        ScrapeMetric(master_->ports().metrics, "mooncake_master_hot_rpc_protocol_errors_total")
            .value_or(-1);

    const std::string not_utf8 = "\xff\xfe(";
    EXPECT_EQ(CodeOf(client->RemoveByRegex(not_utf8)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(client->GetReplicaListByRegex(not_utf8)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(client->CreateCopyTask("k", {not_utf8})), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(client->CreateMoveTask("k", not_utf8, "127.0.0.1:21011")),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(client->CreateMoveTask("k", "127.0.0.1:21011", not_utf8)),
              ErrorCode::INVALID_PARAMS);
    ReplicateConfig config = OneReplica();
    config.preferred_segment = not_utf8;
    EXPECT_EQ(CodeOf(client->PutStart(owner, "k", 100, config)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(client->BatchPutStart(owner, {"k"}, {100}, config)),
              ErrorCode::INVALID_PARAMS);
    config.preferred_segment.clear();
    config.excluded_segments = {"\xc0\x80"};  // an overlong NUL
    EXPECT_EQ(CodeOf(client->PutStart(owner, "k", 100, config)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(client->MountSegment(UUID::Generate(), MakeSegment("\xed\xa0\x80:1"))),
              ErrorCode::INVALID_PARAMS);  // a UTF-16 surrogate

    // Well-formed multi-byte text is passed on, and the hot path was never
    // fed a frame it could not parse.
    auto removed = client->RemoveByRegex("\xc3\xa9+\xf0\x9f\x8c\x99");
    ASSERT_TRUE(removed.has_value()) << ErrorCodeName(removed.error());
    EXPECT_EQ(*removed, 0);
    EXPECT_TRUE(client->UsingHotPath());
    EXPECT_EQ(
        ScrapeMetric(master_->ports().metrics, "mooncake_master_hot_rpc_protocol_errors_total")
            .value_or(-1),
        errors_before);
}

TEST_F(MasterClientTest, ManyThreadsShareOneClient) {
    auto client = Connect(true);
    ASSERT_NE(client, nullptr);
    const UUID id = UUID::Generate();
    ASSERT_TRUE(client->MountSegment(id, MakeSegment("127.0.0.1:22001")));

    constexpr int kThreads = 16;
    constexpr int kKeysPerThread = 150;
    const int failures = FailedCalls(kThreads, kKeysPerThread, [&](int t, int i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto started = client->PutStart(id, key, 256, OneReplica());
        if (!started || started->size() != 1) return false;
        bool ok = client->PutEnd(id, key).has_value();
        auto listed = client->GetReplicaList(key);
        if (!listed || listed->replicas.size() != 1 ||
            listed->replicas[0].memory().buffer_address !=
                started->front().memory().buffer_address) {
            ok = false;
        }
        if (client->ExistKey(key).value_or(false) != true) ok = false;
        return ok;
    });
    EXPECT_EQ(failures, 0);
    EXPECT_TRUE(client->UsingHotPath());
    auto all = client->GetReplicaListByRegex("^t[0-9]+-[0-9]+$");
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kKeysPerThread));
    // The pool stays within its bound (8 by default) however many threads call.
    auto open = ScrapeMetric(master_->ports().metrics, "mooncake_master_hot_rpc_connections");
    ASSERT_TRUE(open.has_value());
    EXPECT_LE(*open, 8);
    EXPECT_GE(*open, 1);
}

// A pipelined PutEnd returns before the master answered it; every later call
// of the same thread still sees the object, with many threads sharing a pool
// smaller than their number (so a thread often finds its deferred PutEnd on
// a connection another thread holds).
TEST_F(MasterClientTest, PipelinedPutEndsAreSeenByTheThreadsLaterCalls) {
    MasterClientOptions options;
    options.hot_path_connections = 3;
    options.pipeline_put_end = true;
    auto connected = MasterClient::Connect(master_->grpc_address(), options);
    ASSERT_TRUE(connected.has_value());
    auto& client = *connected;
    const UUID id = UUID::Generate();
    ASSERT_TRUE(client->MountSegment(id, MakeSegment("127.0.0.1:22002")));
    constexpr int kThreads = 8;
    constexpr int kKeysPerThread = 300;
    const int failures = FailedCalls(kThreads, kKeysPerThread, [&](int t, int i) {
        const std::string key = "p" + std::to_string(t) + "-" + std::to_string(i);
        auto started = client->PutStart(id, key, 128, OneReplica());
        if (!started || !client->PutEndPipelined(id, key)) return false;
        // Alternate the next call: a read, an existence check, a batch.
        switch (i % 3) {
            case 0:
                return client->GetReplicaList(key).has_value();
            case 1:
                return client->ExistKey(key).value_or(false);
            default: {
                auto found = client->BatchExistKey({key});
                return found && found->size() == 1 && (*found)[0].value_or(false);
            }
        }
    });
    EXPECT_EQ(failures, 0);
    EXPECT_TRUE(client->UsingHotPath());
    auto all = client->GetReplicaListByRegex("^p[0-9]+-[0-9]+$");
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kKeysPerThread));
}

// A pipelined PutEnd the master refuses leaves the connection in step: the
// refusal is read (and logged) before the next call's answer. Over gRPC the
// call is a plain PutEnd and the refusal is its result.
TEST_F(MasterClientTest, RefusedPipelinedPutEndKeepsTheConnectionInStep) {
    auto hot = Connect(true, std::chrono::seconds(10), /*pipeline_put_end=*/true);
    ASSERT_NE(hot, nullptr);
    const UUID id = UUID::Generate();
    ASSERT_TRUE(hot->MountSegment(id, MakeSegment("127.0.0.1:22003")));
    for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(hot->PutEndPipelined(id, "never-started-" + std::to_string(i)));
        EXPECT_EQ(hot->ExistKey("never-started-" + std::to_string(i)).value_or(true), false);
    }
    auto batch = hot->BatchPutEndPipelined(id, {"never-a", "never-b"});
    ASSERT_TRUE(batch.has_value());
    auto listed = hot->GetReplicaList("never-a");
    ASSERT_FALSE(listed.has_value());
    EXPECT_EQ(listed.error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_TRUE(hot->UsingHotPath());

    auto grpc = Connect(false, std::chrono::seconds(10), /*pipeline_put_end=*/true);
    ASSERT_NE(grpc, nullptr);
    auto refused = grpc->PutEndPipelined(id, "never-started");
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error(), ErrorCode::OBJECT_NOT_FOUND);
}

TEST_F(MasterClientTest, CallersWaitForASmallPool) {
    MasterClientOptions options;
    options.hot_path_connections = 2;
    auto connected = MasterClient::Connect(master_->grpc_address(), options);
    ASSERT_TRUE(connected.has_value());
    auto& client = *connected;
    const int failures = FailedCalls(8, 200, [&](int /*t*/, int i) {
        return !client->ExistKey("k" + std::to_string(i)).value_or(true);
    });
    EXPECT_EQ(failures, 0);
    EXPECT_TRUE(client->UsingHotPath());
    auto open = ScrapeMetric(master_->ports().metrics, "mooncake_master_hot_rpc_connections");
    ASSERT_TRUE(open.has_value());
    EXPECT_LE(*open, 2);
    auto served = ScrapeMetric(master_->ports().metrics, "mooncake_master_hot_rpc_requests_total");
    ASSERT_TRUE(served.has_value());
    EXPECT_GE(*served, 8 * 200);
}

TEST_F(MasterClientTest, ConnectFailures) {
    MasterClientOptions options;
    options.rpc_timeout = std::chrono::milliseconds(2000);
    const uint16_t nobody = PickFreePort();
    const auto begin = std::chrono::steady_clock::now();
    auto client = MasterClient::Connect("127.0.0.1:" + std::to_string(nobody), options);
    EXPECT_EQ(CodeOf(client), ErrorCode::RPC_FAIL);
    EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(30));
    EXPECT_EQ(CodeOf(MasterClient::Connect("", options)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(MasterClient::Connect("127.0.0.1:99999", options)), ErrorCode::INVALID_PARAMS);
}

TEST_F(MasterClientTest, DeadMasterGivesRpcFailWithinTheDeadline) {
    const auto timeout = std::chrono::milliseconds(1500);
    auto hot = Connect(true, timeout);
    auto grpc = Connect(false, timeout);
    ASSERT_NE(hot, nullptr);
    ASSERT_NE(grpc, nullptr);
    ASSERT_TRUE(hot->ExistKey("warm-up").has_value());
    ASSERT_TRUE(grpc->ExistKey("warm-up").has_value());
    master_->Kill();

    for (MasterClient* client : {hot.get(), grpc.get()}) {
        for (int i = 0; i < 3; ++i) {
            const auto begin = std::chrono::steady_clock::now();
            EXPECT_EQ(CodeOf(client->ExistKey("k")), ErrorCode::RPC_FAIL);
            EXPECT_EQ(CodeOf(client->PutEnd(UUID::Generate(), "k")), ErrorCode::RPC_FAIL);
            EXPECT_EQ(CodeOf(client->Ping(UUID::Generate())), ErrorCode::RPC_FAIL);
            // Two calls' deadlines plus generous slack for a loaded machine:
            // the point is that nothing hangs.
            EXPECT_LT(std::chrono::steady_clock::now() - begin,
                      3 * timeout + std::chrono::seconds(20));
        }
    }
    EXPECT_FALSE(hot->UsingHotPath());
}

TEST_F(MasterClientTest, HungMasterGivesRpcFailWithinTheDeadline) {
    const auto timeout = std::chrono::milliseconds(1000);
    auto client = Connect(true, timeout);
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->ExistKey("warm-up").has_value());
    ASSERT_TRUE(master_->Stop());
    const auto begin = std::chrono::steady_clock::now();
    EXPECT_EQ(CodeOf(client->ExistKey("k")), ErrorCode::RPC_FAIL);
    const auto elapsed = std::chrono::steady_clock::now() - begin;
    EXPECT_GE(elapsed, timeout / 2);
    EXPECT_LT(elapsed, timeout + std::chrono::seconds(20));
    master_->Signal(SIGCONT);
    // It answers again once it runs.
    EXPECT_TRUE(
        WaitUntil([&] { return client->ExistKey("k").has_value(); }, std::chrono::seconds(30)));
}

// Restart on the same gRPC port; the hot port is fixed or chosen anew.
void ExpectRestartIsFound(std::unique_ptr<MasterProcess>& master, bool pin_hot_port,
                          bool use_hot_path) {
    const uint16_t rpc_port = master->ports().rpc;
    const uint16_t hot_port = pin_hot_port ? master->hot_rpc_port() : 0;
    // Re-run the first master on a pinned hot port so that the restart can reuse it.
    master.reset();
    std::string error;
    master = MasterProcess::Restart({}, rpc_port, hot_port, &error);
    ASSERT_NE(master, nullptr) << error;

    MasterClientOptions options;
    options.use_hot_path = use_hot_path;
    options.rpc_timeout = std::chrono::milliseconds(2000);
    auto connected = MasterClient::Connect(master->grpc_address(), options);
    ASSERT_TRUE(connected.has_value());
    auto& client = *connected;
    const UUID id = UUID::Generate();
    ASSERT_TRUE(client->MountSegment(id, MakeSegment("127.0.0.1:23001")));
    auto first = client->GetServiceInfo();
    ASSERT_TRUE(first.has_value());
    ASSERT_EQ(client->Ping(id)->status, ClientStatus::OK);

    master->Kill();
    EXPECT_EQ(CodeOf(client->Ping(id)), ErrorCode::RPC_FAIL);
    master.reset();
    master = MasterProcess::Restart({}, rpc_port, hot_port, &error);
    ASSERT_NE(master, nullptr) << error;

    // The restarted master does not know the client: NEED_REMOUNT.
    Result<PingResult> ping = Error(ErrorCode::RPC_FAIL);
    EXPECT_TRUE(WaitUntil(
        [&] {
            ping = client->Ping(id);
            return ping.has_value();
        },
        std::chrono::seconds(60)));
    ASSERT_TRUE(ping.has_value());
    EXPECT_EQ(ping->status, ClientStatus::NEED_REMOUNT);
    auto second = client->GetServiceInfo();
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(second->master_instance_id, first->master_instance_id);
    ASSERT_TRUE(client->ReMountSegments(id, {MakeSegment("127.0.0.1:23001")}));
    EXPECT_EQ(client->Ping(id)->status, ClientStatus::OK);
    if (use_hot_path) {
        EXPECT_TRUE(WaitUntil(
            [&] {
                (void)client->ExistKey("x");
                return client->UsingHotPath();
            },
            std::chrono::seconds(30)));
    }
}

TEST_F(MasterClientTest, RestartedMasterOnNewHotPortIsFoundAgain) {
    ExpectRestartIsFound(master_, /*pin_hot_port=*/false, /*use_hot_path=*/true);
}

TEST_F(MasterClientTest, RestartedMasterOnSameHotPortIsFoundAgain) {
    ExpectRestartIsFound(master_, /*pin_hot_port=*/true, /*use_hot_path=*/true);
}

TEST_F(MasterClientTest, RestartedMasterIsFoundAgainOverGrpc) {
    ExpectRestartIsFound(master_, /*pin_hot_port=*/false, /*use_hot_path=*/false);
}

TEST_F(MasterClientTest, MasterWithoutHotPathIsServedOverGrpc) {
    master_.reset();
    std::string error;
    master_ = MasterProcess::Start({"--enable_hot_rpc=false"}, std::nullopt, &error);
    ASSERT_NE(master_, nullptr) << error;
    auto client = Connect(true);
    ASSERT_NE(client, nullptr);
    EXPECT_FALSE(client->UsingHotPath());
    EXPECT_EQ(CodeOf(client->GetReplicaList("missing")), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(client->GetServiceInfo()->hot_rpc_port, 0);
}

}  // namespace
}  // namespace mooncake
