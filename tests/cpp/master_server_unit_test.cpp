// In-process tests of the master's adapter pieces: hot-path framing,
// proto conversions, Prometheus text, the request dispatcher over a real
// MasterService, and the config-file loader.

#include <arpa/inet.h>
#include <gflags/gflags.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "hot_path_test_socket.h"
#include "master/hot_rpc_server.h"
#include "master/master_flags.h"
#include "master/master_metrics.h"
#include "master/master_service.h"
#include "master/prometheus_text.h"
#include "master/request_dispatcher.h"
#include "rpc/framed_rpc_protocol.h"
#include "rpc/rpc_convert.h"

DECLARE_int64(default_kv_lease_ttl);
DECLARE_int64(client_ttl);
DECLARE_string(cluster_id);
DECLARE_double(eviction_ratio);
DECLARE_string(config_path);

namespace mooncake {
namespace {

// ---- framing --------------------------------------------------------------------------

TEST(FramedRpcProtocolTest, HelloRoundTrip) {
    const auto client_hello = framed_rpc::EncodeClientHello();
    auto version = framed_rpc::DecodeClientHello(client_hello);
    ASSERT_TRUE(version.has_value());
    EXPECT_EQ(*version, framed_rpc::kProtocolVersion);

    framed_rpc::ServerHello hello;
    hello.status = ErrorCode::INVALID_VERSION;
    hello.master_instance_id = UUID{0x0102030405060708ULL, 0xa1b2c3d4e5f60718ULL};
    auto decoded = framed_rpc::DecodeServerHello(framed_rpc::EncodeServerHello(hello));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->version, framed_rpc::kProtocolVersion);
    EXPECT_EQ(decoded->status, ErrorCode::INVALID_VERSION);
    EXPECT_EQ(decoded->master_instance_id, hello.master_instance_id);
}

TEST(FramedRpcProtocolTest, GarbageIsNotAHello) {
    std::array<uint8_t, framed_rpc::kClientHelloSize> http = {'G', 'E', 'T', ' ',
                                                              '/', ' ', 'H', 'T'};
    EXPECT_EQ(CodeOf(framed_rpc::DecodeClientHello(http)), ErrorCode::INVALID_PARAMS);
    std::array<uint8_t, framed_rpc::kServerHelloSize> zeros{};
    EXPECT_EQ(CodeOf(framed_rpc::DecodeServerHello(zeros)), ErrorCode::INVALID_PARAMS);
}

TEST(FramedRpcProtocolTest, FrameIsLittleEndianLengthThenPayload) {
    rpc::MasterRequest request;
    request.set_request_id(0x1234);
    request.mutable_exist_key()->set_key(std::string("k\0y", 3));
    std::string frame;
    ASSERT_TRUE(framed_rpc::EncodeFrame(request, framed_rpc::kMaxRequestFrameBytes, &frame));
    const uint32_t length = framed_rpc::DecodeFrameLength(reinterpret_cast<uint8_t*>(frame.data()));
    ASSERT_EQ(frame.size(), framed_rpc::kFrameHeaderSize + length);
    EXPECT_EQ(static_cast<uint8_t>(frame[0]), length & 0xff);
    rpc::MasterRequest parsed;
    ASSERT_TRUE(parsed.ParseFromArray(frame.data() + 4, static_cast<int>(length)));
    EXPECT_EQ(parsed.request_id(), 0x1234u);
    EXPECT_EQ(parsed.exist_key().key(), std::string("k\0y", 3));

    // Over the limit: refused, not truncated.
    request.mutable_exist_key()->set_key(std::string(1000, 'x'));
    EXPECT_FALSE(framed_rpc::EncodeFrame(request, 100, &frame));

    uint8_t header[4];
    framed_rpc::EncodeFrameLength(0xa1b2c3d4, header);
    EXPECT_EQ(header[0], 0xd4);
    EXPECT_EQ(header[3], 0xa1);
    EXPECT_EQ(framed_rpc::DecodeFrameLength(header), 0xa1b2c3d4u);
}

// ---- conversions --------------------------------------------------------------------------

TEST(RpcConvertTest, ReplicaDescriptorsRoundTrip) {
    ReplicaDescriptor memory;
    memory.status = ReplicaStatus::COMPLETE;
    memory.location = MemoryDescriptor{"10.0.0.1:12345", 0x7f0000001000ULL, 4096};
    ReplicaDescriptor disk;
    disk.status = ReplicaStatus::PROCESSING;
    disk.location = DiskDescriptor{"/data/obj", 77};

    google::protobuf::RepeatedPtrField<rpc::ReplicaDescriptor> wire;
    ToProto(std::vector<ReplicaDescriptor>{memory, disk}, &wire);
    const auto back = FromProto(wire);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].status, ReplicaStatus::COMPLETE);
    ASSERT_TRUE(back[0].is_memory_replica());
    EXPECT_EQ(back[0].memory().transport_endpoint, "10.0.0.1:12345");
    EXPECT_EQ(back[0].memory().buffer_address, 0x7f0000001000ULL);
    EXPECT_EQ(back[0].memory().size, 4096u);
    EXPECT_EQ(back[1].status, ReplicaStatus::PROCESSING);
    ASSERT_TRUE(back[1].is_disk_replica());
    EXPECT_EQ(back[1].disk().file_path, "/data/obj");
    EXPECT_EQ(back[1].disk().object_size, 77u);
}

