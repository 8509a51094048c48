// An RDMA global identifier (GID): the 128-bit address of a port, an IPv6
// address in form. RoCE needs it to route; InfiniBand uses it across subnets.
// Written in descriptors and handshakes as eight groups of four lower-case hex
// digits ("fe80:0000:0000:0000:0202:c9ff:fe00:0001"), the form ibv_devinfo
// and the sysfs gid files use.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mooncake::rdma {

struct Gid {
    std::array<uint8_t, 16> bytes{};

    bool IsZero() const;
    // ::ffff:a.b.c.d, what RoCE v2 ports carry for their IPv4 addresses.
    bool IsIPv4Mapped() const;
    std::string ToString() const;
    // Exactly the ToString form (either case); nullopt otherwise.
    static std::optional<Gid> Parse(std::string_view text);

    friend bool operator==(const Gid&, const Gid&) = default;
};

}  // namespace mooncake::rdma
