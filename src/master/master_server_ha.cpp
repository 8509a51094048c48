// MasterServer's side of HA and snapshots (docs/ha.md): leader election on
// etcd, state images for standbys and snapshot files, restore.
#include <glog/logging.h>

#include <cstdlib>

#include "common/env.h"
#include "common/net_util.h"
#include "ha/leader_election.h"
#include "master/grpc_service.h"
#include "master/ha_replication.h"
#include "master/master_server.h"
#include "master/master_service.h"
#include "master/request_dispatcher.h"
#include "master/state_image.h"

namespace mooncake {

namespace {
// Exit status of a master that lost its leadership: its metadata may be
// behind its successor's, so it must not lead again; the service manager
// restarts it as a fresh standby (packaging/mooncake-master.service).
constexpr int kLostLeadershipExit = 75;  // EX_TEMPFAIL

std::string RestoreLine(const ImportStats& stats) {
    return std::to_string(stats.objects) + " objects on " + std::to_string(stats.segments) +
           " segments (" + std::to_string(stats.skipped_objects) + " skipped)";
}
}  // namespace

std::expected<void, std::string> MasterServer::PrepareHa() {
    const MasterHaOptions& ha = options_.ha;
    if (!ha.enable_ha && !ha.enable_snapshot && !ha.enable_snapshot_restore) return {};
    if (!ha.enable_ha && ha.enable_snapshot_restore) {
        auto image = ReadLatestSnapshot(ha.snapshot_dir);
        if (image && SnapshotOutOfSync(ha.snapshot_dir)) {
            LOG(ERROR) << "enable_snapshot_restore: the snapshots in " << ha.snapshot_dir
                       << " miss acknowledged changes (the writer fell behind); starting empty";
        } else if (image) {
            auto restored = service_->ImportState(ImageFromProto(*image));
            if (!restored) return std::unexpected("snapshot restore failed");
            LOG(INFO) << "restored the snapshot of " << image->taken_at_ms()
                      << " ms since the epoch: " << RestoreLine(*restored);
        } else {
            LOG(WARNING) << "enable_snapshot_restore: " << image.error() << "; starting empty";
        }
    }
    auto serving = [this] { return election_ ? election_->Serving() : true; };
    auto epoch = [this] { return election_ ? election_->GetStatus().epoch : int64_t{0}; };
    auto marker = [this](const std::string& follower, bool in_sync) {
        if (follower == kSnapshotFollower) {
            return MarkSnapshotSync(options_.ha.snapshot_dir, in_sync);
        }
        return election_ != nullptr && election_->MarkFollower(follower, in_sync);
    };
    image_source_ = std::make_unique<ImageSource>(*service_, serving, epoch, marker);
    image_source_->RequireClusterKey(options_.cluster_key);
    image_source_->Start();
    if (ha.enable_ha) {
        dispatcher_->SetServingCheck([this] { return election_ && election_->Serving(); });
    }
    dispatcher_->SetChangeHook([this](bool durable) { image_source_->Changed(durable); });
    return {};
}

std::expected<void, std::string> MasterServer::StartHa() {
    const MasterHaOptions& ha = options_.ha;
    auto start_snapshots = [this] {
        if (!options_.ha.enable_snapshot || snapshot_writer_) return;
        snapshot_writer_ = std::make_unique<SnapshotWriter>(
            *image_source_, options_.ha.snapshot_dir,
            std::chrono::seconds(options_.ha.snapshot_interval_seconds),
            options_.ha.snapshot_retention_count);
        snapshot_writer_->Start();
    };
    if (!ha.enable_ha) {
        start_snapshots();
        return {};
    }
    if (auto stream = image_source_->StartStream(options_.rpc_address, options_.hot_rpc_spin);
        !stream) {
        return std::unexpected("cannot start the HA replication stream: " + stream.error());
    }
    ha::LeaderElectionOptions election;
    election.etcd_endpoints = ha.etcd_endpoints;
    election.cluster_id = options_.config.cluster_id;
    election.advertised_address = JoinHostPort(options_.rpc_address, grpc_port());
    election.lease_ttl_seconds = ha.lease_ttl_seconds;
    ha::LeaderElection::Callbacks callbacks;
    callbacks.on_elected = [this, start_snapshots](int64_t epoch, int64_t previous) {
        OnElected(epoch, previous);
        start_snapshots();
    };
    callbacks.on_lost = [] {
        LOG(ERROR) << "lost the leadership; exiting with status " << kLostLeadershipExit
                   << " so that a fresh process rejoins as standby";
        google::FlushLogFiles(google::GLOG_INFO);
        std::_Exit(kLostLeadershipExit);
    };
    election_ = std::make_unique<ha::LeaderElection>(election, std::move(callbacks));
    image_follower_ = std::make_unique<ImageFollower>(
        [this] {
            const ha::HaStatus status = election_->GetStatus();
            return status.role == ha::HaRole::kStandby ? status.leader_address : std::string();
        },
        election.advertised_address, options_.cluster_key);
    image_follower_->Start();
    if (auto started = election_->Start(); !started) {
        return std::unexpected("cannot start the leader election (etcd_endpoints \"" +
                               ha.etcd_endpoints +
                               "\"): " + std::string(ErrorCodeName(started.error())));
    }
    LOG(INFO) << "HA: campaigning as " << election.advertised_address << " on etcd "
              << ha.etcd_endpoints << " (key " << ha::LeaderKey(election.cluster_id) << ")";
    return {};
}

void MasterServer::OnElected(int64_t epoch, int64_t previous_epoch) {
    // Take over the state of the leader seen last; an image of any other
    // epoch may name space that leader has handed out again since.
    std::optional<ha::rpc::StateImage> image;
    if (image_follower_) {
        image_follower_->Stop();
        image = image_follower_->Latest();
    }
    if (image && image->epoch() != previous_epoch) image.reset();
    const std::string self = JoinHostPort(options_.rpc_address, grpc_port());
    if (image && election_->FollowerOutOfSync(self, previous_epoch)) {
        LOG(ERROR) << "HA: the leader of epoch " << previous_epoch
                   << " marked this standby out of sync; not importing its image";
        image.reset();
    }
    if (!image && options_.ha.enable_snapshot_restore && previous_epoch != 0 &&
        !SnapshotOutOfSync(options_.ha.snapshot_dir)) {
        auto snapshot = ReadLatestSnapshot(options_.ha.snapshot_dir);
        if (snapshot && snapshot->epoch() == previous_epoch) image = std::move(*snapshot);
    }
    if (image) {
        auto restored = service_->ImportState(ImageFromProto(*image));
        if (restored) {
            LOG(INFO) << "HA: took over epoch " << previous_epoch << ": " << RestoreLine(*restored);
        } else {
            LOG(ERROR) << "HA: could not import the state of epoch " << previous_epoch;
        }
    } else if (previous_epoch != 0) {
        LOG(WARNING) << "HA: no image of epoch " << previous_epoch
                     << "; serving without the previous leader's objects";
    }
    LOG(INFO) << "serving as leader, epoch " << epoch;
    if (!background_started_) {
        service_->StartBackgroundThread();
        background_started_ = true;
    }
}

void MasterServer::StopHa() {
    if (snapshot_writer_) snapshot_writer_->Stop();
    if (election_) election_->Stop();
    if (image_follower_) image_follower_->Stop();
    if (image_source_) image_source_->Stop();
}

void MasterServer::FillHaMetrics(MasterMetricsSnapshot* snapshot) const {
    if (!image_source_) return;
    const ha::HaStatus status = GetHaStatus();
    MasterMetricsSnapshot::Ha ha;
    ha.role = ha::HaRoleName(status.role);
    ha.epoch = status.epoch;
    ha.leader_address = status.leader_address;
    ha.serving = status.serving;
    if (status.role == ha::HaRole::kStandby && image_follower_) {
        const ReplicationStats stats = image_follower_->Stats();
        ha.replication_version = stats.version;
        ha.image_age_seconds = stats.image_age_seconds;
    } else {
        const ReplicationStats stats = image_source_->Stats();
        ha.replication_version = stats.version;
        ha.followers = stats.followers;
        ha.lag_changes = stats.lag_versions;
    }
    snapshot->ha = std::move(ha);
}

ha::HaStatus MasterServer::GetHaStatus() const {
    if (election_) return election_->GetStatus();
    ha::HaStatus status;
    status.role = ha::HaRole::kLeader;
    status.serving = true;
    status.leader_address = JoinHostPort(options_.rpc_address, grpc_port());
    return status;
}

}  // namespace mooncake
