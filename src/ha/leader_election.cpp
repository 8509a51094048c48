#include "ha/leader_election.h"

#include <glog/logging.h>

#include <algorithm>

namespace mooncake::ha {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kErrorPause = std::chrono::milliseconds(500);
// A standby re-reads the record at least this often even without events.
constexpr auto kStandbyWatch = std::chrono::seconds(2);

int64_t Nanos(SteadyClock::time_point t) { return t.time_since_epoch().count(); }

}  // namespace

std::string LeaderKey(const std::string& cluster_id) {
    std::string id = cluster_id;
    while (!id.empty() && id.back() == '/') id.pop_back();
    return "mooncake-store/" + id + "/master_view";
}

const char* HaRoleName(HaRole role) {
    switch (role) {
        case HaRole::kStarting:
            return "starting";
        case HaRole::kStandby:
            return "standby";
        case HaRole::kLeader:
            return "leader";
        case HaRole::kStopped:
            return "stopped";
    }
    return "unknown";
}

LeaderElection::LeaderElection(LeaderElectionOptions options, Callbacks callbacks)
    : options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      key_(LeaderKey(options_.cluster_id)) {}

LeaderElection::~LeaderElection() { Stop(); }

Status LeaderElection::Start() {
    if (options_.advertised_address.empty() || options_.lease_ttl_seconds <= 0) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto etcd = EtcdClient::Create(options_.etcd_endpoints,
                                   std::chrono::milliseconds(options_.lease_ttl_seconds * 300));
    if (!etcd) return Error(etcd.error());
    etcd_ = std::move(*etcd);
    thread_ = std::thread([this] { Run(); });
    return OkStatus();
}

