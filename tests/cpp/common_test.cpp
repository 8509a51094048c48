#include <gtest/gtest.h>

#include <set>

#include "common/net_util.h"
#include "common/size_parser.h"
#include "mooncake/error_code.h"
#include "mooncake/types.h"

namespace mooncake {
namespace {

TEST(ErrorCodeTest, NamesAndNumbersMatchTheTable) {
    EXPECT_EQ(ToInt(ErrorCode::OBJECT_NOT_FOUND), -704);
    EXPECT_EQ(ToInt(ErrorCode::RPC_FAIL), -900);
    EXPECT_EQ(ToInt(ErrorCode::FILE_INVALID_HANDLE), -1106);
    EXPECT_EQ(ErrorCodeName(ErrorCode::OBJECT_HAS_LEASE), "OBJECT_HAS_LEASE");
    EXPECT_EQ(ErrorCodeFromInt(-705), ErrorCode::OBJECT_ALREADY_EXISTS);
    EXPECT_EQ(ErrorCodeFromInt(-12345), ErrorCode::INTERNAL_ERROR);
}

TEST(SizeParserTest, AcceptsPlainAndHumanReadableSizes) {
    EXPECT_EQ(ParseSize("16777216").value(), 16777216u);
    EXPECT_EQ(ParseSize("16MB").value(), 16u << 20);
    EXPECT_EQ(ParseSize("16 MB").value(), 16u << 20);
    EXPECT_EQ(ParseSize(" 4 GB ").value(), 4ull << 30);
    EXPECT_EQ(ParseSize("4gb").value(), 4ull << 30);
    EXPECT_EQ(ParseSize("512KiB").value(), 512u << 10);
    EXPECT_EQ(ParseSize("1.5K").value(), 1536u);
    EXPECT_EQ(ParseSize("0").value(), 0u);
}

TEST(SizeParserTest, RejectsPercentagesAndGarbage) {
    for (const char* bad :
         {"50%", "", "MB", "-1", "12XB", "1e9", "99999999999999999999", "20000000000 PB"}) {
        EXPECT_FALSE(ParseSize(bad).has_value()) << bad;
        EXPECT_EQ(ParseSize(bad).error(), ErrorCode::INVALID_PARAMS) << bad;
    }
}

TEST(NetUtilTest, ParsesHostAndPort) {
    auto plain = ParseHostPort("localhost");
    ASSERT_TRUE(plain.has_value());
    EXPECT_EQ(plain->host, "localhost");
    EXPECT_FALSE(plain->port.has_value());

    auto with_port = ParseHostPort("10.1.2.3:12345");
    ASSERT_TRUE(with_port.has_value());
    EXPECT_EQ(with_port->host, "10.1.2.3");
    EXPECT_EQ(*with_port->port, 12345);

    auto v6 = ParseHostPort("[::1]:80");
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(JoinHostPort("::1", 80), "[::1]:80");

    EXPECT_FALSE(ParseHostPort("").has_value());
    EXPECT_FALSE(ParseHostPort("host:").has_value());
    EXPECT_FALSE(ParseHostPort("host:0").has_value());
    EXPECT_FALSE(ParseHostPort("host:70000").has_value());
    EXPECT_FALSE(ParseHostPort(":80").has_value());
}

TEST(NetUtilTest, LoopbackNamesBindToLoopback) {
    EXPECT_EQ(BindAddressFor("localhost").value(), "127.0.0.1");
    EXPECT_EQ(BindAddressFor("127.0.0.5").value(), "127.0.0.1");
    EXPECT_EQ(ResolveIPv4("10.0.0.7").value(), "10.0.0.7");
}

TEST(UUIDTest, GeneratedIdsAreDistinctAndFormatted) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        UUID id = UUID::Generate();
        EXPECT_FALSE(id.IsNil());
        std::string text = id.ToString();
        EXPECT_EQ(text.size(), 36u);
        EXPECT_EQ(text[14], '4');
        seen.insert(text);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace mooncake
