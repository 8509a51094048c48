// Keeping the cache across a failover or a restart (docs/ha.md).
//
// The leader's master notes every change in its change log
// (master/change_log.h); ImageSource turns the notes into records and
// serves them to followers: standbys (HaReplication.FetchState on the
// leader's gRPC port, a long poll that also acknowledges what the follower
// holds) and the local SnapshotWriter. A new or lagging follower gets one
// consistent image (MasterService::ExportState) and records after it.
//
// A change that completes something (a put's end, a remove, a mount...) is
// answered only once every follower that keeps up holds it (group commit:
// one follower round trip covers every change made meanwhile); the starts
// of puts, copies and moves wait only while a follower lags by more than
// kMaxLagRecords records. So a failover loses no answered put, and never
// bytes: space freed on the leader is not reused before every follower
// holds the change that freed it (the change log's free gate), so an object
// a follower still lists has its bytes intact.
//
// A follower that stays behind for ack_timeout is dropped from the waits,
// after being marked out of sync where its successor will look (an etcd key
// for a standby, a file for snapshots): its copy may list objects whose
// space the leader has reused since, so it must not be restored until it
// has caught up.
//
// A standby's ImageFollower applies images and records to a ShadowState;
// on promotion the master imports it (MasterService::ImportState).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "ha.grpc.pb.h"
#include "master/change_log.h"
#include "master/master_service.h"
#include "master/snapshot_log.h"
#include "rpc/framed_rpc_protocol.h"
#include "rpc/framed_rpc_server.h"

namespace mooncake {

// The replication stream: FetchStateRequest frames answered by StateImage
// frames (rpc/framed_rpc_protocol.h framing). A standby's fetch then costs one
// round trip on a plain socket instead of a gRPC call, and a durable change
// waits for about that long.
inline constexpr framed_rpc::Protocol kReplicationProtocol{
    .magic = {'M', 'C', 'H', 'R'},
    .version = 1,
    .max_request_frame_bytes = 64u << 10,
    .max_response_frame_bytes = 1u << 30,
    .name = "HA replication stream",
};

struct ReplicationStats {
    uint64_t version = 0;          // leader: changes so far; standby: version held
    uint64_t followers = 0;        // leader: followers that keep up
    uint64_t lag_versions = 0;     // leader: changes the slowest follower misses
    double image_age_seconds = 0;  // standby: age of the image held (-1 when none)
    uint64_t images_received = 0;  // standby
};

class ImageSource final : public ha::rpc::HaReplication::Service {
   public:
    // Marks a follower out of sync (true when the mark is durable) or in
    // sync again.
    using SyncMarker = std::function<bool(const std::string& follower, bool in_sync)>;
    // A follower further behind than this makes changes wait.
    static constexpr uint64_t kMaxLagRecords = 1u << 16;
    // Records in one reply.
    static constexpr size_t kMaxRecordsPerFetch = 1u << 14;

    // Enables the service's change log.
    ImageSource(MasterService& service, std::function<bool()> serving,
                std::function<int64_t()> epoch, SyncMarker marker,
                std::chrono::milliseconds ack_timeout = std::chrono::milliseconds(1000));
    ~ImageSource() override;
    // The flusher: records background changes (evictions, expiries) and
    // gives back held space when no follower is connected.
    void Start();
    // With a cluster key, standbys must prove the secret: a token on each
    // gRPC FetchState (as for the master's own service), the handshake on
    // the stream. Before the gRPC server and the stream start.
    void RequireClusterKey(auth::ClusterKeyPtr key);
    // Also serves the fetches on a replication stream listening on
    // `address` (a free port, advertised in every reply).
    // `spin`: FramedRpcServer::Options::request_spin (the master's
    // --hot_rpc_spin_us).
    std::expected<void, std::string> StartStream(const std::string& address,
                                                 std::chrono::microseconds spin);
    void Stop();

    // The change hook, after every changing call: wakes the followers and
    // waits while a follower lags too far or a mount/unmount is not held by
    // every follower yet; `durable`: until every follower holds this change.
    void Changed(bool durable);

    grpc::Status FetchState(grpc::ServerContext* context, const ha::rpc::FetchStateRequest* request,
                            ha::rpc::StateImage* image) override;
    // FetchState for either transport; false when this master does not
    // lead (before or after the wait).
    bool ServeFetch(const ha::rpc::FetchStateRequest& request, ha::rpc::StateImage* image);
    // The same for a follower in this process. `full`: images only.
    // `synced_version`: what the follower holds durably (the free gate
    // waits for it), when less than `have_version` (which answers changes).
    ha::rpc::StateImage Fetch(const std::string& follower, int64_t epoch, uint64_t have_version,
                              std::chrono::milliseconds wait, bool full = false,
                              std::optional<uint64_t> synced_version = std::nullopt);

    ReplicationStats Stats() const;

