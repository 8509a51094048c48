// Which local device talks to which device of a peer, and the path
// attributes of such a pair. Two devices can be paired when they share a
// link layer and can address each other: by LID on InfiniBand (one subnet),
// by GID on RoCE.
#pragma once

#include <optional>
#include <vector>

#include "transfer/rdma/endpoint_info.h"
#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

bool CanConnect(const DeviceEndpoint& local, const DeviceEndpoint& remote);

// For local device i, the index of the remote device it uses, or nullopt
// when none is compatible. Local devices are spread over the compatible
// remote ones (i-th local takes the (i mod n)-th compatible remote).
std::vector<std::optional<size_t>> PairDevices(const std::vector<DeviceEndpoint>& local,
                                               const std::vector<DeviceEndpoint>& remote);

// The RTR attributes for reaching queue pair `qp_num` (starting at `psn`) of
// `remote` from `local`. Requires CanConnect(local, remote).
RemotePath MakeRemotePath(const DeviceEndpoint& local, const DeviceEndpoint& remote,
                          uint32_t qp_num, uint32_t psn);

}  // namespace mooncake::rdma
