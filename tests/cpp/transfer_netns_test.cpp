// TCP between two "hosts": two network namespaces created for the test and
// joined by a veth pair with private addresses (10.200.x.1 and .2). Both
// peers run as transfer_test_peer under `ip netns exec`. Skipped when the
// machine does not allow creating namespaces.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "transfer_test_util.h"

namespace mooncake {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

bool RunShell(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

class NetnsPair : public ::testing::Test {
   protected:
    void SetUp() override {
        const int id = static_cast<int>(getpid() % 200) + 20;
        suffix_ = std::to_string(getpid());
        ns_a_ = "mctest_a_" + suffix_;
        ns_b_ = "mctest_b_" + suffix_;
        const std::string veth_a = "mcva" + suffix_;
        const std::string veth_b = "mcvb" + suffix_;
        address_a_ = "10.200." + std::to_string(id) + ".1";
        address_b_ = "10.200." + std::to_string(id) + ".2";
        if (geteuid() != 0 || !RunShell("ip netns add " + ns_a_)) {
            GTEST_SKIP() << "cannot create network namespaces here (needs root and ip netns)";
        }
        created_ = true;
        const bool ok =
            RunShell("ip netns add " + ns_b_) &&
            RunShell("ip link add " + veth_a + " type veth peer name " + veth_b) &&
            RunShell("ip link set " + veth_a + " netns " + ns_a_) &&
            RunShell("ip link set " + veth_b + " netns " + ns_b_) &&
            RunShell("ip -n " + ns_a_ + " addr add " + address_a_ + "/24 dev " + veth_a) &&
            RunShell("ip -n " + ns_b_ + " addr add " + address_b_ + "/24 dev " + veth_b) &&
            RunShell("ip -n " + ns_a_ + " link set " + veth_a + " up") &&
            RunShell("ip -n " + ns_b_ + " link set " + veth_b + " up") &&
            RunShell("ip -n " + ns_a_ + " link set lo up") &&
            RunShell("ip -n " + ns_b_ + " link set lo up");
        if (!ok) GTEST_SKIP() << "cannot set up a veth pair between namespaces here";
    }

    void TearDown() override {
        if (!created_) return;
        // Deleting the namespaces deletes the veth pair with them.
        RunShell("ip netns del " + ns_a_);
        RunShell("ip netns del " + ns_b_);
    }

    std::vector<std::string> InNamespace(const std::string& ns,
                                         std::vector<std::string> argv) const {
        argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
        return argv;
    }

    void TransferAcross(bool target_uses_shared_memory) {
        const std::string peer = testing::ExecutableDir() + "/transfer_test_peer";
        const size_t size = 20 << 20;
        std::vector<std::string> target_argv = {peer, "--mode=target", "--hostname=" + address_a_,
                                                "--size=" + std::to_string(size)};
        if (target_uses_shared_memory) target_argv.push_back("--shm");
        ChildProcess target;
        ASSERT_TRUE(target.Start(InNamespace(ns_a_, target_argv)));
        auto ready = target.ReadLine(120s);
        ASSERT_TRUE(ready.has_value());
        auto words = testing::SplitWords(*ready);
        ASSERT_EQ(words.size(), 6u) << *ready;
        ASSERT_EQ(words[0], "READY");
        EXPECT_EQ(words[1].substr(0, words[1].find(':')), address_a_);

        ChildProcess initiator;
        ASSERT_TRUE(initiator.Start(InNamespace(
            ns_b_, {peer, "--mode=initiator", "--hostname=" + address_b_, "--segment=" + words[1],
                    "--remote=" + words[2], "--size=" + std::to_string(size)})));
        auto result = initiator.ReadLine(300s);
        ASSERT_TRUE(result.has_value()) << "initiator gave no result";
        auto status = initiator.Wait(60s);
        ASSERT_TRUE(status.has_value());
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *result;
        auto fields = testing::SplitWords(*result);
        ASSERT_EQ(fields.size(), 5u) << *result;
        EXPECT_EQ(fields[1], "ok");
        // Another network namespace is another host: TCP, never shm.
        EXPECT_EQ(fields[2], "memcpy=0");
        EXPECT_EQ(fields[3], "shm=0");
        EXPECT_NE(fields[4], "tcp=0");
        target.WriteLine("QUIT");
        EXPECT_TRUE(target.Wait(60s).has_value());
    }

    std::string suffix_;
    std::string ns_a_;
    std::string ns_b_;
    std::string address_a_;
    std::string address_b_;
    bool created_ = false;
};

TEST_F(NetnsPair, TcpAcrossNetworkNamespaces) { TransferAcross(false); }

TEST_F(NetnsPair, SharedMemoryIsNotUsedAcrossNetworkNamespaces) { TransferAcross(true); }

}  // namespace
}  // namespace mooncake
