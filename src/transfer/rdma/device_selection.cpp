#include "transfer/rdma/device_selection.h"

#include <algorithm>

#include "common/env.h"

namespace mooncake::rdma {

namespace {

constexpr size_t kMaxDeviceNameLength = 64;  // IBV_SYSFS_NAME_MAX

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

std::string JoinNames(const std::vector<DeviceInfo>& devices) {
    if (devices.empty()) return "none";
    std::string text;
    for (const DeviceInfo& device : devices) {
        if (!text.empty()) text += ", ";
        text += device.name;
    }
    return text;
}

const DeviceInfo* FindDevice(const std::vector<DeviceInfo>& devices, std::string_view name) {
    for (const DeviceInfo& device : devices) {
        if (device.name == name) return &device;
    }
    return nullptr;
}

// The first ACTIVE port with a usable GID; *why says what was wrong
// otherwise.
std::optional<SelectedDevice> SelectPort(const DeviceInfo& device,
                                         std::optional<uint32_t> gid_index, std::string* why) {
    std::string last_problem = "no ACTIVE port";
    for (const PortInfo& port : device.ports) {
        if (!port.active) continue;
        std::string gid_problem;
        auto gid = ChooseGidIndex(port, gid_index, &gid_problem);
        if (!gid) {
            last_problem = "port " + std::to_string(port.port_num) + ": " + gid_problem;
            continue;
        }
        return SelectedDevice{device.name, port.port_num, *gid};
    }
    *why = last_problem;
    return std::nullopt;
}

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace

DeviceSelectionInput DeviceSelectionInput::FromEnv(std::string configured_devices,
                                                   std::optional<uint32_t> gid_index) {
    DeviceSelectionInput input;
    input.configured_devices = std::move(configured_devices);
    input.auto_discover = GetEnvBool("MC_MS_AUTO_DISC", false);
    input.discovery_filters = GetEnvString("MC_MS_FILTERS", "");
    input.gid_index = gid_index;
    return input;
}

bool IsValidDeviceName(std::string_view name) {
    if (name.empty() || name.size() > kMaxDeviceNameLength) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
    });
}

Result<std::vector<std::string>> ParseDeviceNameList(std::string_view text) {
    std::vector<std::string> names;
    while (true) {
        const size_t comma = text.find(',');
        const std::string_view entry = Trim(text.substr(0, comma));
        if (!entry.empty()) {
            if (!IsValidDeviceName(entry)) return Error(ErrorCode::INVALID_PARAMS);
            if (std::find(names.begin(), names.end(), entry) == names.end()) {
                names.emplace_back(entry);
            }
        }
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return names;
}

Result<uint32_t> ChooseGidIndex(const PortInfo& port, std::optional<uint32_t> requested,
                                std::string* why) {
    if (requested) {
        // A port whose table could not be read is taken at its word.
        const bool listed = port.gids.empty() || std::any_of(port.gids.begin(), port.gids.end(),
                                                             [&](const GidEntry& entry) {
                                                                 return entry.index == *requested;
                                                             });
        if (!listed) {
            *why = "MC_GID_INDEX=" + std::to_string(*requested) + " is not a valid GID of the port";
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
        }
        return *requested;
    }
    if (port.link_layer == LinkLayer::kInfiniBand) {
        // LID routing: the GID is only informative, index 0 is the port GUID.
        return port.gids.empty() ? 0u : port.gids.front().index;
    }
    const GidEntry* best = nullptr;
    auto rank = [](const GidEntry& entry) {
        if (entry.type == GidType::kRoceV2 && entry.gid.IsIPv4Mapped()) return 3;
        if (entry.type == GidType::kRoceV2) return 2;
        return 1;
    };
    for (const GidEntry& entry : port.gids) {
        if (entry.gid.IsZero()) continue;
        if (best == nullptr || rank(entry) > rank(*best)) best = &entry;
    }
    if (best == nullptr) {
        *why = "RoCE port without a GID (is an IP address configured on its interface?)";
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    return best->index;
}

Result<std::vector<SelectedDevice>> SelectDevices(const DeviceSelectionInput& input,
                                                  const std::vector<DeviceInfo>& present,
                                                  std::string* why) {
    const auto unavailable = [&](std::string reason) {
        *why = std::move(reason);
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    };
    auto configured = ParseDeviceNameList(input.configured_devices);
    if (!configured) {
        return unavailable("rdma_devices " + Quote(input.configured_devices) +
                           " is not a comma-separated list of RDMA device names");
    }

    std::vector<SelectedDevice> selected;
    if (!configured->empty()) {
        for (const std::string& name : *configured) {
            const DeviceInfo* device = FindDevice(present, name);
            if (device == nullptr) {
                return unavailable("RDMA device " + Quote(name) +
                                   " named in rdma_devices was not found (RDMA devices on this "
                                   "host: " +
                                   JoinNames(present) + "); fix rdma_devices or use protocol=tcp");
            }
            std::string problem;
            auto port = SelectPort(*device, input.gid_index, &problem);
            if (!port) {
                return unavailable("RDMA device " + Quote(name) + " cannot be used: " + problem);
            }
            selected.push_back(*port);
        }
        return selected;
    }

    if (!input.auto_discover) {
        if (present.empty()) {
            return unavailable(
                "RDMA requested but no RDMA device found on this host; set rdma_devices or "
                "MC_MS_AUTO_DISC=1 on a host with RDMA NICs, or use protocol=tcp "
                "(MC_FORCE_TCP=true)");
        }
        return unavailable(
            "RDMA requested but no device was named: set rdma_devices (devices "
            "here: " +
            JoinNames(present) + ") or MC_MS_AUTO_DISC=1, or use protocol=tcp (MC_FORCE_TCP=true)");
    }

    auto filters = ParseDeviceNameList(input.discovery_filters);
    if (!filters) {
        return unavailable("MC_MS_FILTERS " + Quote(input.discovery_filters) +
                           " is not a comma-separated list of RDMA device names");
    }
    std::string skipped;
    for (const DeviceInfo& device : present) {
        if (!filters->empty() &&
            std::find(filters->begin(), filters->end(), device.name) == filters->end()) {
            continue;
        }
        std::string problem;
        auto port = SelectPort(device, input.gid_index, &problem);
        if (!port) {
            skipped += (skipped.empty() ? "" : "; ") + device.name + ": " + problem;
            continue;
        }
        selected.push_back(*port);
    }
    if (selected.empty()) {
        std::string reason = "MC_MS_AUTO_DISC=1 found no usable RDMA device";
        if (present.empty()) {
            reason += " (no RDMA device on this host)";
        } else {
            reason += " (devices here: " + JoinNames(present) + ")";
        }
        if (!filters->empty()) reason += " matching MC_MS_FILTERS=" + input.discovery_filters;
        if (!skipped.empty()) reason += "; skipped " + skipped;
        reason += "; use protocol=tcp (MC_FORCE_TCP=true) without RDMA NICs";
        return unavailable(std::move(reason));
    }
    return selected;
}

}  // namespace mooncake::rdma
