// Start-up of the real mooncake_master binary: flag and config-file
// validation (one-line reason, non-zero exit), busy ports, binding exactly
// where asked, --version, and clean shutdown on signals.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "master_server_test_util.h"

namespace mooncake {
namespace {

using testing::ContextWithDeadline;
using testing::HttpGet;
using testing::MasterPorts;
using testing::MasterProcess;
using testing::NonEmptyLines;
using testing::PickFreePort;
using testing::PickMasterPorts;
using testing::RunMasterToExit;

// Arguments that would start a master on free loopback ports.
std::vector<std::string> BaseArgs(const MasterPorts& ports) {
    return {"--rpc_address=127.0.0.1", "--port=" + std::to_string(ports.rpc),
            "--metrics_port=" + std::to_string(ports.metrics),
            "--http_metadata_server_host=127.0.0.1",
            "--http_metadata_server_port=" + std::to_string(ports.http)};
}

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

// The master refuses to start with exactly one line that contains `needle`.
void ExpectRefused(const std::vector<std::string>& args, const std::string& needle) {
    const auto result = RunMasterToExit(args);
    ASSERT_TRUE(result.exit.has_value()) << "did not exit; output: " << result.output;
    EXPECT_FALSE(result.exit->signaled) << result.output;
    EXPECT_NE(result.exit->code, 0) << result.output;
    const auto lines = NonEmptyLines(result.output);
    ASSERT_EQ(lines.size(), 1u) << "want one line, got: " << result.output;
    EXPECT_NE(lines[0].find(needle), std::string::npos) << lines[0];
}

// A socket listening on 127.0.0.1:port (held while the test runs).
class PortBlocker {
   public:
    // `port` 0 picks a free one. Binding a port that is taken already leaves
    // it taken, which is all the tests need.
    explicit PortBlocker(uint16_t port = 0)
        : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
        ::listen(fd_, 4);
        socklen_t length = sizeof(address);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
    }
    ~PortBlocker() { ::close(fd_); }
    uint16_t port() const { return port_; }

