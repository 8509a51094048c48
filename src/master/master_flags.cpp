#include "master/master_flags.h"

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/env.h"
#include "common/net_util.h"

// ---- flags (docs/compat "mooncake_master flags") --------------------------------

DEFINE_int32(port, 50051, "gRPC listen port");
DEFINE_string(rpc_address, "0.0.0.0",
              "address the gRPC service, the hot path and /metrics bind to");
DEFINE_int32(rpc_port, 0, "if non-zero, overrides --port");
DEFINE_int32(max_threads, 4, "gRPC worker threads");
DEFINE_int32(rpc_thread_num, 0, "gRPC worker threads; wins over --max_threads when > 0");
DEFINE_bool(enable_http_metadata_server, false, "start the embedded HTTP metadata server");
DEFINE_string(http_metadata_server_host, "0.0.0.0", "bind address of the HTTP metadata server");
DEFINE_int32(http_metadata_server_port, 8080, "port of the HTTP metadata server");
DEFINE_bool(enable_metric_reporting, true, "log a one-line metrics summary every 10 s");
DEFINE_int32(metrics_port, 9003, "HTTP port serving /metrics and the admin routes");
DEFINE_string(metrics_host, "", "bind address of --metrics_port; empty: --rpc_address");
DEFINE_string(rpc_interface, "",
              "network interface whose IPv4 address becomes --rpc_address (e.g. eth0)");
DEFINE_int64(default_kv_lease_ttl, 5000,
             "lease in ms granted by a successful exist / get-replica-list");
DEFINE_int64(default_kv_soft_pin_ttl, 1800000, "ms after which an unaccessed soft pin lapses");
DEFINE_int64(max_kv_soft_pin_ttl, 86400000,
             "longest soft_pin_ttl_ms a put may ask for (clients also refuse more than 86400000)");
DEFINE_bool(allow_evict_soft_pinned_objects, true,
            "whether eviction may take soft-pinned objects as a last resort");
DEFINE_double(eviction_ratio, 0.05, "share of objects evicted per eviction round, in [0, 1]");
DEFINE_double(eviction_high_watermark_ratio, 0.95, "usage ratio that triggers eviction, in (0, 1]");
DEFINE_int64(client_ttl, 10, "seconds without a ping before a client is declared dead");
DEFINE_int64(put_start_discard_timeout_sec, 30,
             "an unfinished PutStart may be pre-empted by a new one after this many seconds");
DEFINE_int64(put_start_release_timeout_sec, 600,
             "the space of an unfinished PutStart may be reclaimed after this many seconds");
DEFINE_bool(enable_put_credits, true,
            "grant clients space ahead of small puts, so that a put takes one master round trip "
            "(never with HA or snapshots)");
DEFINE_string(cluster_id, "mooncake_cluster", "cluster name");
DEFINE_string(root_fs_dir, "", "root of the disk tier (empty = disabled; not supported yet)");
DEFINE_int64(global_file_segment_size, std::numeric_limits<int64_t>::max(),
             "disk tier capacity in bytes");
// The rest of the reference's legacy --root_fs_dir disk path (interfaces.md
// §8.6): accepted so that its command lines start, ignored with root_fs_dir.
DEFINE_bool(enable_disk_eviction, true, "evict from the --root_fs_dir tier (not supported)");
DEFINE_int64(quota_bytes, 0, "--root_fs_dir tier quota in bytes, 0 = 90 % (not supported)");
DEFINE_string(memory_allocator, "offset", "allocator for mounted segments (only \"offset\")");
DEFINE_bool(enable_ha, false, "leader election through etcd (docs/ha.md)");
DEFINE_string(etcd_endpoints, "", "etcd endpoints, ';'-separated (with --enable_ha)");
DEFINE_string(ha_backend_type, "etcd", "HA backend; only \"etcd\" is supported");
DEFINE_bool(enable_snapshot, false,
            "write the metadata to snapshot files after changes (docs/ha.md)");
DEFINE_int64(snapshot_interval_seconds, 600, "a snapshot is written at least this often");
DEFINE_int32(snapshot_retention_count, 2, "snapshot files kept");
DEFINE_string(snapshot_object_store_type, "", "snapshot store: \"local\" (the default)");
DEFINE_string(snapshot_local_path, "",
              "directory of the local snapshot store (default: $MOONCAKE_SNAPSHOT_LOCAL_PATH)");
