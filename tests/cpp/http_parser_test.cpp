// HttpRequestParser (src/net/http_parser.h) fed byte by byte and in one
// piece, and the metadata store's memory accounting (issue 16, items 5, 11,
// 14).
#include "net/http_parser.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <string>

#include "master/http_metadata_server.h"

namespace mooncake {
namespace {

constexpr size_t kHeaderLimit = 1024;
constexpr size_t kBodyLimit = 4096;

// Feeds `text` (in pieces of `step` bytes) and returns the parser.
HttpRequestParser Parse(const std::string& text, size_t step = 1 << 20) {
    HttpRequestParser parser(kHeaderLimit, kBodyLimit);
    size_t at = 0;
    while (at < text.size() && !parser.complete() && !parser.failure()) {
        at += parser.Feed(std::string_view(text).substr(at, step));
    }
    return parser;
}

TEST(HttpParserTest, ParsesARequestWhateverThePieces) {
    const std::string text =
        "PUT /metadata?key=a%2Fb+c&x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: "
        "application/x-www-form-urlencoded\r\nContent-Length: 5\r\n\r\nhello";
    for (size_t step : {1, 3, 1000}) {
        auto parser = Parse(text, step);
        ASSERT_TRUE(parser.complete()) << step;
        HttpRequest request = parser.TakeRequest();
        EXPECT_EQ(request.method, "PUT");
        EXPECT_EQ(request.path, "/metadata");
        EXPECT_EQ(request.Param("key"), "a/b c");
        EXPECT_EQ(request.Header("content-type"), "application/x-www-form-urlencoded");
        EXPECT_EQ(request.body, "hello");
        EXPECT_TRUE(parser.keep_alive());
    }
}

TEST(HttpParserTest, DecodesChunkedBodiesAndHoldsTheirLimit) {
    auto ok = Parse(
        "PUT /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n"
        "Trailer: x\r\n\r\n",
        1);
    ASSERT_TRUE(ok.complete());
    EXPECT_EQ(ok.TakeRequest().body, "abcde");

    std::string huge = "PUT /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 5; ++i) huge += "400\r\n" + std::string(1024, 'x') + "\r\n";
    auto refused = Parse(huge + "0\r\n\r\n");
    ASSERT_TRUE(refused.failure());
    EXPECT_EQ(refused.failure()->status, 413);
    EXPECT_LE(refused.buffered_bytes(), kBodyLimit);
}

TEST(HttpParserTest, RefusesWhatTheLimitsAndTheGrammarForbid) {
    const std::pair<std::string, int> cases[] = {
        {"GET / HTTP/1.1\r\nX: " + std::string(2000, 'y') + "\r\n\r\n", 431},
        {"PUT / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", 413},
        {"PUT / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", 400},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET nopath HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
        {"GET /?key=%zz HTTP/1.1\r\n\r\n", 400},
    };
    for (const auto& [text, status] : cases) {
        for (size_t step : {1, 4096}) {
            auto parser = Parse(text, step);
            ASSERT_TRUE(parser.failure()) << text;
            EXPECT_EQ(parser.failure()->status, status) << text;
        }
    }
}

TEST(HttpParserTest, KeepsPipelinedBytesForTheNextRequest) {
    const std::string text = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
    HttpRequestParser parser(kHeaderLimit, kBodyLimit);
    const size_t used = parser.Feed(text);
    ASSERT_TRUE(parser.complete());
    EXPECT_EQ(parser.TakeRequest().path, "/a");
    parser.Feed(std::string_view(text).substr(used));
    ASSERT_TRUE(parser.complete());
    EXPECT_EQ(parser.TakeRequest().path, "/b");
    EXPECT_FALSE(parser.keep_alive());
}

TEST(HttpParserTest, AsksForContinueOnceForABody) {
    auto parser = Parse("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    EXPECT_TRUE(parser.TakeContinue());
    EXPECT_FALSE(parser.TakeContinue());
}

TEST(MetadataStoreTest, TheCapCountsRealMemory) {
    // 20 k small entries: what the store charges must cover what malloc
    // handed out for them (item 11: it counted ~40 of ~190 bytes).
    MetadataStore store(1u << 30);
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 20000; ++i) {
        ASSERT_TRUE(
            store.Put("key-" + std::to_string(i), {std::string(24, 'v'), "application/json"}));
    }
    const size_t used = mallinfo2().uordblks - before;
    EXPECT_GE(store.total_bytes(), used * 9 / 10)
        << "charged " << store.total_bytes() << " for " << used << " bytes";
    EXPECT_LE(store.total_bytes(), used * 2);
}

}  // namespace
}  // namespace mooncake