void LeaderElection::Stop() {
    {
        MutexLock lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    wake_.NotifyAll();
    if (thread_.joinable()) thread_.join();
    MutexLock lock(status_mutex_);
    status_.role = HaRole::kStopped;
    status_.serving = false;
}

bool LeaderElection::Serving() const {
    const int64_t until = serve_until_ns_.load(std::memory_order_acquire);
    return until != 0 && Nanos(SteadyClock::now()) < until;
}

HaStatus LeaderElection::GetStatus() const {
    MutexLock lock(status_mutex_);
    HaStatus status = status_;
    status.serving = Serving();
    if (etcd_) status.etcd_endpoint = etcd_->CurrentEndpoint();
    return status;
}

bool LeaderElection::SleepFor(std::chrono::milliseconds duration) {
    MutexLock lock(mutex_);
    const auto deadline = SteadyClock::now() + duration;
    while (!stopping_ && wake_.WaitUntil(lock, deadline)) {
    }
    return !stopping_;
}

void LeaderElection::SetFence(SteadyClock::time_point until) {
    serve_until_ns_.store(Nanos(until - options_.fencing_margin), std::memory_order_release);
}

void LeaderElection::Run() {
    {
        MutexLock lock(status_mutex_);
        status_.role = HaRole::kStandby;
    }
    while (SleepFor(std::chrono::milliseconds(0))) {
        if (!WaitAsStandby()) continue;
        if (!Campaign()) continue;
        Lead();
        if (!SleepFor(std::chrono::milliseconds(0))) break;
        // Leadership ended without Stop(): the state of this master may be
        // behind the successor's, so it must not lead again.
        if (callbacks_.on_lost) callbacks_.on_lost();
        break;
    }
    Resign();
}

bool LeaderElection::WaitAsStandby() {
    auto record = etcd_->Get(key_);
    if (!record) {
        SleepFor(kErrorPause);
        return false;
    }
    if (!record->has_value()) return true;
    {
        MutexLock lock(status_mutex_);
        if (status_.epoch != (*record)->create_revision) {
            LOG(INFO) << "HA: standby; leader is " << (*record)->value << " (epoch "
                      << (*record)->create_revision << ")";
        }
        status_.role = HaRole::kStandby;
        status_.leader_address = (*record)->value;
        status_.epoch = (*record)->create_revision;
    }
    auto events = etcd_->WaitForEvents(key_, (*record)->mod_revision + 1, kStandbyWatch);
    if (!events) {
        SleepFor(kErrorPause);
        return false;
    }
    for (const EtcdEvent& event : *events) {
        if (event.type == EtcdEvent::Type::kDelete) {
            LOG(INFO) << "HA: leader record deleted; campaigning";
            return true;
        }
    }
    return false;
}

bool LeaderElection::Campaign() {
    const auto granted_from = SteadyClock::now();
    auto lease = etcd_->LeaseGrant(options_.lease_ttl_seconds);
    if (!lease) {
        SleepFor(kErrorPause);
        return false;
    }
    EtcdKeyValue current;
    auto created = etcd_->CreateIfAbsent(key_, options_.advertised_address, *lease, &current);
    if (!created || !*created) {
        (void)etcd_->LeaseRevoke(*lease);
        return false;
    }
    lease_ = *lease;
    int64_t previous_epoch = 0;
    {
        MutexLock lock(status_mutex_);
        previous_epoch = status_.epoch;
        status_.role = HaRole::kLeader;
        status_.leader_address = options_.advertised_address;
        status_.epoch = current.create_revision;
    }
    LOG(INFO) << "HA: elected leader (epoch " << current.create_revision << ", lease " << std::hex
              << lease_ << std::dec << ")";
    if (callbacks_.on_elected) callbacks_.on_elected(current.create_revision, previous_epoch);
    SetFence(granted_from + std::chrono::seconds(options_.lease_ttl_seconds));
    return true;
}

void LeaderElection::Lead() {
    constexpr std::chrono::milliseconds kKeepAliveRetry{250};
    const std::chrono::milliseconds interval =
        options_.keepalive_interval.count() > 0
            ? options_.keepalive_interval
            : std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3);
    bool fenced_logged = false;
    bool renewed = true;
    while (SleepFor(renewed ? interval : std::min(interval, kKeepAliveRetry))) {
        const auto sent_at = SteadyClock::now();
        auto ttl = etcd_->LeaseKeepAlive(lease_);
        renewed = ttl && *ttl > 0;
        if (renewed) {
            SetFence(sent_at + std::chrono::seconds(*ttl));
            if (fenced_logged) LOG(INFO) << "HA: lease renewed again; serving";
            fenced_logged = false;
            continue;
        }
        if (ttl) {
            LOG(ERROR) << "HA: the lease expired; no longer the leader";
            break;
        }
        if (!Serving() && !fenced_logged) {
            LOG(ERROR) << "HA: cannot renew the lease; stopped serving at the lease deadline";
            fenced_logged = true;
        }
    }
    serve_until_ns_.store(0, std::memory_order_release);
}

namespace {
std::string OutOfSyncKey(const std::string& cluster_id, const std::string& follower) {
    std::string id = cluster_id;
    while (!id.empty() && id.back() == '/') id.pop_back();
    return "mooncake-store/" + id + "/out_of_sync/" + follower;
}
}  // namespace

bool LeaderElection::MarkFollower(const std::string& follower, bool in_sync) {
    const std::string key = OutOfSyncKey(options_.cluster_id, follower);
    if (in_sync) return etcd_->Delete(key).has_value();
    int64_t epoch;
    {
        MutexLock lock(status_mutex_);
        epoch = status_.epoch;
    }
    return etcd_->Put(key, std::to_string(epoch)).has_value();
}

bool LeaderElection::FollowerOutOfSync(const std::string& follower, int64_t epoch) {
    auto mark = etcd_->Get(OutOfSyncKey(options_.cluster_id, follower));
    if (!mark) return true;
    return mark->has_value() && (*mark)->value == std::to_string(epoch);
}

void LeaderElection::Resign() {
    serve_until_ns_.store(0, std::memory_order_release);
    int64_t epoch = 0;
    {
        MutexLock lock(status_mutex_);
        if (status_.role == HaRole::kLeader) epoch = status_.epoch;
        status_.role = HaRole::kStopped;
    }
    if (lease_ == 0) return;
    if (epoch != 0) (void)etcd_->DeleteIfCreatedAt(key_, epoch);
    (void)etcd_->LeaseRevoke(lease_);
    lease_ = 0;
    LOG(INFO) << "HA: resigned (record deleted, lease revoked)";
}

}  // namespace mooncake::ha
