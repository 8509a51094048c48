// Host and port strings, and the address a name should bind to.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mooncake/result.h"

struct addrinfo;  // <netdb.h>

namespace mooncake {

struct HostPort {
    std::string host;
    std::optional<uint16_t> port;  // absent when the text names no port
};

// "host", "host:1234", "[::1]:1234", "10.0.0.1:80". INVALID_PARAMS for an
// empty host or a port that is not a number in 1..65535.
Result<HostPort> ParseHostPort(std::string_view text);

// "host:port", with IPv6 literals bracketed.
std::string JoinHostPort(std::string_view host, uint16_t port);

// True for "localhost", "127.x.x.x" and "::1".
bool IsLoopbackHost(std::string_view host);

// getaddrinfo's result list, freed with freeaddrinfo.
struct AddrInfoDeleter {
    void operator()(addrinfo* info) const;
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// getaddrinfo(node, service, &hints) as an owned, non-empty list, or
// getaddrinfo's error code (EAI_*; EAI_NONAME for an empty list).
std::expected<AddrInfoList, int> LookUpAddresses(const char* node, const char* service,
                                                 const addrinfo& hints);

// The numeric IPv4 address for `host` ("localhost" -> "127.0.0.1"); numeric
// input is returned as it is. RPC_FAIL-free: INVALID_PARAMS when the name
// does not resolve.
Result<std::string> ResolveIPv4(std::string_view host);

// The first IPv4 address of network interface `name` ("eth0"); INVALID_PARAMS
// when it has none (or does not exist).
Result<std::string> InterfaceIPv4(std::string_view name);

// The address servers of a client named `host` bind to: 127.0.0.1 for
// loopback names (never the machine's external address), the resolved
// address otherwise.
Result<std::string> BindAddressFor(std::string_view host);

}  // namespace mooncake
