// ParseHostPort / JoinHostPort (src/common/net_util.h): endpoints from
// flags, segment names and descriptors received from peers.
//
// Input: the text itself. A parsed host is never empty, a parsed port is in
// 1..65535, and a parsed host:port joins back into text that parses to the
// same host and port.
#include <cstdint>
#include <string>

#include "common/net_util.h"
#include "fuzz_support.h"

namespace mooncake::fuzz {

int FuzzParseHostPort(const uint8_t* data, size_t size) {
    QuietLogsOnce();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = ParseHostPort(text);
    if (!parsed) {
        FUZZ_CHECK(parsed.error() == ErrorCode::INVALID_PARAMS);
        return 0;
    }
    FUZZ_CHECK(!parsed->host.empty());
    FUZZ_CHECK(parsed->host.size() <= text.size());
    if (parsed->port) {
        FUZZ_CHECK(*parsed->port != 0);
        const std::string joined = JoinHostPort(parsed->host, *parsed->port);
        auto again = ParseHostPort(joined);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(again->host == parsed->host);
        FUZZ_CHECK(again->port == parsed->port);
    } else if (!text.starts_with('[') && parsed->host.find(':') == std::string::npos) {
        // An unbracketed host without a port is the whole text.
        FUZZ_CHECK(parsed->host == text);
    }
    (void)IsLoopbackHost(parsed->host);
    return 0;
}

}  // namespace mooncake::fuzz

MOONCAKE_FUZZ_ENTRY(FuzzParseHostPort)