DEFINE_bool(enable_snapshot_restore, false, "restore the newest snapshot at start");
// The reference HEAD's etcd OpLog replication: this master replicates to its
// standbys over its own stream (docs/ha.md), so these are accepted and unused.
DEFINE_bool(enable_oplog, false, "accepted; HA state is replicated over the standby stream");
DEFINE_int32(oplog_poll_interval_ms, 1000, "accepted, unused (see --enable_oplog)");
DEFINE_int32(oplog_batch_max_entries, 1024, "accepted, unused (see --enable_oplog)");
DEFINE_int32(batch_oplog_retry_timeout_sec, 180, "accepted, unused (see --enable_oplog)");
DEFINE_int32(snapshot_child_timeout_seconds, 300,
             "accepted, unused (snapshots are written by a thread, not a child process)");
DEFINE_string(snapshot_payload_store_type, "", "old name of --snapshot_object_store_type");
DEFINE_string(snapshot_payload_backend_type, "", "old name of --snapshot_object_store_type");
DEFINE_string(snapshot_catalog_store_type, "",
              "snapshot catalog: \"\" or \"embedded\" (the only one; \"payload\" = embedded)");
DEFINE_string(snapshot_catalog_backend_type, "", "other name of --snapshot_catalog_store_type");
DEFINE_string(snapshot_catalog_store_connstring, "", "accepted, unused (embedded catalog)");
DEFINE_string(snapshot_catalog_backend_connstring, "", "accepted, unused (embedded catalog)");
DEFINE_string(snapshot_backup_dir, "",
              "a second copy of each snapshot (not supported: must be empty)");
DEFINE_string(ha_backend_connstring, "",
              "HA backend connection string; for etcd, the endpoints (wins over --etcd_endpoints)");
DEFINE_string(config_path, "", "JSON config file with the same keys as these flags");
DEFINE_int64(max_total_finished_tasks, 10000, "finished tasks kept in the task table");
DEFINE_int64(max_total_pending_tasks, 10000, "pending tasks the task table accepts");
DEFINE_int64(max_total_processing_tasks, 10000, "processing tasks the task table accepts");
DEFINE_int64(pending_task_timeout_sec, 300, "a pending task fails after this many seconds");
DEFINE_int64(processing_task_timeout_sec, 300,
             "a processing task is retried after this many seconds");
DEFINE_int32(max_retry_attempts, 10, "attempts of a task before it fails");
DEFINE_bool(enable_hot_rpc, true,
            "serve the latency-critical calls on a plain TCP port besides gRPC (docs/master.md)");
DEFINE_int32(hot_rpc_port, 0,
             "port of the hot path on --rpc_address; 0 picks a free one (GetServiceInfo "
             "advertises it)");
// Limits on what unauthenticated peers can make the master hold
// (docs/security.md).
DEFINE_int64(http_max_connections, 4096,
             "connections each HTTP listener (metadata, /metrics) keeps; at the limit the "
             "oldest idle one is closed");
DEFINE_int64(http_max_header_bytes, 64 << 10, "request line + headers of one HTTP request");
DEFINE_int64(http_max_buffered_bytes, 256 << 20,
             "request and response bytes one HTTP listener holds for all connections together");
DEFINE_int64(http_request_timeout_ms, 10000,
             "an HTTP request must arrive whole (headers and body) within this many ms");
DEFINE_int64(http_idle_timeout_ms, 30000, "an idle HTTP keep-alive connection closes after this");
DEFINE_int64(http_metadata_max_value_bytes, 16 << 20, "largest value PUT /metadata accepts");
DEFINE_int64(http_metadata_max_total_bytes, 1 << 30,
             "memory the HTTP metadata store may hold (keys, values and their overhead)");
DEFINE_int64(hot_rpc_max_connections, 4096,
             "hot-path connections; at the limit a stalled handshake, or the one idle the "
             "longest, is closed");
DEFINE_int64(hot_rpc_max_buffered_bytes, 256 << 20,
             "bytes of unfinished hot-path request frames all connections hold together");
DEFINE_int64(hot_rpc_spin_us, 50,
             "microseconds a hot-path connection's thread busy-polls for the next request "
             "before it sleeps, when that client's requests come back to back; 0 never spins "
             "(docs/performance.md, \"Brief spins\")");
