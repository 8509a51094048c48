// What the master reports about itself: the /metrics page (Prometheus text)
// and the one-line summary that --enable_metric_reporting logs every 10 s.
//
// Metric names (all prefixed mooncake_master_):
//   gauges    segments_mounted, capacity_bytes, used_bytes, usage_ratio,
//             object_count, clients_alive, tasks_pending, tasks_processing,
//             tasks_finished, hot_rpc_connections, grpc_streams,
//             http_metadata_keys, http_metadata_bytes, uptime_seconds,
//             build_info{version}
//   counters  put_starts_total, put_ends_total, put_revokes_total, gets_total,
//             removes_total, evictions_total, eviction_rounds_total,
//             zombie_puts_discarded_total, clients_expired_total,
//             rpc_calls_total{method}, rpc_errors_total{code},
//             hot_rpc_connections_accepted_total,
//             hot_rpc_connections_refused_total, hot_rpc_protocol_errors_total,
//             hot_rpc_requests_total
//   HA        ha_role{role}, ha_epoch, ha_leader_info{address}, ha_serving,
//             ha_replication_version, ha_followers, ha_replication_lag_changes,
//             ha_image_age_seconds
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "master/master_service_types.h"
#include "mooncake/error_code.h"

namespace mooncake {

struct MasterMetricsSnapshot {
    std::string version;
    double uptime_seconds = 0;
    MasterStats stats;
    std::vector<std::pair<std::string, uint64_t>> calls_by_method;
    std::vector<std::pair<std::string, uint64_t>> failed_calls_by_method;  // same order
    std::vector<std::pair<ErrorCode, uint64_t>> results_by_error;
    uint64_t total_errors = 0;

    struct HotPath {
        uint64_t connections_open = 0;
        uint64_t connections_accepted = 0;
        uint64_t connections_refused = 0;
        uint64_t protocol_errors = 0;
        uint64_t requests = 0;
    };
    std::optional<HotPath> hot_path;  // absent when disabled
    uint64_t grpc_streams = 0;

    struct Metadata {
        uint64_t keys = 0;
        uint64_t bytes = 0;
    };
    std::optional<Metadata> http_metadata;  // absent when disabled

    // HA and replication (docs/ha.md); absent without HA and snapshots.
    struct Ha {
        std::string role;  // "leader", "standby", "starting", "stopped"
        int64_t epoch = 0;
        std::string leader_address;
        bool serving = false;
        uint64_t replication_version = 0;  // leader: changes; standby: version held
        uint64_t followers = 0;            // leader: followers keeping up
        uint64_t lag_changes = 0;          // leader: changes the slowest follower misses
        double image_age_seconds = -1;     // standby: age of the image held
    };
    std::optional<Ha> ha;
};

// {"role": ..., "epoch": ..., ...} for GET /ha/status.
std::string RenderHaStatusJson(const MasterMetricsSnapshot& snapshot);
// GET /role: "leader" or "standby" (a master without HA leads).
std::string RoleOf(const MasterMetricsSnapshot& snapshot);
// GET /ha_status: "serving" (leading and answering), "standby" or "starting".
std::string HaStateOf(const MasterMetricsSnapshot& snapshot);
// GET /leader: {"present": bool, "leader_address": str|null, "view_version": int|null}.
std::string RenderLeaderJson(const MasterMetricsSnapshot& snapshot);

std::string RenderPrometheusMetrics(const MasterMetricsSnapshot& snapshot);

// The reference's one-line summary (interfaces.md §6.1): "Mem Storage: 64.00 MB
// / 1.00 GB (6.2%) | SSD Storage: ... | Keys: 123 | Clients: 2 | Requests
// (Success/Total): PutStart=10/10, ... | Batch Requests (Success/Total): ...".
std::string RenderSummaryLine(const MasterMetricsSnapshot& snapshot);

}  // namespace mooncake
