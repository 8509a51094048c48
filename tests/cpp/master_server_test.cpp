// End-to-end tests of mooncake_master: the real binary on loopback ports,
// driven through the generated gRPC stub, the raw hot-path socket and HTTP.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hot_path_test_socket.h"
#include "master.grpc.pb.h"
#include "master_server_test_util.h"
#include "mooncake/error_code.h"
#include "mooncake/types.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake {
namespace {

using testing::ContextWithDeadline;
using testing::HttpGet;
using testing::MasterProcess;
using testing::ScrapeMetric;
using testing::WaitUntil;

constexpr uint64_t kSegmentBase = 0x7f0000000000ULL;
constexpr uint64_t kSegmentSize = 64ULL << 20;

int32_t Code(ErrorCode code) { return ToInt(code); }

rpc::Uuid ToWire(const UUID& id) {
    rpc::Uuid wire;
    wire.set_hi(id.hi);
    wire.set_lo(id.lo);
    return wire;
}

UUID FromWire(const rpc::Uuid& wire) { return UUID{wire.hi(), wire.lo()}; }

class MasterServerTest : public ::testing::Test {
   protected:
    void SetUp() override { StartMaster({}); }

    void StartMaster(const std::vector<std::string>& args) {
        std::string error;
        master_ = MasterProcess::Start(args, std::nullopt, &error);
        ASSERT_NE(master_, nullptr) << error;
    }

    rpc::MasterService::Stub& stub() { return master_->stub(); }

