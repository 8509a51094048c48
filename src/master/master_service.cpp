// MasterService: construction, background thread, maintenance and
// statistics.
#include "master/master_service.h"

#include <glog/logging.h>

#include <cmath>

namespace mooncake {

namespace {

TaskLimits LimitsOf(const MasterConfig& config) {
    TaskLimits limits;
    limits.max_finished = config.max_total_finished_tasks;
    limits.max_pending = config.max_total_pending_tasks;
    limits.max_processing = config.max_total_processing_tasks;
    limits.pending_timeout_ms = config.pending_task_timeout_sec * 1000;
    limits.processing_timeout_ms = config.processing_task_timeout_sec * 1000;
    limits.max_retry_attempts = config.max_retry_attempts;
    return limits;
}

EvictionPolicy PolicyOf(const MasterConfig& config) {
    EvictionPolicy policy;
    policy.allow_evict_soft_pinned = config.allow_evict_soft_pinned_objects;
    policy.soft_pin_ttl_ms = static_cast<int64_t>(config.default_kv_soft_pin_ttl_ms);
    return policy;
}

}  // namespace

// ---- lifecycle ------------------------------------------------------------

MasterService::MasterService(MasterConfig config, std::shared_ptr<Clock> clock)
    : config_(std::move(config)),
      clock_(clock ? std::move(clock) : SystemClock::Instance()),
      lease_ttl_ms_(static_cast<int64_t>(config_.default_kv_lease_ttl_ms)),
      lease_ttl_us_(lease_ttl_ms_ * 1000),
      client_ttl_ms_(config_.client_ttl_sec * 1000),
      put_discard_ms_(config_.put_start_discard_timeout_sec * 1000),
      put_release_ms_(config_.put_start_release_timeout_sec * 1000),
      tasks_(LimitsOf(config_)),
      evictor_(index_, pool_, PolicyOf(config_)),
      offload_(config_.offloading_queue_limit),
      promotions_(config_.promotion_admission_threshold, config_.promotion_queue_limit) {
    if (auto problem = ValidateMasterConfig(config_)) {
        // The binary validates before constructing; a library user who did
        // not gets a loud log line rather than a crash.
        LOG(ERROR) << "MasterService built with an invalid config: " << *problem;
    }
    if (config_.enable_offload && config_.offload_on_evict) {
        evictor_.SetKeepHook(
            [this](const SegmentPool::ReadView& view, std::string_view key, ObjectMeta& meta) {
                eviction_mutex_.AssertHeld();  // the hook runs inside RunEvictionRound
                return KeepForOffload(view, key, meta);
            });
    }
}

MasterService::~MasterService() { StopBackgroundThread(); }

void MasterService::StartBackgroundThread() {
    MutexLock lock(background_mutex_);
    if (background_thread_.joinable()) return;
    background_stop_ = false;
    background_thread_ = std::thread([this] {
        MutexLock lock(background_mutex_);
        while (!background_stop_) {
            const auto deadline = std::chrono::steady_clock::now() +
                                  std::chrono::milliseconds(kMaintenanceIntervalMs);
            while (!background_stop_ && !background_wake_.load() &&
                   background_cv_.WaitUntil(lock, deadline)) {
            }
            if (background_stop_) break;
            background_wake_.store(false);
            lock.Unlock();
            RunMaintenance();
            lock.Lock();
        }
    });
}

void MasterService::StopBackgroundThread() {
    std::thread thread;
    {
        MutexLock lock(background_mutex_);
        background_stop_ = true;
        thread = std::move(background_thread_);
    }
    background_cv_.NotifyAll();
    if (thread.joinable()) thread.join();
}

void MasterService::WakeBackgroundIfAboveWatermark() {
    if (background_wake_.load(std::memory_order_relaxed) || !AboveHighWatermark()) return;
    if (!background_wake_.exchange(true)) {
        MutexLock lock(background_mutex_);
        background_cv_.NotifyOne();
    }
}

// ---- maintenance -------------------------------------------------------------

void MasterService::RunMaintenance() {
    const int64_t now_ms = clock_->NowMs();
    ExpireClients(now_ms);
    LiftDueFences(now_ms);
    ReleaseDeferred(now_ms);
    ReclaimUnfinishedPuts(now_ms);
    ReclaimDueCredits(now_ms);
    ReclaimStaleReplicationOps(now_ms);
    tasks_.ExpireTimeouts(now_ms, clock_->EpochMs());
    EvictAboveWatermark(now_ms);
}

void MasterService::ReleaseDeferred(int64_t now_ms) {
    std::vector<DeferredFree> due = deferred_.TakeDue(now_ms);
    if (due.empty()) return;
    SegmentPool::ReadView view(pool_);
    for (const DeferredFree& entry : due) view.Free(entry.segment, entry.address, entry.size);
    VLOG(1) << "Released " << due.size() << " deferred ranges";
}

void MasterService::ReclaimUnfinishedPuts(int64_t now_ms) {
    uint64_t reclaimed = 0;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        {
            MutexLock lock(shard.mutex);
            if (shard.unfinished == 0) continue;
        }
        SegmentPool::ReadView view(pool_);
        MutexLock lock(shard.mutex);
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            const ObjectMeta& meta = shard.objects.meta(position);
            if (meta.complete() || now_ms - meta.put_start_ms() < put_release_ms_) return;
            LOG(WARNING) << "Reclaiming unfinished put of " << shard.objects.key(position)
                         << " by client " << meta.owner().ToString() << ", started "
                         << (now_ms - meta.put_start_ms()) << " ms ago";
            index_.Touch(shard, position);  // before the frees (change_log.h)
            FreeReplicas(view, meta);
            EraseObject(shard, position);
            ++reclaimed;
        });
    }
    if (reclaimed > 0) LOG(INFO) << "Reclaimed " << reclaimed << " unfinished puts";
}

