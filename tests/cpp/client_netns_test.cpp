// The client across two "hosts": two network namespaces joined by a veth
// pair, the master in the first, one client process in each. Bytes between
// the clients go over the engine's TCP transport (different network
// namespaces count as different hosts), through the whole client stack.
// Skipped, with the reason, where namespaces cannot be created.
#include <gtest/gtest.h>

#include "client_test_util.h"
#include "mooncake/client.h"

// In the namespace of the test utilities, which it uses throughout.
namespace mooncake::testing {
namespace {

TEST(ClientNetnsTest, ClientsOnTwoHostsReadEachOthersSegmentsOverTcp) {
    NamespacePair hosts;
    if (!hosts.ok()) GTEST_SKIP() << hosts.error();
    MasterProcess master({"--default_kv_lease_ttl=300"}, hosts.first(), hosts.first_address());
    ASSERT_TRUE(master.Start()) << "master log: " << master.log_path();

    ClientConfig config = MakeClientConfig(master, 64 * kMiB, 64 * kMiB);
    config.local_hostname = hosts.first_address();
    HelperProcess first;
    ASSERT_TRUE(first.Start(config, hosts.first()));
    config.local_hostname = hosts.second_address();
    HelperProcess second;
    ASSERT_TRUE(second.Start(config, hosts.second()));
    EXPECT_TRUE(first.hostname().starts_with(hosts.first_address() + ":")) << first.hostname();
    EXPECT_TRUE(second.hostname().starts_with(hosts.second_address() + ":")) << second.hostname();

    // Small and large values, each way.
    for (size_t size : {size_t{4096}, size_t{8 * kMiB + 7}}) {
        const std::string size_text = std::to_string(size);
        const std::string on_first = "on_first_" + size_text;
        const std::string on_second = "on_second_" + size_text;
        ASSERT_EQ(first.Command("put " + on_first + " " + size_text + " 1 1 " + first.hostname()),
                  "OK");
        ASSERT_EQ(
            second.Command("put " + on_second + " " + size_text + " 2 1 " + second.hostname()),
            "OK");
        EXPECT_EQ(second.Command("desc " + on_first), "OK " + first.hostname());
        EXPECT_EQ(second.Command("get " + on_first + " 1"), "OK " + size_text);
        EXPECT_EQ(first.Command("get " + on_second + " 2"), "OK " + size_text);
    }
    // A put from one host straight into the other host's segment.
    ASSERT_EQ(first.Command("put remote_write 100000 3 1 " + second.hostname()), "OK");
    EXPECT_EQ(first.Command("desc remote_write"), "OK " + second.hostname());
    EXPECT_EQ(first.Command("get remote_write 3"), "OK 100000");
    EXPECT_EQ(second.Command("get remote_write 3"), "OK 100000");
}

}  // namespace
}  // namespace mooncake::testing