DEFINE_string(cluster_secret_file, "",
              "file holding the cluster secret (or set MC_CLUSTER_SECRET_FILE / "
              "MC_CLUSTER_SECRET): gRPC and hot-path clients must prove it; see "
              "docs/authentication.md");

// SSD offload (docs/ssd_offload.md).
DEFINE_bool(enable_offload, false, "let clients mount a local disk (SSD offload tier)");
DEFINE_bool(offload_on_evict, false,
            "offload when eviction picks an object instead of at every put end");
DEFINE_bool(offload_force_evict, false,
            "on-evict mode: evict objects that could not be queued for offload (data loss)");
DEFINE_uint64(offloading_queue_limit, 50000, "keys waiting for offload per client");
DEFINE_double(offload_cap_ratio, 0.5,
              "per-eviction-round offload cap = offloading_queue_limit x this, in [0, 1]");
DEFINE_bool(promotion_on_hit, false, "copy SSD-only objects back to memory after reads");
DEFINE_uint32(promotion_admission_threshold, 2, "reads before a promotion is queued (1..255)");
DEFINE_uint32(promotion_queue_limit, 50000, "promotion tasks in flight");
DEFINE_uint32(promotion_max_per_heartbeat, 1, "promotion tasks handed to a client per heartbeat");

namespace mooncake {

namespace {

using Reason = std::unexpected<std::string>;

std::string Quote(const std::string& text) { return "\"" + text + "\""; }

std::string DoubleText(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

std::expected<uint16_t, std::string> PortFrom(const char* name, int32_t value) {
    if (value < 0 || value > 65535) {
        return Reason(std::string(name) + " must be within [0, 65535] (got " +
                      std::to_string(value) + ")");
    }
    return static_cast<uint16_t>(value);
}

std::expected<void, std::string> RequirePositive(const char* name, int64_t value) {
    if (value <= 0) {
        return Reason(std::string(name) + " must be positive (got " + std::to_string(value) + ")");
    }
    return {};
}

std::expected<void, std::string> RequireNonNegative(const char* name, int64_t value) {
    if (value < 0) {
        return Reason(std::string(name) + " must not be negative (got " + std::to_string(value) +
                      ")");
    }
    return {};
}

// One check after the other; the first failure is the reason.
#define MC_CHECK_FLAG(expr)                         \
    do {                                            \
        auto check_ = (expr);                       \
        if (!check_) return Reason(check_.error()); \
    } while (0)

// Whether a JSON integer fits the gflags integer type `type`.
bool IntegerFits(const nlohmann::json& value, const std::string& type) {
    if (value.is_number_unsigned()) {
        const uint64_t number = value.get<uint64_t>();
        if (type == "int32") return number <= static_cast<uint64_t>(INT32_MAX);
        if (type == "uint32") return number <= UINT32_MAX;
        if (type == "int64") return number <= static_cast<uint64_t>(INT64_MAX);
        return true;
    }
    // A negative number.
    if (type == "int32") return value.get<int64_t>() >= INT32_MIN;
    return type == "int64";
}

// The text gflags parses for a JSON value of the type a flag expects, or why
// the value does not fit.
std::expected<std::string, std::string> FlagText(const std::string& key, const std::string& type,
                                                 const nlohmann::json& value) {
    const auto wrong = [&](const char* expected) {
        return Reason("key " + Quote(key) + " must be " + expected + " (got " + value.dump() + ")");
    };
    if (type == "bool") {
        if (!value.is_boolean()) return wrong("a boolean");
        return std::string(value.get<bool>() ? "true" : "false");
    }
    if (type == "int32" || type == "int64" || type == "uint32" || type == "uint64") {
        if (!value.is_number_integer()) return wrong("an integer");
        // Range-checked here so that applying the file cannot fail half-way.
        const bool fits = IntegerFits(value, type);
        if (!fits) return wrong("an integer in range");
        return value.dump();
    }
    if (type == "double") {
        if (!value.is_number()) return wrong("a number");
        return value.dump();  // shortest text that reads back as the same double
    }
    if (type == "string") {
        if (!value.is_string()) return wrong("a string");
        return value.get<std::string>();
    }
    return Reason("key " + Quote(key) + " has an unsupported type " + type);
}

// The first non-empty value of flags that name one setting.
std::string FirstSet(std::initializer_list<const std::string*> values) {
    for (const std::string* value : values) {
        if (!value->empty()) return *value;
    }
    return "";
}

std::expected<void, std::string> FillSnapshotOptions(MasterServerOptions* options) {
    MasterHaOptions& ha = options->ha;
    ha.enable_snapshot = FLAGS_enable_snapshot;
    ha.enable_snapshot_restore = FLAGS_enable_snapshot_restore;
    if (!ha.enable_snapshot && !ha.enable_snapshot_restore) return {};
    const std::string store_type =
        FirstSet({&FLAGS_snapshot_object_store_type, &FLAGS_snapshot_payload_store_type,
                  &FLAGS_snapshot_payload_backend_type});
    if (!store_type.empty() && store_type != "local") {
        return Reason("snapshot_object_store_type must be \"local\" (got " + Quote(store_type) +
                      "); s3 is not supported by this mooncake_master");
    }
    const std::string catalog =
        FirstSet({&FLAGS_snapshot_catalog_store_type, &FLAGS_snapshot_catalog_backend_type});
    if (!catalog.empty() && catalog != "embedded" && catalog != "payload") {
        return Reason("snapshot_catalog_store_type must be \"embedded\" (got " + Quote(catalog) +
                      "); redis is not supported by this mooncake_master");
    }
    if (!FLAGS_snapshot_backup_dir.empty()) {
        return Reason("snapshot_backup_dir is not supported by this mooncake_master (got " +
                      Quote(FLAGS_snapshot_backup_dir) + ")");
    }
    MC_CHECK_FLAG(RequirePositive("snapshot_interval_seconds", FLAGS_snapshot_interval_seconds));
    MC_CHECK_FLAG(RequirePositive("snapshot_retention_count", FLAGS_snapshot_retention_count));
    ha.snapshot_dir = FLAGS_snapshot_local_path.empty()
                          ? GetEnvString("MOONCAKE_SNAPSHOT_LOCAL_PATH", "")
                          : FLAGS_snapshot_local_path;
    if (ha.snapshot_dir.empty()) {
        return Reason(
            "enable_snapshot needs a snapshot directory: --snapshot_local_path or "
            "MOONCAKE_SNAPSHOT_LOCAL_PATH");
    }
    ha.snapshot_interval_seconds = FLAGS_snapshot_interval_seconds;
    ha.snapshot_retention_count = FLAGS_snapshot_retention_count;
    return {};
}

// --enable_ha: the leader record is <rpc_address>:<port>, so the address
// must be one that clients can reach.
std::expected<void, std::string> FillHaOptions(MasterServerOptions* options) {
    MC_CHECK_FLAG(FillSnapshotOptions(options));
    const std::string endpoints =
        FLAGS_ha_backend_connstring.empty() ? FLAGS_etcd_endpoints : FLAGS_ha_backend_connstring;
    if (!FLAGS_enable_ha) {
        if (!endpoints.empty()) LOG(WARNING) << "etcd_endpoints ignored: enable_ha is false";
        return {};
    }
    if (endpoints.empty()) return Reason("enable_ha=true needs etcd_endpoints");
    if (FLAGS_enable_oplog) {
        LOG(INFO) << "enable_oplog: this master replicates to its standbys over its own stream "
                     "(docs/ha.md); the OpLog flags are not used";
    }
    const std::string& address = FLAGS_rpc_address;
    if (address == "0.0.0.0" || address == "::" || address == "[::]") {
        return Reason(
            "enable_ha=true needs an rpc_address that clients can reach (the leader "
            "record is <rpc_address>:<rpc_port>), not " +
            Quote(address));
    }
    options->ha.enable_ha = true;
    options->ha.etcd_endpoints = endpoints;
    return {};
}

void FillOffloadConfig(MasterConfig* config) {
    config->enable_offload = FLAGS_enable_offload;
    config->offload_on_evict = FLAGS_offload_on_evict;
    config->offload_force_evict = FLAGS_offload_force_evict;
    config->offloading_queue_limit = FLAGS_offloading_queue_limit;
    config->offload_cap_ratio = FLAGS_offload_cap_ratio;
    config->promotion_on_hit = FLAGS_promotion_on_hit;
    if (config->promotion_on_hit && !config->enable_offload) {
        LOG(WARNING) << "promotion_on_hit ignored: it needs enable_offload";
        config->promotion_on_hit = false;
    }
    config->promotion_admission_threshold =
        std::clamp<uint32_t>(FLAGS_promotion_admission_threshold, 1, 255);
    config->promotion_queue_limit = FLAGS_promotion_queue_limit;
    config->promotion_max_per_heartbeat = std::max<uint32_t>(FLAGS_promotion_max_per_heartbeat, 1);
}

}  // namespace

namespace {

// Every flag a config file may set (and the reference's spelling of each).
constexpr const char* kMasterFlagNames[] = {
    "port",
    "rpc_address",
    "rpc_port",
    "max_threads",
    "rpc_thread_num",
    "enable_http_metadata_server",
    "http_metadata_server_host",
    "http_metadata_server_port",
    "enable_metric_reporting",
    "metrics_port",
    "metrics_host",
    "rpc_interface",
    "default_kv_lease_ttl",
    "default_kv_soft_pin_ttl",
    "max_kv_soft_pin_ttl",
    "allow_evict_soft_pinned_objects",
    "eviction_ratio",
    "eviction_high_watermark_ratio",
    "client_ttl",
    "put_start_discard_timeout_sec",
    "put_start_release_timeout_sec",
    "enable_put_credits",
    "cluster_id",
    "root_fs_dir",
    "global_file_segment_size",
    "enable_disk_eviction",
    "quota_bytes",
    "memory_allocator",
    "enable_ha",
    "etcd_endpoints",
    "ha_backend_type",
    "ha_backend_connstring",
    "enable_snapshot",
    "snapshot_interval_seconds",
    "snapshot_retention_count",
    "snapshot_object_store_type",
    "snapshot_local_path",
    "enable_snapshot_restore",
    "enable_oplog",
    "oplog_poll_interval_ms",
    "oplog_batch_max_entries",
    "batch_oplog_retry_timeout_sec",
    "snapshot_child_timeout_seconds",
    "snapshot_payload_store_type",
    "snapshot_payload_backend_type",
    "snapshot_catalog_store_type",
    "snapshot_catalog_backend_type",
    "snapshot_catalog_store_connstring",
    "snapshot_catalog_backend_connstring",
    "snapshot_backup_dir",
    "max_total_finished_tasks",
    "max_total_pending_tasks",
    "max_total_processing_tasks",
    "pending_task_timeout_sec",
    "processing_task_timeout_sec",
    "max_retry_attempts",
    "enable_hot_rpc",
    "hot_rpc_port",
    "http_max_connections",
    "http_max_header_bytes",
    "http_max_buffered_bytes",
    "http_request_timeout_ms",
    "http_idle_timeout_ms",
    "http_metadata_max_value_bytes",
    "http_metadata_max_total_bytes",
    "hot_rpc_max_connections",
    "hot_rpc_max_buffered_bytes",
    "hot_rpc_spin_us",
    "cluster_secret_file",
    "enable_offload",
    "offload_on_evict",
    "offload_force_evict",
    "offloading_queue_limit",
    "offload_cap_ratio",
    "promotion_on_hit",
    "promotion_admission_threshold",
    "promotion_queue_limit",
    "promotion_max_per_heartbeat",
};

}  // namespace

const std::vector<std::string>& MasterFlagNames() {
    static const std::vector<std::string> names(std::begin(kMasterFlagNames),
                                                std::end(kMasterFlagNames));
    return names;
}

std::expected<void, std::string> ApplyMasterConfigFile(const std::string& path) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
        const std::string why = error ? error.message() : "not a regular file";
        return Reason("cannot read config file " + Quote(path) + ": " + why);
    }
    // A config file is a few hundred bytes; refuse to slurp anything huge.
    constexpr uintmax_t kMaxConfigBytes = 1u << 20;
    if (std::filesystem::file_size(path, error) > kMaxConfigBytes && !error) {
        return Reason("config file " + Quote(path) + " is larger than 1 MiB");
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return Reason("cannot read config file " + Quote(path) + ": " + std::strerror(errno));
    }
    std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (file.bad()) {
        return Reason("cannot read config file " + Quote(path) + ": read error");
    }
    nlohmann::json document;
    try {
        document = nlohmann::json::parse(content);
    } catch (const nlohmann::json::exception& parse_error) {
        return Reason("config file " + Quote(path) + " is not valid JSON: " + parse_error.what());
    }
    if (!document.is_object()) {
        return Reason("config file " + Quote(path) + " must hold a JSON object");
    }
    const auto& known = MasterFlagNames();
    // Check everything before changing anything.
    std::vector<std::pair<std::string, std::string>> updates;
    for (const auto& [key, value] : document.items()) {
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            return Reason("config file " + Quote(path) + ": unknown key " + Quote(key));
        }
        gflags::CommandLineFlagInfo info;
        if (!gflags::GetCommandLineFlagInfo(key.c_str(), &info)) {
            return Reason("config file " + Quote(path) + ": unknown key " + Quote(key));
        }
        auto text = FlagText(key, info.type, value);
        if (!text) return Reason("config file " + Quote(path) + ": " + text.error());
        // Flags given on the command line win over the file.
        if (info.is_default) updates.emplace_back(key, *text);
    }
    for (const auto& [key, text] : updates) {
        if (gflags::SetCommandLineOption(key.c_str(), text.c_str()).empty()) {
            return Reason("config file " + Quote(path) + ": invalid value " + Quote(text) +
                          " for key " + Quote(key));
        }
    }
    return {};
}

