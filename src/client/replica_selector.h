// Which replica a read tries first: one in the reader's own segment (a
// memcpy), then one on the same host (shared memory), then any other (the
// network). Within a class the master's order is kept.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mooncake/types.h"

namespace mooncake {

class ReplicaSelector {
   public:
    // `own_segment` is the reader's "host:port" (its segment name, also when
    // it mounts no segment: then nothing matches it exactly).
    explicit ReplicaSelector(std::string own_segment);

    // Indices into `replicas` of the readable memory replicas, best first.
    // Disk replicas and replicas still being written, failed or removed are
    // left out.
    std::vector<size_t> Order(const std::vector<ReplicaDescriptor>& replicas) const;

    // 0: own segment, 1: same host, 2: elsewhere.
    int Distance(std::string_view endpoint) const;

   private:
    std::string own_segment_;
    std::string own_host_;
    bool own_host_is_loopback_ = false;
};

}  // namespace mooncake
