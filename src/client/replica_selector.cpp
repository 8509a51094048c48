#include "client/replica_selector.h"

#include <algorithm>

#include "common/net_util.h"

namespace mooncake {

namespace {

std::string HostOf(std::string_view endpoint) {
    auto parsed = ParseHostPort(endpoint);
    return parsed.has_value() ? parsed->host : std::string(endpoint);
}

// Replicas still being written, failed or dropped hold no object to read.
bool IsReadable(const ReplicaDescriptor& replica) {
    if (!replica.is_memory_replica()) return false;
    switch (replica.status) {
        case ReplicaStatus::INITIALIZED:
        case ReplicaStatus::PROCESSING:
        case ReplicaStatus::REMOVED:
        case ReplicaStatus::FAILED:
            return false;
        default:
            return true;
    }
}

}  // namespace

ReplicaSelector::ReplicaSelector(std::string own_segment)
    : own_segment_(std::move(own_segment)),
      own_host_(HostOf(own_segment_)),
      own_host_is_loopback_(IsLoopbackHost(own_host_)) {}

int ReplicaSelector::Distance(std::string_view endpoint) const {
    if (endpoint == own_segment_) return 0;
    const std::string host = HostOf(endpoint);
    // "localhost" and "127.0.0.1" name the same machine; a loopback name in
    // a descriptor can only have come from a peer on this host.
    if (host == own_host_ || (own_host_is_loopback_ && IsLoopbackHost(host))) return 1;
    return 2;
}

std::vector<size_t> ReplicaSelector::Order(const std::vector<ReplicaDescriptor>& replicas) const {
    std::vector<std::pair<int, size_t>> ranked;
    ranked.reserve(replicas.size());
    for (size_t i = 0; i < replicas.size(); ++i) {
        if (!IsReadable(replicas[i])) continue;
        ranked.emplace_back(Distance(replicas[i].memory().transport_endpoint), i);
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<size_t> order;
    order.reserve(ranked.size());
    for (const auto& [distance, index] : ranked) order.push_back(index);
    return order;
}

}  // namespace mooncake
