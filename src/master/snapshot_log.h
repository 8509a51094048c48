// The change log of one snapshot file (docs/ha.md "Snapshots").
//
// snapshot-<stamp>.pb holds a full image; snapshot-<stamp>.log beside it
// holds the change records that followed, as frames of
// [u32 length][u64 checksum][serialized ha.rpc.StateImage delta]. The
// writer appends a frame for every batch of changes before acknowledging
// it, so a killed master loses no answered change; frames are synced to
// disk in groups (every kSyncPeriod), and the free gate waits for the sync,
// so a machine crash loses at most that period of answered changes and a
// restore never lists an object over reused space. A torn or corrupt frame
// ends the log: what follows it is ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>

#include "common/unique_fd.h"
#include "ha.pb.h"

namespace mooncake {

class SnapshotLog {
   public:
    static constexpr auto kSyncPeriod = std::chrono::milliseconds(100);

    // Creates (truncates) the log of the image at `image_path`.
    static std::expected<SnapshotLog, std::string> Create(const std::string& image_path);
    // The log beside an image file.
    static std::string PathFor(const std::string& image_path);

    // Appends one delta frame (written, not yet synced).
    std::expected<void, std::string> Append(const ha::rpc::StateImage& delta);
    std::expected<void, std::string> Sync();
    bool dirty() const { return dirty_; }
    uint64_t bytes() const { return bytes_; }

    // Calls `apply` with each readable frame of the log at `path`, in order,
    // stopping at the first torn or corrupt one; a missing log has none.
    // Returns the number of frames read.
    static size_t Replay(const std::string& path,
                         const std::function<void(const ha::rpc::StateImage&)>& apply);

   private:
    SnapshotLog(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

    UniqueFd fd_;
    std::string path_;
    uint64_t bytes_ = 0;
    bool dirty_ = false;
};

}  // namespace mooncake
