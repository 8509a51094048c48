// Everything mooncake_master runs, wired together: the logic (MasterService),
// the request dispatcher, the gRPC server, the hot-path socket, the embedded
// HTTP metadata server and the /metrics endpoint.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "common/cluster_auth.h"
#include "master/master_config.h"
#include "master/master_metrics.h"
#include "mooncake/types.h"
#include "net/brief_spin.h"
#include "net/http_listener.h"

namespace mooncake {

class MasterService;
class RequestDispatcher;
class GrpcMasterServer;
class HotRpcServer;
class HttpMetadataServer;
class MetricsServer;
class ImageSource;
class ImageFollower;
class SnapshotWriter;
namespace ha {
class LeaderElection;
struct HaStatus;
}  // namespace ha

// --enable_ha, --enable_snapshot and friends (docs/ha.md).
struct MasterHaOptions {
    bool enable_ha = false;
    std::string etcd_endpoints;  // "h1:2379;h2:2379"
    int64_t lease_ttl_seconds = 5;
    bool enable_snapshot = false;
    std::string snapshot_dir;  // local snapshot store
    int64_t snapshot_interval_seconds = 600;
    int snapshot_retention_count = 2;
    bool enable_snapshot_restore = false;
};

// Settings of the whole process (master_flags.h fills them from the flags).
struct MasterServerOptions {
    MasterConfig config;
    std::string rpc_address = "0.0.0.0";
    uint16_t rpc_port = 50051;  // 0 picks a free port
    int rpc_threads = 4;
    bool enable_hot_rpc = true;
    uint16_t hot_rpc_port = 0;  // 0 picks a free port
    bool enable_http_metadata_server = false;
    std::string http_metadata_server_host = "0.0.0.0";
    uint16_t http_metadata_server_port = 8080;
    uint16_t metrics_port = 9003;
    std::string metrics_host;  // bind address of metrics_port; empty: rpc_address
    // When the metrics port is the built-in default rather than a choice of
    // the operator, a busy port only disables /metrics (with a warning)
    // instead of failing start-up, so that two masters on one host do not
    // clash over a port nobody asked for.
    bool metrics_port_optional = false;
    // Log a one-line metrics summary every 10 s (done by master_main).
    bool enable_metric_reporting = true;
    // What unauthenticated peers can make the master hold (docs/security.md).
    HttpLimits http_limits;  // both HTTP listeners
    size_t http_metadata_max_value_bytes = 16u << 20;
    size_t http_metadata_max_total_bytes = 1u << 30;
    size_t hot_rpc_max_connections = 4096;
    size_t hot_rpc_max_buffered_bytes = 256u << 20;
    std::chrono::microseconds hot_rpc_spin = net::kDefaultRpcSpin;
    // Set: gRPC and hot-path clients must prove the cluster secret
    // (docs/authentication.md).
    auth::ClusterKeyPtr cluster_key;
    MasterHaOptions ha;
};

class MasterServer {
   public:
    explicit MasterServer(MasterServerOptions options);
    ~MasterServer();
    MasterServer(const MasterServer&) = delete;
    MasterServer& operator=(const MasterServer&) = delete;

    // Binds every listener and starts serving; gRPC comes last, so a master
    // that answers GetServiceInfo is fully up. On failure everything started
    // is stopped again and the error is one line naming what failed.
    std::expected<void, std::string> Start();
    // Stops taking requests (calls still running get `grace`), then stops the
    // background thread. Idempotent.
    void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

    const UUID& instance_id() const { return instance_id_; }
    uint16_t grpc_port() const;
    uint16_t hot_rpc_port() const;        // 0 when disabled
    uint16_t http_metadata_port() const;  // 0 when disabled
    uint16_t metrics_port() const;
    // "gRPC 0.0.0.0:50051, hot path 0.0.0.0:40123, ..." for the start-up log.
    std::string ListeningSummary() const;

    // `walk_objects`: also the figures that walk every object (the soft-pinned
    // count of the summary line).
    MasterMetricsSnapshot CollectMetrics(bool walk_objects = false) const;
    // Role, epoch and leader of this master; a lone leader without HA.
    ha::HaStatus GetHaStatus() const;

   private:
    // HA and snapshots (master_server_ha.cpp). Before the listeners:
    // restores a snapshot, sets the change hook and the image service.
    std::expected<void, std::string> PrepareHa();
    // After gRPC listens: campaigns (the maintenance thread starts once
    // elected) or, without HA, starts the snapshot writer.
    std::expected<void, std::string> StartHa();
    void OnElected(int64_t epoch, int64_t previous_epoch);
    void StopHa();
    void FillHaMetrics(MasterMetricsSnapshot* snapshot) const;

    MasterServerOptions options_;
    UUID instance_id_;
    std::chrono::steady_clock::time_point start_time_;
    std::unique_ptr<MasterService> service_;
    std::unique_ptr<RequestDispatcher> dispatcher_;
    std::unique_ptr<HotRpcServer> hot_rpc_;
    std::unique_ptr<GrpcMasterServer> grpc_;
    std::unique_ptr<HttpMetadataServer> http_metadata_;
    std::unique_ptr<MetricsServer> metrics_;
    std::unique_ptr<ha::LeaderElection> election_;
    std::unique_ptr<ImageSource> image_source_;
    std::unique_ptr<ImageFollower> image_follower_;
    std::unique_ptr<SnapshotWriter> snapshot_writer_;
    bool background_started_ = false;
};

}  // namespace mooncake
