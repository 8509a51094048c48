// Which NICs (and which port and GID of each) the RDMA transport uses:
//   - the names in `rdma_devices` (comma-separated), each of which must exist
//     and have an ACTIVE port; or, when that list is empty,
//   - with MC_MS_AUTO_DISC=1, every device with an ACTIVE port, kept only if
//     named in MC_MS_FILTERS when that whitelist is set;
//   - nothing otherwise: RDMA was asked for without saying which NIC.
// Pure logic over what the provider listed, so it is tested without a NIC.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mooncake/result.h"
#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

struct DeviceSelectionInput {
    std::string configured_devices;     // TransferEngineConfig::rdma_devices
    bool auto_discover = false;         // MC_MS_AUTO_DISC
    std::string discovery_filters;      // MC_MS_FILTERS
    std::optional<uint32_t> gid_index;  // MC_GID_INDEX

    // auto_discover and discovery_filters from the environment.
    static DeviceSelectionInput FromEnv(std::string configured_devices,
                                        std::optional<uint32_t> gid_index);
};

struct SelectedDevice {
    std::string name;
    uint8_t port_num = 1;
    uint32_t gid_index = 0;

    friend bool operator==(const SelectedDevice&, const SelectedDevice&) = default;
};

// True for names the kernel could give a device: 1..64 characters of
// [A-Za-z0-9_.-].
bool IsValidDeviceName(std::string_view name);

// "a, b,,c" -> {"a", "b", "c"}: trimmed, empty entries and repeats dropped.
// INVALID_PARAMS when an entry is not a valid device name.
Result<std::vector<std::string>> ParseDeviceNameList(std::string_view text);

// The GID index to use on `port`: `requested` if the port has it; otherwise
// 0 on InfiniBand and, on Ethernet, a RoCE v2 IPv4-mapped GID, then any
// RoCE v2 GID, then any GID. UNAVAILABLE_IN_CURRENT_MODE (and *why) when
// none fits.
Result<uint32_t> ChooseGidIndex(const PortInfo& port, std::optional<uint32_t> requested,
                                std::string* why);

// The devices to open. On failure returns UNAVAILABLE_IN_CURRENT_MODE and
// sets *why to a sentence a user can act on.
Result<std::vector<SelectedDevice>> SelectDevices(const DeviceSelectionInput& input,
                                                  const std::vector<DeviceInfo>& present,
                                                  std::string* why);

}  // namespace mooncake::rdma