namespace {

// The flags' values on their own: choices this master supports, ranges.
std::expected<void, std::string> CheckFlagValues() {
    if (FLAGS_ha_backend_type != "etcd") {
        return Reason("ha_backend_type must be \"etcd\" (got " + Quote(FLAGS_ha_backend_type) +
                      "); redis and k8s are not supported by this mooncake_master");
    }
    if (FLAGS_memory_allocator != "offset") {
        return Reason("memory_allocator must be \"offset\" (got " + Quote(FLAGS_memory_allocator) +
                      ")");
    }
    if (FLAGS_cluster_id.empty()) return Reason("cluster_id must not be empty");
    if (FLAGS_rpc_address.empty()) return Reason("rpc_address must not be empty");
    if (FLAGS_enable_http_metadata_server && FLAGS_http_metadata_server_host.empty()) {
        return Reason("http_metadata_server_host must not be empty");
    }
    if (!std::isfinite(FLAGS_eviction_ratio) || FLAGS_eviction_ratio < 0.0 ||
        FLAGS_eviction_ratio > 1.0) {
        return Reason("eviction_ratio must be within [0, 1] (got " +
                      DoubleText(FLAGS_eviction_ratio) + ")");
    }
    if (!std::isfinite(FLAGS_eviction_high_watermark_ratio) ||
        FLAGS_eviction_high_watermark_ratio <= 0.0 || FLAGS_eviction_high_watermark_ratio > 1.0) {
        return Reason("eviction_high_watermark_ratio must be within (0, 1] (got " +
                      DoubleText(FLAGS_eviction_high_watermark_ratio) + ")");
    }
    const std::pair<const char*, int64_t> positive[] = {
        {"default_kv_lease_ttl", FLAGS_default_kv_lease_ttl},
        {"default_kv_soft_pin_ttl", FLAGS_default_kv_soft_pin_ttl},
        {"max_kv_soft_pin_ttl", FLAGS_max_kv_soft_pin_ttl},
        {"client_ttl", FLAGS_client_ttl},
        {"put_start_discard_timeout_sec", FLAGS_put_start_discard_timeout_sec},
        {"put_start_release_timeout_sec", FLAGS_put_start_release_timeout_sec},
        {"pending_task_timeout_sec", FLAGS_pending_task_timeout_sec},
        {"processing_task_timeout_sec", FLAGS_processing_task_timeout_sec},
        {"global_file_segment_size", FLAGS_global_file_segment_size},
        {"max_threads", FLAGS_max_threads},
        {"http_max_connections", FLAGS_http_max_connections},
        {"http_max_header_bytes", FLAGS_http_max_header_bytes},
        {"http_max_buffered_bytes", FLAGS_http_max_buffered_bytes},
        {"http_request_timeout_ms", FLAGS_http_request_timeout_ms},
        {"http_idle_timeout_ms", FLAGS_http_idle_timeout_ms},
        {"http_metadata_max_value_bytes", FLAGS_http_metadata_max_value_bytes},
        {"http_metadata_max_total_bytes", FLAGS_http_metadata_max_total_bytes},
        {"hot_rpc_max_connections", FLAGS_hot_rpc_max_connections},
        {"hot_rpc_max_buffered_bytes", FLAGS_hot_rpc_max_buffered_bytes}};
    for (const auto& [name, value] : positive) MC_CHECK_FLAG(RequirePositive(name, value));
    const std::pair<const char*, int64_t> non_negative[] = {
        {"max_total_finished_tasks", FLAGS_max_total_finished_tasks},
        {"max_total_pending_tasks", FLAGS_max_total_pending_tasks},
        {"max_total_processing_tasks", FLAGS_max_total_processing_tasks},
        {"max_retry_attempts", FLAGS_max_retry_attempts},
        {"hot_rpc_spin_us", FLAGS_hot_rpc_spin_us},
        {"quota_bytes", FLAGS_quota_bytes},
        {"rpc_thread_num", FLAGS_rpc_thread_num}};
    for (const auto& [name, value] : non_negative) MC_CHECK_FLAG(RequireNonNegative(name, value));
    return {};
}

// Where the master listens, and the limits of its listeners. `legacy_port`
// is --port (the RPC port unless --rpc_port is given).
std::expected<void, std::string> FillListenerOptions(MasterServerOptions* options,
                                                     uint16_t* legacy_port) {
    auto port = PortFrom("port", FLAGS_port);
    if (!port) return Reason(port.error());
    auto rpc_port = PortFrom("rpc_port", FLAGS_rpc_port);
    if (!rpc_port) return Reason(rpc_port.error());
    auto hot_port = PortFrom("hot_rpc_port", FLAGS_hot_rpc_port);
    if (!hot_port) return Reason(hot_port.error());
    auto http_port = PortFrom("http_metadata_server_port", FLAGS_http_metadata_server_port);
    if (!http_port) return Reason(http_port.error());
    auto metrics_port = PortFrom("metrics_port", FLAGS_metrics_port);
    if (!metrics_port) return Reason(metrics_port.error());
    *legacy_port = *port;

    options->rpc_address = FLAGS_rpc_address;
    if (!FLAGS_rpc_interface.empty()) {
        auto address = InterfaceIPv4(FLAGS_rpc_interface);
        if (!address) {
            return Reason("rpc_interface " + Quote(FLAGS_rpc_interface) + " has no IPv4 address");
        }
        options->rpc_address = *address;
    }
    options->metrics_host = FLAGS_metrics_host;
    options->rpc_port = *rpc_port != 0 ? *rpc_port : *port;
    options->rpc_threads = FLAGS_rpc_thread_num > 0 ? FLAGS_rpc_thread_num : FLAGS_max_threads;
    options->enable_hot_rpc = FLAGS_enable_hot_rpc;
    options->hot_rpc_port = *hot_port;
    options->enable_http_metadata_server = FLAGS_enable_http_metadata_server;
    options->http_metadata_server_host = FLAGS_http_metadata_server_host;
    options->http_metadata_server_port = *http_port;
    options->metrics_port = *metrics_port;
    options->metrics_port_optional = gflags::GetCommandLineFlagInfoOrDie("metrics_port").is_default;
    options->enable_metric_reporting = FLAGS_enable_metric_reporting;
    options->http_limits.max_connections = static_cast<size_t>(FLAGS_http_max_connections);
    options->http_limits.max_header_bytes = static_cast<size_t>(FLAGS_http_max_header_bytes);
    options->http_limits.max_buffered_bytes = static_cast<size_t>(FLAGS_http_max_buffered_bytes);
    options->http_limits.request_timeout = std::chrono::milliseconds(FLAGS_http_request_timeout_ms);
    options->http_limits.idle_timeout = std::chrono::milliseconds(FLAGS_http_idle_timeout_ms);
    options->http_metadata_max_value_bytes =
        static_cast<size_t>(FLAGS_http_metadata_max_value_bytes);
    options->http_metadata_max_total_bytes =
        static_cast<size_t>(FLAGS_http_metadata_max_total_bytes);
    options->hot_rpc_max_connections = static_cast<size_t>(FLAGS_hot_rpc_max_connections);
    options->hot_rpc_max_buffered_bytes = static_cast<size_t>(FLAGS_hot_rpc_max_buffered_bytes);
    options->hot_rpc_spin =
        std::min(std::chrono::microseconds(FLAGS_hot_rpc_spin_us), net::kMaxSpin);
    return {};
}

// Two of our own listeners on one port would fail half-way through the
// start-up with a less helpful message; say it now.
std::expected<void, std::string> CheckDistinctPorts(const MasterServerOptions& options,
                                                    uint16_t legacy_port) {
    std::vector<std::pair<std::string, uint16_t>> listeners = {
        {options.rpc_port == legacy_port ? "port" : "rpc_port", options.rpc_port},
        {"metrics_port", options.metrics_port}};
    if (options.enable_hot_rpc) listeners.emplace_back("hot_rpc_port", options.hot_rpc_port);
    if (options.enable_http_metadata_server) {
        listeners.emplace_back("http_metadata_server_port", options.http_metadata_server_port);
    }
    for (size_t i = 0; i < listeners.size(); ++i) {
        for (size_t j = i + 1; j < listeners.size(); ++j) {
            if (listeners[i].second != 0 && listeners[i].second == listeners[j].second) {
                return Reason(listeners[i].first + " and " + listeners[j].first + " are both " +
                              std::to_string(listeners[i].second) +
                              "; each listener needs its own port");
            }
        }
    }
    return {};
}

// The logic's settings (MasterConfig).
void FillMasterConfig(MasterConfig* config) {
    config->default_kv_lease_ttl_ms = static_cast<uint64_t>(FLAGS_default_kv_lease_ttl);
    config->default_kv_soft_pin_ttl_ms = static_cast<uint64_t>(FLAGS_default_kv_soft_pin_ttl);
    config->max_kv_soft_pin_ttl_ms = static_cast<uint64_t>(FLAGS_max_kv_soft_pin_ttl);
    config->allow_evict_soft_pinned_objects = FLAGS_allow_evict_soft_pinned_objects;
    config->eviction_ratio = FLAGS_eviction_ratio;
    config->eviction_high_watermark_ratio = FLAGS_eviction_high_watermark_ratio;
    config->client_ttl_sec = FLAGS_client_ttl;
    config->put_start_discard_timeout_sec = FLAGS_put_start_discard_timeout_sec;
    config->put_start_release_timeout_sec = FLAGS_put_start_release_timeout_sec;
    config->enable_put_credits = FLAGS_enable_put_credits;
    config->cluster_id = FLAGS_cluster_id;
    config->memory_allocator = FLAGS_memory_allocator;
    config->max_total_finished_tasks = static_cast<uint64_t>(FLAGS_max_total_finished_tasks);
    config->max_total_pending_tasks = static_cast<uint64_t>(FLAGS_max_total_pending_tasks);
    config->max_total_processing_tasks = static_cast<uint64_t>(FLAGS_max_total_processing_tasks);
    config->pending_task_timeout_sec = FLAGS_pending_task_timeout_sec;
    config->processing_task_timeout_sec = FLAGS_processing_task_timeout_sec;
    config->max_retry_attempts = static_cast<uint32_t>(FLAGS_max_retry_attempts);
    FillOffloadConfig(config);
}

}  // namespace

std::expected<MasterServerOptions, std::string> LoadMasterServerOptions() {
    if (!FLAGS_config_path.empty()) MC_CHECK_FLAG(ApplyMasterConfigFile(FLAGS_config_path));
    MC_CHECK_FLAG(CheckFlagValues());

    MasterServerOptions options;
    uint16_t legacy_port = 0;
    MC_CHECK_FLAG(FillListenerOptions(&options, &legacy_port));
    auto key = auth::LoadClusterKey(FLAGS_cluster_secret_file);
    if (!key) return Reason("cannot load the cluster secret (see the log line above)");
    options.cluster_key = std::move(*key);
    MC_CHECK_FLAG(FillHaOptions(&options));
    MC_CHECK_FLAG(CheckDistinctPorts(options, legacy_port));

    FillMasterConfig(&options.config);
    // The logic has the last word on its own settings.
    if (auto reason = ValidateMasterConfig(options.config)) return Reason(*reason);

    if (!FLAGS_root_fs_dir.empty()) {
        LOG(WARNING) << "root_fs_dir=" << FLAGS_root_fs_dir
                     << " ignored: this master keeps objects in memory only (no disk tier)";
    }
    return options;
}

#undef MC_CHECK_FLAG

}  // namespace mooncake
