#include "ha/leader_resolver.h"

#include <glog/logging.h>

#include <algorithm>
#include <thread>

#include "common/env.h"
#include "ha/leader_election.h"

namespace mooncake::ha {

namespace {
constexpr auto kPollPause = std::chrono::milliseconds(100);
constexpr auto kMaxWatch = std::chrono::milliseconds(1000);
}  // namespace

bool IsEtcdMasterAddress(const std::string& address) { return address.starts_with("etcd://"); }

std::string ClientClusterId() {
    std::string id = GetEnvString("MC_STORE_CLUSTER_ID", "");
    return id.empty() ? std::string("mooncake_cluster") : id;
}

LeaderResolver::LeaderResolver(std::unique_ptr<EtcdClient> etcd, std::string key)
    : etcd_(std::move(etcd)), key_(std::move(key)) {}

Result<std::unique_ptr<LeaderResolver>> LeaderResolver::Create(const std::string& etcd_address,
                                                               const std::string& cluster_id) {
    auto etcd = EtcdClient::Create(etcd_address, std::chrono::seconds(2));
    if (!etcd) return Error(etcd.error());
    return std::unique_ptr<LeaderResolver>(
        new LeaderResolver(std::move(*etcd), LeaderKey(cluster_id)));
}

Result<LeaderRecord> LeaderResolver::Resolve() {
    auto record = etcd_->Get(key_);
    if (!record) return Error(record.error());
    if (!record->has_value() || (*record)->value.empty()) {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    return LeaderRecord{(*record)->value, (*record)->create_revision};
}

Result<LeaderRecord> LeaderResolver::WaitForLeader(int64_t known_epoch,
                                                   std::chrono::steady_clock::time_point deadline) {
    ErrorCode last = ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS;
    while (true) {
        auto record = etcd_->Get(key_);
        int64_t watch_from = 0;
        if (record && record->has_value() && (*record)->create_revision != known_epoch) {
            return LeaderRecord{(*record)->value, (*record)->create_revision};
        }
        if (record) {
            last = ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS;
            watch_from = record->has_value() ? (*record)->mod_revision + 1 : 0;
        } else {
            last = record.error();
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return Error(last);
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        if (record && watch_from != 0) {
            // The old record is still there (its lease has not expired yet):
            // wait for it to change rather than polling.
            (void)etcd_->WaitForEvents(key_, watch_from, std::min(left, kMaxWatch));
        } else {
            std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(left, kPollPause));
        }
    }
}

}  // namespace mooncake::ha