bool MasterService::AboveHighWatermark() const {
    const uint64_t capacity = pool_.capacity_bytes();
    if (capacity == 0) return false;
    return static_cast<double>(pool_.used_bytes()) >
           config_.eviction_high_watermark_ratio * static_cast<double>(capacity);
}

uint64_t MasterService::RunEvictionRound(uint64_t min_objects, int64_t now_ms) {
    EvictionGoal goal;
    goal.min_objects = min_objects;
    goal.target_used_bytes = static_cast<uint64_t>(std::floor(
        config_.eviction_high_watermark_ratio * static_cast<double>(pool_.capacity_bytes())));
    const uint64_t objects_before = index_.size();
    const uint64_t used_before = pool_.used_bytes();
    offloads_this_round_ = 0;
    const uint64_t evicted = evictor_.RunRound(goal, now_ms);
    eviction_generation_.fetch_add(1);
    Bump(counters_.eviction_rounds);
    Bump(counters_.evictions, evicted);
    if (evicted > 0) {
        LOG(INFO) << "Eviction round: evicted " << evicted << " of " << objects_before
                  << " objects, used bytes " << used_before << " -> " << pool_.used_bytes()
                  << " of " << pool_.capacity_bytes();
    } else {
        LOG_EVERY_T(WARNING, 10) << "Eviction round found nothing evictable among "
                                 << objects_before << " objects (leased, unfinished or pinned);"
                                 << " used bytes " << used_before << " of "
                                 << pool_.capacity_bytes();
    }
    return evicted;
}

void MasterService::EvictAboveWatermark(int64_t now_ms) {
    if (!AboveHighWatermark()) return;
    MutexLock lock(eviction_mutex_);
    if (!AboveHighWatermark()) return;
    const auto min_objects = static_cast<uint64_t>(
        std::ceil(config_.eviction_ratio * static_cast<double>(index_.size())));
    RunEvictionRound(min_objects, now_ms);
}

void MasterService::EvictForAllocation(uint64_t seen_generation) {
    MutexLock lock(eviction_mutex_);
    // Someone evicted while we waited for the lock: try their result first.
    if (eviction_generation_.load() != seen_generation) return;
    const int64_t now_ms = clock_->NowMs();
    const uint64_t events = EvictableEvents();
    if (empty_round_at_ms_ && now_ms - *empty_round_at_ms_ < kEmptyEvictionBackoffMs &&
        events == evictable_events_at_empty_round_) {
        return;
    }
    const auto by_ratio = static_cast<uint64_t>(
        std::ceil(config_.eviction_ratio * static_cast<double>(index_.size())));
    if (RunEvictionRound(std::max<uint64_t>(1, by_ratio), now_ms) == 0) {
        empty_round_at_ms_ = now_ms;
        evictable_events_at_empty_round_ = events;
    } else {
        empty_round_at_ms_.reset();
    }
}

MasterStats MasterService::GetStats() const {
    MasterStats stats;
#define MOONCAKE_COPY_COUNTER(name) stats.name = counters_.name.load(std::memory_order_relaxed);
    MOONCAKE_MASTER_COUNTERS(MOONCAKE_COPY_COUNTER)
#undef MOONCAKE_COPY_COUNTER
    stats.segments_mounted = pool_.mounted_count();
    stats.capacity_bytes = pool_.capacity_bytes();
    stats.used_bytes = pool_.object_bytes();
    stats.object_count = index_.size();
    stats.clients_alive = clients_.size();
    stats.put_credits_outstanding = credits_.size();
    stats.put_credit_reserved_bytes = pool_.reserved_bytes();
    stats.tasks_pending = tasks_.pending_count();
    stats.tasks_processing = tasks_.processing_count();
    stats.tasks_finished = tasks_.finished_total();
    stats.promotions_queued = promotions_.admitted();
    stats.promotions_rejected = promotions_.rejected();
    stats.promotion_queue_length = promotions_.queued();
    stats.local_disks = offload_.Stats();
    return stats;
}

uint64_t MasterService::CountSoftPinnedObjects() {
    uint64_t count = 0;
    for (size_t i = 0; i < ObjectIndex::kShardCount; ++i) {
        ObjectShard& shard = index_.shard(i);
        MutexLock lock(shard.mutex);
        shard.objects.ForEach([&](ObjectTable::Position position) {
            shard.mutex.AssertHeld();
            if (shard.objects.meta(position).soft_pinned()) ++count;
        });
    }
    return count;
}

}  // namespace mooncake
