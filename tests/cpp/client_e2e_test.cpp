// End-to-end tests of the store client against the real mooncake_master
// (started per test on free loopback ports, with its HTTP metadata server).
// Clients live in this process (several at once, each its own segment) and,
// where the point is a second process, in client_test_helper.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "client/master_client.h"
#include "client/real_client.h"
#include "client_test_util.h"
#include "mooncake/client.h"

// In the namespace of the test utilities, which it uses throughout.
namespace mooncake::testing {
namespace {

// "" when the value read back is (seed, size); otherwise what went wrong.
std::string CheckValue(Client& client, const std::string& key, uint64_t seed, size_t size) {
    auto got = client.Get(key);
    if (!got.has_value())
        return std::string("get failed: ") + std::string(ErrorCodeName(got.error()));
    if ((*got)->size() != size) return "size " + std::to_string((*got)->size());
    if (!ValueMatches(seed, (*got)->data(), size)) return "content differs";
    return "";
}

std::vector<std::string> Endpoints(Client& client, const std::string& key) {
    std::vector<std::string> endpoints;
    auto replicas = client.GetReplicaDesc(key);
    if (!replicas.has_value()) return endpoints;
    for (const ReplicaDescriptor& replica : *replicas) {
        if (replica.is_memory_replica()) endpoints.push_back(replica.memory().transport_endpoint);
    }
    return endpoints;
}

ErrorCode CodeOfStatus(const Status& status) { return CodeOf(status); }

class ClientE2ETest : public ::testing::Test {
   protected:
    void SetUp() override { StartMaster({"--default_kv_lease_ttl=300"}); }

    void StartMaster(std::vector<std::string> flags) {
        master_ = std::make_unique<MasterProcess>(std::move(flags));
        ASSERT_TRUE(master_->Start()) << "master log: " << master_->log_path();
    }

    std::unique_ptr<Client> NewClient(uint64_t segment = 64 * kMiB, uint64_t buffer = 64 * kMiB,
                                      const std::string& hostname = "localhost") {
        ClientConfig config = MakeClientConfig(*master_, segment, buffer);
        config.local_hostname = hostname;
        auto client = Client::Create(config);
        EXPECT_TRUE(client.has_value()) << ErrorCodeName(client.error());
        return client.has_value() ? std::move(*client) : nullptr;
    }

    // Remove refuses while a lease is held; leases here last 300 ms.
    static void RemoveEventually(Client& client, const std::string& key) {
        EXPECT_TRUE(WaitFor([&] { return client.Remove(key).has_value(); }));
    }

    std::unique_ptr<MasterProcess> master_;
};

TEST_F(ClientE2ETest, PutGetRoundTripsManySizes) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    const std::vector<size_t> sizes = {1, 7, 4096, 65537, kMiB + 3, 16 * kMiB};
    for (size_t i = 0; i < sizes.size(); ++i) {
        const std::string key = "size_" + std::to_string(sizes[i]);
        ASSERT_TRUE(PutValue(*client, key, i, sizes[i]).has_value()) << key;
        EXPECT_EQ(CheckValue(*client, key, i, sizes[i]), "") << key;
        auto size = client->GetSize(key);
        ASSERT_TRUE(size.has_value());
        EXPECT_EQ(*size, sizes[i]);
        EXPECT_EQ(client->IsExist(key).value_or(false), true);
    }
    // The staging slices of the puts and gets all went back.
    auto* real = dynamic_cast<RealClient*>(client.get());
    ASSERT_NE(real, nullptr);
    EXPECT_EQ(real->local_buffer_used_bytes(), 0u);
}

TEST_F(ClientE2ETest, PutPartsAreConcatenated) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    const std::vector<uint8_t> value = MakeValue(99, 10000);
    const std::vector<ConstBytes> parts = {
        ConstBytes(value.data(), 3), ConstBytes(value.data() + 3, 0),
        ConstBytes(value.data() + 3, 4997), ConstBytes(value.data() + 5000, 5000)};
    ASSERT_TRUE(client->Put("parts", parts, {}).has_value());
    EXPECT_EQ(CheckValue(*client, "parts", 99, 10000), "");
}

