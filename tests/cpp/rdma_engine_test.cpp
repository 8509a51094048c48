// The RDMA transport over real libibverbs, through the transfer engine.
//
// On a host without RDMA devices (like the build machines): asking for
// protocol "rdma" fails with UNAVAILABLE_IN_CURRENT_MODE and a log line that
// says why and what to do; MC_FORCE_TCP=true turns the request into TCP.
// On a host with an active device: two engines in this process move bytes
// with RDMA READ/WRITE through that NIC (loopback); skipped elsewhere.
// MC_TEST_RDMA_DEVICES picks the device(s) for that test.
#include <gtest/gtest.h>

#include <cstring>

#include "mooncake/transfer_engine.h"
#include "rdma_test_util.h"
#include "transfer/rdma/ibverbs_provider.h"
#include "transfer/transfer_engine_impl.h"
#include "transfer/transport_registry.h"
#include "transfer_test_util.h"

namespace mooncake::rdma {
namespace {

using mooncake::testing::FillPattern;
using mooncake::testing::FindPatternMismatch;
using testing::LogCapture;
using testing::ScopedEnv;

std::vector<DeviceInfo> PresentDevices() { return CreateIbverbsProvider()->ListDevices(); }

std::string ActiveDeviceNames(const std::vector<DeviceInfo>& devices) {
    std::string names;
    for (const DeviceInfo& device : devices) {
        for (const PortInfo& port : device.ports) {
            if (!port.active) continue;
            names += (names.empty() ? "" : ",") + device.name;
            break;
        }
    }
    return names;
}

Result<std::unique_ptr<TransferEngine>> CreateEngine(const std::string& protocol,
                                                     const std::string& rdma_devices = "") {
    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    config.protocol = protocol;
    config.rdma_devices = rdma_devices;
    return TransferEngine::Create(config);
}

class RdmaWithoutDeviceTest : public ::testing::Test {
   protected:
    void SetUp() override {
        const std::vector<DeviceInfo> devices = PresentDevices();
        if (!devices.empty()) {
            GTEST_SKIP() << "this host has " << devices.size()
                         << " RDMA device(s); the no-device behaviour cannot be checked here";
        }
    }
    ScopedEnv no_force_tcp_{"MC_FORCE_TCP", nullptr};
    ScopedEnv no_discovery_{"MC_MS_AUTO_DISC", nullptr};
    ScopedEnv no_filters_{"MC_MS_FILTERS", nullptr};
};

TEST_F(RdmaWithoutDeviceTest, EngineCreationFailsWithAClearMessage) {
    LogCapture log;
    auto engine = CreateEngine("rdma");
    ASSERT_FALSE(engine.has_value());
    EXPECT_EQ(engine.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    EXPECT_TRUE(log.Contains("RDMA requested but no RDMA device found")) << log.All();
    EXPECT_TRUE(log.Contains("protocol=tcp")) << log.All();
}

TEST_F(RdmaWithoutDeviceTest, AutoDiscoveryFindingNothingIsReported) {
    ScopedEnv discover("MC_MS_AUTO_DISC", "1");
    LogCapture log;
    auto engine = CreateEngine("rdma");
    ASSERT_FALSE(engine.has_value());
    EXPECT_EQ(engine.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    EXPECT_TRUE(log.Contains("MC_MS_AUTO_DISC=1 found no usable RDMA device")) << log.All();
}

TEST_F(RdmaWithoutDeviceTest, NamedDeviceThatIsMissingIsReported) {
    LogCapture log;
    auto engine = CreateEngine("rdma", "mlx5_0");
    ASSERT_FALSE(engine.has_value());
    EXPECT_EQ(engine.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    EXPECT_TRUE(log.Contains("'mlx5_0' named in rdma_devices was not found")) << log.All();

    // The factory itself says the same.
    TransportOptions options;
    options.segment_name = "127.0.0.1:1";
    options.rdma_devices = "mlx5_0";
    auto transport = CreateRdmaTransport(options);
    ASSERT_FALSE(transport.has_value());
    EXPECT_EQ(transport.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
}

TEST_F(RdmaWithoutDeviceTest, ForceTcpFallsBackToTcp) {
    ScopedEnv force_tcp("MC_FORCE_TCP", "true");
    // Same process: without this the engines would copy with memcpy.
    ScopedEnv no_memcpy("MC_STORE_MEMCPY", "0");
    auto a = CreateEngine("rdma", "mlx5_0");
    auto b = CreateEngine("rdma");
    ASSERT_TRUE(a.has_value());
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ((*a)->protocol(), "tcp");
    std::vector<uint8_t> local(1 << 20), remote(1 << 20);
    FillPattern(local.data(), local.size(), 77);
    ASSERT_TRUE((*a)->RegisterLocalMemory(local.data(), local.size(), false));
    ASSERT_TRUE((*b)->RegisterLocalMemory(remote.data(), remote.size(), true));
    auto handle = (*a)->OpenSegment((*b)->segment_name());
    ASSERT_TRUE(handle.has_value());
    ASSERT_TRUE((*a)->TransferSync({{TransferOpcode::WRITE, local.data(), *handle,
                                     reinterpret_cast<uint64_t>(remote.data()), remote.size()}}));
    EXPECT_EQ(FindPatternMismatch(remote.data(), remote.size(), 77), std::nullopt);
}

// ---------------------------------------------------------------------------
// Hardware

TEST(RdmaHardwareTest, LoopbackReadAndWriteBetweenTwoEngines) {
    const std::vector<DeviceInfo> devices = PresentDevices();
    std::string names = ActiveDeviceNames(devices);
    if (const char* chosen = std::getenv("MC_TEST_RDMA_DEVICES")) names = chosen;
    if (names.empty()) {
        GTEST_SKIP() << "no RDMA device with an ACTIVE port on this host (ibv_get_device_list "
                        "listed "
                     << devices.size() << "); the loopback READ/WRITE test needs a NIC";
    }
    ScopedEnv no_force_tcp("MC_FORCE_TCP", nullptr);
    ScopedEnv no_memcpy("MC_STORE_MEMCPY", "0");
    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    config.protocol = "rdma";
    config.rdma_devices = names;
    auto a = TransferEngineImpl::Create(config);
    auto b = TransferEngineImpl::Create(config);
    ASSERT_TRUE(a.has_value()) << "could not use RDMA devices " << names;
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ((*a)->protocol(), "rdma");

    constexpr size_t kSize = 64 << 20;
    std::vector<uint8_t> local(kSize), back(kSize), remote(kSize);
    FillPattern(local.data(), kSize, 3);
    ASSERT_TRUE((*a)->RegisterLocalMemory(local.data(), kSize, false));
    ASSERT_TRUE((*a)->RegisterLocalMemory(back.data(), kSize, false));
    ASSERT_TRUE((*b)->RegisterLocalMemory(remote.data(), kSize, true));
    auto handle = (*a)->OpenSegment((*b)->segment_name());
    ASSERT_TRUE(handle.has_value());
    const uint64_t remote_address = reinterpret_cast<uint64_t>(remote.data());

    ASSERT_TRUE((*a)->TransferSync(
        {{TransferOpcode::WRITE, local.data(), *handle, remote_address, kSize}}));
    EXPECT_EQ(FindPatternMismatch(remote.data(), kSize, 3), std::nullopt);
    // Many small reads in one batch.
    std::vector<TransferRequest> reads;
    for (size_t offset = 0; offset < kSize; offset += 64 << 10) {
        reads.push_back({TransferOpcode::READ, back.data() + offset, *handle,
                         remote_address + offset, 64 << 10});
    }
    ASSERT_TRUE((*a)->TransferSync(reads));
    EXPECT_EQ(FindPatternMismatch(back.data(), kSize, 3), std::nullopt);
    EXPECT_GT((*a)->RoutedRequests("rdma"), 0u);
    EXPECT_EQ((*a)->RoutedRequests("tcp"), 0u);

    // Outside the peer's registration: refused before anything moves.
    auto outside = (*a)->TransferSync(
        {{TransferOpcode::WRITE, local.data(), *handle, remote_address + kSize - 10, 4096}});
    ASSERT_FALSE(outside.has_value());
    EXPECT_EQ(outside.error(), ErrorCode::INVALID_PARAMS);
}

}  // namespace
}  // namespace mooncake::rdma