TEST(RpcConvertTest, LocalDiskReplicaRoundTrip) {
    ReplicaDescriptor local;
    local.status = ReplicaStatus::COMPLETE;
    const UUID owner{0x1234, 0x5678};
    local.location = LocalDiskDescriptor{owner, 1 << 20, "10.0.0.2:7000"};
    google::protobuf::RepeatedPtrField<rpc::ReplicaDescriptor> wire;
    ToProto(std::vector<ReplicaDescriptor>{local}, &wire);
    const auto back = FromProto(wire);
    ASSERT_EQ(back.size(), 1u);
    ASSERT_TRUE(back[0].is_local_disk_replica());
    EXPECT_FALSE(back[0].is_disk_replica());
    EXPECT_FALSE(back[0].is_memory_replica());
    EXPECT_EQ(back[0].local_disk().client_id, owner);
    EXPECT_EQ(back[0].local_disk().object_size, 1u << 20);
    EXPECT_EQ(back[0].local_disk().transport_endpoint, "10.0.0.2:7000");
}

TEST(RpcConvertTest, TaskInfoRoundTripAndUnknownEnums) {
    TaskInfo task;
    task.id = UUID::Generate();
    task.type = TaskType::REPLICA_MOVE;
    task.status = TaskStatus::FAILED;
    task.created_at_ms_epoch = 1700000000123;
    task.last_updated_at_ms_epoch = 1700000000456;
    task.assigned_client = UUID::Generate();
    task.message = "target full";
    task.key = std::string("a\0b", 3);
    task.source = "h:1";
    task.targets = {"h:2"};
    task.attempts = 3;
    rpc::TaskInfo wire;
    ToProto(task, &wire);
    auto back = FromProto(wire);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->id, task.id);
    EXPECT_EQ(back->type, TaskType::REPLICA_MOVE);
    EXPECT_EQ(back->status, TaskStatus::FAILED);
    EXPECT_EQ(back->created_at_ms_epoch, task.created_at_ms_epoch);
    EXPECT_EQ(back->last_updated_at_ms_epoch, task.last_updated_at_ms_epoch);
    EXPECT_EQ(back->assigned_client, task.assigned_client);
    EXPECT_EQ(back->message, task.message);
    EXPECT_EQ(back->key, task.key);
    EXPECT_EQ(back->targets, task.targets);
    EXPECT_EQ(back->attempts, 3u);

    wire.set_status(static_cast<rpc::TaskStatus>(99));
    EXPECT_EQ(CodeOf(FromProto(wire)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(TaskTypeFromProto(7)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOf(ClientStatusFromProto(5)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ReplicaStatusFromProto(1000), ReplicaStatus::UNDEFINED);
}

TEST(RpcConvertTest, EveryEnumValueRoundTripsToItsOwnWireNumber) {
    for (int i = 0; i <= static_cast<int>(ReplicaStatus::FAILED); ++i) {
        const auto status = static_cast<ReplicaStatus>(i);
        EXPECT_EQ(static_cast<int>(ToProto(status)), i);
        EXPECT_EQ(ReplicaStatusFromProto(ToProto(status)), status);
    }
    for (TaskType type : {TaskType::REPLICA_COPY, TaskType::REPLICA_MOVE}) {
        EXPECT_EQ(static_cast<int>(ToProto(type)), static_cast<int>(type));
        EXPECT_EQ(TaskTypeFromProto(ToProto(type)), type);
    }
    for (TaskStatus status :
         {TaskStatus::PENDING, TaskStatus::PROCESSING, TaskStatus::SUCCESS, TaskStatus::FAILED}) {
        EXPECT_EQ(static_cast<int>(ToProto(status)), static_cast<int>(status));
        EXPECT_EQ(TaskStatusFromProto(ToProto(status)), status);
    }
    for (ClientStatus status : {ClientStatus::OK, ClientStatus::NEED_REMOUNT}) {
        EXPECT_EQ(static_cast<int>(ToProto(status)), static_cast<int>(status));
        EXPECT_EQ(ClientStatusFromProto(ToProto(status)), status);
    }
}

TEST(RpcConvertTest, ReplicateConfigSaturatesReplicaCount) {
    ReplicateConfig config;
    config.replica_num = (1ULL << 40);
    config.with_soft_pin = true;
    config.preferred_segment = "h:9";
    rpc::ReplicateConfig wire;
    ToProto(config, &wire);
    EXPECT_EQ(wire.replica_num(), 0xffffffffu);
    const ReplicateConfig back = FromProto(wire);
    EXPECT_TRUE(back.with_soft_pin);
    EXPECT_EQ(back.preferred_segment, "h:9");
}

TEST(RpcConvertTest, ReplicateConfigCarriesASoftPinToClear) {
    ReplicateConfig config;
    config.with_soft_pin = true;
    config.soft_pin_action = SoftPinAction::DISABLE;
    config.upsert = true;
    rpc::ReplicateConfig wire;
    ToProto(config, &wire);
    const ReplicateConfig back = FromProto(wire);
    EXPECT_EQ(back.soft_pin_action, SoftPinAction::DISABLE);
    EXPECT_FALSE(back.soft_pinned());
    EXPECT_TRUE(back.upsert);
    ToProto(ReplicateConfig{}, &wire);
    EXPECT_EQ(FromProto(wire).soft_pin_action, SoftPinAction::PRESERVE);
}

// ---- Prometheus text ----------------------------------------------------------------------

TEST(PrometheusTextTest, FamiliesHaveHelpTypeAndSamples) {
    PrometheusText page;
    page.Gauge("g", "A gauge.", 1.5);
    page.Counter("c_total", "A counter.", 12345678901.0);
    page.LabeledCounter("e_total", "Errors.", "code", {{"A\"B\\C\nD", 2}});
    const std::string& text = page.text();
    EXPECT_NE(text.find("# HELP g A gauge.\n# TYPE g gauge\ng 1.5\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE c_total counter\nc_total 12345678901\n"), std::string::npos);
    EXPECT_NE(text.find("e_total{code=\"A\\\"B\\\\C\\nD\"} 2\n"), std::string::npos) << text;
    EXPECT_EQ(PrometheusText::FormatValue(std::nan("")), "NaN");
}

TEST(MasterMetricsTest, RendersStatsAndErrorCodes) {
    MasterMetricsSnapshot snapshot;
    snapshot.version = "9.9.9";
    snapshot.stats.segments_mounted = 3;
    snapshot.stats.capacity_bytes = 1000;
    snapshot.stats.used_bytes = 250;
    snapshot.stats.object_count = 42;
    snapshot.results_by_error = {{ErrorCode::OBJECT_NOT_FOUND, 5}};
    snapshot.calls_by_method = {{"put_start", 8}};
    const std::string page = RenderPrometheusMetrics(snapshot);
    EXPECT_NE(page.find("mooncake_master_segments_mounted 3\n"), std::string::npos);
    EXPECT_NE(page.find("mooncake_master_usage_ratio 0.25\n"), std::string::npos);
    EXPECT_NE(page.find("mooncake_master_object_count 42\n"), std::string::npos);
    EXPECT_NE(page.find("mooncake_master_rpc_errors_total{code=\"OBJECT_NOT_FOUND\"} 5\n"),
              std::string::npos);
    EXPECT_NE(page.find("mooncake_master_rpc_calls_total{method=\"put_start\"} 8\n"),
              std::string::npos);
    EXPECT_NE(page.find("mooncake_master_build_info{version=\"9.9.9\"} 1\n"), std::string::npos);
    const std::string line = RenderSummaryLine(snapshot);
    EXPECT_NE(line.find("Keys: 42"), std::string::npos) << line;
    EXPECT_NE(line.find("Requests (Success/Total): PutStart=8/8"), std::string::npos) << line;
    EXPECT_NE(line.find("(25.0%)"), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos);
}

// ---- dispatcher ------------------------------------------------------------------------------

class DispatcherTest : public ::testing::Test {
   protected:
    DispatcherTest() : service_(MasterConfig{}), dispatcher_(service_) {
        dispatcher_.SetIdentity(ServerIdentity{"1.2.3", UUID{1, 2}, 4321});
    }

    rpc::MasterResponse Dispatch(const rpc::MasterRequest& request) {
        rpc::MasterResponse response;
        dispatcher_.Dispatch(request, &response);
        return response;
    }

    uint64_t ErrorsFor(ErrorCode code) {
        for (const auto& [known, count] : dispatcher_.ErrorCounts()) {
            if (known == code) return count;
        }
        return 0;
    }

    uint64_t CallsFor(const std::string& method) {
        for (const auto& [name, count] : dispatcher_.CallCounts()) {
            if (name == method) return count;
        }
        return 0;
    }

    MasterService service_;
    RequestDispatcher dispatcher_;
};

TEST_F(DispatcherTest, EchoesIdsAndServesEveryKindOfBody) {
    rpc::MasterRequest request;
    request.set_request_id(77);
    request.mutable_get_service_info();
    auto response = Dispatch(request);
    EXPECT_EQ(response.request_id(), 77u);
    ASSERT_TRUE(response.has_get_service_info());
    EXPECT_EQ(response.get_service_info().version(), "1.2.3");
    EXPECT_EQ(response.get_service_info().hot_rpc_port(), 4321u);
    EXPECT_EQ(response.get_service_info().master_instance_id().lo(), 2u);
    EXPECT_EQ(response.get_service_info().default_kv_lease_ttl_ms(), 5000u);

    const UUID client = UUID::Generate();
    request.Clear();
    request.set_request_id(78);
    auto* mount = request.mutable_mount_segment();
    ToProto(client, mount->mutable_client_id());
    ToProto(SegmentInfo{UUID::Generate(), "h:1", 1 << 20, 1 << 20}, mount->mutable_segment());
    response = Dispatch(request);
    EXPECT_EQ(response.request_id(), 78u);
    EXPECT_EQ(response.mount_segment().error_code(), 0);

    request.Clear();
    auto* put = request.mutable_put_start();
    ToProto(client, put->mutable_client_id());
    put->set_key("k");
    put->set_value_size(100);
    put->mutable_config()->set_replica_num(1);
    response = Dispatch(request);
    ASSERT_EQ(response.put_start().error_code(), 0);
    ASSERT_EQ(response.put_start().replicas_size(), 1);
    EXPECT_EQ(response.put_start().replicas(0).memory().transport_endpoint(), "h:1");

    request.Clear();
    request.mutable_get_replica_list()->set_key("k");
    response = Dispatch(request);
    EXPECT_EQ(response.get_replica_list().error_code(), ToInt(ErrorCode::REPLICA_IS_NOT_READY));
    EXPECT_EQ(CallsFor("get_replica_list"), 1u);
    EXPECT_EQ(CallsFor("put_start"), 1u);
    EXPECT_EQ(ErrorsFor(ErrorCode::REPLICA_IS_NOT_READY), 1u);
}

TEST_F(DispatcherTest, MissingBodyIsAnError) {
    rpc::MasterRequest request;
    request.set_request_id(5);
    auto response = Dispatch(request);
    EXPECT_EQ(response.request_id(), 5u);
    ASSERT_TRUE(response.has_error());
    EXPECT_EQ(response.error().error_code(), ToInt(ErrorCode::INVALID_PARAMS));
    EXPECT_EQ(ErrorsFor(ErrorCode::INVALID_PARAMS), 1u);
}

TEST_F(DispatcherTest, BatchWithMismatchedListsAnswersEveryKey) {
    rpc::BatchPutStartRequest request;
    request.add_keys("a");
    request.add_keys("b");
    request.add_keys("c");
    request.add_value_sizes(1);
    request.mutable_config()->set_replica_num(1);
    rpc::BatchPutStartResponse response;
    dispatcher_.BatchPutStart(request, &response);
    ASSERT_EQ(response.results_size(), 3);
    for (const auto& result : response.results()) {
        EXPECT_EQ(result.error_code(), ToInt(ErrorCode::INVALID_PARAMS));
    }
    EXPECT_EQ(ErrorsFor(ErrorCode::INVALID_PARAMS), 3u);
    EXPECT_EQ(service_.GetStats().object_count, 0u);
}

TEST_F(DispatcherTest, ErrorCountsListEveryCodeButOk) {
    const auto counts = dispatcher_.ErrorCounts();
    EXPECT_GE(counts.size(), 30u);
    for (const auto& [code, count] : counts) {
        EXPECT_NE(code, ErrorCode::OK);
        EXPECT_EQ(count, 0u);
    }
    EXPECT_EQ(dispatcher_.TotalErrors(), 0u);
}

// ---- config file ------------------------------------------------------------------------------

std::string WriteConfig(const std::string& name, const std::string& content) {
    const std::string path =
        ::testing::TempDir() + "mc_unit_" + std::to_string(getpid()) + "_" + name;
    std::ofstream(path) << content;
    return path;
}

// Removes the files WriteConfig wrote for a test.
class MasterConfigFileTest : public ::testing::Test {
   protected:
    void TearDown() override {
        for (const char* name : {"ok.json", "win.json", "bad.json"}) {
            std::remove((::testing::TempDir() + "mc_unit_" + std::to_string(getpid()) + "_" + name)
                            .c_str());
        }
    }
    gflags::FlagSaver saver_;
};

TEST_F(MasterConfigFileTest, AppliesValuesOfTheRightType) {
    auto applied = ApplyMasterConfigFile(WriteConfig(
        "ok.json", R"({"default_kv_lease_ttl": 777, "cluster_id": "c1", "eviction_ratio": 0})"));
    ASSERT_TRUE(applied.has_value()) << applied.error();
    EXPECT_EQ(FLAGS_default_kv_lease_ttl, 777);
    EXPECT_EQ(FLAGS_cluster_id, "c1");
    EXPECT_EQ(FLAGS_eviction_ratio, 0.0);
}

TEST_F(MasterConfigFileTest, FlagsSetBeforeWin) {
    gflags::SetCommandLineOption("client_ttl", "99");
    auto applied =
        ApplyMasterConfigFile(WriteConfig("win.json", R"({"client_ttl": 5, "cluster_id": "c2"})"));
    ASSERT_TRUE(applied.has_value()) << applied.error();
    EXPECT_EQ(FLAGS_client_ttl, 99);
    EXPECT_EQ(FLAGS_cluster_id, "c2");
}

TEST_F(MasterConfigFileTest, RefusesAndChangesNothing) {
    const int64_t before = FLAGS_default_kv_lease_ttl;
    // The good key comes first: a later bad one must still leave it unapplied.
    for (const char* content :
         {R"({"default_kv_lease_ttl": 1, "nope": 1})",
          R"({"default_kv_lease_ttl": 1, "port": "1"})",
          R"({"default_kv_lease_ttl": 1, "enable_ha": 1})", R"({"default_kv_lease_ttl": 1.5})",
          R"({"default_kv_lease_ttl": 1, "config_path": "x"})",
          R"({"default_kv_lease_ttl": 1, "port": 4294967296})",
          R"({"default_kv_lease_ttl": 1, "port": -2147483649})", "not json", "42"}) {
        auto applied = ApplyMasterConfigFile(WriteConfig("bad.json", content));
        EXPECT_FALSE(applied.has_value()) << content;
        if (!applied) {
            EXPECT_EQ(applied.error().find('\n'), std::string::npos);
        }
        EXPECT_EQ(FLAGS_default_kv_lease_ttl, before) << content;
    }
    EXPECT_FALSE(ApplyMasterConfigFile("/nonexistent/file.json").has_value());
}

TEST_F(MasterConfigFileTest, LoadOptionsValidates) {
    auto options = LoadMasterServerOptions();
    ASSERT_TRUE(options.has_value()) << options.error();
    EXPECT_EQ(options->rpc_port, 50051);
    EXPECT_EQ(options->rpc_address, "0.0.0.0");
    EXPECT_EQ(options->metrics_port, 9003);
    EXPECT_EQ(options->http_metadata_server_port, 8080);
    EXPECT_TRUE(options->enable_hot_rpc);
    EXPECT_EQ(options->config.default_kv_lease_ttl_ms, 5000u);
    gflags::SetCommandLineOption("rpc_port", "6000");
    EXPECT_EQ(LoadMasterServerOptions()->rpc_port, 6000);

    gflags::SetCommandLineOption("eviction_ratio", "1.5");
    auto refused = LoadMasterServerOptions();
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().find("eviction_ratio"), std::string::npos);
}

}  // namespace
}  // namespace mooncake

