#include "transfer/rdma/device_pairing.h"

#include <algorithm>

namespace mooncake::rdma {

bool CanConnect(const DeviceEndpoint& local, const DeviceEndpoint& remote) {
    if (local.link_layer != remote.link_layer) return false;
    if (local.link_layer == LinkLayer::kEthernet) {
        return !local.gid.IsZero() && !remote.gid.IsZero();
    }
    return local.lid != 0 && remote.lid != 0;
}

std::vector<std::optional<size_t>> PairDevices(const std::vector<DeviceEndpoint>& local,
                                               const std::vector<DeviceEndpoint>& remote) {
    std::vector<std::optional<size_t>> pairing(local.size());
    for (size_t i = 0; i < local.size(); ++i) {
        std::vector<size_t> compatible;
        for (size_t j = 0; j < remote.size(); ++j) {
            if (CanConnect(local[i], remote[j])) compatible.push_back(j);
        }
        if (!compatible.empty()) pairing[i] = compatible[i % compatible.size()];
    }
    return pairing;
}

RemotePath MakeRemotePath(const DeviceEndpoint& local, const DeviceEndpoint& remote,
                          uint32_t qp_num, uint32_t psn) {
    RemotePath path;
    path.qp_num = qp_num;
    path.psn = psn;
    path.lid = remote.lid;
    path.gid = remote.gid;
    path.use_global_route = remote.link_layer == LinkLayer::kEthernet;
    path.path_mtu = std::min(local.mtu, remote.mtu);
    return path;
}

}  // namespace mooncake::rdma
