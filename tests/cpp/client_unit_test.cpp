// Unit tests of the client's building blocks that need no master: config
// validation, replica ordering, the local buffer, the heartbeat interval,
// and setup failures that must leave nothing behind.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "client/client_config_util.h"
#include "client/heartbeat.h"
#include "client/local_buffer.h"
#include "client/replica_selector.h"
#include "client/unreachable_segments.h"
#include "mooncake/client.h"

namespace mooncake {
namespace {

ClientConfig ValidConfig() {
    ClientConfig config;
    config.local_hostname = "localhost";
    config.metadata_server = "http://127.0.0.1:8080/metadata";
    config.master_server_address = "127.0.0.1:50051";
    return config;
}

TEST(ClientConfigTest, AcceptsTheDocumentedForms) {
    ClientConfig config = ValidConfig();
    EXPECT_TRUE(ValidateClientConfig(config).has_value());
    config.local_hostname = "localhost:12345";
    config.metadata_server = "P2PHANDSHAKE";
    config.protocol = "rdma";
    config.global_segment_size = 0;
    config.local_buffer_size = 0;
    EXPECT_TRUE(ValidateClientConfig(config).has_value());
    config.metadata_server = "etcd://127.0.0.1:2379;127.0.0.1:2380";
    EXPECT_TRUE(ValidateClientConfig(config).has_value());
}

TEST(ClientConfigTest, RefusesBadFieldsWithInvalidParams) {
    auto refused = [](auto mutate) {
        ClientConfig config = ValidConfig();
        mutate(config);
        auto status = ValidateClientConfig(config);
        return !status.has_value() && status.error() == ErrorCode::INVALID_PARAMS;
    };
    EXPECT_TRUE(refused([](ClientConfig& c) { c.local_hostname = ""; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.local_hostname = "host:notaport"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.local_hostname = "host:70000"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.metadata_server = ""; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.metadata_server = "etcd://"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.metadata_server = "redis://127.0.0.1:6379"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.metadata_server = "http://"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.protocol = "udp"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.protocol = ""; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.master_server_address = "127.0.0.1"; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.master_server_address = ""; }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.global_segment_size = 1ull << 62; }));
    // A segment is populated up front: more than the machine has is refused.
    EXPECT_TRUE(refused(
        [](ClientConfig& c) { c.global_segment_size = PhysicalMemoryBytes() + (1ull << 30); }));
    EXPECT_TRUE(refused([](ClientConfig& c) { c.local_buffer_size = ~0ull; }));
}

TEST(ClientConfigTest, CreateRefusesBadConfigBeforeConnecting) {
    ClientConfig config = ValidConfig();
    config.protocol = "carrier-pigeon";
    auto client = Client::Create(config);
    ASSERT_FALSE(client.has_value());
    EXPECT_EQ(client.error(), ErrorCode::INVALID_PARAMS);
}

TEST(ClientConfigTest, CreateWithoutMasterFailsWithRpcFailPromptly) {
    ClientConfig config = ValidConfig();
    // Port 1 on loopback: nothing listens there.
    config.master_server_address = "127.0.0.1:1";
    const auto start = std::chrono::steady_clock::now();
    auto client = Client::Create(config);
    ASSERT_FALSE(client.has_value());
    EXPECT_EQ(client.error(), ErrorCode::RPC_FAIL);
    // The caller learns which master and why, not only the code.
    EXPECT_NE(client.error().message().find("127.0.0.1:1"), std::string::npos) << client.error();
    EXPECT_NE(client.error().message().find("not reachable"), std::string::npos) << client.error();
    // Generous: the master client's own deadline is a few seconds.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

TEST(ClientKeyValidationTest, EmptyAndOverlongKeysAreInvalid) {
    EXPECT_EQ(ValidateKey("").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(ValidateKey(std::string(kMaxKeyLength + 1, 'k')).error(), ErrorCode::INVALID_KEY);
    EXPECT_TRUE(ValidateKey(std::string(kMaxKeyLength, 'k')).has_value());
    EXPECT_TRUE(ValidateKey(std::string("bin\0ary", 7)).has_value());
    EXPECT_EQ(ValidateKey("").error().message(), "the key is empty");
    EXPECT_EQ(ValidateKey(std::string(kMaxKeyLength + 1, 'k')).error().message(),
              "a key of 4097 bytes is longer than the 4096-byte limit");
    ReplicateConfig config;
    config.replica_num = 0;
    EXPECT_EQ(ValidateReplicateConfig(config, 1).error(), ErrorCode::INVALID_PARAMS);
    config.replica_num = 3;
    EXPECT_TRUE(ValidateReplicateConfig(config, 1).has_value());
    // group_ids: none, or one per key of the call.
    config.group_ids = {"g", ""};
    EXPECT_TRUE(ValidateReplicateConfig(config, 2).has_value());
    EXPECT_EQ(ValidateReplicateConfig(config, 1).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ValidateReplicateConfig(config, 3).error(), ErrorCode::INVALID_PARAMS);
}

TEST(ClientPageSizeTest, RoundsUpToWholePages) {
    const uint64_t page = PageSize();
    ASSERT_GT(page, 0u);
    EXPECT_EQ(RoundUpToPageSize(0), 0u);
    EXPECT_EQ(RoundUpToPageSize(1), page);
    EXPECT_EQ(RoundUpToPageSize(page), page);
    EXPECT_EQ(RoundUpToPageSize(page + 1), 2 * page);
}

ReplicaDescriptor MemoryReplica(const std::string& endpoint,
                                ReplicaStatus status = ReplicaStatus::COMPLETE) {
    ReplicaDescriptor replica;
    replica.status = status;
    replica.location = MemoryDescriptor{endpoint, 0x1000, 64};
    return replica;
}

TEST(ClientReplicaSelectorTest, OwnSegmentThenSameHostThenAnyOther) {
    ReplicaSelector selector("localhost:13001");
    std::vector<ReplicaDescriptor> replicas = {
        MemoryReplica("10.0.0.7:13001"),   // elsewhere
        MemoryReplica("127.0.0.1:13002"),  // same host (loopback)
        MemoryReplica("localhost:13001"),  // own
        MemoryReplica("localhost:13005"),  // same host
    };
    EXPECT_EQ(selector.Order(replicas), (std::vector<size_t>{2, 1, 3, 0}));
}

TEST(ClientReplicaSelectorTest, SkipsUnreadableReplicas) {
    ReplicaSelector selector("node1:13001");
    std::vector<ReplicaDescriptor> replicas = {
        MemoryReplica("node1:13001", ReplicaStatus::PROCESSING),
        MemoryReplica("node2:13001", ReplicaStatus::FAILED),
        MemoryReplica("node1:13002"),
        MemoryReplica("node3:13001"),
    };
    ReplicaDescriptor disk;
    disk.status = ReplicaStatus::COMPLETE;
    disk.location = DiskDescriptor{"/data/k", 64};
    replicas.push_back(disk);
    EXPECT_EQ(selector.Order(replicas), (std::vector<size_t>{2, 3}));
    EXPECT_EQ(selector.Distance("node1:13001"), 0);
    EXPECT_EQ(selector.Distance("node1:9"), 1);
    EXPECT_EQ(selector.Distance("node9:13001"), 2);
    // A remote host never counts as loopback-equal.
    EXPECT_EQ(selector.Distance("127.0.0.1:13001"), 2);
}

TEST(ClientLocalBufferTest, SlicesDoNotOverlapAndComeBackWhenReleased) {
    auto buffer = LocalBuffer::Create(1 << 20);
    ASSERT_TRUE(buffer.has_value());
    std::mt19937 random(7);
    std::vector<std::shared_ptr<LocalBufferSlice>> live;
    for (int round = 0; round < 2000; ++round) {
        if (!live.empty() && random() % 3 == 0) {
            live.erase(live.begin() + random() % live.size());
            continue;
        }
        auto slice = (*buffer)->Allocate(1 + random() % 8192);
        if (!slice.has_value()) {
            EXPECT_EQ(slice.error(), ErrorCode::BUFFER_OVERFLOW);
            continue;
        }
        const uint8_t* begin = (*slice)->data();
        EXPECT_GE(begin, (*buffer)->base());
        EXPECT_LE(begin + (*slice)->size(), (*buffer)->base() + (*buffer)->size());
        for (const auto& other : live) {
            const bool disjoint =
                begin + (*slice)->size() <= other->data() || other->data() + other->size() <= begin;
            ASSERT_TRUE(disjoint);
        }
        std::memset((*slice)->mutable_data(), round & 0xff, (*slice)->size());
        live.push_back(std::move(*slice));
    }
    live.clear();
    EXPECT_EQ((*buffer)->used_bytes(), 0u);
    // Everything came back as one block.
    EXPECT_TRUE((*buffer)->Allocate((*buffer)->size()).has_value());
}

TEST(ClientLocalBufferTest, ExhaustionIsBufferOverflowAndSizeZeroIsInvalid) {
    auto buffer = LocalBuffer::Create(64 << 10);
    ASSERT_TRUE(buffer.has_value());
    EXPECT_EQ((*buffer)->Allocate(0).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ((*buffer)->Allocate((*buffer)->size() + 1).error(), ErrorCode::BUFFER_OVERFLOW);
    auto all = (*buffer)->Allocate((*buffer)->size());
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ((*buffer)->Allocate(1).error(), ErrorCode::BUFFER_OVERFLOW);
    all->reset();
    EXPECT_TRUE((*buffer)->Allocate(1).has_value());
    EXPECT_EQ(LocalBuffer::Create(0).error(), ErrorCode::INVALID_PARAMS);
}

TEST(ClientLocalBufferTest, ASliceKeepsTheMappingAlive) {
    std::shared_ptr<Buffer> held;
    {
        auto buffer = LocalBuffer::Create(1 << 20);
        ASSERT_TRUE(buffer.has_value());
        auto slice = (*buffer)->Allocate(4096);
        ASSERT_TRUE(slice.has_value());
        std::memset((*slice)->mutable_data(), 0x5a, 4096);
        held = std::move(*slice);
    }
    // The LocalBuffer's last owner went away; the slice still reads fine.
    for (size_t i = 0; i < held->size(); ++i) ASSERT_EQ(held->data()[i], 0x5a);
}

// Resident memory of this process, from /proc/self/statm.
uint64_t ResidentBytes() {
    FILE* file = std::fopen("/proc/self/statm", "r");
    unsigned long long total_pages = 0;
    unsigned long long resident_pages = 0;
    if (file != nullptr) {
        if (std::fscanf(file, "%llu %llu", &total_pages, &resident_pages) != 2) resident_pages = 0;
        std::fclose(file);
    }
    return resident_pages * PageSize();
}

TEST(ClientLocalBufferTest, LargeBufferIsCheapUntilTouched) {
    const uint64_t resident_before = ResidentBytes();
    auto buffer = LocalBuffer::Create(4ull << 30);
    ASSERT_TRUE(buffer.has_value());
    auto slice = (*buffer)->Allocate(1 << 20);
    ASSERT_TRUE(slice.has_value());
    std::memset((*slice)->mutable_data(), 1, 1 << 20);
    // Only the touched megabyte became resident, not the 4 GiB reserved.
    EXPECT_LT(ResidentBytes(), resident_before + (64ull << 20));
}

TEST(ClientLocalBufferTest, ConcurrentAllocateAndReleaseKeepAccounting) {
    auto buffer = LocalBuffer::Create(8 << 20);
    ASSERT_TRUE(buffer.has_value());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 random(t);
            for (int i = 0; i < 2000; ++i) {
                auto slice = (*buffer)->Allocate(64 + random() % 4096);
                if (slice.has_value()) (*slice)->mutable_data()[0] = static_cast<uint8_t>(t);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ((*buffer)->used_bytes(), 0u);
}

TEST(ClientHeartbeatTest, IntervalIsAboutASecondAndSeveralPerTtl) {
    using std::chrono::milliseconds;
    EXPECT_EQ(Heartbeat::IntervalFor(10), milliseconds(1000));
    EXPECT_EQ(Heartbeat::IntervalFor(2), milliseconds(500));
    EXPECT_EQ(Heartbeat::IntervalFor(1), milliseconds(250));
    EXPECT_EQ(Heartbeat::IntervalFor(0), milliseconds(1000));
    EXPECT_GE(Heartbeat::IntervalFor(1), milliseconds(100));
}

TEST(UnreachableSegmentsTest, RemembersFailuresForAWhile) {
    UnreachableSegments unreachable(std::chrono::milliseconds(200));
    EXPECT_TRUE(unreachable.Current().empty());
    unreachable.Add("10.0.0.1:12345");
    unreachable.Add("10.0.0.1:12345");
    unreachable.Add("10.0.0.2:12345");
    EXPECT_TRUE(unreachable.Contains("10.0.0.1:12345"));
    EXPECT_FALSE(unreachable.Contains("10.0.0.3:12345"));
    EXPECT_EQ(unreachable.Current(),
              (std::vector<std::string>{"10.0.0.1:12345", "10.0.0.2:12345"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(unreachable.Contains("10.0.0.1:12345"));
    EXPECT_TRUE(unreachable.Current().empty());
}

TEST(UnreachableSegmentsTest, KeepsABoundedNumberOfNames) {
    UnreachableSegments unreachable;
    for (size_t i = 0; i < UnreachableSegments::kMaxEntries + 50; ++i) {
        unreachable.Add("peer-" + std::to_string(i));
    }
    EXPECT_EQ(unreachable.Current().size(), UnreachableSegments::kMaxEntries);
    EXPECT_FALSE(unreachable.Contains("peer-0"));
    EXPECT_TRUE(
        unreachable.Contains("peer-" + std::to_string(UnreachableSegments::kMaxEntries + 49)));
}

}  // namespace
}  // namespace mooncake
