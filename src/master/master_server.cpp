#include "master/master_server.h"

#include <glog/logging.h>

#include "common/net_util.h"
#include "ha/leader_election.h"
#include "master/admin_endpoints.h"
#include "master/grpc_service.h"
#include "master/ha_replication.h"
#include "master/hot_rpc_server.h"
#include "master/http_metadata_server.h"
#include "master/master_service.h"
#include "master/metrics_server.h"
#include "master/request_dispatcher.h"
#include "net/socket_util.h"

#ifndef MOONCAKE_VERSION
#define MOONCAKE_VERSION "unknown"
#endif

namespace mooncake {

MasterServer::MasterServer(MasterServerOptions options)
    : options_(std::move(options)),
      instance_id_(UUID::Generate()),
      start_time_(std::chrono::steady_clock::now()),
      service_(std::make_unique<MasterService>(options_.config)),
      dispatcher_(std::make_unique<RequestDispatcher>(*service_)) {}

MasterServer::~MasterServer() { Stop(std::chrono::milliseconds(0)); }

std::expected<void, std::string> MasterServer::Start() {
    auto fail = [this](std::string reason) -> std::expected<void, std::string> {
        Stop(std::chrono::milliseconds(0));
        return std::unexpected(std::move(reason));
    };

    // gRPC logs bind failures in its own words over several lines; find a
    // busy port first so that the reason is ours and on one line.
    if (auto free = net::CheckPortFree(options_.rpc_address, options_.rpc_port); !free) {
        return fail(free.error() + " (gRPC port)");
    }

    ServerIdentity identity;
    identity.version = MOONCAKE_VERSION;
    identity.instance_id = instance_id_;
    identity.replicates_commits = options_.ha.enable_ha || options_.ha.enable_snapshot;
    if (options_.enable_hot_rpc) {
        HotRpcServer::Options hot_options;
        hot_options.address = options_.rpc_address;
        hot_options.port = options_.hot_rpc_port;
        hot_options.instance_id = instance_id_;
        hot_options.max_connections = options_.hot_rpc_max_connections;
        hot_options.max_buffered_bytes = options_.hot_rpc_max_buffered_bytes;
        hot_options.request_spin = options_.hot_rpc_spin;
        hot_options.cluster_key = options_.cluster_key;
        hot_rpc_ = std::make_unique<HotRpcServer>(*dispatcher_, hot_options);
        if (auto started = hot_rpc_->Start(); !started) return fail(started.error());
        identity.hot_rpc_port = hot_rpc_->port();
    }
    dispatcher_->SetIdentity(identity);

    if (options_.enable_http_metadata_server) {
        HttpMetadataServer::Options http_options;
        http_options.host = options_.http_metadata_server_host;
        http_options.port = options_.http_metadata_server_port;
        http_options.max_value_bytes = options_.http_metadata_max_value_bytes;
        http_options.max_total_bytes = options_.http_metadata_max_total_bytes;
        http_options.limits = options_.http_limits;
        http_metadata_ = std::make_unique<HttpMetadataServer>(http_options);
        if (auto started = http_metadata_->Start(); !started) return fail(started.error());
    }

    metrics_ = std::make_unique<MetricsServer>(
        [this](bool walk_objects) { return CollectMetrics(walk_objects); }, options_.http_limits);
    RegisterAdminEndpoints(*metrics_, *service_);
    const std::string& metrics_host =
        options_.metrics_host.empty() ? options_.rpc_address : options_.metrics_host;
    if (auto started = metrics_->Start(metrics_host, options_.metrics_port); !started) {
        if (!options_.metrics_port_optional) return fail(started.error());
        LOG(WARNING) << started.error() << "; /metrics is disabled (pass --metrics_port to choose "
                     << "another port)";
        metrics_.reset();
    }

    if (auto prepared = PrepareHa(); !prepared) return fail(prepared.error());
    // A standby serves nothing and runs no maintenance until it is elected.
    if (!options_.ha.enable_ha) {
        service_->StartBackgroundThread();
        background_started_ = true;
    }

    GrpcMasterServer::Options grpc_options;
    grpc_options.address = options_.rpc_address;
    grpc_options.port = options_.rpc_port;
    grpc_options.threads = options_.rpc_threads;
    grpc_options.cluster_key = options_.cluster_key;
    if (image_source_) grpc_options.extra_services.push_back(image_source_.get());
    grpc_ = std::make_unique<GrpcMasterServer>(*dispatcher_, grpc_options);
    if (auto started = grpc_->Start(); !started) return fail(started.error());
    if (auto started = StartHa(); !started) return fail(started.error());
    if (http_metadata_) http_metadata_->MarkReady();
    return {};
}

void MasterServer::Stop(std::chrono::milliseconds grace) {
    // A leader resigns first so that a standby takes over at once.
    StopHa();
    // Front doors first so that no request arrives while the rest stops.
    if (grpc_) grpc_->Stop(grace);
    if (hot_rpc_) hot_rpc_->Stop();
    if (http_metadata_) http_metadata_->Stop();
    if (metrics_) metrics_->Stop();
    if (background_started_) {
        service_->StopBackgroundThread();
        background_started_ = false;
    }
}

uint16_t MasterServer::grpc_port() const { return grpc_ ? grpc_->port() : 0; }
uint16_t MasterServer::hot_rpc_port() const { return hot_rpc_ ? hot_rpc_->port() : 0; }
uint16_t MasterServer::http_metadata_port() const {
    return http_metadata_ ? http_metadata_->port() : 0;
}
uint16_t MasterServer::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

std::string MasterServer::ListeningSummary() const {
    std::string summary = "gRPC " + JoinHostPort(options_.rpc_address, grpc_port());
    if (hot_rpc_) {
        summary += ", hot path " + JoinHostPort(options_.rpc_address, hot_rpc_port());
    } else {
        summary += ", hot path disabled";
    }
    if (http_metadata_) {
        summary += ", HTTP metadata http://" +
                   JoinHostPort(options_.http_metadata_server_host, http_metadata_port()) +
                   "/metadata";
    } else {
        summary += ", HTTP metadata server disabled";
    }
    summary +=
        ", metrics http://" +
        JoinHostPort(options_.metrics_host.empty() ? options_.rpc_address : options_.metrics_host,
                     metrics_port()) +
        "/metrics";
    summary +=
        options_.cluster_key ? ", cluster authentication on" : ", cluster authentication off";
    return summary;
}

MasterMetricsSnapshot MasterServer::CollectMetrics(bool walk_objects) const {
    MasterMetricsSnapshot snapshot;
    snapshot.version = MOONCAKE_VERSION;
    snapshot.uptime_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
    snapshot.stats = service_->GetStats();
    if (walk_objects) snapshot.stats.soft_pinned_objects = service_->CountSoftPinnedObjects();
    snapshot.calls_by_method = dispatcher_->CallCounts();
    snapshot.failed_calls_by_method = dispatcher_->FailedCallCounts();
    snapshot.results_by_error = dispatcher_->ErrorCounts();
    snapshot.total_errors = dispatcher_->TotalErrors();
    if (hot_rpc_) {
        const HotRpcServer::Stats hot = hot_rpc_->GetStats();
        snapshot.hot_path = MasterMetricsSnapshot::HotPath{
            hot.connections_open, hot.connections_accepted, hot.connections_refused,
            hot.protocol_errors, hot.requests};
    }
    snapshot.grpc_streams = grpc_ ? grpc_->active_streams() : 0;
    FillHaMetrics(&snapshot);
    if (http_metadata_) {
        snapshot.http_metadata = MasterMetricsSnapshot::Metadata{
            http_metadata_->store().size(), http_metadata_->store().total_bytes()};
    }
    return snapshot;
}

}  // namespace mooncake
