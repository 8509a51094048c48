// MasterService::BatchReplicaClear: only the writer's complete, unleased
// objects; whole objects or one segment's replicas; freed space is reusable.
#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

const UUID kOther{0xB, 2};

class ReplicaClearTest : public MasterCoreTest {
   protected:
    size_t ReplicaCount(const std::string& key) {
        auto got = service_->GetReplicaList(key);
        return got.has_value() ? got->replicas.size() : 0;
    }
    void EndLeases() { AdvanceMs(static_cast<int64_t>(config_.default_kv_lease_ttl_ms) + 1); }
    std::vector<std::string> Clear(std::vector<std::string> keys, const std::string& segment = "",
                                   const UUID& client = kWriter) {
        return service_->BatchReplicaClear(client, keys, segment);
    }
};

TEST_F(ReplicaClearTest, OnlyTheWritersUnleasedCompleteObjects) {
    Mount(kWriter, "a:1", 1 << 20);
    Put("mine", 4096);
    Put("theirs", 4096, {}, kOther);
    Put("read", 4096);
    ASSERT_TRUE(service_->GetReplicaList("read").has_value());  // leases it
    ASSERT_TRUE(service_->PutStart(kWriter, "pending", 4096, {}).has_value());
    EXPECT_EQ(Clear({"mine", "theirs", "read", "pending", "missing", ""}),
              std::vector<std::string>{"mine"});
    EXPECT_EQ(ReplicaCount("mine"), 0u);
    EXPECT_EQ(ReplicaCount("theirs"), 1u);
    EndLeases();
    EXPECT_EQ(Clear({"read"}), std::vector<std::string>{"read"});
    EXPECT_EQ(Clear({"read"}), std::vector<std::string>{});
}

TEST_F(ReplicaClearTest, OneSegmentsReplicasThenTheObject) {
    Mount(kWriter, "a:1", 64 * 1024);
    Mount(kOther, "b:1", 64 * 1024);
    ReplicateConfig twice;
    twice.replica_num = 2;
    Put("k", 64 * 1024, twice);  // fills both segments
    EXPECT_EQ(Clear({"k"}, "nohost:1"), std::vector<std::string>{});
    EXPECT_EQ(Clear({"k"}, "b:1"), std::vector<std::string>{"k"});
    ASSERT_EQ(ReplicaCount("k"), 1u);
    EndLeases();
    EXPECT_EQ(Clear({"k"}, "b:1"), std::vector<std::string>{});  // none left there
    // b's space is free again: another full-size object fits there.
    EXPECT_TRUE(service_->PutStart(kOther, "again", 64 * 1024, {}).has_value());
    EXPECT_EQ(Clear({"k"}, "a:1"), std::vector<std::string>{"k"});
    EXPECT_EQ(CodeOf(service_->GetReplicaList("k")), ErrorCode::OBJECT_NOT_FOUND);
}

}  // namespace
}  // namespace mooncake::testing