   private:
    int fd_;
    uint16_t port_ = 0;
};

TEST(MasterStartupTest, PrintsVersion) {
    const auto result = RunMasterToExit({"--version"});
    ASSERT_TRUE(result.exit.has_value());
    EXPECT_EQ(result.exit->code, 0);
    EXPECT_NE(result.output.find(MOONCAKE_TEST_VERSION), std::string::npos) << result.output;
}

TEST(MasterStartupTest, RefusesInvalidValues) {
    const auto ports = PickMasterPorts();
    const auto base = BaseArgs(ports);
    ExpectRefused(With(base, {"--eviction_ratio=1.5"}), "eviction_ratio");
    ExpectRefused(With(base, {"--eviction_ratio=-0.1"}), "eviction_ratio");
    ExpectRefused(With(base, {"--eviction_high_watermark_ratio=0"}),
                  "eviction_high_watermark_ratio");
    ExpectRefused(With(base, {"--eviction_high_watermark_ratio=1.01"}),
                  "eviction_high_watermark_ratio");
    ExpectRefused(With(base, {"--default_kv_lease_ttl=0"}), "default_kv_lease_ttl");
    ExpectRefused(With(base, {"--default_kv_soft_pin_ttl=-5"}), "default_kv_soft_pin_ttl");
    ExpectRefused(With(base, {"--client_ttl=0"}), "client_ttl");
    ExpectRefused(With(base, {"--put_start_discard_timeout_sec=-1"}),
                  "put_start_discard_timeout_sec");
    ExpectRefused(With(base, {"--port=70000"}), "port");
    ExpectRefused(With(base, {"--max_threads=0"}), "max_threads");
    ExpectRefused(With(base, {"--enable_ha=true"}), "enable_ha");
    ExpectRefused(With(base, {"--memory_allocator=cachelib"}), "memory_allocator");
    ExpectRefused(With(base, {"--cluster_id="}), "cluster_id");
    ExpectRefused(With(base, {"--eviction_ratio=abc"}), "eviction_ratio");
    ExpectRefused(With(base, {"--no_such_flag=1"}), "no_such_flag");
    ExpectRefused(With(base, {"--hot_rpc_port=" + std::to_string(ports.rpc)}),
                  "each listener needs its own port");
    ExpectRefused(With(base, {"--metrics_port=" + std::to_string(ports.rpc)}),
                  "each listener needs its own port");
}

TEST(MasterStartupTest, RefusesBusyPorts) {
    PortBlocker blocker;
    const auto ports = PickMasterPorts();
    const std::string busy = std::to_string(blocker.port());
    ExpectRefused(With(BaseArgs(ports), {"--port=" + busy}), "in use");
    ExpectRefused(With(BaseArgs(ports), {"--rpc_port=" + busy}), "in use");
    ExpectRefused(With(BaseArgs(ports), {"--hot_rpc_port=" + busy}), "in use");
    ExpectRefused(With(BaseArgs(ports), {"--metrics_port=" + busy}), "in use");
    ExpectRefused(With(BaseArgs(ports), {"--enable_http_metadata_server=true",
                                         "--http_metadata_server_port=" + busy}),
                  "in use");
}

TEST(MasterStartupTest, BusyDefaultMetricsPortOnlyDisablesMetrics) {
    PortBlocker blocker(9003);  // the default --metrics_port
    auto ports = PickMasterPorts();
    ports.metrics = 0;  // not given on the command line
    std::string error;
    auto master = MasterProcess::Start({}, ports, &error);
    ASSERT_NE(master, nullptr) << error;
    EXPECT_NE(master->Output().find("/metrics is disabled"), std::string::npos) << master->Output();
    EXPECT_EQ(HttpGet(master->ports().http, "/health").status, 200);
}

TEST(MasterStartupTest, TwoMastersCannotShareAPort) {
    std::string error;
    auto first = MasterProcess::Start({}, std::nullopt, &error);
    ASSERT_NE(first, nullptr) << error;
    auto ports = PickMasterPorts();
    ports.rpc = first->ports().rpc;
    ExpectRefused(BaseArgs(ports), "in use");
    ports = PickMasterPorts();
    ports.metrics = first->ports().metrics;
    ExpectRefused(BaseArgs(ports), "in use");
    ports = PickMasterPorts();
    ports.http = first->ports().http;
    ExpectRefused(With(BaseArgs(ports), {"--enable_http_metadata_server=true"}), "in use");
}

TEST(MasterStartupTest, RefusesBadConfigFiles) {
    const auto base = BaseArgs(PickMasterPorts());
    ExpectRefused(With(base, {"--config_path=/nonexistent/master.json"}), "/nonexistent");
    const std::string directory = ::testing::TempDir();
    ExpectRefused(With(base, {"--config_path=" + directory}), "config file");
    ExpectRefused(With(base, {"--config_path=" +
                              testing::WriteTempFile("ratio.json", R"({"eviction_ratio": 1.5})")}),
                  "eviction_ratio");
    ExpectRefused(
        With(base, {"--config_path=" +
                    testing::WriteTempFile("type.json", R"({"eviction_ratio": "high"})")}),
        "eviction_ratio");
    ExpectRefused(
        With(base, {"--config_path=" + testing::WriteTempFile("int.json", R"({"port": 1.5})")}),
        "port");
    ExpectRefused(With(base, {"--config_path=" +
                              testing::WriteTempFile("bool.json", R"({"enable_ha": "yes"})")}),
                  "enable_ha");
    ExpectRefused(With(base, {"--config_path=" +
                              testing::WriteTempFile("unknown.json", R"({"no_such_key": 1})")}),
                  "no_such_key");
    ExpectRefused(
        With(base, {"--config_path=" +
                    testing::WriteTempFile("syntax.json", "{\n\"port\": 1,\n oops\n}\n")}),
        "not valid JSON");
    ExpectRefused(With(base, {"--config_path=" + testing::WriteTempFile("array.json", "[1, 2]")}),
                  "JSON object");
    ExpectRefused(
        With(base, {"--config_path=" + testing::WriteTempFile("ttl.json", R"({"client_ttl": 0})")}),
        "client_ttl");
}

TEST(MasterStartupTest, ConfigFileAppliesAndCommandLineWins) {
    const std::string config = testing::WriteTempFile("good.json", R"({
        "default_kv_lease_ttl": 1234,
        "client_ttl": 33,
        "cluster_id": "from_file",
        "eviction_ratio": 0.1,
        "enable_metric_reporting": false
    })");
    std::string error;
    auto master =
        MasterProcess::Start({"--config_path=" + config, "--client_ttl=44"}, std::nullopt, &error);
    ASSERT_NE(master, nullptr) << error;
    rpc::GetServiceInfoResponse info;
    ASSERT_TRUE(master->stub().GetServiceInfo(ContextWithDeadline().get(), {}, &info).ok());
    EXPECT_EQ(info.default_kv_lease_ttl_ms(), 1234u);
    EXPECT_EQ(info.cluster_id(), "from_file");
    EXPECT_EQ(info.client_ttl_sec(), 44);  // the command line wins
}

