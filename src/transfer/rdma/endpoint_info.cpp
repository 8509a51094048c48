#include "transfer/rdma/endpoint_info.h"

#include "transfer/rdma/device_selection.h"

namespace mooncake::rdma {

namespace {

// The unsigned integer at json[key] if it is one and at most `max`.
std::optional<uint64_t> UnsignedField(const nlohmann::json& json, const char* key, uint64_t max) {
    auto it = json.find(key);
    if (it == json.end() || !it->is_number_unsigned()) return std::nullopt;
    const uint64_t value = it->get<uint64_t>();
    if (value > max) return std::nullopt;
    return value;
}

const std::string* StringField(const nlohmann::json& json, const char* key) {
    auto it = json.find(key);
    if (it == json.end() || !it->is_string()) return nullptr;
    return it->get_ptr<const std::string*>();
}

}  // namespace

bool IsValidMtu(uint32_t mtu) {
    return mtu == 256 || mtu == 512 || mtu == 1024 || mtu == 2048 || mtu == 4096;
}

nlohmann::json EncodeDeviceEndpoint(const DeviceEndpoint& device) {
    return nlohmann::json{{"name", device.name}, {"port", device.port},
                          {"lid", device.lid},   {"gid", device.gid.ToString()},
                          {"mtu", device.mtu},   {"link_layer", LinkLayerName(device.link_layer)}};
}

Result<DeviceEndpoint> DecodeDeviceEndpoint(const nlohmann::json& json) {
    const auto invalid = Error(ErrorCode::INVALID_PARAMS);
    if (!json.is_object()) return invalid;
    DeviceEndpoint device;
    const std::string* name = StringField(json, "name");
    if (name == nullptr || !IsValidDeviceName(*name)) return invalid;
    device.name = *name;
    auto port = UnsignedField(json, "port", 255);
    if (!port || *port == 0) return invalid;
    device.port = static_cast<uint8_t>(*port);
    auto lid = UnsignedField(json, "lid", 0xffff);
    if (!lid) return invalid;
    device.lid = static_cast<uint16_t>(*lid);
    const std::string* gid_text = StringField(json, "gid");
    if (gid_text == nullptr) return invalid;
    auto gid = Gid::Parse(*gid_text);
    if (!gid) return invalid;
    device.gid = *gid;
    auto mtu = UnsignedField(json, "mtu", 4096);
    if (!mtu || !IsValidMtu(static_cast<uint32_t>(*mtu))) return invalid;
    device.mtu = static_cast<uint32_t>(*mtu);
    const std::string* link_layer = StringField(json, "link_layer");
    if (link_layer == nullptr) return invalid;
    if (*link_layer == LinkLayerName(LinkLayer::kInfiniBand)) {
        device.link_layer = LinkLayer::kInfiniBand;
    } else if (*link_layer == LinkLayerName(LinkLayer::kEthernet)) {
        device.link_layer = LinkLayer::kEthernet;
    } else {
        return invalid;
    }
    return device;
}

nlohmann::json EncodeEndpoint(const std::vector<DeviceEndpoint>& devices) {
    nlohmann::json list = nlohmann::json::array();
    for (const DeviceEndpoint& device : devices) list.push_back(EncodeDeviceEndpoint(device));
    return nlohmann::json{{"devices", std::move(list)}};
}

Result<std::vector<DeviceEndpoint>> DecodeEndpoint(const nlohmann::json& json) {
    if (!json.is_object()) return Error(ErrorCode::INVALID_PARAMS);
    auto list = json.find("devices");
    if (list == json.end() || !list->is_array() || list->empty() ||
        list->size() > kMaxEndpointDevices) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::vector<DeviceEndpoint> devices;
    devices.reserve(list->size());
    for (const nlohmann::json& entry : *list) {
        auto device = DecodeDeviceEndpoint(entry);
        if (!device) return Error(device.error());
        for (const DeviceEndpoint& earlier : devices) {
            if (earlier.name == device->name) return Error(ErrorCode::INVALID_PARAMS);
        }
        devices.push_back(std::move(*device));
    }
    return devices;
}

nlohmann::json EncodeRemoteKeys(const std::vector<std::pair<std::string, uint32_t>>& keys) {
    nlohmann::json by_device = nlohmann::json::object();
    for (const auto& [device, rkey] : keys) by_device[device] = rkey;
    return nlohmann::json{{"rkey", std::move(by_device)}};
}

std::optional<uint32_t> FindRemoteKey(const nlohmann::json& range_transports,
                                      std::string_view device) {
    if (!range_transports.is_object()) return std::nullopt;
    auto rdma = range_transports.find("rdma");
    if (rdma == range_transports.end() || !rdma->is_object()) return std::nullopt;
    auto keys = rdma->find("rkey");
    if (keys == rdma->end() || !keys->is_object()) return std::nullopt;
    auto key = keys->find(device);
    if (key == keys->end() || !key->is_number_unsigned()) return std::nullopt;
    const uint64_t rkey = key->get<uint64_t>();
    if (rkey > 0xffffffffu) return std::nullopt;
    return static_cast<uint32_t>(rkey);
}

std::string_view LinkLayerName(LinkLayer link_layer) {
    return link_layer == LinkLayer::kEthernet ? "ethernet" : "ib";
}

}  // namespace mooncake::rdma
