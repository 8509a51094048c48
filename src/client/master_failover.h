// Following the leader of an HA master group (master address
// "etcd://h1:2379;h2:2379", docs/ha.md): which master the calls go to, and
// switching to a new leader when the current one fails or says it is not
// the leader. `Link` is the connection to one master (MasterLink);
// `connect(address)` opens one.
#pragma once

#include <glog/logging.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "ha/leader_resolver.h"
#include "mooncake/result.h"

namespace mooncake {

template <typename Link>
class LeaderFollower {
   public:
    using Connect = std::function<Result<std::shared_ptr<Link>>(const std::string& address)>;

    LeaderFollower(std::unique_ptr<ha::LeaderResolver> resolver, Connect connect)
        : resolver_(std::move(resolver)), connect_(std::move(connect)) {}

    // Finds the leader and connects to it, within `deadline`.
    Status Init(std::chrono::steady_clock::time_point deadline) {
        while (true) {
            auto record = resolver_->WaitForLeader(0, deadline);
            if (!record) {
                // No leader recorded is the caller's to know (the reference's
                // UNAVAILABLE_IN_CURRENT_STATUS); etcd unreachable is RPC_FAIL.
                if (record.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS) {
                    return Error(record.error());
                }
                return Error(ErrorCode::RPC_FAIL, record.error().message());
            }
            auto link = connect_(record->address);
            if (link) {
                MutexLock lock(mutex_);
                current_ = std::move(*link);
                epoch_ = record->epoch;
                return OkStatus();
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return Error(link.error().WithContext("leader " + record->address));
            }
            std::this_thread::sleep_for(kConnectPause);
        }
    }

    std::shared_ptr<Link> Current() const {
        MutexLock lock(mutex_);
        return current_;
    }

    // After a call on `used` failed: waits (at most about a second, and not
    // past `deadline`) for a leader other than the one `used` talks to and
    // connects to it. Returns the link to use next: a new one, or `used`
    // when the record did not change (the leader may still be alive).
    Result<std::shared_ptr<Link>> SwitchFrom(const std::shared_ptr<Link>& used,
                                             std::chrono::steady_clock::time_point deadline) {
        MutexLock switching(switch_mutex_);
        int64_t known_epoch;
        {
            MutexLock lock(mutex_);
            if (current_ != used) return current_;  // another caller switched already
            known_epoch = epoch_;
        }
        const auto wait_until =
            std::min(deadline, std::chrono::steady_clock::now() + kWaitPerRound);
        auto record = resolver_->WaitForLeader(known_epoch, wait_until);
        if (!record) return used;
        auto link = connect_(record->address);
        if (!link) {
            LOG(WARNING) << "master leader " << record->address << " (epoch " << record->epoch
                         << "): " << link.error();
            std::this_thread::sleep_for(kConnectPause);
            return used;
        }
        LOG(INFO) << "master leader is now " << record->address << " (epoch " << record->epoch
                  << ", was " << known_epoch << ")";
        MutexLock lock(mutex_);
        current_ = std::move(*link);
        epoch_ = record->epoch;
        return current_;
    }

    int64_t epoch() const {
        MutexLock lock(mutex_);
        return epoch_;
    }

   private:
    static constexpr auto kWaitPerRound = std::chrono::milliseconds(1000);
    static constexpr auto kConnectPause = std::chrono::milliseconds(100);

    std::unique_ptr<ha::LeaderResolver> resolver_;
    const Connect connect_;
    Mutex switch_mutex_;  // one switch at a time
    mutable Mutex mutex_;
    std::shared_ptr<Link> current_ MC_GUARDED_BY(mutex_);
    int64_t epoch_ MC_GUARDED_BY(mutex_) = 0;
};

}  // namespace mooncake
