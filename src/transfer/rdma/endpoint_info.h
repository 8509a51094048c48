// What an engine publishes about its RDMA devices, and how peers read it.
//
// Descriptor entry transports["rdma"] (DescribeEndpoint):
//   {"devices": [{"name": "mlx5_0", "port": 1, "lid": 3, "gid": "fe80:...",
//                 "mtu": 4096, "link_layer": "ib"}, ...]}
// Range entry ranges[i].transports["rdma"] (OnRegisterMemory):
//   {"rkey": {"mlx5_0": 1234, "mlx5_1": 5678}}
//
// Both arrive from the network inside peers' descriptors: decoding is strict
// and bounded.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mooncake/result.h"
#include "transfer/rdma/gid.h"
#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

// Most devices one engine may publish.
inline constexpr size_t kMaxEndpointDevices = 64;

// One device port as seen from the network.
struct DeviceEndpoint {
    std::string name;
    uint8_t port = 1;
    uint16_t lid = 0;
    Gid gid;
    uint32_t mtu = 1024;  // active MTU in bytes
    LinkLayer link_layer = LinkLayer::kInfiniBand;

    friend bool operator==(const DeviceEndpoint&, const DeviceEndpoint&) = default;
};

// "ib" or "ethernet", as descriptors and handshakes write it.
std::string_view LinkLayerName(LinkLayer link_layer);

// 256, 512, 1024, 2048 or 4096.
bool IsValidMtu(uint32_t mtu);

nlohmann::json EncodeDeviceEndpoint(const DeviceEndpoint& device);
// INVALID_PARAMS for anything but a well-formed entry.
Result<DeviceEndpoint> DecodeDeviceEndpoint(const nlohmann::json& json);

nlohmann::json EncodeEndpoint(const std::vector<DeviceEndpoint>& devices);
// INVALID_PARAMS when malformed, empty, oversized or naming a device twice.
Result<std::vector<DeviceEndpoint>> DecodeEndpoint(const nlohmann::json& json);

// {"rkey": {name: rkey, ...}}
nlohmann::json EncodeRemoteKeys(const std::vector<std::pair<std::string, uint32_t>>& keys);
// The rkey of `device` in a range's transports object (the whole
// ranges[i].transports, not just its "rdma" entry); nullopt when absent or
// malformed.
std::optional<uint32_t> FindRemoteKey(const nlohmann::json& range_transports,
                                      std::string_view device);

}  // namespace mooncake::rdma
