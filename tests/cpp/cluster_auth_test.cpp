// The cluster authentication primitives: the socket handshake (both roles,
// over a socketpair) and the gRPC tokens. End-to-end refusals by real
// servers are in tests/reliability/test_authentication.py.
#include "common/cluster_auth.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <string>

#include "common/auth_handshake.h"

namespace mooncake::auth {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
    int client = -1;
    int server = -1;
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        client = fds[0];
        server = fds[1];
    }
    ~SocketPair() {
        ::close(client);
        ::close(server);
    }
};

struct Outcome {
    bool client_ok = false;
    bool server_ok = false;
    std::string client_why;
    std::string server_why;
};

Outcome RunHandshake(const ClusterKey& client_key, const ClusterKey& server_key,
                     std::string_view client_service = kTransferService,
                     std::string_view server_service = kTransferService) {
    SocketPair pair;
    Outcome outcome;
    auto server = std::async(std::launch::async, [&] {
        outcome.server_ok =
            AcceptPeer(pair.server, server_key, server_service, &outcome.server_why, 2000ms);
        if (!outcome.server_ok) ::shutdown(pair.server, SHUT_RDWR);
    });
    outcome.client_ok = ProveToPeer(pair.client, client_key, client_service,
                                    std::chrono::steady_clock::now() + 2s, &outcome.client_why);
    // A failed client closes its connection, as the real callers do.
    if (!outcome.client_ok) ::shutdown(pair.client, SHUT_RDWR);
    server.get();
    return outcome;
}

TEST(ClusterAuthHandshake, SameSecretPassesBothWays) {
    ClusterKey key("0123456789abcdef-secret");
    Outcome outcome = RunHandshake(key, key);
    EXPECT_TRUE(outcome.client_ok) << outcome.client_why;
    EXPECT_TRUE(outcome.server_ok) << outcome.server_why;
}

TEST(ClusterAuthHandshake, DifferentSecretsFailBothSides) {
    ClusterKey client("0123456789abcdef-secret");
    ClusterKey server("0123456789abcdef-other!");
    Outcome outcome = RunHandshake(client, server);
    EXPECT_FALSE(outcome.client_ok);
    EXPECT_FALSE(outcome.server_ok);
    EXPECT_NE(outcome.client_why.find("secrets differ"), std::string::npos) << outcome.client_why;
}

TEST(ClusterAuthHandshake, ProofOfOneServiceIsRefusedByAnother) {
    ClusterKey key("0123456789abcdef-secret");
    Outcome outcome = RunHandshake(key, key, kTransferService, "hot path");
    EXPECT_FALSE(outcome.client_ok);
    EXPECT_FALSE(outcome.server_ok);
}

TEST(ClusterAuthHandshake, ServerRefusesAPeerThatSendsItsProtocolAtOnce) {
    ClusterKey key("0123456789abcdef-secret");
    SocketPair pair;
    const std::string request(64, 'x');  // e.g. a transfer request header
    ASSERT_EQ(::write(pair.client, request.data(), request.size()), 64);
    std::string why;
    EXPECT_FALSE(AcceptPeer(pair.server, key, kTransferService, &why, 1000ms));
    EXPECT_NE(why.find("no authentication hello"), std::string::npos) << why;
}

TEST(ClusterAuthHandshake, SilentPeerTimesOut) {
    ClusterKey key("0123456789abcdef-secret");
    SocketPair pair;
    std::string why;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(AcceptPeer(pair.server, key, kTransferService, &why, 200ms));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_NE(why.find("timed out"), std::string::npos) << why;
}

TEST(ClusterAuthHandshake, ClientNoticesAServerThatCloses) {
    ClusterKey key("0123456789abcdef-secret");
    SocketPair pair;
    ::shutdown(pair.server, SHUT_RDWR);
    std::string why;
    EXPECT_FALSE(ProveToPeer(pair.client, key, kTransferService,
                             std::chrono::steady_clock::now() + 1s, &why));
}

TEST(ClusterAuthToken, FreshTokenVerifiesOnce) {
    auto key = std::make_shared<const ClusterKey>("0123456789abcdef-secret");
    GrpcTokenVerifier verifier(key);
    const std::string token = MakeGrpcToken(*key);
    std::string why;
    EXPECT_TRUE(verifier.Verify(token, &why)) << why;
    EXPECT_FALSE(verifier.Verify(token, &why));
    EXPECT_NE(why.find("replay"), std::string::npos) << why;
    EXPECT_TRUE(verifier.Verify(MakeGrpcToken(*key), &why)) << why;
}

TEST(ClusterAuthToken, WrongKeyAndGarbageAreRefused) {
    auto key = std::make_shared<const ClusterKey>("0123456789abcdef-secret");
    ClusterKey other("0123456789abcdef-other!");
    GrpcTokenVerifier verifier(key);
    std::string why;
    EXPECT_FALSE(verifier.Verify(MakeGrpcToken(other), &why));
    for (const char* garbage : {"", "v1", "v1.1.2.3", "v2.1.00.00", "v1..."}) {
        EXPECT_FALSE(verifier.Verify(garbage, &why)) << garbage;
    }
    // A token whose MAC was altered in its last digit.
    std::string token = MakeGrpcToken(*key);
    token.back() = token.back() == '0' ? '1' : '0';
    EXPECT_FALSE(verifier.Verify(token, &why));
}

TEST(ClusterAuthKey, LoadsFromFileAndEnvironment) {
    ::unsetenv(kSecretEnv);
    ::unsetenv(kSecretFileEnv);
    auto none = LoadClusterKey();
    ASSERT_TRUE(none.has_value());
    EXPECT_EQ(*none, nullptr);

    ::setenv(kSecretEnv, "short", 1);
    EXPECT_FALSE(LoadClusterKey().has_value());
    ::setenv(kSecretEnv, "0123456789abcdef-secret", 1);
    auto from_env = LoadClusterKey();
    ASSERT_TRUE(from_env.has_value() && *from_env != nullptr);

    const std::string path = ::testing::TempDir() + "/cluster_secret";
    std::ofstream(path) << "0123456789abcdef-secret\n";
    auto from_file = LoadClusterKey(path);
    ASSERT_TRUE(from_file.has_value() && *from_file != nullptr);
    // The trailing newline is not part of the secret: both keys agree.
    EXPECT_EQ((*from_file)->Sign({"x"}), (*from_env)->Sign({"x"}));
    EXPECT_FALSE(LoadClusterKey(path + ".missing").has_value());
    ::unsetenv(kSecretEnv);
}

}  // namespace
}  // namespace mooncake::auth