TEST(MasterStartupTest, HotPathCanBeDisabledOrPinned) {
    std::string error;
    auto disabled = MasterProcess::Start({"--enable_hot_rpc=false"}, std::nullopt, &error);
    ASSERT_NE(disabled, nullptr) << error;
    EXPECT_EQ(disabled->hot_rpc_port(), 0);
    disabled.reset();

    auto ports = PickMasterPorts();
    ports.hot = PickFreePort();
    auto pinned = MasterProcess::Start({}, ports, &error);
    ASSERT_NE(pinned, nullptr) << error;
    EXPECT_EQ(pinned->hot_rpc_port(), ports.hot);
}

bool CanConnect(const char* ip, uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &address.sin_addr);
    const bool connected =
        ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
}

TEST(MasterStartupTest, BindsExactlyWhereAsked) {
    // 127.0.0.2 is loopback too, but not the address 127.0.0.1.
    auto ports = PickMasterPorts();
    ports.host = "127.0.0.2";
    std::string error;
    auto master = MasterProcess::Start({"--enable_hot_rpc=true"}, ports, &error);
    ASSERT_NE(master, nullptr) << error;
    EXPECT_TRUE(CanConnect("127.0.0.2", ports.rpc));
    EXPECT_TRUE(CanConnect("127.0.0.2", ports.metrics));
    EXPECT_TRUE(CanConnect("127.0.0.2", ports.http));
    EXPECT_TRUE(CanConnect("127.0.0.2", master->hot_rpc_port()));
    EXPECT_FALSE(CanConnect("127.0.0.1", ports.rpc));
    EXPECT_FALSE(CanConnect("127.0.0.1", ports.metrics));
    EXPECT_FALSE(CanConnect("127.0.0.1", ports.http));
    EXPECT_FALSE(CanConnect("127.0.0.1", master->hot_rpc_port()));
}

TEST(MasterStartupTest, ReportsMetricsPeriodically) {
    std::string error;
    auto master = MasterProcess::Start({"--enable_metric_reporting=true"}, std::nullopt, &error);
    ASSERT_NE(master, nullptr) << error;
    // Every 10 s; allow a loaded machine plenty more.
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
            return master->Output().find("master stats: Mem Storage: 0.00 B / 0.00 B") !=
                   std::string::npos;
        },
        std::chrono::seconds(60)))
        << master->Output();
}

TEST(MasterStartupTest, StopsWithExitZeroOnSigtermAndSigint) {
    for (int signal_number : {SIGTERM, SIGINT}) {
        std::string error;
        auto master = MasterProcess::Start({}, std::nullopt, &error);
        ASSERT_NE(master, nullptr) << error;
        // The start-up line says what listens where.
        const std::string output = master->Output();
        EXPECT_NE(output.find("gRPC 127.0.0.1:" + std::to_string(master->ports().rpc)),
                  std::string::npos)
            << output;
        EXPECT_NE(output.find("hot path 127.0.0.1:"), std::string::npos) << output;
        master->Signal(signal_number);
        auto exit = master->WaitExit(std::chrono::seconds(60));
        ASSERT_TRUE(exit.has_value()) << "no exit after signal " << signal_number;
        EXPECT_FALSE(exit->signaled);
        EXPECT_EQ(exit->code, 0);
        EXPECT_NE(master->Output().find("mooncake_master stopped"), std::string::npos);
    }
}

}  // namespace
}  // namespace mooncake
