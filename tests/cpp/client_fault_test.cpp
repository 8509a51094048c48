// Failures the client must live through: the master going away and coming
// back (calls fail with RPC_FAIL meanwhile, never hang; the heartbeat
// mounts the segment again), and a client process killed with SIGKILL (the
// master drops its segment after client_ttl; other objects stay readable).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "client_test_util.h"
#include "mooncake/client.h"

// In the namespace of the test utilities, which it uses throughout.
namespace mooncake::testing {
namespace {

// Starts `master`, then a client of it; nullptr, with the reason recorded as
// a test failure, when either fails.
std::unique_ptr<Client> StartMasterAndClient(MasterProcess& master) {
    if (!master.Start()) {
        ADD_FAILURE() << "master did not start: " << master.log_path();
        return nullptr;
    }
    auto created = Client::Create(MakeClientConfig(master));
    if (!created.has_value()) {
        ADD_FAILURE() << "client: " << ErrorCodeName(created.error());
        return nullptr;
    }
    return std::move(*created);
}

TEST(ClientFaultTest, MasterRestartFailsCallsThenRemountsAndWorks) {
    MasterProcess master({"--default_kv_lease_ttl=300", "--client_ttl=4"});
    std::unique_ptr<Client> owned = StartMasterAndClient(master);
    ASSERT_NE(owned, nullptr);
    Client& client = *owned;
    ASSERT_TRUE(PutValue(client, "before", 1, 4096).has_value());

    master.Kill();
    // Down: every call fails with RPC_FAIL (the master client's deadline
    // bounds it; a hang would time the test out).
    auto put = PutValue(client, "while_down", 2, 4096);
    ASSERT_FALSE(put.has_value());
    EXPECT_EQ(put.error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(client.Get("before").error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(client.IsExist("before").error(), ErrorCode::RPC_FAIL);
    auto batch = client.BatchIsExist({"a", "b"});
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[1].error(), ErrorCode::RPC_FAIL);

    ASSERT_TRUE(master.Start()) << master.log_path();
    // The restarted master knows nothing; the heartbeat re-mounts the
    // segment and puts work again.
    EXPECT_TRUE(WaitFor([&] { return PutValue(client, "after", 3, 8192).has_value(); },
                        std::chrono::seconds(60), std::chrono::milliseconds(200)));
    EXPECT_TRUE(ReadsBack(client, "after", 3, 8192));
    EXPECT_EQ(client.Get("before").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_TRUE(client.Close().has_value());
}

TEST(ClientFaultTest, KilledClientsSegmentIsDroppedAndOthersStayReadable) {
    MasterProcess master({"--default_kv_lease_ttl=300", "--client_ttl=3"});
    ASSERT_TRUE(master.Start()) << master.log_path();
    HelperProcess victim;
    ASSERT_TRUE(victim.Start(MakeClientConfig(master)));
    auto created = Client::Create(MakeClientConfig(master));
    ASSERT_TRUE(created.has_value()) << ErrorCodeName(created.error());
    Client& survivor = **created;

    for (int i = 0; i < 4; ++i) {
        const std::string index = std::to_string(i);
        ASSERT_EQ(
            victim.Command("put victim_" + index + " 50000 " + index + " 1 " + victim.hostname()),
            "OK");
        ReplicateConfig local;
        local.preferred_segment = survivor.GetHostname();
        ASSERT_TRUE(PutValue(survivor, "survivor_" + index, 100 + i, 50000, local).has_value());
    }
    ASSERT_TRUE(ReadsBack(survivor, "victim_0", 0, 50000));

    victim.Kill();
    // Within a few client_ttl the master expires the victim and drops its
    // segment with every replica on it.
    EXPECT_TRUE(WaitFor([&] { return survivor.IsExist("victim_1").value_or(true) == false; },
                        std::chrono::seconds(60), std::chrono::milliseconds(200)));
    auto lost = survivor.Get("victim_2");
    ASSERT_FALSE(lost.has_value());
    EXPECT_EQ(lost.error(), ErrorCode::OBJECT_NOT_FOUND);
    for (int i = 0; i < 4; ++i) {
        EXPECT_TRUE(ReadsBack(survivor, "survivor_" + std::to_string(i), 100 + i, 50000)) << i;
    }
    // The pool carries on: new puts land on the surviving segment.
    ASSERT_TRUE(PutValue(survivor, "after_kill", 7, 4096).has_value());
    EXPECT_TRUE(ReadsBack(survivor, "after_kill", 7, 4096));
}

TEST(ClientFaultTest, HeartbeatKeepsAnIdleClientAlive) {
    MasterProcess master({"--default_kv_lease_ttl=300", "--client_ttl=2"});
    std::unique_ptr<Client> owned = StartMasterAndClient(master);
    ASSERT_NE(owned, nullptr);
    Client& client = *owned;
    ReplicateConfig local;
    local.preferred_segment = client.GetHostname();
    ASSERT_TRUE(PutValue(client, "kept", 1, 4096, local).has_value());
    // Several TTLs of silence from the caller: only the heartbeat talks.
    std::this_thread::sleep_for(std::chrono::seconds(6));
    EXPECT_TRUE(ReadsBack(client, "kept", 1, 4096));
}

TEST(ClientFaultTest, CloseWhileCallsAreInFlight) {
    MasterProcess master({"--default_kv_lease_ttl=300"});
    std::unique_ptr<Client> owned = StartMasterAndClient(master);
    ASSERT_NE(owned, nullptr);
    Client& client = *owned;
    std::atomic<bool> stop{false};
    std::atomic<int> unexpected{0};
    std::atomic<int> completed{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 3; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; !stop.load(); ++i) {
                const std::string key = "inflight_" + std::to_string(t) + "_" + std::to_string(i);
                Status put = PutValue(client, key, i, 16384);
                auto got = client.Get(key);
                // Either the call ran, or it saw the client closed.
                for (ErrorCode code : {CodeOf(put), CodeOf(got)}) {
                    if (code != ErrorCode::OK && code != ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS) {
                        ++unexpected;
                    }
                }
                if (got.has_value() && !ValueMatches(i, (*got)->data(), 16384)) ++unexpected;
                ++completed;
            }
        });
    }
    EXPECT_TRUE(WaitFor([&] { return completed.load() > 30; }));
    EXPECT_TRUE(client.Close().has_value());
    stop = true;
    for (auto& caller : callers) caller.join();
    EXPECT_EQ(unexpected.load(), 0);
    EXPECT_EQ(client.Get("inflight_0_0").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
}

}  // namespace
}  // namespace mooncake::testing
