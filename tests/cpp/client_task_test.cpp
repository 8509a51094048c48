// Copy and move tasks end to end: created through one client, handed by the
// real master to a client in its ping reply, run by that client's task
// executor, and checked byte for byte in the target segments.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "client_test_util.h"
#include "mooncake/client.h"

// In the namespace of the test utilities, which it uses throughout.
namespace mooncake::testing {
namespace {

class ClientTaskTest : public ::testing::Test {
   protected:
    void SetUp() override {
        master_ =
            std::make_unique<MasterProcess>(std::vector<std::string>{"--default_kv_lease_ttl=300"});
        ASSERT_TRUE(master_->Start()) << "master log: " << master_->log_path();
    }

    std::unique_ptr<Client> NewClient() {
        auto client = Client::Create(MakeClientConfig(*master_, 32 * kMiB, 32 * kMiB));
        EXPECT_TRUE(client.has_value()) << ErrorCodeName(client.error());
        return client.has_value() ? std::move(*client) : nullptr;
    }

    static Status PutOn(Client& client, const std::string& key, uint64_t seed, size_t size,
                        const std::string& segment) {
        const std::vector<uint8_t> value = MakeValue(seed, size);
        const ConstBytes part(value.data(), value.size());
        ReplicateConfig config;
        config.preferred_segment = segment;
        return client.Put(key, std::span<const ConstBytes>(&part, 1), config);
    }

    // Waits until the task is finished and returns its final state.
    static TaskInfo WaitForTask(Client& client, const UUID& id) {
        TaskInfo info;
        const bool finished = WaitFor(
            [&] {
                auto queried = client.QueryTask(id);
                if (!queried.has_value()) return false;
                info = *queried;
                return info.status == TaskStatus::SUCCESS || info.status == TaskStatus::FAILED;
            },
            std::chrono::seconds(60), std::chrono::milliseconds(100));
        EXPECT_TRUE(finished) << "task " << id.ToString() << " still "
                              << static_cast<int>(info.status);
        return info;
    }

    // The memory replicas of `key`, by segment name.
    static std::map<std::string, MemoryDescriptor> ReplicasOf(Client& client,
                                                              const std::string& key) {
        std::map<std::string, MemoryDescriptor> replicas;
        auto descriptors = client.GetReplicaDesc(key);
        if (!descriptors.has_value()) return replicas;
        for (const ReplicaDescriptor& replica : *descriptors) {
            if (replica.is_memory_replica()) {
                replicas[replica.memory().transport_endpoint] = replica.memory();
            }
        }
        return replicas;
    }

    std::unique_ptr<MasterProcess> master_;
};

TEST_F(ClientTaskTest, CopyToTwoTargetsYieldsReplicasOnBoth) {
    auto source = NewClient();
    auto first = NewClient();
    auto second = NewClient();
    ASSERT_TRUE(source && first && second);
    constexpr size_t kSize = 3 * kMiB + 17;
    ASSERT_TRUE(PutOn(*source, "copied", 5, kSize, source->GetHostname()).has_value());

    auto task = source->CreateCopyTask("copied", {first->GetHostname(), second->GetHostname()});
    ASSERT_TRUE(task.has_value()) << ErrorCodeName(task.error());
    EXPECT_FALSE(task->IsNil());
    const TaskInfo info = WaitForTask(*first, *task);
    ASSERT_EQ(info.status, TaskStatus::SUCCESS) << info.message;
    EXPECT_EQ(info.key, "copied");

    const auto replicas = ReplicasOf(*first, "copied");
    EXPECT_EQ(replicas.size(), 3u);
    for (const auto& client : {source.get(), first.get(), second.get()}) {
        auto it = replicas.find(client->GetHostname());
        ASSERT_NE(it, replicas.end()) << client->GetHostname();
        ASSERT_EQ(it->second.size, kSize);
        // Every client lives in this process: its segment is our memory.
        EXPECT_TRUE(
            ValueMatches(5, reinterpret_cast<const uint8_t*>(it->second.buffer_address), kSize))
            << client->GetHostname();
    }
}

TEST_F(ClientTaskTest, CopyRunsInTheProcessThatOwnsTheSource) {
    HelperProcess owner;
    ASSERT_TRUE(owner.Start(MakeClientConfig(*master_, 32 * kMiB, 32 * kMiB)));
    auto target = NewClient();
    ASSERT_NE(target, nullptr);
    constexpr size_t kSize = 12 * kMiB + 5;
    ASSERT_EQ(
        owner.Command("put remote_copy " + std::to_string(kSize) + " 8 1 " + owner.hostname()),
        "OK");
    auto task = target->CreateCopyTask("remote_copy", {target->GetHostname()});
    ASSERT_TRUE(task.has_value()) << ErrorCodeName(task.error());
    const TaskInfo info = WaitForTask(*target, *task);
    ASSERT_EQ(info.status, TaskStatus::SUCCESS) << info.message;
    const auto replicas = ReplicasOf(*target, "remote_copy");
    auto local = replicas.find(target->GetHostname());
    ASSERT_NE(local, replicas.end());
    EXPECT_TRUE(
        ValueMatches(8, reinterpret_cast<const uint8_t*>(local->second.buffer_address), kSize));
    EXPECT_EQ(replicas.count(owner.hostname()), 1u);
}

TEST_F(ClientTaskTest, MoveChangesTheReplicasSegment) {
    auto source = NewClient();
    auto target = NewClient();
    auto reader = NewClient();
    ASSERT_TRUE(source && target && reader);
    constexpr size_t kSize = kMiB + 3;
    ASSERT_TRUE(PutOn(*source, "moved", 9, kSize, source->GetHostname()).has_value());

    auto task = reader->CreateMoveTask("moved", source->GetHostname(), target->GetHostname());
    ASSERT_TRUE(task.has_value()) << ErrorCodeName(task.error());
    const TaskInfo info = WaitForTask(*reader, *task);
    ASSERT_EQ(info.status, TaskStatus::SUCCESS) << info.message;

    const auto replicas = ReplicasOf(*reader, "moved");
    ASSERT_EQ(replicas.size(), 1u);
    auto only = replicas.begin();
    EXPECT_EQ(only->first, target->GetHostname());
    EXPECT_TRUE(
        ValueMatches(9, reinterpret_cast<const uint8_t*>(only->second.buffer_address), kSize));
    auto got = reader->Get("moved");
    ASSERT_TRUE(got.has_value());
    EXPECT_TRUE(ValueMatches(9, (*got)->data(), kSize));
}

TEST_F(ClientTaskTest, TasksOnMissingKeysOrSegmentsAreRefused) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(client->CreateCopyTask("absent", {client->GetHostname()}).error(),
              ErrorCode::OBJECT_NOT_FOUND);
    ASSERT_TRUE(PutOn(*client, "present", 1, 100, client->GetHostname()).has_value());
    EXPECT_EQ(client->CreateCopyTask("present", {}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(client->CreateCopyTask("present", {"nowhere:1"}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(client->CreateMoveTask("present", client->GetHostname(), "nowhere:1").error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(client->CreateCopyTask("", {client->GetHostname()}).error(), ErrorCode::INVALID_KEY);
    EXPECT_FALSE(client->QueryTask(UUID::Generate()).has_value());
}

}  // namespace
}  // namespace mooncake::testing
