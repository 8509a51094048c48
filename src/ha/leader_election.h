// Leader election of mooncake_master on etcd (docs/ha.md).
//
// The leader record is the key mooncake-store/<cluster_id>/master_view whose
// value is the leader's "host:rpc_port"; it is created in a transaction only
// if absent and bound to a lease (5 s by default) that the leader keeps
// alive every second. The key's create revision is the leader epoch. A
// standby watches the key and campaigns when it disappears.
//
// Fencing: the leader serves only until its lease deadline as the leader
// last saw it confirmed (time the keep-alive was sent + the TTL etcd
// granted, less a margin). etcd can only delete the key after that moment,
// so an old leader has stopped answering before any successor is elected,
// even when it is cut off from etcd and cannot learn that it lost.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "ha/etcd_client.h"
#include "mooncake/result.h"

namespace mooncake::ha {

// "mooncake-store/<cluster_id>/master_view" (a trailing '/' of the id dropped).
std::string LeaderKey(const std::string& cluster_id);

enum class HaRole { kStarting, kStandby, kLeader, kStopped };
const char* HaRoleName(HaRole role);

struct LeaderElectionOptions {
    std::string etcd_endpoints;  // "h1:2379;h2:2379"
    std::string cluster_id = "mooncake_cluster";
    std::string advertised_address;  // "host:rpc_port" written into the record
    int64_t lease_ttl_seconds = 5;
    // 0: a third of the TTL, as etcd's own client does. Rarer keep-alives
    // bring a killed leader's lease end (hence the failover) closer to the
    // kill; a failed one is retried every kKeepAliveRetry.
    std::chrono::milliseconds keepalive_interval{0};
    // Stop serving this long before the lease could expire at the earliest.
    std::chrono::milliseconds fencing_margin{500};
};

struct HaStatus {
    HaRole role = HaRole::kStarting;
    int64_t epoch = 0;           // create revision of the leader key (0 = none known)
    std::string leader_address;  // "" when no leader is known
    bool serving = false;        // leader within its lease deadline
    std::string etcd_endpoint;   // the etcd member in use
};

class LeaderElection {
   public:
    struct Callbacks {
        // On the election thread, before this master serves: its epoch, and
        // the epoch of the leader it saw last (0 = none), whose state it
        // should take over.
        std::function<void(int64_t epoch, int64_t previous_epoch)> on_elected;
        // The lease is gone for good (expired or revoked by someone else):
        // this master's state may be stale, it must not serve again.
        std::function<void()> on_lost;
    };

    LeaderElection(LeaderElectionOptions options, Callbacks callbacks);
    ~LeaderElection();
    LeaderElection(const LeaderElection&) = delete;
    LeaderElection& operator=(const LeaderElection&) = delete;

    // Connects (lazily) and starts campaigning on a thread of its own.
    // INVALID_PARAMS for bad endpoints or an empty advertised address.
    Status Start();
    // Stops the thread; a leader fences itself, deletes its record and
    // revokes its lease so that a standby takes over at once. Idempotent.
    void Stop();

    // True while this master is the leader and within its lease deadline:
    // what every request checks before it is served. Lock-free.
    bool Serving() const;

    // Replication bookkeeping in etcd (docs/ha.md): the leader marks a
    // standby whose image misses acknowledged changes, before it answers
    // without it; a standby elected with such a mark of the previous epoch
    // must not import its image. True when etcd confirmed.
    bool MarkFollower(const std::string& follower, bool in_sync);
    // Whether `follower` was marked out of sync by the leader of `epoch`.
    // True also when etcd cannot tell (fail safe).
    bool FollowerOutOfSync(const std::string& follower, int64_t epoch);
    HaStatus GetStatus() const;

   private:
    void Run();
    // One standby round: read the record, wait for a change. True when the
    // key is absent and a campaign should follow.
    bool WaitAsStandby();
    // Tries to become the leader; returns false if someone else won.
    bool Campaign();
    // Keeps the lease alive while leading; returns when leadership ended.
    void Lead();
    void Resign();
    bool SleepFor(std::chrono::milliseconds duration);  // false when stopping
    void SetFence(std::chrono::steady_clock::time_point until);

    const LeaderElectionOptions options_;
    const Callbacks callbacks_;
    const std::string key_;
    std::unique_ptr<EtcdClient> etcd_;
    std::thread thread_;

    Mutex mutex_;
    CondVar wake_;
    bool stopping_ MC_GUARDED_BY(mutex_) = false;

    mutable Mutex status_mutex_;
    HaStatus status_ MC_GUARDED_BY(status_mutex_);
    int64_t lease_ = 0;
    std::atomic<int64_t> serve_until_ns_{0};  // steady clock; 0 = not serving
};

}  // namespace mooncake::ha
