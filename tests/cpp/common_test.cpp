#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "common/net_util.h"
#include "common/size_parser.h"
#include "mooncake/error_code.h"
#include "mooncake/result.h"
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

Result<int> Halve(int value) {
    if (value % 2 != 0) return Error(ErrorCode::INVALID_PARAMS, std::to_string(value) + " is odd");
    return value / 2;
}

Result<int> Quarter(int value) {
    MC_ASSIGN_OR_RETURN(const int half, Halve(value));
    MC_ASSIGN_OR_RETURN(const int quarter, Halve(half));
    return quarter;
}

Status CheckQuarter(int value) {
    MC_RETURN_IF_ERROR(Quarter(value));
    return OkStatus();
}

TEST(FailureTest, CarriesCodeAndReasonThroughTheMacros) {
    EXPECT_EQ(Quarter(8).value(), 2);
    const Result<int> odd = Quarter(6);
    ASSERT_FALSE(odd.has_value());
    EXPECT_EQ(odd.error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(odd.error().message(), "3 is odd");
    EXPECT_EQ(CodeOf(odd), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(CheckQuarter(6).error().message(), "3 is odd");
    EXPECT_TRUE(CheckQuarter(4).has_value());
    EXPECT_EQ(ToInt(odd.error()), -600);  // converts to its code
}

TEST(FailureTest, ContextGoesInFrontAndTheCodeStays) {
    const Failure bare(ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(bare.ToString(), "OBJECT_NOT_FOUND (-704)");
    EXPECT_EQ(bare.WithContext("get 'k'").ToString(), "OBJECT_NOT_FOUND (-704): get 'k'");
    const Failure reason(ErrorCode::RPC_FAIL, "connection refused");
    const Failure outer = reason.WithContext("master 10.0.0.1:50051");
    EXPECT_EQ(outer.code(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(outer.message(), "master 10.0.0.1:50051: connection refused");
    EXPECT_EQ(reason.message(), "connection refused");  // the original is unchanged
    std::ostringstream printed;
    printed << outer;
    EXPECT_EQ(printed.str(), "RPC_FAIL (-900): master 10.0.0.1:50051: connection refused");
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

// Found by tests/fuzz (parse_size): a decimal too long for a long double
// threw std::out_of_range out of std::stold, and decimals at or above 2^63
// came back as 2^63 (llround overflowed).
TEST(SizeParserTest, HugeDecimalsAreErrorsOrExactNotExceptions) {
    const std::string huge = std::string(5000, '9') + ".5";
    auto parsed = ParseSize(huge);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseSize("0." + std::string(5000, '0') + "1 GB").value(), 0u);

    EXPECT_EQ(ParseSize("10000000000000000000.0").value(), 10000000000000000000ull);
    EXPECT_EQ(ParseSize("9223372036854775808.4").value(), 9223372036854775808ull);
    EXPECT_EQ(ParseSize("10000.5 PB").value(), (10000ull << 50) + (1ull << 49));
    EXPECT_EQ(ParseSize("18446744073709551615.0").value(), UINT64_MAX);
    EXPECT_FALSE(ParseSize("18446744073709551616.0").has_value());
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

// Found by tests/fuzz (parse_host_port): "[[a]:1" parsed as host "[a" whose
// JoinHostPort ("[[a:1") no longer parsed. Brackets inside a host are refused.
TEST(NetUtilTest, RefusesBracketsInsideTheHost) {
    for (const char* bad : {"[[a]:1", "a]:1", "[a[b]:2", "x[y", "[a]]"}) {
        auto parsed = ParseHostPort(bad);
        ASSERT_FALSE(parsed.has_value()) << bad;
        EXPECT_EQ(parsed.error(), ErrorCode::INVALID_PARAMS) << bad;
    }
    auto v6 = ParseHostPort("[fe80::1]:7");
    ASSERT_TRUE(v6.has_value());
    auto again = ParseHostPort(JoinHostPort(v6->host, *v6->port));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->host, "fe80::1");
    EXPECT_EQ(again->port, v6->port);
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
