#include "master/master_metrics.h"

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <string_view>

#include "master/prometheus_text.h"

namespace mooncake {

namespace {

double UsageRatio(const MasterStats& stats) {
    if (stats.capacity_bytes == 0) return 0.0;
    return static_cast<double>(stats.used_bytes) / static_cast<double>(stats.capacity_bytes);
}

void RenderHa(const MasterMetricsSnapshot::Ha& ha, PrometheusText* page) {
    page->LabeledGauge("mooncake_master_ha_role", "1 for the role this master has now.", "role",
                       {{ha.role, 1.0}});
    page->Gauge("mooncake_master_ha_epoch",
                "Leader epoch (create revision of the etcd leader record; 0 = none).",
                static_cast<double>(ha.epoch));
    page->LabeledGauge("mooncake_master_ha_leader_info", "The leader this master knows of.",
                       "address", {{ha.leader_address, 1.0}});
    page->Gauge("mooncake_master_ha_serving", "1 while this master serves as leader.",
                ha.serving ? 1.0 : 0.0);
    page->Gauge("mooncake_master_ha_replication_version",
                "Leader: metadata changes so far; standby: version of the image held.",
                static_cast<double>(ha.replication_version));
    page->Gauge("mooncake_master_ha_followers", "Leader: standbys and snapshot writers keeping up.",
                static_cast<double>(ha.followers));
    page->Gauge("mooncake_master_ha_replication_lag_changes",
                "Leader: changes the slowest follower has not confirmed.",
                static_cast<double>(ha.lag_changes));
    page->Gauge("mooncake_master_ha_image_age_seconds",
                "Standby: seconds since the image held was confirmed current (-1 = none).",
                ha.image_age_seconds);
}

std::string JsonString(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out + "\"";
}

// SSD offload: per local disk (labelled by its offload endpoint) and totals.
void RenderOffload(const MasterStats& s, PrometheusText* page) {
    std::vector<std::pair<std::string, double>> objects, bytes, queued;
    for (const LocalDiskStats& disk : s.local_disks) {
        const std::string label = disk.endpoint.empty() ? disk.client.ToString() : disk.endpoint;
        objects.emplace_back(label, static_cast<double>(disk.objects));
        bytes.emplace_back(label, static_cast<double>(disk.bytes));
        queued.emplace_back(label, static_cast<double>(disk.queued));
    }
    page->Gauge("mooncake_master_local_disks_mounted", "Clients with a local disk (SSD offload).",
                static_cast<double>(s.local_disks.size()));
    page->LabeledGauge("mooncake_master_local_disk_objects",
                       "LOCAL_DISK replicas per local disk (offload endpoint).", "segment",
                       objects);
    page->LabeledGauge("mooncake_master_local_disk_bytes",
                       "Bytes of LOCAL_DISK replicas per local disk (offload endpoint).", "segment",
                       bytes);
    page->LabeledGauge("mooncake_master_offload_queue_length",
                       "Keys waiting to be offloaded per local disk.", "segment", queued);
    page->Counter("mooncake_master_offload_queued_total", "Keys queued for offload.",
                  s.offload_queued);
    page->Counter("mooncake_master_offload_queue_rejected_total",
                  "Keys not queued: the offload queue was full.", s.offload_queue_rejected);
    page->Counter("mooncake_master_offloaded_total", "LOCAL_DISK replicas reported written.",
                  s.offloaded);
    page->Counter("mooncake_master_disk_reads_total",
                  "Reads answered with disk replicas only (no memory replica).", s.disk_gets);
    page->Counter("mooncake_master_promotions_queued_total",
                  "Disk-only objects queued to return to memory (--promotion_on_hit).",
                  s.promotions_queued);
    page->Counter("mooncake_master_promotions_rejected_total",
                  "Promotions not queued: the promotion queue was full.", s.promotions_rejected);
    page->Counter("mooncake_master_promotions_handed_out_total",
                  "Promotions handed to the disk-holding clients by their offload heartbeats.",
                  s.promotions_handed_out);
    page->Gauge("mooncake_master_promotion_queue_length",
                "Promotions waiting for their client's heartbeat.", s.promotion_queue_length);
}

}  // namespace

std::string RenderHaStatusJson(const MasterMetricsSnapshot& snapshot) {
    if (!snapshot.ha) return "{\"role\": \"leader\", \"enable_ha\": false}\n";
    const MasterMetricsSnapshot::Ha& ha = *snapshot.ha;
    char numbers[256];
    std::snprintf(numbers, sizeof(numbers),
                  "\"epoch\": %lld, \"serving\": %s, \"replication_version\": %llu, "
                  "\"followers\": %llu, \"replication_lag_changes\": %llu, "
                  "\"image_age_seconds\": %.3f",
                  static_cast<long long>(ha.epoch), ha.serving ? "true" : "false",
                  static_cast<unsigned long long>(ha.replication_version),
                  static_cast<unsigned long long>(ha.followers),
                  static_cast<unsigned long long>(ha.lag_changes), ha.image_age_seconds);
    return "{\"role\": " + JsonString(ha.role) +
           ", \"leader_address\": " + JsonString(ha.leader_address) + ", " + numbers + "}\n";
}

std::string RoleOf(const MasterMetricsSnapshot& snapshot) {
    if (!snapshot.ha) return "leader";
    return snapshot.ha->role == "leader" ? "leader" : "standby";
}

std::string HaStateOf(const MasterMetricsSnapshot& snapshot) {
    if (!snapshot.ha) return "serving";
    const MasterMetricsSnapshot::Ha& ha = *snapshot.ha;
    if (ha.role == "leader") return ha.serving ? "serving" : "leader_warmup";
    if (ha.role == "standby") return "standby";
    return "starting";
}

std::string RenderLeaderJson(const MasterMetricsSnapshot& snapshot) {
    // Without HA this master is the leader; its address is not known here
    // (clients were given it), so only its presence is reported.
    if (!snapshot.ha)
        return "{\"present\": true, \"leader_address\": null, \"view_version\": null}\n";
    const MasterMetricsSnapshot::Ha& ha = *snapshot.ha;
    if (ha.leader_address.empty()) {
        return "{\"present\": false, \"leader_address\": null, \"view_version\": null}\n";
    }
    return "{\"present\": true, \"leader_address\": " + JsonString(ha.leader_address) +
           ", \"view_version\": " + std::to_string(ha.epoch) + "}\n";
}

namespace {

// Segments, objects, operation counters and tasks.
void RenderStore(const MasterStats& s, PrometheusText* page) {
    page->Gauge("mooncake_master_segments_mounted", "Segments currently mounted.",
                s.segments_mounted);
    page->Gauge("mooncake_master_capacity_bytes", "Total bytes of all mounted segments.",
                s.capacity_bytes);
    page->Gauge("mooncake_master_used_bytes", "Bytes allocated to replicas in mounted segments.",
                s.used_bytes);
    page->Gauge("mooncake_master_usage_ratio", "used_bytes / capacity_bytes (0 when empty).",
                UsageRatio(s));
    page->Gauge("mooncake_master_object_count", "Objects in the index (complete or being put).",
                s.object_count);
    page->Gauge("mooncake_master_clients_alive", "Clients that pinged within client_ttl.",
                s.clients_alive);

    page->Counter("mooncake_master_put_starts_total", "Successful PutStart calls (per key).",
                  s.put_starts);
    page->Counter("mooncake_master_put_ends_total", "Successful PutEnd calls (per key).",
                  s.put_ends);
    page->Counter("mooncake_master_put_revokes_total", "Successful PutRevoke calls (per key).",
                  s.put_revokes);
    page->Counter("mooncake_master_put_credits_granted_total",
                  "Put credits granted (space reserved ahead of small puts).",
                  s.put_credits_granted);
    page->Counter("mooncake_master_put_credit_commits_total",
                  "Puts published from a credit in one call (also counted as starts and ends).",
                  s.put_credit_commits);
    page->Gauge("mooncake_master_put_credits_outstanding", "Put credits held by clients now.",
                s.put_credits_outstanding);
    page->Gauge("mooncake_master_put_credit_reserved_bytes",
                "Bytes reserved by put credits (included in used_bytes).",
                s.put_credit_reserved_bytes);
    page->Counter("mooncake_master_gets_total", "Get-replica-list calls that found the object.",
                  s.gets);
    page->Counter("mooncake_master_removes_total", "Objects removed by remove calls.", s.removes);
    page->Counter("mooncake_master_evictions_total", "Objects evicted.", s.evictions);
    page->Counter("mooncake_master_eviction_rounds_total", "Eviction rounds run.",
                  s.eviction_rounds);
    page->Counter("mooncake_master_zombie_puts_discarded_total",
                  "Unfinished puts pre-empted or reclaimed after their timeout.",
                  s.zombie_puts_discarded);
    page->Counter("mooncake_master_clients_expired_total",
                  "Clients declared dead after client_ttl without a ping.", s.clients_expired);

    page->Gauge("mooncake_master_tasks_pending", "Copy/move tasks waiting for a client.",
                s.tasks_pending);
    page->Gauge("mooncake_master_tasks_processing", "Copy/move tasks assigned to a client.",
                s.tasks_processing);
    page->Gauge("mooncake_master_tasks_finished", "Finished copy/move tasks kept in the table.",
                s.tasks_finished);
}

// Requests per method and results per error code.
void RenderCalls(const MasterMetricsSnapshot& snapshot, PrometheusText* page) {
    std::vector<std::pair<std::string, double>> calls;
    calls.reserve(snapshot.calls_by_method.size());
    for (const auto& [method, count] : snapshot.calls_by_method) {
        calls.emplace_back(method, static_cast<double>(count));
    }
    page->LabeledCounter("mooncake_master_rpc_calls_total",
                         "Requests served per method (gRPC and hot path).", "method", calls);

    std::vector<std::pair<std::string, double>> errors;
    errors.reserve(snapshot.results_by_error.size());
    for (const auto& [code, count] : snapshot.results_by_error) {
        errors.emplace_back(std::string(ErrorCodeName(code)), static_cast<double>(count));
    }
    page->LabeledCounter("mooncake_master_rpc_errors_total",
                         "Results returned with an error code (one per key for batch calls).",
                         "code", errors);
}

void RenderHotPath(const MasterMetricsSnapshot::HotPath& hot, PrometheusText* page) {
    page->Gauge("mooncake_master_hot_rpc_connections", "Open hot-path connections.",
                hot.connections_open);
    page->Counter("mooncake_master_hot_rpc_connections_accepted_total",
                  "Hot-path connections accepted.", hot.connections_accepted);
    page->Counter("mooncake_master_hot_rpc_connections_refused_total",
                  "Hot-path connections refused over the connection cap.", hot.connections_refused);
    page->Counter("mooncake_master_hot_rpc_protocol_errors_total",
                  "Hot-path connections closed for a bad handshake or frame.", hot.protocol_errors);
    page->Counter("mooncake_master_hot_rpc_requests_total", "Requests served on the hot path.",
                  hot.requests);
}

}  // namespace

std::string RenderPrometheusMetrics(const MasterMetricsSnapshot& snapshot) {
    PrometheusText page;
    page.LabeledGauge("mooncake_master_build_info", "Version of the running mooncake_master.",
                      "version", {{snapshot.version, 1.0}});
    page.Gauge("mooncake_master_uptime_seconds", "Seconds since the master started.",
               snapshot.uptime_seconds);
    RenderStore(snapshot.stats, &page);
    RenderOffload(snapshot.stats, &page);
    RenderCalls(snapshot, &page);
    if (snapshot.hot_path) RenderHotPath(*snapshot.hot_path, &page);
    page.Gauge("mooncake_master_grpc_streams", "Open gRPC Stream calls.", snapshot.grpc_streams);
    if (snapshot.ha) RenderHa(*snapshot.ha, &page);
    if (snapshot.http_metadata) {
        page.Gauge("mooncake_master_http_metadata_keys", "Keys in the HTTP metadata store.",
                   snapshot.http_metadata->keys);
        page.Gauge("mooncake_master_http_metadata_bytes",
                   "Bytes of keys and values in the HTTP metadata store.",
                   snapshot.http_metadata->bytes);
    }
    return page.text();
}

namespace {

// "1.50 GB": the reference's rendering (binary multiples, two decimals).
std::string SummaryBytes(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    double value = static_cast<double>(bytes);
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
        value /= 1024.0;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.2f %s", value, kUnits[unit]);
    return buffer;
}

// "PutStart=9/10, PutEnd=..." for the given (label, method) pairs.
std::string SuccessOverTotal(
    const MasterMetricsSnapshot& snapshot,
    std::initializer_list<std::pair<const char*, std::string_view>> methods) {
    std::string out;
    for (const auto& [label, method] : methods) {
        uint64_t total = 0, failed = 0;
        for (const auto& [name, count] : snapshot.calls_by_method)
            if (name == method) total = count;
        for (const auto& [name, count] : snapshot.failed_calls_by_method)
            if (name == method) failed = count;
        if (!out.empty()) out += ", ";
        out += std::string(label) + "=" + std::to_string(total - std::min(total, failed)) + "/" +
               std::to_string(total);
    }
    return out;
}

}  // namespace

std::string RenderSummaryLine(const MasterMetricsSnapshot& snapshot) {
    const MasterStats& s = snapshot.stats;
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.1f%%", 100.0 * UsageRatio(s));
    uint64_t disk_bytes = 0, disk_capacity = 0;
    for (const LocalDiskStats& disk : s.local_disks) {
        disk_bytes += disk.bytes;
        disk_capacity += disk.capacity_bytes;
    }
    std::string line = "Mem Storage: " + SummaryBytes(s.used_bytes) + " / " +
                       SummaryBytes(s.capacity_bytes) + " (" + ratio + ")";
    // The capacity is what the clients' disk tiers may hold, as they said
    // when they mounted them.
    line += " | SSD Storage: " + SummaryBytes(disk_bytes) + " / " + SummaryBytes(disk_capacity);
    line += " | Keys: " + std::to_string(s.object_count) +
            " (soft-pinned: " + std::to_string(s.soft_pinned_objects) + ")";
    line += " | Clients: " + std::to_string(s.clients_alive);
    line += " | Requests (Success/Total): " +
            SuccessOverTotal(snapshot, {{"PutStart", "put_start"},
                                        {"PutEnd", "put_end"},
                                        {"PutRevoke", "put_revoke"},
                                        {"Get", "get_replica_list"},
                                        {"Exist", "exist_key"},
                                        {"Del", "remove"},
                                        {"DelAll", "remove_all"},
                                        {"Ping", "ping"},
                                        {"CopyStart", "copy_start"},
                                        {"CopyEnd", "copy_end"},
                                        {"CopyRevoke", "copy_revoke"},
                                        {"MoveStart", "move_start"},
                                        {"MoveEnd", "move_end"},
                                        {"MoveRevoke", "move_revoke"}});
    line += " | Batch Requests (Success/Total): " +
            SuccessOverTotal(snapshot, {{"PutStart", "batch_put_start"},
                                        {"PutEnd", "batch_put_end"},
                                        {"PutRevoke", "batch_put_revoke"},
                                        {"Get", "batch_get_replica_list"},
                                        {"Exist", "batch_exist_key"}});
    return line;
}

}  // namespace mooncake
