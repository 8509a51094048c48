// RealClient: segments mounted at runtime and the gauges of /metrics.
#include <glog/logging.h>

#include <chrono>
#include <string_view>
#include <thread>

#include "client/client_config_util.h"
#include "client/real_client.h"

namespace mooncake {

Result<std::vector<UUID>> RealClient::MountFileSegment(const std::string& path, uint64_t size,
                                                       uint64_t offset) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    if (path.empty()) return Error(ErrorCode::INVALID_PARAMS);
    auto id = runtime_segments_->MountFile(path, size, offset);
    if (!id.has_value()) return Error(id.error());
    return std::vector<UUID>{*id};
}

Result<std::pair<std::vector<UUID>, uint64_t>> RealClient::AllocateAndMountSegment(uint64_t size) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    constexpr uint64_t kUnit = kRuntimeSegmentGranularity;
    if (size == 0 || size > UINT64_MAX - kUnit) return Error(ErrorCode::INVALID_PARAMS);
    const uint64_t rounded = (size + kUnit - 1) / kUnit * kUnit;
    auto id = runtime_segments_->Allocate(rounded);
    if (!id.has_value()) return Error(id.error());
    return std::pair<std::vector<UUID>, uint64_t>{{*id}, rounded};
}

Status RealClient::UnmountRuntimeSegment(const UUID& segment_id, bool allocated,
                                         uint32_t grace_period_seconds) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    return runtime_segments_->Unmount(segment_id, allocated, grace_period_seconds);
}

std::vector<std::string> RealClient::BatchReplicaClear(const std::vector<std::string>& keys,
                                                       const std::string& segment_name) {
    auto lock = LockOpen();
    if (!lock.owns_lock() || keys.empty()) return {};
    auto cleared = master_->BatchReplicaClear(context_.client_id, keys, segment_name);
    if (!cleared.has_value()) {
        LOG(WARNING) << "batch_replica_clear failed: " << ErrorCodeName(cleared.error());
        return {};
    }
    return std::move(*cleared);
}

std::vector<std::pair<std::string, double>> RealClient::MetricValues() const {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return {};
    const double buffer_capacity = local_buffer_ ? static_cast<double>(local_buffer_->size()) : 0;
    const double buffer_used = local_buffer_ ? static_cast<double>(local_buffer_->used_bytes()) : 0;
    size_t user_buffers = 0;
    {
        MutexLock memory_lock(memory_mutex_);
        user_buffers = user_buffers_.size();
    }
    std::vector<std::pair<std::string, double>> values = {
        {"mooncake_client_segment_bytes", static_cast<double>(segment_.size)},
        {"mooncake_client_runtime_segments",
         static_cast<double>(runtime_segments_->active_count())},
        {"mooncake_client_runtime_segment_bytes",
         static_cast<double>(runtime_segments_->active_bytes())},
        {"mooncake_client_local_buffer_capacity_bytes", buffer_capacity},
        {"mooncake_client_local_buffer_used_bytes", buffer_used},
        {"mooncake_client_registered_buffers", static_cast<double>(user_buffers)},
    };
    if (offload_) {
        const offload::DiskStoreStats disk = offload_->disk_stats();
        const bool uring = std::string_view(offload_->io_backend()) == "io_uring";
        values.insert(values.end(),
                      {
                          {"mooncake_client_offload_objects", double(disk.keys)},
                          {"mooncake_client_offload_bytes", double(disk.bytes)},
                          {"mooncake_client_offload_disk_reads", double(disk.reads)},
                          {"mooncake_client_offload_read_failures", double(disk.read_failures)},
                          {"mooncake_client_offload_evicted", double(disk.evicted)},
                          {"mooncake_client_offload_io_uring", uring ? 1.0 : 0.0},
                      });
    }
    return values;
}

Status RealClient::UnmountLocalDisk(uint32_t grace_period_seconds) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    if (!offload_) return OkStatus();
    MC_RETURN_IF_ERROR(offload_->Unmount());
    // Readers that were handed our endpoint before finish meanwhile.
    if (grace_period_seconds > 0)
        std::this_thread::sleep_for(std::chrono::seconds(grace_period_seconds));
    return OkStatus();
}

uint64_t RealClient::OffloadRpcReadCount() const {
    auto lock = LockOpen();
    return lock.owns_lock() && offload_ ? offload_->rpc_reads() : 0;
}

}  // namespace mooncake
