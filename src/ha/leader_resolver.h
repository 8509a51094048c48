// Client side of HA: finds the master that leads, from the leader record in
// etcd (master address "etcd://h1:2379;h2:2379", interfaces §9.4).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "ha/etcd_client.h"
#include "mooncake/result.h"

namespace mooncake::ha {

// True for "etcd://...".
bool IsEtcdMasterAddress(const std::string& address);

// The cluster whose leader a client follows: MC_STORE_CLUSTER_ID, else
// "mooncake_cluster" (what the master's --cluster_id defaults to).
std::string ClientClusterId();

struct LeaderRecord {
    std::string address;  // "host:rpc_port"
    int64_t epoch = 0;    // create revision of the record
};

class LeaderResolver {
   public:
    // INVALID_PARAMS when `etcd_address` names no valid endpoint.
    static Result<std::unique_ptr<LeaderResolver>> Create(const std::string& etcd_address,
                                                          const std::string& cluster_id);

    // The current record. ETCD_OPERATION_ERROR when etcd cannot be reached,
    // UNAVAILABLE_IN_CURRENT_STATUS when no leader is recorded.
    Result<LeaderRecord> Resolve();
    // Polls (watching the key between reads) until a leader whose epoch is
    // not `known_epoch` is recorded, or the deadline passes (the last error).
    Result<LeaderRecord> WaitForLeader(int64_t known_epoch,
                                       std::chrono::steady_clock::time_point deadline);

   private:
    LeaderResolver(std::unique_ptr<EtcdClient> etcd, std::string key);
    std::unique_ptr<EtcdClient> etcd_;
    const std::string key_;
};

}  // namespace mooncake::ha
