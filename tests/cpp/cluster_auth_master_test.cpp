// The master with a cluster secret (in this process, on free loopback ports):
// its gRPC refuses calls without a valid token, its hot path refuses
// connections that skip the handshake, and a MasterClient with the secret
// (from MC_CLUSTER_SECRET) uses both.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "client/master_client.h"
#include "common/auth_handshake.h"
#include "common/cluster_auth.h"
#include "hot_path_test_socket.h"
#include "master.grpc.pb.h"
#include "master/master_server.h"

namespace mooncake {
namespace {

constexpr char kSecret[] = "test-secret-0123456789abcdef";
constexpr char kOtherSecret[] = "test-secret-not-the-same-one";

std::unique_ptr<MasterServer> StartMaster(auth::ClusterKeyPtr key) {
    MasterServerOptions options;
    options.rpc_address = "127.0.0.1";
    options.rpc_port = 0;
    options.hot_rpc_port = 0;
    options.metrics_port = 0;
    options.enable_metric_reporting = false;
    options.cluster_key = std::move(key);
    auto server = std::make_unique<MasterServer>(std::move(options));
    auto started = server->Start();
    EXPECT_TRUE(started.has_value()) << (started ? "" : started.error());
    return started ? std::move(server) : nullptr;
}

class ClusterAuthMasterTest : public ::testing::Test {
   protected:
    void SetUp() override {
        key_ = std::make_shared<const auth::ClusterKey>(kSecret);
        master_ = StartMaster(key_);
        ASSERT_NE(master_, nullptr);
        address_ = "127.0.0.1:" + std::to_string(master_->grpc_port());
        stub_ = rpc::MasterService::NewStub(
            grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    }
    void TearDown() override {
        ::unsetenv(auth::kSecretEnv);
        if (master_) master_->Stop(std::chrono::milliseconds(0));
    }

    grpc::Status Ping(const std::string& token, std::string* reply_proof = nullptr) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        if (!token.empty()) context.AddMetadata(auth::kGrpcMetadataKey, token);
        rpc::GetServiceInfoResponse reply;
        grpc::Status status = stub_->GetServiceInfo(&context, {}, &reply);
        auto found = context.GetServerInitialMetadata().find(auth::kGrpcReplyMetadataKey);
        if (reply_proof != nullptr && found != context.GetServerInitialMetadata().end()) {
            *reply_proof = std::string(found->second.data(), found->second.size());
        }
        return status;
    }

    auth::ClusterKeyPtr key_;
    std::unique_ptr<MasterServer> master_;
    std::string address_;
    std::unique_ptr<rpc::MasterService::Stub> stub_;
};

TEST_F(ClusterAuthMasterTest, GrpcRefusesCallsWithoutAValidToken) {
    EXPECT_EQ(Ping("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(Ping("v1.1.2.3").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    auth::ClusterKey other(kOtherSecret);
    EXPECT_EQ(Ping(auth::MakeGrpcToken(other)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ClusterAuthMasterTest, GrpcAcceptsATokenOnceAndProvesTheSecretBack) {
    const std::string token = auth::MakeGrpcToken(*key_);
    std::string proof;
    ASSERT_TRUE(Ping(token, &proof).ok());
    EXPECT_TRUE(auth::VerifyGrpcReply(*key_, token, proof));
    // The same token a second time is a replay.
    EXPECT_EQ(Ping(token).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ClusterAuthMasterTest, HotPathClosesAConnectionThatSkipsTheHandshake) {
    testing::HotPathTestSocket socket(master_->hot_rpc_port());
    ASSERT_TRUE(socket.connected());
    EXPECT_FALSE(socket.Handshake());
    EXPECT_TRUE(socket.ClosedByPeer());
}

TEST_F(ClusterAuthMasterTest, MasterClientWithTheSecretUsesTheHotPath) {
    ::setenv(auth::kSecretEnv, kSecret, 1);
    auto client = MasterClient::Connect(address_, MasterClientOptions{});
    ASSERT_TRUE(client.has_value());
    auto info = (*client)->GetServiceInfo();
    ASSERT_TRUE(info.has_value());
    EXPECT_TRUE((*client)->UsingHotPath());
    EXPECT_TRUE((*client)->GetAllSegments().has_value());
}

TEST_F(ClusterAuthMasterTest, MasterClientWithoutOrWithAnotherSecretIsRefused) {
    ::unsetenv(auth::kSecretEnv);
    MasterClientOptions options;
    options.rpc_timeout = std::chrono::seconds(2);
    auto without = MasterClient::Connect(address_, options);
    ASSERT_FALSE(without.has_value());
    EXPECT_EQ(without.error(), ErrorCode::RPC_FAIL);
    ::setenv(auth::kSecretEnv, kOtherSecret, 1);
    auto other = MasterClient::Connect(address_, options);
    ASSERT_FALSE(other.has_value());
    EXPECT_EQ(other.error(), ErrorCode::RPC_FAIL);
}

TEST(ClusterAuthMasterWithoutSecret, ClientWithASecretRefusesIt) {
    auto master = StartMaster(nullptr);
    ASSERT_NE(master, nullptr);
    ::setenv(auth::kSecretEnv, kSecret, 1);
    MasterClientOptions options;
    options.rpc_timeout = std::chrono::seconds(2);
    auto client =
        MasterClient::Connect("127.0.0.1:" + std::to_string(master->grpc_port()), options);
    ::unsetenv(auth::kSecretEnv);
    EXPECT_FALSE(client.has_value());
    master->Stop(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace mooncake