// ---- hot-path server limits ------------------------------------------------------------

namespace mooncake {
namespace {

using testing::HotPathTestSocket;

class HotRpcServerTest : public ::testing::Test {
   protected:
    HotRpcServerTest() : service_(MasterConfig{}), dispatcher_(service_) {}

    void StartServer(HotRpcServer::Options options) {
        options.address = "127.0.0.1";
        options.port = 0;
        server_ = std::make_unique<HotRpcServer>(dispatcher_, options);
        auto started = server_->Start();
        ASSERT_TRUE(started.has_value()) << started.error();
    }

    bool WaitForProtocolErrors(uint64_t count) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (server_->GetStats().protocol_errors < count) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return true;
    }

    MasterService service_;
    RequestDispatcher dispatcher_;
    std::unique_ptr<HotRpcServer> server_;
};

TEST_F(HotRpcServerTest, AtTheCapTheLongestIdleConnectionMakesRoom) {
    // Refusing newcomers would let a flood of idle connections lock honest
    // clients out (issue 16, item 6); the oldest idle one goes instead.
    HotRpcServer::Options options;
    options.max_connections = 2;
    StartServer(options);
    HotPathTestSocket first(server_->port());
    ASSERT_TRUE(first.Handshake());
    HotPathTestSocket second(server_->port());
    ASSERT_TRUE(second.Handshake());
    HotPathTestSocket third(server_->port());
    ASSERT_TRUE(third.Handshake());
    EXPECT_TRUE(first.ClosedByPeer());
    EXPECT_EQ(server_->GetStats().connections_evicted, 1u);
    EXPECT_EQ(server_->GetStats().connections_refused, 0u);
}

TEST_F(HotRpcServerTest, SilentAndStalledPeersAreDropped) {
    HotRpcServer::Options options;
    options.handshake_timeout = std::chrono::milliseconds(200);
    options.frame_timeout = std::chrono::milliseconds(200);
    StartServer(options);

    HotPathTestSocket silent(server_->port());
    ASSERT_TRUE(silent.connected());
    EXPECT_TRUE(silent.ClosedByPeer());

    HotPathTestSocket stalled(server_->port());
    ASSERT_TRUE(stalled.Handshake());
    const uint8_t half_header[2] = {10, 0};
    ASSERT_TRUE(stalled.Send(half_header, sizeof(half_header)));
    EXPECT_TRUE(stalled.ClosedByPeer());

    HotPathTestSocket truncated(server_->port());
    ASSERT_TRUE(truncated.Handshake());
    const uint8_t header_and_some[6] = {100, 0, 0, 0, 0x08, 0x01};
    ASSERT_TRUE(truncated.Send(header_and_some, sizeof(header_and_some)));
    EXPECT_TRUE(truncated.ClosedByPeer());

    EXPECT_TRUE(WaitForProtocolErrors(3));
}

TEST_F(HotRpcServerTest, IdleConnectionsStayOpenAndStopClosesThem) {
    HotRpcServer::Options options;
    options.frame_timeout = std::chrono::milliseconds(100);
    StartServer(options);
    HotPathTestSocket idle(server_->port());
    ASSERT_TRUE(idle.Handshake());
    // Longer than the frame timeout, which only applies inside a frame.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(server_->GetStats().connections_open, 1u);
    server_->Stop();
    EXPECT_TRUE(idle.ClosedByPeer());
    EXPECT_EQ(server_->GetStats().connections_open, 0u);
}

}  // namespace
}  // namespace mooncake
