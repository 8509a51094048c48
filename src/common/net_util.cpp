#include "common/net_util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace mooncake {

Result<HostPort> ParseHostPort(std::string_view text) {
    HostPort result;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos) return Error(ErrorCode::INVALID_PARAMS);
        result.host = std::string(text.substr(1, close - 1));
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return Error(ErrorCode::INVALID_PARAMS);
            port_text = rest.substr(1);
            if (port_text.empty()) return Error(ErrorCode::INVALID_PARAMS);
        }
    } else {
        const size_t colon = text.rfind(':');
        // More than one colon without brackets: a bare IPv6 literal.
        if (colon != std::string_view::npos && text.find(':') == colon) {
            result.host = std::string(text.substr(0, colon));
            port_text = text.substr(colon + 1);
            if (port_text.empty()) return Error(ErrorCode::INVALID_PARAMS);
        } else {
            result.host = std::string(text);
        }
    }
    // Brackets only delimit an IPv6 literal; a host containing one would
    // not survive JoinHostPort and parse back.
    if (result.host.empty() || result.host.find_first_of("[]") != std::string::npos) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (!port_text.empty()) {
        unsigned value = 0;
        auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535) {
            return Error(ErrorCode::INVALID_PARAMS);
        }
        result.port = static_cast<uint16_t>(value);
    }
    return result;
}

std::string JoinHostPort(std::string_view host, uint16_t port) {
    if (host.find(':') != std::string_view::npos) {
        return "[" + std::string(host) + "]:" + std::to_string(port);
    }
    return std::string(host) + ":" + std::to_string(port);
}

bool IsLoopbackHost(std::string_view host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}

Result<std::string> InterfaceIPv4(std::string_view name) {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return Error(ErrorCode::INTERNAL_ERROR);
    std::string found;
    for (const ifaddrs* entry = list; entry != nullptr && found.empty(); entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET ||
            name != entry->ifa_name) {
            continue;
        }
        char text[INET_ADDRSTRLEN] = {};
        const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
        if (::inet_ntop(AF_INET, &ipv4->sin_addr, text, sizeof(text)) != nullptr) found = text;
    }
    ::freeifaddrs(list);
    if (found.empty()) return Error(ErrorCode::INVALID_PARAMS);
    return found;
}

void AddrInfoDeleter::operator()(addrinfo* info) const { freeaddrinfo(info); }

std::expected<AddrInfoList, int> LookUpAddresses(const char* node, const char* service,
                                                 const addrinfo& hints) {
    addrinfo* raw = nullptr;
    const int rc = getaddrinfo(node, service, &hints, &raw);
    AddrInfoList list(raw);
    if (rc != 0) return std::unexpected(rc);
    if (list == nullptr) return std::unexpected(EAI_NONAME);
    return list;
}

Result<std::string> ResolveIPv4(std::string_view host) {
    std::string name(host);
    in_addr numeric{};
    if (inet_pton(AF_INET, name.c_str(), &numeric) == 1) return name;
    if (name == "localhost") return std::string("127.0.0.1");
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    auto info = LookUpAddresses(name.c_str(), nullptr, hints);
    if (!info) return Error(ErrorCode::INVALID_PARAMS);
    char text[INET_ADDRSTRLEN] = {};
    const auto* address = reinterpret_cast<const sockaddr_in*>((*info)->ai_addr);
    inet_ntop(AF_INET, &address->sin_addr, text, sizeof(text));
    return std::string(text);
}

Result<std::string> BindAddressFor(std::string_view host) {
    if (IsLoopbackHost(host)) return std::string("127.0.0.1");
    return ResolveIPv4(host);
}

}  // namespace mooncake
