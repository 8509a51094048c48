// Keeping the cache across a failover or a restart (docs/ha.md).
//
// The leader's ImageSource counts changes (every put, remove, mount...,
// through RequestDispatcher's change hook) and serves consistent images of
// the whole metadata (MasterService::ExportState) to followers: standbys
// (HaReplication.FetchState on the leader's gRPC port, a long poll) and the
// local SnapshotWriter. A change is answered to its client only once every
// follower that keeps up holds it (bounded by ack_timeout; a follower that
// misses it is dropped from the waits until it has caught up again), so an
// acknowledged put survives the leader's death.
//
// A follower dropped from the waits is first marked out of sync where its
// successor will look (an etcd key for a standby, a file for snapshots):
// its image may lack changes the leader acknowledged, even name space the
// leader has reused, so it must not be restored until it has caught up.
//
// A standby's ImageFollower keeps the newest image; on promotion the master
// imports it (MasterService::ImportState) before serving.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ha.grpc.pb.h"
#include "master/master_service.h"

namespace mooncake {

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

    ImageSource(MasterService& service, std::function<bool()> serving,
                std::function<int64_t()> epoch, SyncMarker marker,
                std::chrono::milliseconds ack_timeout = std::chrono::milliseconds(1000));

    // The change hook: counts the change and waits until the followers hold it.
    void Changed();

    grpc::Status FetchState(grpc::ServerContext* context, const ha::rpc::FetchStateRequest* request,
                            ha::rpc::StateImage* image) override;
    // The same for a follower in this process.
    ha::rpc::StateImage Fetch(const std::string& follower, int64_t epoch, uint64_t have_version,
                              std::chrono::milliseconds wait);

    ReplicationStats Stats() const;

   private:
    struct Follower {
        uint64_t acked = 0;
        bool keeping_up = true;
        std::chrono::steady_clock::time_point seen;
    };
    // A follower not seen for this long is not waited for.
    static constexpr auto kFollowerGrace = std::chrono::seconds(3);

    bool MustWaitFor(const Follower& follower, uint64_t version,
                     std::chrono::steady_clock::time_point now) const;

    // Drops a follower that missed `version` from the waits, once its mark
    // is durable; false when the mark could not be written (keep waiting).
    bool DropFollower(const std::string& name, Follower& follower, uint64_t version);

    MasterService& service_;
    const std::function<bool()> serving_;
    const std::function<int64_t()> epoch_;
    const SyncMarker marker_;
    const std::chrono::milliseconds ack_timeout_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    uint64_t version_ = 0;                       // guarded by mutex_
    std::map<std::string, Follower> followers_;  // guarded by mutex_
};

// Standby side: fetches images from whoever leads.
class ImageFollower {
   public:
    // `leader_address()` is the current leader's gRPC address ("" = none).
    ImageFollower(std::function<std::string()> leader_address, std::string self_address);
    ~ImageFollower();
    void Start();
    void Stop();
    // The newest image, if any.
    std::optional<ha::rpc::StateImage> Latest() const;
    ReplicationStats Stats() const;

   private:
    void Run();

    const std::function<std::string()> leader_address_;
    const std::string self_address_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::optional<ha::rpc::StateImage> latest_;  // guarded by mutex_
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
    void Run();

    ImageSource& source_;
    const std::string directory_;
    const std::chrono::seconds interval_;
    const int retention_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
};

}  // namespace mooncake
