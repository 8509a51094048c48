// Pieces of HA that need no etcd: endpoint lists, the leader key, the
// election's refusal of bad settings. (The election itself runs against a
// real etcd in tests/reliability/test_ha.py.)
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "ha/etcd_client.h"
#include "ha/leader_election.h"
#include "ha/leader_resolver.h"

namespace mooncake::ha {
namespace {

TEST(EtcdEndpointsTest, ParsesTheReferenceForms) {
    auto one = ParseEtcdEndpoints("127.0.0.1:2379");
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(*one, std::vector<std::string>{"127.0.0.1:2379"});
    auto many = ParseEtcdEndpoints("etcd://h1:2379;h2:2380,http://h3:2381;");
    ASSERT_TRUE(many.has_value());
    EXPECT_EQ(*many, (std::vector<std::string>{"h1:2379", "h2:2380", "h3:2381"}));
}

TEST(EtcdEndpointsTest, RefusesEmptyListsAndEntriesWithoutPort) {
    EXPECT_EQ(ParseEtcdEndpoints("").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseEtcdEndpoints("etcd://").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseEtcdEndpoints("h1").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseEtcdEndpoints("h1:2379;h2").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(EtcdClient::Create("h1:99999").error(), ErrorCode::INVALID_PARAMS);
}

TEST(LeaderKeyTest, UsesTheReferenceLayout) {
    EXPECT_EQ(LeaderKey("mooncake_cluster"), "mooncake-store/mooncake_cluster/master_view");
    EXPECT_EQ(LeaderKey("prod/"), "mooncake-store/prod/master_view");
    EXPECT_TRUE(IsEtcdMasterAddress("etcd://h:1"));
    EXPECT_FALSE(IsEtcdMasterAddress("h:1"));
}

TEST(LeaderElectionTest, RefusesMissingAddressOrBadEndpoints) {
    LeaderElectionOptions options;
    options.etcd_endpoints = "127.0.0.1:1";
    LeaderElection no_address(options, {});
    EXPECT_EQ(no_address.Start().error(), ErrorCode::INVALID_PARAMS);
    options.advertised_address = "127.0.0.1:50051";
    options.etcd_endpoints = "nonsense";
    LeaderElection bad_endpoints(options, {});
    EXPECT_EQ(bad_endpoints.Start().error(), ErrorCode::INVALID_PARAMS);
    EXPECT_FALSE(bad_endpoints.Serving());
}

TEST(LeaderElectionTest, NeverServesWithoutEtcd) {
    LeaderElectionOptions options;
    options.etcd_endpoints = "127.0.0.1:1";  // nothing listens there
    options.advertised_address = "127.0.0.1:50051";
    LeaderElection election(options, {});
    ASSERT_TRUE(election.Start().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(election.Serving());
    EXPECT_NE(election.GetStatus().role, HaRole::kLeader);
    election.Stop();
    EXPECT_EQ(election.GetStatus().role, HaRole::kStopped);
}

}  // namespace
}  // namespace mooncake::ha