    // One unary call of the stub with a deadline; the call itself (not the
    // error code in its answer) must succeed.
    template <typename Request, typename Response>
    Response Call(grpc::Status (rpc::MasterService::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                  const Request& request) {
        Response response;
        EXPECT_TRUE((stub().*method)(ContextWithDeadline().get(), request, &response).ok());
        return response;
    }

    // Mounts a segment named `name` for `client`; returns the segment id.
    UUID Mount(const UUID& client, const std::string& name, uint64_t size = kSegmentSize,
               uint64_t base = kSegmentBase) {
        const UUID segment_id = UUID::Generate();
        rpc::MountSegmentRequest request;
        *request.mutable_client_id() = ToWire(client);
        *request.mutable_segment()->mutable_id() = ToWire(segment_id);
        request.mutable_segment()->set_name(name);
        request.mutable_segment()->set_base(base);
        request.mutable_segment()->set_size(size);
        EXPECT_EQ(Call(&rpc::MasterService::Stub::MountSegment, request).error_code(), 0);
        return segment_id;
    }

    rpc::PutStartResponse PutStart(const UUID& client, const std::string& key, uint64_t size,
                                   uint32_t replicas = 1, const std::string& preferred = "") {
        rpc::PutStartRequest request;
        *request.mutable_client_id() = ToWire(client);
        request.set_key(key);
        request.set_value_size(size);
        request.mutable_config()->set_replica_num(replicas);
        request.mutable_config()->set_preferred_segment(preferred);
        return Call(&rpc::MasterService::Stub::PutStart, request);
    }

    int32_t PutEnd(const UUID& client, const std::string& key) {
        rpc::KeyRequest request;
        *request.mutable_client_id() = ToWire(client);
        request.set_key(key);
        return Call(&rpc::MasterService::Stub::PutEnd, request).error_code();
    }

    void Put(const UUID& client, const std::string& key, uint64_t size = 4096,
             const std::string& preferred = "") {
        ASSERT_EQ(PutStart(client, key, size, 1, preferred).error_code(), 0) << key;
        ASSERT_EQ(PutEnd(client, key), 0) << key;
    }

    rpc::GetReplicaListResponse GetReplicaList(const std::string& key) {
        rpc::KeyRequest request;
        request.set_key(key);
        return Call(&rpc::MasterService::Stub::GetReplicaList, request);
    }

    rpc::ExistKeyResponse ExistKey(const std::string& key) {
        rpc::KeyRequest request;
        request.set_key(key);
        return Call(&rpc::MasterService::Stub::ExistKey, request);
    }

    int32_t Remove(const std::string& key) {
        rpc::KeyRequest request;
        request.set_key(key);
        return Call(&rpc::MasterService::Stub::Remove, request).error_code();
    }

    rpc::QuerySegmentResponse QuerySegment(const std::string& name) {
        rpc::QuerySegmentRequest request;
        request.set_name(name);
        return Call(&rpc::MasterService::Stub::QuerySegment, request);
    }

    double Metric(const std::string& series) {
        auto value = ScrapeMetric(master_->ports().metrics, series);
        EXPECT_TRUE(value.has_value()) << series << " missing from /metrics";
        return value.value_or(-1);
    }

    std::unique_ptr<MasterProcess> master_;
};

// ---- service information and segments -------------------------------------------------

TEST_F(MasterServerTest, ServiceInfoDescribesTheMaster) {
    rpc::GetServiceInfoResponse info;
    ASSERT_TRUE(stub().GetServiceInfo(ContextWithDeadline().get(), {}, &info).ok());
    EXPECT_EQ(info.error_code(), 0);
    EXPECT_EQ(info.version(), MOONCAKE_TEST_VERSION);
    EXPECT_FALSE(FromWire(info.master_instance_id()).IsNil());
    EXPECT_NE(info.hot_rpc_port(), 0u);
    EXPECT_NE(info.hot_rpc_port(), master_->ports().rpc);
    EXPECT_EQ(info.default_kv_lease_ttl_ms(), 5000u);
    EXPECT_EQ(info.client_ttl_sec(), 10);
    EXPECT_EQ(info.cluster_id(), "mooncake_cluster");
}

TEST_F(MasterServerTest, SegmentsMountQueryUnmount) {
    const UUID client = UUID::Generate();
    const UUID segment = Mount(client, "127.0.0.1:17001");

    rpc::GetAllSegmentsResponse all;
    ASSERT_TRUE(stub().GetAllSegments(ContextWithDeadline().get(), {}, &all).ok());
    ASSERT_EQ(all.segment_names_size(), 1);
    EXPECT_EQ(all.segment_names(0), "127.0.0.1:17001");

    auto usage = QuerySegment("127.0.0.1:17001");
    EXPECT_EQ(usage.error_code(), 0);
    EXPECT_EQ(usage.capacity(), kSegmentSize);
    EXPECT_EQ(usage.used(), 0u);
    EXPECT_EQ(QuerySegment("127.0.0.1:1").error_code(), Code(ErrorCode::SEGMENT_NOT_FOUND));

    // The same segment id twice is refused.
    rpc::MountSegmentRequest again;
    *again.mutable_client_id() = ToWire(client);
    *again.mutable_segment()->mutable_id() = ToWire(segment);
    again.mutable_segment()->set_name("127.0.0.1:17001");
    again.mutable_segment()->set_base(kSegmentBase);
    again.mutable_segment()->set_size(kSegmentSize);
    rpc::StatusResponse status;
    ASSERT_TRUE(stub().MountSegment(ContextWithDeadline().get(), again, &status).ok());
    EXPECT_EQ(status.error_code(), Code(ErrorCode::SEGMENT_ALREADY_EXISTS));

    Put(client, "on-segment");
    rpc::UnmountSegmentRequest unmount;
    *unmount.mutable_client_id() = ToWire(client);
    *unmount.mutable_segment_id() = ToWire(segment);
    ASSERT_TRUE(stub().UnmountSegment(ContextWithDeadline().get(), unmount, &status).ok());
    EXPECT_EQ(status.error_code(), 0);
    // Its only replica lived there.
    EXPECT_EQ(GetReplicaList("on-segment").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
    ASSERT_TRUE(stub().UnmountSegment(ContextWithDeadline().get(), unmount, &status).ok());
    EXPECT_EQ(status.error_code(), Code(ErrorCode::SEGMENT_NOT_FOUND));

    // Re-mount after a (simulated) master restart brings the segment back.
    rpc::ReMountSegmentRequest remount;
    *remount.mutable_client_id() = ToWire(client);
    auto* info = remount.add_segments();
    *info->mutable_id() = ToWire(UUID::Generate());
    info->set_name("127.0.0.1:17001");
    info->set_base(kSegmentBase);
    info->set_size(kSegmentSize);
    ASSERT_TRUE(stub().ReMountSegment(ContextWithDeadline().get(), remount, &status).ok());
    EXPECT_EQ(status.error_code(), 0);
    EXPECT_EQ(QuerySegment("127.0.0.1:17001").capacity(), kSegmentSize);
}

TEST_F(MasterServerTest, PingOfUnknownClientAsksForRemount) {
    rpc::PingRequest request;
    *request.mutable_client_id() = ToWire(UUID::Generate());
    rpc::PingResponse response;
    ASSERT_TRUE(stub().Ping(ContextWithDeadline().get(), request, &response).ok());
    EXPECT_EQ(response.error_code(), 0);
    EXPECT_EQ(response.client_status(), rpc::CLIENT_NEED_REMOUNT);

    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17002");
    *request.mutable_client_id() = ToWire(client);
    ASSERT_TRUE(stub().Ping(ContextWithDeadline().get(), request, &response).ok());
    EXPECT_EQ(response.error_code(), 0);
    EXPECT_EQ(response.client_status(), rpc::CLIENT_OK);
}

// ---- objects ------------------------------------------------------------------------------

TEST_F(MasterServerTest, PutGetExistRemoveLifecycle) {
    master_.reset();
    StartMaster({"--default_kv_lease_ttl=2000"});
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17003");

    auto started = PutStart(client, "key-1", 1000);
    ASSERT_EQ(started.error_code(), 0);
    ASSERT_EQ(started.replicas_size(), 1);
    const rpc::ReplicaDescriptor& replica = started.replicas(0);
    ASSERT_TRUE(replica.has_memory());
    EXPECT_EQ(replica.memory().transport_endpoint(), "127.0.0.1:17003");
    EXPECT_GE(replica.memory().buffer_address(), kSegmentBase);
    EXPECT_LE(replica.memory().buffer_address() + 1000, kSegmentBase + kSegmentSize);
    EXPECT_EQ(replica.memory().size(), 1000u);

    // Invisible until the put ends.
    EXPECT_EQ(GetReplicaList("key-1").error_code(), Code(ErrorCode::REPLICA_IS_NOT_READY));
    EXPECT_FALSE(ExistKey("key-1").exists());
    EXPECT_EQ(PutStart(client, "key-1", 1000).error_code(), Code(ErrorCode::OBJECT_ALREADY_EXISTS));
    EXPECT_GE(QuerySegment("127.0.0.1:17003").used(), 1000u);

    ASSERT_EQ(PutEnd(client, "key-1"), 0);
    auto listed = GetReplicaList("key-1");
    ASSERT_EQ(listed.error_code(), 0);
    ASSERT_EQ(listed.replicas_size(), 1);
    EXPECT_EQ(listed.replicas(0).status(), rpc::REPLICA_COMPLETE);
    EXPECT_EQ(listed.replicas(0).memory().buffer_address(), replica.memory().buffer_address());
    EXPECT_EQ(listed.lease_ttl_ms(), 2000u);
    const auto before_lease = std::chrono::steady_clock::now();
    auto exists = ExistKey("key-1");
    EXPECT_EQ(exists.error_code(), 0);
    EXPECT_TRUE(exists.exists());

    // Leased by the read above; removable once the lease ran out. (Checked
    // only when the lease surely still ran: a loaded machine may be slow.)
    const int32_t early_remove = Remove("key-1");
    if (std::chrono::steady_clock::now() - before_lease < std::chrono::milliseconds(2000)) {
        EXPECT_EQ(early_remove, Code(ErrorCode::OBJECT_HAS_LEASE));
    }
    EXPECT_TRUE(WaitUntil([&] { return early_remove == 0 || Remove("key-1") == 0; },
                          std::chrono::seconds(30)));
    EXPECT_EQ(GetReplicaList("key-1").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
    EXPECT_EQ(Remove("key-1"), Code(ErrorCode::OBJECT_NOT_FOUND));
    EXPECT_EQ(QuerySegment("127.0.0.1:17003").used(), 0u);

    // A revoked put frees its space and leaves no key.
    ASSERT_EQ(PutStart(client, "key-2", 2000).error_code(), 0);
    rpc::KeyRequest revoke;
    *revoke.mutable_client_id() = ToWire(client);
    revoke.set_key("key-2");
    rpc::StatusResponse status;
    ASSERT_TRUE(stub().PutRevoke(ContextWithDeadline().get(), revoke, &status).ok());
    EXPECT_EQ(status.error_code(), 0);
    EXPECT_EQ(GetReplicaList("key-2").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
    EXPECT_EQ(QuerySegment("127.0.0.1:17003").used(), 0u);
}

TEST_F(MasterServerTest, KeysAreBytes) {
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17004");
    const std::string key("bin\0ary\xff\xfe", 9);
    Put(client, key);
    auto listed = GetReplicaList(key);
    EXPECT_EQ(listed.error_code(), 0);
    EXPECT_EQ(GetReplicaList("bin").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
}

TEST_F(MasterServerTest, BatchForms) {
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17005");

    rpc::BatchPutStartRequest start;
    *start.mutable_client_id() = ToWire(client);
    for (const char* key : {"b-1", "b-2", "b-3"}) start.add_keys(key);
    start.add_value_sizes(100);
    start.add_value_sizes(0);  // refused on its own
    start.add_value_sizes(300);
    start.mutable_config()->set_replica_num(1);
    rpc::BatchPutStartResponse started;
    ASSERT_TRUE(stub().BatchPutStart(ContextWithDeadline().get(), start, &started).ok());
    ASSERT_EQ(started.results_size(), 3);
    EXPECT_EQ(started.results(0).error_code(), 0);
    EXPECT_EQ(started.results(0).replicas_size(), 1);
    EXPECT_EQ(started.results(1).error_code(), Code(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(started.results(2).error_code(), 0);

    rpc::BatchKeysRequest end;
    *end.mutable_client_id() = ToWire(client);
    end.add_keys("b-1");
    end.add_keys("b-missing");
    rpc::BatchStatusResponse ended;
    ASSERT_TRUE(stub().BatchPutEnd(ContextWithDeadline().get(), end, &ended).ok());
    ASSERT_EQ(ended.error_codes_size(), 2);
    EXPECT_EQ(ended.error_codes(0), 0);
    EXPECT_NE(ended.error_codes(1), 0);

    rpc::BatchKeysRequest revoke;
    *revoke.mutable_client_id() = ToWire(client);
    revoke.add_keys("b-3");
    rpc::BatchStatusResponse revoked;
    ASSERT_TRUE(stub().BatchPutRevoke(ContextWithDeadline().get(), revoke, &revoked).ok());
    ASSERT_EQ(revoked.error_codes_size(), 1);
    EXPECT_EQ(revoked.error_codes(0), 0);

    rpc::BatchKeysRequest keys;
    for (const char* key : {"b-1", "b-2", "b-3"}) keys.add_keys(key);
    rpc::BatchGetReplicaListResponse lists;
    ASSERT_TRUE(stub().BatchGetReplicaList(ContextWithDeadline().get(), keys, &lists).ok());
    ASSERT_EQ(lists.results_size(), 3);
    EXPECT_EQ(lists.results(0).error_code(), 0);
    EXPECT_EQ(lists.results(0).replicas_size(), 1);
    EXPECT_EQ(lists.results(1).error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
    EXPECT_EQ(lists.results(2).error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));

    rpc::BatchExistKeyResponse exists;
    ASSERT_TRUE(stub().BatchExistKey(ContextWithDeadline().get(), keys, &exists).ok());
    ASSERT_EQ(exists.results_size(), 3);
    EXPECT_TRUE(exists.results(0).exists());
    EXPECT_FALSE(exists.results(1).exists());
    EXPECT_FALSE(exists.results(2).exists());

    // Lists of different lengths: one INVALID_PARAMS per key, nothing stored.
    rpc::BatchPutStartRequest mismatched;
    *mismatched.mutable_client_id() = ToWire(client);
    mismatched.add_keys("m-1");
    mismatched.add_keys("m-2");
    mismatched.add_value_sizes(10);
    mismatched.mutable_config()->set_replica_num(1);
    ASSERT_TRUE(stub().BatchPutStart(ContextWithDeadline().get(), mismatched, &started).ok());
    ASSERT_EQ(started.results_size(), 2);
    EXPECT_EQ(started.results(0).error_code(), Code(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(started.results(1).error_code(), Code(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(GetReplicaList("m-1").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
}

TEST_F(MasterServerTest, RemoveByRegexAndRemoveAll) {
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17006");
    for (const char* key : {"alpha-1", "alpha-2", "beta-1", "gamma-1"}) Put(client, key);

    rpc::RegexRequest regex;
    regex.set_regex("^beta-.*");
    rpc::GetReplicaListByRegexResponse found;
    ASSERT_TRUE(stub().GetReplicaListByRegex(ContextWithDeadline().get(), regex, &found).ok());
    EXPECT_EQ(found.error_code(), 0);
    ASSERT_EQ(found.objects_size(), 1);
    EXPECT_EQ(found.objects(0).key(), "beta-1");
    EXPECT_EQ(found.objects(0).replicas_size(), 1);

    regex.set_regex("^alpha-[0-9]+$");
    rpc::CountResponse count;
    ASSERT_TRUE(stub().RemoveByRegex(ContextWithDeadline().get(), regex, &count).ok());
    EXPECT_EQ(count.error_code(), 0);
    EXPECT_EQ(count.count(), 2);
    EXPECT_EQ(GetReplicaList("alpha-1").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));

    regex.set_regex("([unclosed");
    ASSERT_TRUE(stub().RemoveByRegex(ContextWithDeadline().get(), regex, &count).ok());
    EXPECT_EQ(count.error_code(), Code(ErrorCode::INVALID_PARAMS));
    ASSERT_TRUE(stub().GetReplicaListByRegex(ContextWithDeadline().get(), regex, &found).ok());
    EXPECT_EQ(found.error_code(), Code(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(Metric("mooncake_master_object_count"), 2);

    ASSERT_TRUE(stub().RemoveAll(ContextWithDeadline().get(), {}, &count).ok());
    EXPECT_EQ(count.error_code(), 0);
    EXPECT_EQ(count.count(), 2);
    EXPECT_EQ(Metric("mooncake_master_object_count"), 0);
    EXPECT_EQ(QuerySegment("127.0.0.1:17006").used(), 0u);
}

// ---- tasks -----------------------------------------------------------------------------------

TEST_F(MasterServerTest, CopyAndMoveTasks) {
    const UUID owner = UUID::Generate();
    const UUID other = UUID::Generate();
    Mount(owner, "127.0.0.1:17007");
    Mount(other, "127.0.0.1:17008", kSegmentSize, kSegmentBase + kSegmentSize);
    Put(owner, "task-key", 4096, "127.0.0.1:17007");

    rpc::CreateCopyTaskRequest copy;
    copy.set_key("task-key");
    copy.add_targets("127.0.0.1:17008");
    rpc::CreateTaskResponse created;
    ASSERT_TRUE(stub().CreateCopyTask(ContextWithDeadline().get(), copy, &created).ok());
    ASSERT_EQ(created.error_code(), 0);
    const UUID task_id = FromWire(created.task_id());
    EXPECT_FALSE(task_id.IsNil());

    rpc::QueryTaskRequest query;
    *query.mutable_task_id() = ToWire(task_id);
    rpc::QueryTaskResponse task;
    ASSERT_TRUE(stub().QueryTask(ContextWithDeadline().get(), query, &task).ok());
    ASSERT_EQ(task.error_code(), 0);
    EXPECT_EQ(FromWire(task.task().id()), task_id);
    EXPECT_EQ(task.task().type(), rpc::TASK_REPLICA_COPY);
    EXPECT_EQ(task.task().key(), "task-key");
    ASSERT_EQ(task.task().targets_size(), 1);
    EXPECT_EQ(task.task().targets(0), "127.0.0.1:17008");
    EXPECT_TRUE(task.task().status() == rpc::TASK_PENDING ||
                task.task().status() == rpc::TASK_PROCESSING);
    EXPECT_GT(task.task().created_at_ms_epoch(), 0);

    // The owner of the source replica is handed the task when it pings.
    rpc::PingRequest ping;
    *ping.mutable_client_id() = ToWire(owner);
    rpc::PingResponse pong;
    ASSERT_TRUE(stub().Ping(ContextWithDeadline().get(), ping, &pong).ok());
    ASSERT_EQ(pong.tasks_size(), 1);
    EXPECT_EQ(FromWire(pong.tasks(0).id()), task_id);

    rpc::MarkTaskCompleteRequest done;
    *done.mutable_client_id() = ToWire(owner);
    *done.mutable_task_id() = ToWire(task_id);
    done.set_status(rpc::TASK_SUCCESS);
    done.set_message("copied");
    rpc::StatusResponse status;
    ASSERT_TRUE(stub().MarkTaskComplete(ContextWithDeadline().get(), done, &status).ok());
    EXPECT_EQ(status.error_code(), 0);
    ASSERT_TRUE(stub().QueryTask(ContextWithDeadline().get(), query, &task).ok());
    EXPECT_EQ(task.task().status(), rpc::TASK_SUCCESS);
    EXPECT_EQ(task.task().message(), "copied");

    // An unknown task status number is refused at the door.
    done.set_status(static_cast<rpc::TaskStatus>(42));
    ASSERT_TRUE(stub().MarkTaskComplete(ContextWithDeadline().get(), done, &status).ok());
    EXPECT_EQ(status.error_code(), Code(ErrorCode::INVALID_PARAMS));

    copy.set_key("no-such-key");
    ASSERT_TRUE(stub().CreateCopyTask(ContextWithDeadline().get(), copy, &created).ok());
    EXPECT_EQ(created.error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));
    copy.set_key("task-key");
    copy.set_targets(0, "127.0.0.1:1");
    ASSERT_TRUE(stub().CreateCopyTask(ContextWithDeadline().get(), copy, &created).ok());
    EXPECT_EQ(created.error_code(), Code(ErrorCode::INVALID_PARAMS));

    rpc::CreateMoveTaskRequest move;
    move.set_key("task-key");
    move.set_source("127.0.0.1:17007");
    move.set_target("127.0.0.1:17008");
    ASSERT_TRUE(stub().CreateMoveTask(ContextWithDeadline().get(), move, &created).ok());
    EXPECT_EQ(created.error_code(), 0);
    EXPECT_FALSE(FromWire(created.task_id()).IsNil());

    *query.mutable_task_id() = ToWire(UUID::Generate());
    ASSERT_TRUE(stub().QueryTask(ContextWithDeadline().get(), query, &task).ok());
    EXPECT_NE(task.error_code(), 0);
}

TEST_F(MasterServerTest, CopyExecutionPrimitives) {
    const UUID owner = UUID::Generate();
    Mount(owner, "127.0.0.1:17009");
    Mount(UUID::Generate(), "127.0.0.1:17010", kSegmentSize, kSegmentBase + kSegmentSize);
    Put(owner, "copy-me", 4096, "127.0.0.1:17009");

    rpc::CopyStartRequest start;
    *start.mutable_client_id() = ToWire(owner);
    start.set_key("copy-me");
    start.add_targets("127.0.0.1:17010");
    rpc::CopyStartResponse started;
    ASSERT_TRUE(stub().CopyStart(ContextWithDeadline().get(), start, &started).ok());
    ASSERT_EQ(started.error_code(), 0);
    EXPECT_EQ(started.source().memory().transport_endpoint(), "127.0.0.1:17009");
    ASSERT_EQ(started.targets_size(), 1);
    EXPECT_EQ(started.targets(0).memory().transport_endpoint(), "127.0.0.1:17010");

    rpc::KeyRequest end;
    *end.mutable_client_id() = ToWire(owner);
    end.set_key("copy-me");
    rpc::StatusResponse status;
    ASSERT_TRUE(stub().CopyEnd(ContextWithDeadline().get(), end, &status).ok());
    EXPECT_EQ(status.error_code(), 0);
    EXPECT_EQ(GetReplicaList("copy-me").replicas_size(), 2);
}

// ---- the gRPC stream ----------------------------------------------------------------------------

TEST_F(MasterServerTest, StreamAnswersEachEnvelopeWithItsId) {
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17011");
    auto context = ContextWithDeadline();
    auto stream = stub().Stream(context.get());

    rpc::MasterRequest request;
    request.set_request_id(101);
    *request.mutable_put_start()->mutable_client_id() = ToWire(client);
    request.mutable_put_start()->set_key("streamed");
    request.mutable_put_start()->set_value_size(64);
    request.mutable_put_start()->mutable_config()->set_replica_num(1);
    ASSERT_TRUE(stream->Write(request));
    rpc::MasterResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.request_id(), 101u);
    ASSERT_TRUE(response.has_put_start());
    EXPECT_EQ(response.put_start().error_code(), 0);

    request.Clear();
    request.set_request_id(102);
    *request.mutable_put_end()->mutable_client_id() = ToWire(client);
    request.mutable_put_end()->set_key("streamed");
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.request_id(), 102u);
    ASSERT_TRUE(response.has_put_end());
    EXPECT_EQ(response.put_end().error_code(), 0);

    // An envelope without a body gets an error answer, and the stream goes on.
    request.Clear();
    request.set_request_id(103);
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.request_id(), 103u);
    ASSERT_TRUE(response.has_error());
    EXPECT_EQ(response.error().error_code(), Code(ErrorCode::INVALID_PARAMS));

    request.Clear();
    request.set_request_id(104);
    request.mutable_exist_key()->set_key("streamed");
    ASSERT_TRUE(stream->Write(request));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.request_id(), 104u);
    EXPECT_TRUE(response.exist_key().exists());

    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
}

// ---- bad requests
// ---------------------------------------------------------------------------------

TEST_F(MasterServerTest, BadRequestsGetCodesAndChangeNothing) {
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17012");
    Put(client, "existing", 8192);

    const double objects_before = Metric("mooncake_master_object_count");
    const double used_before = Metric("mooncake_master_used_bytes");
    const uint64_t segment_used_before = QuerySegment("127.0.0.1:17012").used();
    const double invalid_key_before =
        Metric("mooncake_master_rpc_errors_total{code=\"INVALID_KEY\"}");
    const double invalid_params_before =
        Metric("mooncake_master_rpc_errors_total{code=\"INVALID_PARAMS\"}");

    EXPECT_EQ(PutStart(client, "", 100).error_code(), Code(ErrorCode::INVALID_KEY));
    EXPECT_EQ(PutStart(client, std::string(kMaxKeyLength + 1, 'k'), 100).error_code(),
              Code(ErrorCode::INVALID_KEY));
    EXPECT_EQ(PutStart(client, "zero-size", 0).error_code(), Code(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(PutStart(client, "no-replicas", 100, 0).error_code(),
              Code(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(PutStart(client, "too-big", kSegmentSize * 2).error_code(),
              Code(ErrorCode::NO_AVAILABLE_HANDLE));
    EXPECT_EQ(PutEnd(client, "never-started"), Code(ErrorCode::OBJECT_NOT_FOUND));
    rpc::RegexRequest regex;
    regex.set_regex("[");
    rpc::CountResponse count;
    ASSERT_TRUE(stub().RemoveByRegex(ContextWithDeadline().get(), regex, &count).ok());
    EXPECT_EQ(count.error_code(), Code(ErrorCode::INVALID_PARAMS));
    // A segment without a name or size is refused.
    rpc::MountSegmentRequest mount;
    *mount.mutable_client_id() = ToWire(client);
    *mount.mutable_segment()->mutable_id() = ToWire(UUID::Generate());
    rpc::StatusResponse status;
    ASSERT_TRUE(stub().MountSegment(ContextWithDeadline().get(), mount, &status).ok());
    EXPECT_EQ(status.error_code(), Code(ErrorCode::INVALID_PARAMS));

    EXPECT_EQ(Metric("mooncake_master_object_count"), objects_before);
    EXPECT_EQ(Metric("mooncake_master_used_bytes"), used_before);
    EXPECT_EQ(QuerySegment("127.0.0.1:17012").used(), segment_used_before);
    EXPECT_EQ(Metric("mooncake_master_segments_mounted"), 1);
    EXPECT_EQ(GetReplicaList("existing").error_code(), 0);
    for (const char* key : {"zero-size", "no-replicas", "too-big"}) {
        EXPECT_EQ(GetReplicaList(key).error_code(), Code(ErrorCode::OBJECT_NOT_FOUND)) << key;
    }
    EXPECT_EQ(Metric("mooncake_master_rpc_errors_total{code=\"INVALID_KEY\"}"),
              invalid_key_before + 2);
    EXPECT_EQ(Metric("mooncake_master_rpc_errors_total{code=\"INVALID_PARAMS\"}"),
              invalid_params_before + 4);
}

// ---- the hot-path socket, raw
// ---------------------------------------------------------------------

using testing::HotPathTestSocket;

TEST_F(MasterServerTest, HotPathServesFramedEnvelopes) {
    HotPathTestSocket socket(master_->hot_rpc_port());
    ASSERT_TRUE(socket.connected());
    ASSERT_TRUE(socket.Handshake());

    rpc::MasterRequest request;
    request.set_request_id(7);
    request.mutable_get_service_info();
    rpc::MasterResponse response;
    ASSERT_TRUE(socket.Call(request, &response));
    EXPECT_EQ(response.request_id(), 7u);
    ASSERT_TRUE(response.has_get_service_info());
    EXPECT_EQ(response.get_service_info().hot_rpc_port(), master_->hot_rpc_port());

    request.Clear();
    request.set_request_id(8);
    request.mutable_get_replica_list()->set_key("absent");
    ASSERT_TRUE(socket.Call(request, &response));
    EXPECT_EQ(response.request_id(), 8u);
    EXPECT_EQ(response.get_replica_list().error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));

    request.Clear();
    request.set_request_id(9);  // no body
    ASSERT_TRUE(socket.Call(request, &response));
    EXPECT_EQ(response.request_id(), 9u);
    ASSERT_TRUE(response.has_error());
    EXPECT_EQ(response.error().error_code(), Code(ErrorCode::INVALID_PARAMS));
    EXPECT_GE(Metric("mooncake_master_hot_rpc_requests_total"), 3);
}

TEST_F(MasterServerTest, HotPathRejectsGarbageAndSurvives) {
    const double errors_before = Metric("mooncake_master_hot_rpc_protocol_errors_total");
    {
        // Not our protocol at all.
        HotPathTestSocket socket(master_->hot_rpc_port());
        ASSERT_TRUE(socket.connected());
        ASSERT_TRUE(socket.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        EXPECT_TRUE(socket.ClosedByPeer());
    }
    {
        // A frame that claims more than the limit.
        HotPathTestSocket socket(master_->hot_rpc_port());
        ASSERT_TRUE(socket.Handshake());
        const uint8_t header[4] = {0xff, 0xff, 0xff, 0x7f};
        ASSERT_TRUE(socket.Send(header, sizeof(header)));
        EXPECT_TRUE(socket.ClosedByPeer());
    }
    {
        // A frame whose payload is not a MasterRequest.
        HotPathTestSocket socket(master_->hot_rpc_port());
        ASSERT_TRUE(socket.Handshake());
        std::string frame(4, '\0');
        const std::string junk = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
        framed_rpc::EncodeFrameLength(static_cast<uint32_t>(junk.size()),
                                      reinterpret_cast<uint8_t*>(frame.data()));
        frame += junk;
        ASSERT_TRUE(socket.Send(frame));
        EXPECT_TRUE(socket.ClosedByPeer());
    }
    {
        // Random bytes of every kind.
        std::mt19937 random(1234);
        for (int round = 0; round < 5; ++round) {
            HotPathTestSocket socket(master_->hot_rpc_port());
            std::string noise(512, '\0');
            for (char& c : noise) c = static_cast<char>(random());
            socket.Send(noise);
            EXPECT_TRUE(socket.ClosedByPeer());
        }
    }
    {
        // A newer protocol version is answered with INVALID_VERSION.
        HotPathTestSocket socket(master_->hot_rpc_port());
        const auto hello = framed_rpc::EncodeClientHello(framed_rpc::kProtocolVersion + 1);
        ASSERT_TRUE(socket.Send(hello.data(), hello.size()));
        std::array<uint8_t, framed_rpc::kServerHelloSize> reply{};
        ASSERT_TRUE(socket.RecvExact(reply.data(), reply.size()));
        auto decoded = framed_rpc::DecodeServerHello(reply);
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(decoded->status, ErrorCode::INVALID_VERSION);
        EXPECT_TRUE(socket.ClosedByPeer());
    }
    EXPECT_GE(Metric("mooncake_master_hot_rpc_protocol_errors_total"), errors_before + 8);

    // Still serving, on both doors, with nothing stored by the garbage.
    HotPathTestSocket socket(master_->hot_rpc_port());
    ASSERT_TRUE(socket.Handshake());
    rpc::MasterRequest request;
    request.set_request_id(1);
    request.mutable_get_service_info();
    rpc::MasterResponse response;
    ASSERT_TRUE(socket.Call(request, &response));
    rpc::GetServiceInfoResponse info;
    EXPECT_TRUE(stub().GetServiceInfo(ContextWithDeadline().get(), {}, &info).ok());
    EXPECT_EQ(Metric("mooncake_master_object_count"), 0);
}

TEST_F(MasterServerTest, GrpcPortSurvivesGarbage) {
    for (int round = 0; round < 3; ++round) {
        HotPathTestSocket socket(master_->ports().rpc);
        ASSERT_TRUE(socket.connected());
        socket.Send(std::string(1000, '\x17') + "garbage\r\n\r\n");
        EXPECT_TRUE(socket.ClosedByPeer());
    }
    rpc::GetServiceInfoResponse info;
    EXPECT_TRUE(stub().GetServiceInfo(ContextWithDeadline().get(), {}, &info).ok());
    EXPECT_EQ(info.error_code(), 0);
}

// ---- HTTP metadata server
// -------------------------------------------------------------------------

TEST_F(MasterServerTest, HttpMetadataServer) {
    httplib::Client http("127.0.0.1", master_->ports().http);
    http.set_read_timeout(std::chrono::seconds(10));
    const std::string descriptor = R"({"name":"127.0.0.1:12345","buffers":[]})";

    auto reply = http.Put("/metadata?key=mooncake/segment/a", descriptor, "application/json");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    reply = http.Get("/metadata?key=mooncake/segment/a");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, descriptor);

    // Overwrite, then read the new value.
    ASSERT_EQ(http.Put("/metadata?key=mooncake/segment/a", "v2", "text/plain")->status, 200);
    EXPECT_EQ(http.Get("/metadata?key=mooncake/segment/a")->body, "v2");

    EXPECT_EQ(http.Get("/metadata?key=absent")->status, 404);
    EXPECT_EQ(http.Get("/metadata")->status, 400);
    EXPECT_EQ(http.Put("/metadata", "x", "text/plain")->status, 400);
    EXPECT_EQ(http.Delete("/metadata")->status, 400);
    EXPECT_EQ(http.Delete("/metadata?key=absent")->status, 404);
    EXPECT_EQ(http.Delete("/metadata?key=mooncake/segment/a")->status, 200);
    EXPECT_EQ(http.Get("/metadata?key=mooncake/segment/a")->status, 404);

    auto health = http.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, "OK");

    // Bodies above the bound are refused and not stored.
    const std::string huge((16u << 20) + 1, 'x');
    auto too_large = http.Put("/metadata?key=huge", huge, "application/octet-stream");
    if (too_large) {
        EXPECT_EQ(too_large->status, 413);
    }
    EXPECT_EQ(http.Get("/metadata?key=huge")->status, 404);
    EXPECT_EQ(Metric("mooncake_master_http_metadata_keys"), 0);
}

// ---- /metrics
// -------------------------------------------------------------------------------------

TEST_F(MasterServerTest, MetricsMoveWithOperations) {
    auto page = HttpGet(master_->ports().metrics, "/metrics");
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.content_type.find("text/plain"), std::string::npos);
    EXPECT_NE(page.content_type.find("version=0.0.4"), std::string::npos);
    for (const char* family :
         {"mooncake_master_segments_mounted gauge", "mooncake_master_capacity_bytes gauge",
          "mooncake_master_used_bytes gauge", "mooncake_master_object_count gauge",
          "mooncake_master_clients_alive gauge", "mooncake_master_put_starts_total counter",
          "mooncake_master_gets_total counter", "mooncake_master_removes_total counter",
          "mooncake_master_evictions_total counter", "mooncake_master_rpc_errors_total counter"}) {
        EXPECT_NE(page.body.find(std::string("# TYPE ") + family), std::string::npos) << family;
    }
    EXPECT_NE(page.body.find("# HELP mooncake_master_object_count "), std::string::npos);

    EXPECT_EQ(Metric("mooncake_master_segments_mounted"), 0);
    const UUID client = UUID::Generate();
    Mount(client, "127.0.0.1:17013");
    Put(client, "metric-key", 10000);
    EXPECT_EQ(GetReplicaList("metric-key").error_code(), 0);
    EXPECT_EQ(GetReplicaList("no-such").error_code(), Code(ErrorCode::OBJECT_NOT_FOUND));

    EXPECT_EQ(Metric("mooncake_master_segments_mounted"), 1);
    EXPECT_EQ(Metric("mooncake_master_capacity_bytes"), kSegmentSize);
    EXPECT_GE(Metric("mooncake_master_used_bytes"), 10000);
    EXPECT_EQ(Metric("mooncake_master_object_count"), 1);
    EXPECT_EQ(Metric("mooncake_master_clients_alive"), 1);
    EXPECT_EQ(Metric("mooncake_master_put_starts_total"), 1);
    EXPECT_EQ(Metric("mooncake_master_put_ends_total"), 1);
    EXPECT_EQ(Metric("mooncake_master_gets_total"), 1);
    EXPECT_EQ(Metric("mooncake_master_rpc_calls_total{method=\"put_start\"}"), 1);
    EXPECT_EQ(Metric("mooncake_master_rpc_calls_total{method=\"get_replica_list\"}"), 2);
    EXPECT_EQ(Metric("mooncake_master_rpc_errors_total{code=\"OBJECT_NOT_FOUND\"}"), 1);

    auto summary = HttpGet(master_->ports().metrics, "/metrics/summary");
    EXPECT_EQ(summary.status, 200);
    EXPECT_NE(summary.body.find("Keys: 1 "), std::string::npos) << summary.body;
    EXPECT_NE(summary.body.find("Mem Storage: "), std::string::npos) << summary.body;
    // One of the two gets missed: counted as failed.
    EXPECT_NE(summary.body.find("Get=1/2"), std::string::npos) << summary.body;
}

// ---- shutdown
// -------------------------------------------------------------------------------------

TEST_F(MasterServerTest, SigtermStopsCleanlyWithOpenConnections) {
    // An open stream and an open hot-path connection must not hold shutdown up.
    auto context = ContextWithDeadline(std::chrono::seconds(120));
    auto stream = stub().Stream(context.get());
    HotPathTestSocket socket(master_->hot_rpc_port());
    ASSERT_TRUE(socket.Handshake());

    auto exit = master_->Terminate(std::chrono::seconds(60));
    ASSERT_TRUE(exit.has_value()) << "did not stop on SIGTERM";
    EXPECT_FALSE(exit->signaled);
    EXPECT_EQ(exit->code, 0);
    EXPECT_TRUE(socket.ClosedByPeer());
    const std::string output = master_->Output();
    EXPECT_NE(output.find("received SIGTERM"), std::string::npos) << output;
    EXPECT_NE(output.find("mooncake_master stopped"), std::string::npos) << output;
}

}  // namespace
}  // namespace mooncake