TEST_F(ClientE2ETest, KeysAreWriteOnce) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(PutValue(*client, "once", 1, 1000).has_value());
    // A second put of the key succeeds and keeps the stored value.
    EXPECT_TRUE(PutValue(*client, "once", 2, 2000).has_value());
    EXPECT_EQ(CheckValue(*client, "once", 1, 1000), "");
    RemoveEventually(*client, "once");
    ASSERT_TRUE(PutValue(*client, "once", 3, 3000).has_value());
    EXPECT_EQ(CheckValue(*client, "once", 3, 3000), "");
}

TEST_F(ClientE2ETest, BadInputGetsClearCodesAndCreatesNothing) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(CodeOfStatus(PutValue(*client, "", 1, 10)), ErrorCode::INVALID_KEY);
    EXPECT_EQ(CodeOfStatus(PutValue(*client, std::string(kMaxKeyLength + 1, 'x'), 1, 10)),
              ErrorCode::INVALID_KEY);
    EXPECT_EQ(CodeOfStatus(client->Put("empty", {}, {})), ErrorCode::INVALID_PARAMS);
    ReplicateConfig none;
    none.replica_num = 0;
    EXPECT_EQ(CodeOfStatus(PutValue(*client, "zero_replicas", 1, 10, none)),
              ErrorCode::INVALID_PARAMS);
    ReplicateConfig unknown;
    unknown.preferred_segment = "nowhere:1";
    // An unknown preferred segment is a hint: the value is placed elsewhere.
    EXPECT_TRUE(PutValue(*client, "unknown_segment", 1, 10, unknown).has_value());
    // Larger than the whole local buffer: the staging copy cannot be made.
    EXPECT_EQ(CodeOfStatus(PutValue(*client, "too_big", 1, 65 * kMiB)), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(client->IsExist("unknown_segment").value_or(false), true);
    for (const char* key : {"empty", "zero_replicas", "too_big"}) {
        EXPECT_EQ(client->IsExist(key).value_or(true), false) << key;
    }
    EXPECT_EQ(client->Get("").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(client->Get("missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(client->GetSize("missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(client->GetReplicaDesc("missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(CodeOfStatus(client->Remove("missing")), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(client->RemoveByRegex("([unclosed").error(), ErrorCode::INVALID_PARAMS);
}

TEST_F(ClientE2ETest, FailedSetupLeavesNothingBehind) {
    auto master = MasterClient::Connect(master_->master_address());
    ASSERT_TRUE(master.has_value());
    // RDMA without a usable device (none on this machine) is refused.
    ClientConfig rdma = MakeClientConfig(*master_);
    rdma.protocol = "rdma";
    rdma.rdma_devices = "no_such_nic0";
    auto refused = Client::Create(rdma);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    // A port that is taken already is refused too.
    auto first = NewClient();
    ASSERT_NE(first, nullptr);
    ClientConfig taken = MakeClientConfig(*master_);
    taken.local_hostname = first->GetHostname();
    auto clash = Client::Create(taken);
    ASSERT_FALSE(clash.has_value());
    // Only the working client's segment is mounted.
    auto segments = (*master)->GetAllSegments();
    ASSERT_TRUE(segments.has_value());
    EXPECT_EQ(*segments, std::vector<std::string>{first->GetHostname()});
    ASSERT_TRUE(PutValue(*first, "still_fine", 1, 100).has_value());
}

TEST_F(ClientE2ETest, GetOfObjectLargerThanLocalBufferOverflows) {
    auto writer = NewClient(128 * kMiB, 128 * kMiB);
    auto reader = NewClient(0, 4 * kMiB);
    ASSERT_NE(writer, nullptr);
    ASSERT_NE(reader, nullptr);
    ASSERT_TRUE(PutValue(*writer, "large", 5, 8 * kMiB).has_value());
    EXPECT_EQ(reader->Get("large").error(), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(CheckValue(*writer, "large", 5, 8 * kMiB), "");
}

TEST_F(ClientE2ETest, TwoProcessesReadEachOthersSegments) {
    HelperProcess helper;
    ASSERT_TRUE(helper.Start(MakeClientConfig(*master_)));
    const std::string helper_host = helper.hostname();
    ASSERT_EQ(helper.Command("put from_helper 300000 11 1 " + helper_host), "OK");

    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(Endpoints(*client, "from_helper"), std::vector<std::string>{helper_host});
    EXPECT_EQ(CheckValue(*client, "from_helper", 11, 300000), "");

    ReplicateConfig local;
    local.preferred_segment = client->GetHostname();
    ASSERT_TRUE(PutValue(*client, "from_test", 12, 2 * kMiB + 5, local).has_value());
    EXPECT_EQ(Endpoints(*client, "from_test"), std::vector<std::string>{client->GetHostname()});
    EXPECT_EQ(helper.Command("get from_test 12"), "OK " + std::to_string(2 * kMiB + 5));
    EXPECT_EQ(helper.Command("get from_test 13"), "MISMATCH");  // the check can fail
    EXPECT_EQ(helper.Command("get nothing_here 1"),
              "ERR " + std::to_string(ToInt(ErrorCode::OBJECT_NOT_FOUND)));
}

TEST_F(ClientE2ETest, TwoReplicasLandOnTwoDifferentSegments) {
    auto first = NewClient();
    auto second = NewClient();
    auto reader = NewClient(0, 16 * kMiB);
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    ASSERT_NE(reader, nullptr);
    ReplicateConfig two;
    two.replica_num = 2;
    for (int i = 0; i < 5; ++i) {
        const std::string key = "replicated_" + std::to_string(i);
        ASSERT_TRUE(PutValue(*first, key, i, 100000, two).has_value());
        const std::vector<std::string> endpoints = Endpoints(*reader, key);
        ASSERT_EQ(endpoints.size(), 2u) << key;
        EXPECT_EQ(std::set<std::string>(endpoints.begin(), endpoints.end()),
                  (std::set<std::string>{first->GetHostname(), second->GetHostname()}));
        EXPECT_EQ(CheckValue(*reader, key, i, 100000), "");
    }
    // More replicas than segments: best effort, one per segment.
    ReplicateConfig three;
    three.replica_num = 3;
    ASSERT_TRUE(PutValue(*first, "three", 3, 1000, three).has_value());
    EXPECT_EQ(Endpoints(*reader, "three").size(), 2u);
}

TEST_F(ClientE2ETest, PreferredSegmentDecidesWhereTheReplicaLives) {
    auto first = NewClient();
    auto second = NewClient();
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    for (int i = 0; i < 8; ++i) {
        ReplicateConfig own;
        own.preferred_segment = first->GetHostname();
        const std::string key = "own_" + std::to_string(i);
        ASSERT_TRUE(PutValue(*first, key, i, 5000, own).has_value());
        EXPECT_EQ(Endpoints(*first, key), std::vector<std::string>{first->GetHostname()});
        ReplicateConfig other;
        other.preferred_segment = second->GetHostname();
        const std::string remote_key = "other_" + std::to_string(i);
        ASSERT_TRUE(PutValue(*first, remote_key, i, 5000, other).has_value());
        EXPECT_EQ(Endpoints(*first, remote_key), std::vector<std::string>{second->GetHostname()});
        EXPECT_EQ(CheckValue(*second, key, i, 5000), "");
        EXPECT_EQ(CheckValue(*first, remote_key, i, 5000), "");
    }
}

TEST_F(ClientE2ETest, PreferAllocInSameNodeKeepsMultiBufferPutsLocal) {
    auto first = NewClient();
    auto second = NewClient();
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    std::vector<uint8_t> source = MakeValue(21, 8 * 4096);
    ASSERT_TRUE(first->RegisterBuffer(source.data(), source.size()).has_value());
    ReplicateConfig same_node;
    same_node.prefer_alloc_in_same_node = true;
    std::vector<std::string> keys;
    std::vector<std::vector<const void*>> buffers;
    std::vector<std::vector<size_t>> sizes;
    for (int k = 0; k < 4; ++k) {
        keys.push_back("block_" + std::to_string(k));
        buffers.push_back({source.data() + k * 8192, source.data() + k * 8192 + 4096});
        sizes.push_back({4096, 4096});
    }
    auto results = first->BatchPutFromMultiBuffers(keys, buffers, sizes, same_node);
    ASSERT_EQ(results.size(), keys.size());
    for (size_t k = 0; k < keys.size(); ++k) {
        ASSERT_TRUE(results[k].has_value()) << keys[k];
        EXPECT_EQ(Endpoints(*second, keys[k]), std::vector<std::string>{first->GetHostname()});
        auto got = second->Get(keys[k]);
        ASSERT_TRUE(got.has_value());
        ASSERT_EQ((*got)->size(), 8192u);
        EXPECT_EQ(std::memcmp((*got)->data(), source.data() + k * 8192, 8192), 0);
    }
}

TEST_F(ClientE2ETest, PureServerPutAndGetFailAndLeaveNoKey) {
    auto server = NewClient(64 * kMiB, 0);
    auto observer = NewClient(0, 16 * kMiB);
    ASSERT_NE(server, nullptr);
    ASSERT_NE(observer, nullptr);
    EXPECT_EQ(CodeOfStatus(PutValue(*server, "pure", 1, 100)), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(observer->IsExist("pure").value_or(true), false);
    const std::vector<uint8_t> value = MakeValue(1, 100);
    auto batch =
        server->BatchPut({"pure_a", "pure_b"},
                         {{ConstBytes(value.data(), 100)}, {ConstBytes(value.data(), 10)}}, {});
    ASSERT_EQ(batch.size(), 2u);
    for (const Status& status : batch) EXPECT_EQ(CodeOfStatus(status), ErrorCode::BUFFER_OVERFLOW);
    for (const char* key : {"pure_a", "pure_b"}) {
        EXPECT_EQ(observer->IsExist(key).value_or(true), false) << key;
    }
    // Its segment serves others, and its gets fail the same way.
    ASSERT_TRUE(PutValue(*observer, "served", 2, 4096).has_value());
    EXPECT_EQ(Endpoints(*observer, "served"), std::vector<std::string>{server->GetHostname()});
    EXPECT_EQ(server->Get("served").error(), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(server->BatchGet({"served"})[0].error(), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(server->AllocFromMemPool(64).error(), ErrorCode::BUFFER_OVERFLOW);
    // Zero-copy calls need no local buffer.
    std::vector<uint8_t> own = MakeValue(3, 4096);
    ASSERT_TRUE(server->RegisterBuffer(own.data(), own.size()).has_value());
    ASSERT_TRUE(server->PutFrom("zero_copy_from_pure", own.data(), own.size(), {}).has_value());
    EXPECT_EQ(CheckValue(*observer, "zero_copy_from_pure", 3, 4096), "");
}

TEST_F(ClientE2ETest, CloseUnmountsAndTheClientCanBeCreatedAgain) {
    const std::string hostname = "localhost:" + std::to_string(PickFreePort());
    auto owner = NewClient(64 * kMiB, 64 * kMiB, hostname);
    auto other = NewClient();
    ASSERT_NE(owner, nullptr);
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(owner->GetHostname(), hostname);
    ReplicateConfig on_owner;
    on_owner.preferred_segment = hostname;
    ReplicateConfig on_other;
    on_other.preferred_segment = other->GetHostname();
    ASSERT_TRUE(PutValue(*owner, "on_owner", 1, 4096, on_owner).has_value());
    ASSERT_TRUE(PutValue(*owner, "on_other", 2, 4096, on_other).has_value());
    auto held = owner->Get("on_owner");
    ASSERT_TRUE(held.has_value());

    ASSERT_TRUE(owner->Close().has_value());
    EXPECT_TRUE(owner->Close().has_value());  // idempotent
    // Bytes handed out before Close stay valid.
    EXPECT_TRUE(ValueMatches(1, (*held)->data(), 4096));
    // The closed client refuses calls.
    EXPECT_EQ(owner->Get("on_other").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(CodeOfStatus(PutValue(*owner, "late", 1, 10)),
              ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_EQ(owner->BatchIsExist({"a", "b"}).size(), 2u);
    EXPECT_EQ(owner->GetHostname(), hostname);
    // Its segment went with it; objects elsewhere stay.
    EXPECT_EQ(other->IsExist("on_owner").value_or(true), false);
    EXPECT_EQ(other->Get("on_owner").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(CheckValue(*other, "on_other", 2, 4096), "");

    owner.reset();
    auto again = NewClient(64 * kMiB, 64 * kMiB, hostname);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->GetHostname(), hostname);
    ASSERT_TRUE(PutValue(*again, "on_owner", 7, 4096, on_owner).has_value());
    EXPECT_EQ(CheckValue(*other, "on_owner", 7, 4096), "");
}

TEST_F(ClientE2ETest, SeveralClientsLiveInOneProcess) {
    std::vector<std::unique_ptr<Client>> clients;
    std::set<std::string> hostnames;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(NewClient(32 * kMiB, 32 * kMiB));
        ASSERT_NE(clients.back(), nullptr);
        const std::string hostname = clients.back()->GetHostname();
        EXPECT_TRUE(hostname.starts_with("localhost:")) << hostname;
        hostnames.insert(hostname);
    }
    EXPECT_EQ(hostnames.size(), 3u);
    for (size_t i = 0; i < clients.size(); ++i) {
        ReplicateConfig own;
        own.preferred_segment = clients[i]->GetHostname();
        ASSERT_TRUE(
            PutValue(*clients[i], "client_" + std::to_string(i), i, 70000, own).has_value());
    }
    for (size_t reader = 0; reader < clients.size(); ++reader) {
        for (size_t i = 0; i < clients.size(); ++i) {
            EXPECT_EQ(CheckValue(*clients[reader], "client_" + std::to_string(i), i, 70000), "");
        }
    }
}

TEST_F(ClientE2ETest, BatchResultsLineUpWithKeys) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    auto [keys, values, parts] = MakeValueBatch("batch_", 5, 100);
    auto put = client->BatchPut(keys, parts, {});
    ASSERT_EQ(put.size(), 5u);
    for (const Status& status : put) EXPECT_TRUE(status.has_value());

    const std::vector<std::string> query = {"batch_0", "missing", "batch_2", "", "batch_4"};
    auto got = client->BatchGet(query);
    ASSERT_EQ(got.size(), query.size());
    ASSERT_TRUE(got[0].has_value());
    EXPECT_TRUE(ValueMatches(100, (*got[0])->data(), 1000));
    EXPECT_EQ(got[1].error(), ErrorCode::OBJECT_NOT_FOUND);
    ASSERT_TRUE(got[2].has_value());
    EXPECT_EQ((*got[2])->size(), 3000u);
    EXPECT_TRUE(ValueMatches(102, (*got[2])->data(), 3000));
    EXPECT_EQ(got[3].error(), ErrorCode::INVALID_KEY);
    ASSERT_TRUE(got[4].has_value());
    EXPECT_TRUE(ValueMatches(104, (*got[4])->data(), 5000));

    auto exist = client->BatchIsExist(query);
    ASSERT_EQ(exist.size(), query.size());
    EXPECT_EQ(exist[0].value_or(false), true);
    EXPECT_EQ(exist[1].value_or(true), false);
    EXPECT_EQ(exist[2].value_or(false), true);
    EXPECT_EQ(exist[3].error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(exist[4].value_or(false), true);

    auto descriptors = client->BatchGetReplicaDesc(query);
    EXPECT_EQ(descriptors.size(), 3u);
    EXPECT_EQ(descriptors.count("missing"), 0u);
    EXPECT_EQ(descriptors["batch_4"].size(), 1u);

    // Mismatched list lengths: every entry INVALID_PARAMS, nothing stored.
    auto mismatched = client->BatchPut({"m1", "m2", "m3"}, {parts[0], parts[1]}, {});
    ASSERT_EQ(mismatched.size(), 3u);
    for (const Status& status : mismatched) {
        EXPECT_EQ(CodeOfStatus(status), ErrorCode::INVALID_PARAMS);
    }
    EXPECT_EQ(client->IsExist("m1").value_or(true), false);
    std::vector<uint8_t> sink(4096);
    ASSERT_TRUE(client->RegisterBuffer(sink.data(), sink.size()).has_value());
    auto mismatched_get = client->BatchGetInto({"batch_0", "batch_1"}, {sink.data()}, {4096});
    ASSERT_EQ(mismatched_get.size(), 2u);
    for (const auto& result : mismatched_get) EXPECT_EQ(result.error(), ErrorCode::INVALID_PARAMS);
}

TEST_F(ClientE2ETest, DuplicateKeysInOneBatchArePutOnce) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    const std::vector<uint8_t> first = MakeValue(1, 3000);
    const std::vector<uint8_t> second = MakeValue(2, 5000);
    auto put = client->BatchPut({"dup", "dup", "single", ""},
                                {{ConstBytes(first.data(), first.size())},
                                 {ConstBytes(second.data(), second.size())},
                                 {ConstBytes(second.data(), second.size())},
                                 {ConstBytes(first.data(), first.size())}},
                                {});
    ASSERT_EQ(put.size(), 4u);
    EXPECT_TRUE(put[0].has_value());
    EXPECT_TRUE(put[1].has_value());
    EXPECT_TRUE(put[2].has_value());
    EXPECT_EQ(CodeOfStatus(put[3]), ErrorCode::INVALID_KEY);
    EXPECT_EQ(CheckValue(*client, "dup", 1, 3000), "");
    auto got = client->BatchGet({"dup", "dup"});
    ASSERT_TRUE(got[0].has_value() && got[1].has_value());
    EXPECT_NE((*got[0])->data(), (*got[1])->data());
    EXPECT_TRUE(ValueMatches(1, (*got[1])->data(), 3000));
}

TEST_F(ClientE2ETest, ZeroCopyNeedsRegisteredMemory) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    std::vector<uint8_t> source = MakeValue(31, 256 * 1024);
    std::vector<uint8_t> sink(256 * 1024, 0xEE);

    // Unregistered memory is refused and nothing is stored.
    EXPECT_EQ(CodeOfStatus(client->PutFrom("zc", source.data(), source.size(), {})),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(client->IsExist("zc").value_or(true), false);
    ASSERT_TRUE(PutValue(*client, "plain", 31, source.size()).has_value());
    EXPECT_EQ(client->GetInto("plain", sink.data(), sink.size()).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(sink[0], 0xEE);

    // Null pointers and zero sizes are refused too.
    EXPECT_EQ(CodeOfStatus(client->RegisterBuffer(nullptr, 10)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOfStatus(client->RegisterBuffer(source.data(), 0)), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOfStatus(client->UnregisterBuffer(source.data())), ErrorCode::INVALID_PARAMS);

    ASSERT_TRUE(client->RegisterBuffer(source.data(), source.size()).has_value());
    ASSERT_TRUE(client->RegisterBuffer(sink.data(), sink.size()).has_value());
    EXPECT_EQ(CodeOfStatus(client->RegisterBuffer(source.data() + 10, 100)),
              ErrorCode::INVALID_PARAMS);  // overlaps
    EXPECT_EQ(CodeOfStatus(client->PutFrom("zc", nullptr, 10, {})), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOfStatus(client->PutFrom("zc", source.data(), 0, {})), ErrorCode::INVALID_PARAMS);
    // A range running past the registration is refused.
    EXPECT_EQ(CodeOfStatus(client->PutFrom("zc", source.data() + 1, source.size(), {})),
              ErrorCode::INVALID_PARAMS);

    ASSERT_TRUE(client->PutFrom("zc", source.data(), source.size(), {}).has_value());
    auto read = client->GetInto("zc", sink.data(), sink.size());
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(*read, source.size());
    EXPECT_EQ(sink, source);

    // Capacity smaller than the object: refused, nothing written.
    std::fill(sink.begin(), sink.end(), 0xEE);
    EXPECT_EQ(client->GetInto("zc", sink.data(), source.size() - 1).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(std::count(sink.begin(), sink.end(), 0xEE), static_cast<long>(sink.size()));

    ASSERT_TRUE(client->UnregisterBuffer(sink.data()).has_value());
    EXPECT_EQ(client->GetInto("zc", sink.data(), sink.size()).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CodeOfStatus(client->UnregisterBuffer(sink.data())), ErrorCode::INVALID_PARAMS);
}

TEST_F(ClientE2ETest, ZeroCopyBatchesAndMemPool) {
    auto client = NewClient();
    auto reader = NewClient();
    ASSERT_NE(client, nullptr);
    ASSERT_NE(reader, nullptr);
    constexpr size_t kCount = 8;
    constexpr size_t kSize = 64 * 1024;
    auto pool = client->AllocFromMemPool(kCount * kSize);
    ASSERT_TRUE(pool.has_value());
    auto* bytes = static_cast<uint8_t*>(*pool);
    std::vector<std::string> keys;
    std::vector<const void*> sources;
    std::vector<size_t> sizes;
    for (size_t i = 0; i < kCount; ++i) {
        FillValue(200 + i, bytes + i * kSize, kSize);
        keys.push_back("zc_batch_" + std::to_string(i));
        sources.push_back(bytes + i * kSize);
        sizes.push_back(kSize);
    }
    // Pool memory is registered already.
    auto put = client->BatchPutFrom(keys, sources, sizes, {});
    for (size_t i = 0; i < kCount; ++i) ASSERT_TRUE(put[i].has_value()) << i;

    std::vector<uint8_t> sink(kCount * kSize);
    ASSERT_TRUE(reader->RegisterBuffer(sink.data(), sink.size()).has_value());
    std::vector<void*> targets;
    std::vector<size_t> capacities;
    for (size_t i = 0; i < kCount; ++i) {
        targets.push_back(sink.data() + i * kSize);
        capacities.push_back(kSize);
    }
    auto query = keys;
    query.push_back("zc_missing");
    targets.push_back(sink.data());
    capacities.push_back(kSize);
    auto got = reader->BatchGetInto(query, targets, capacities);
    ASSERT_EQ(got.size(), kCount + 1);
    for (size_t i = 0; i < kCount; ++i) {
        ASSERT_TRUE(got[i].has_value()) << i;
        EXPECT_EQ(*got[i], kSize);
        EXPECT_TRUE(ValueMatches(200 + i, sink.data() + i * kSize, kSize)) << i;
    }
    EXPECT_EQ(got[kCount].error(), ErrorCode::OBJECT_NOT_FOUND);

    // Scatter one object over three buffers, the last one larger than needed.
    std::vector<uint8_t> scattered(kSize + 100);
    ASSERT_TRUE(reader->RegisterBuffer(scattered.data(), scattered.size()).has_value());
    auto multi = reader->BatchGetIntoMultiBuffers(
        {keys[3]}, {{scattered.data(), scattered.data() + 1000, scattered.data() + 5000}},
        {{1000, 4000, kSize - 5000 + 100}});
    ASSERT_EQ(multi.size(), 1u);
    ASSERT_TRUE(multi[0].has_value());
    EXPECT_EQ(*multi[0], kSize);
    EXPECT_TRUE(ValueMatches(203, scattered.data(), kSize));
    // Too little room over all buffers: refused.
    auto short_multi = reader->BatchGetIntoMultiBuffers({keys[3]}, {{scattered.data()}}, {{100}});
    EXPECT_EQ(short_multi[0].error(), ErrorCode::INVALID_PARAMS);
}

TEST_F(ClientE2ETest, RemoveByRegexAndRemoveAll) {
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    for (const char* key : {"alpha_1", "alpha_2", "beta_1"}) {
        ASSERT_TRUE(PutValue(*client, key, 1, 100).has_value());
    }
    auto removed = client->RemoveByRegex("^alpha_");
    ASSERT_TRUE(removed.has_value());
    EXPECT_EQ(*removed, 2);
    EXPECT_EQ(client->Get("alpha_1").error(), ErrorCode::OBJECT_NOT_FOUND);
    auto all = client->RemoveAll();
    ASSERT_TRUE(all.has_value());
    EXPECT_EQ(*all, 1);
    EXPECT_EQ(client->Get("beta_1").error(), ErrorCode::OBJECT_NOT_FOUND);
}

TEST_F(ClientE2ETest, ManyThreadsShareOneClient) {
    auto client = NewClient(128 * kMiB, 64 * kMiB);
    ASSERT_NE(client, nullptr);
    const int failures = CountFailuresOnThreads(4, 40, [&](int t, int i) {
        const std::string key = "thread_" + std::to_string(t) + "_" + std::to_string(i);
        const uint64_t seed = t * 1000 + i;
        const size_t size = 1000 + (seed * 7919) % (200 * 1024);
        return int{!PutValue(*client, key, seed, size).has_value()} +
               int{CheckValue(*client, key, seed, size) != ""};
    });
    EXPECT_EQ(failures, 0);
}

class ClientLeaseTest : public ClientE2ETest {
   protected:
    void SetUp() override {}
};

TEST_F(ClientLeaseTest, RemoveOfALeasedObjectFailsUntilTheLeaseEnds) {
    StartMaster({"--default_kv_lease_ttl=3000"});
    auto client = NewClient();
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(PutValue(*client, "leased", 1, 4096).has_value());
    ASSERT_EQ(CheckValue(*client, "leased", 1, 4096), "");  // grants the lease
    EXPECT_EQ(CodeOfStatus(client->Remove("leased")), ErrorCode::OBJECT_HAS_LEASE);
    EXPECT_TRUE(WaitFor([&] { return client->Remove("leased").has_value(); }));
    EXPECT_EQ(client->Get("leased").error(), ErrorCode::OBJECT_NOT_FOUND);
}

TEST_F(ClientLeaseTest, BytesThatArriveAfterTheLeaseAreNotReturned) {
    // A 1 ms lease cannot outlast a 64 MiB copy plus a master round trip.
    StartMaster({"--default_kv_lease_ttl=1"});
    auto writer = NewClient(128 * kMiB, 128 * kMiB);
    auto reader = NewClient(0, 128 * kMiB);
    ASSERT_NE(writer, nullptr);
    ASSERT_NE(reader, nullptr);
    ASSERT_TRUE(PutValue(*writer, "slow", 1, 64 * kMiB).has_value());
    EXPECT_EQ(reader->Get("slow").error(), ErrorCode::LEASE_EXPIRED);
    std::vector<uint8_t> sink(64 * kMiB);
    ASSERT_TRUE(reader->RegisterBuffer(sink.data(), sink.size()).has_value());
    EXPECT_EQ(reader->GetInto("slow", sink.data(), sink.size()).error(), ErrorCode::LEASE_EXPIRED);
    // The failed get gave its staging slice back.
    auto* real = dynamic_cast<RealClient*>(reader.get());
    ASSERT_NE(real, nullptr);
    EXPECT_EQ(real->local_buffer_used_bytes(), 0u);
}

}  // namespace
}  // namespace mooncake::testing
