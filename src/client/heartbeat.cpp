#include "client/heartbeat.h"

#include <glog/logging.h>

#include <algorithm>

namespace mooncake {

Heartbeat::Heartbeat(MasterClient* master, UUID client_id, std::chrono::milliseconds interval,
                     SegmentsFn segments, TasksFn on_tasks)
    : master_(master),
      client_id_(client_id),
      interval_(interval),
      segments_(std::move(segments)),
      on_tasks_(std::move(on_tasks)) {}

Heartbeat::~Heartbeat() { Stop(); }

void Heartbeat::Start() {
    MutexLock lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([this] { Loop(); });
}

void Heartbeat::Stop() {
    {
        MutexLock lock(mutex_);
        stopping_ = true;
    }
    wake_.NotifyAll();
    if (thread_.joinable()) thread_.join();
}

std::chrono::milliseconds Heartbeat::IntervalFor(int64_t client_ttl_sec) {
    constexpr std::chrono::milliseconds kDefault{1000};
    constexpr std::chrono::milliseconds kFloor{100};
    if (client_ttl_sec <= 0) return kDefault;
    // At least four pings per TTL, so one lost ping never expires us.
    const std::chrono::milliseconds quarter_ttl{client_ttl_sec * 1000 / 4};
    return std::clamp(quarter_ttl, kFloor, kDefault);
}

void Heartbeat::Loop() {
    MutexLock lock(mutex_);
    while (!stopping_) {
        const auto deadline = std::chrono::steady_clock::now() + interval_;
        while (!stopping_ && wake_.WaitUntil(lock, deadline)) {
        }
        if (stopping_) break;
        lock.Unlock();
        Beat();
        lock.Lock();
    }
}

void Heartbeat::Beat() {
    auto ping = master_->Ping(client_id_);
    if (!ping.has_value()) {
        // Log the transition, not every failed ping of a long outage.
        if (master_reachable_) {
            LOG(WARNING) << "Master unreachable (" << ErrorCodeName(ping.error()) << "); client "
                         << client_id_.ToString() << " keeps pinging";
            master_reachable_ = false;
        }
        return;
    }
    if (!master_reachable_) {
        LOG(INFO) << "Master reachable again; client " << client_id_.ToString();
        master_reachable_ = true;
    }
    if (ping->status == ClientStatus::NEED_REMOUNT) {
        std::vector<SegmentInfo> segments = segments_();
        Status remounted = master_->ReMountSegments(client_id_, segments);
        if (remounted.has_value()) {
            // A pure client mounts nothing, so the master first hears of it
            // in a ping and answers NEED_REMOUNT: not worth a log line.
            LOG_IF(INFO, !segments.empty())
                << "Master asked client " << client_id_.ToString() << " to re-mount; "
                << segments.size() << " segment(s) mounted again";
        } else {
            // The next ping asks again.
            LOG(WARNING) << "Re-mounting the segments of client " << client_id_.ToString()
                         << " failed: " << ErrorCodeName(remounted.error());
        }
    }
    if (!ping->tasks.empty()) on_tasks_(std::move(ping->tasks));
    if (after_ping_) after_ping_();
}

}  // namespace mooncake