   private:
    struct Follower {
        // The version it holds durably (or the image being sent to it):
        // space its copy may name is held back until then.
        uint64_t acked = 0;
        // The version it holds, perhaps not durably yet (a snapshot log
        // written, not yet synced): durable changes wait for it.
        uint64_t written = 0;
        // Holds back the space its copy may still name (it has been sent
        // an image or acknowledged records of this leader).
        bool counted = false;
        // Not marked out of sync; changes wait for it when it lags.
        bool in_sync = true;
        std::chrono::steady_clock::time_point seen;
    };
    // A follower not seen for this long is not waited for.
    static constexpr auto kFollowerGrace = std::chrono::seconds(3);
    static constexpr auto kFlushPeriod = std::chrono::milliseconds(10);

    bool Counted(const Follower& follower, std::chrono::steady_clock::time_point now) const;
    // Drops a follower that missed `version` from the waits, once its mark
    // is durable; false when the mark could not be written (keep waiting).
    bool DropFollower(const std::string& name, Follower& follower, uint64_t version);
    // Does follower `follower` make a change wait now? `target`: the
    // version a durable change needs it to hold (0: none).
    bool Behind(const Follower& follower, uint64_t version, uint64_t target) const;
    // Gives back the held space every counted follower covers.
    void ReleaseFrees();
    // Turns pending notes into records (if another flush has not).
    void Flush();
    // Records after `have`, or false when an image is needed.
    bool FillDelta(uint64_t have, ha::rpc::StateImage* image);
    void RunFlusher();

    MasterService& service_;
    ChangeLog& log_;
    const std::function<bool()> serving_;
    const std::function<int64_t()> epoch_;
    const SyncMarker marker_;
    const std::chrono::milliseconds ack_timeout_;
    mutable Mutex mutex_;
    CondVar changed_;
    bool pending_ MC_GUARDED_BY(mutex_) = false;  // notes not flushed
    bool stop_ MC_GUARDED_BY(mutex_) = false;
    uint64_t released_upto_ MC_GUARDED_BY(mutex_) = 0;
    std::map<std::string, Follower> followers_ MC_GUARDED_BY(mutex_);
    std::thread flusher_;
    std::unique_ptr<FramedRpcServer> stream_;
    std::atomic<uint16_t> stream_port_{0};
    auth::ClusterKeyPtr cluster_key_;
    std::unique_ptr<auth::GrpcTokenVerifier> verifier_;
};

// Standby side: fetches images from whoever leads.
class ImageFollower {
   public:
    // `leader_address()` is the current leader's gRPC address ("" = none).
    // Fetches go over the leader's replication stream when it has one
    // (authenticated with `key` when set), else over gRPC.
    ImageFollower(std::function<std::string()> leader_address, std::string self_address,
                  auth::ClusterKeyPtr key = nullptr);
    ~ImageFollower();
    void Start();
    void Stop();
    // An image of the state held (version and epoch set), if any.
    std::optional<ha::rpc::StateImage> Latest() const;
    ReplicationStats Stats() const;

   private:
    // Sends the next fetch, which acknowledges what the request says is held.
    using Acknowledge = std::function<void(const ha::rpc::FetchStateRequest& next)>;

    void Run();
    // The fetch that asks for what follows the state held. Caller holds mutex_.
    ha::rpc::FetchStateRequest NextRequestLocked() const MC_REQUIRES(mutex_);
    // Applies one reply; false when it could not (fetch an image next).
    // `acknowledge` (may be empty) is called, under mutex_, once the reply
    // is known to apply and before its records are applied; not for images.
    bool Apply(ha::rpc::StateImage& reply, const Acknowledge& acknowledge);

    const std::function<std::string()> leader_address_;
    const std::string self_address_;
    const auth::ClusterKeyPtr key_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    mutable Mutex mutex_;
    ShadowState shadow_ MC_GUARDED_BY(mutex_);
    bool holds_ MC_GUARDED_BY(mutex_) = false;
    uint64_t version_ MC_GUARDED_BY(mutex_) = 0;
    int64_t epoch_ MC_GUARDED_BY(mutex_) = 0;
    std::chrono::steady_clock::time_point received_at_;
    uint64_t received_ = 0;
};

// The follower name of the SnapshotWriter.
inline constexpr char kSnapshotFollower[] = "snapshot";

// Writes an image to the snapshot directory after changes (and at least
// every `interval`), as a follower of the local ImageSource.
class SnapshotWriter {
   public:
    SnapshotWriter(ImageSource& source, std::string directory, std::chrono::seconds interval,
                   int retention);
    ~SnapshotWriter();
    void Start();
    void Stop();

   private:
    // A log outgrowing this is folded into a new image.
    static constexpr uint64_t kMaxLogBytes = 256ull << 20;

    void Run();
    // Writes a full image and opens its (empty) log.
    std::expected<void, std::string> StartImage(const ha::rpc::StateImage& image,
                                                std::optional<SnapshotLog>* log);

    ImageSource& source_;
    const std::string directory_;
    const std::chrono::seconds interval_;
    const int retention_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
};

}  // namespace mooncake
