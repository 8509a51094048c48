// MasterStateImage <-> proto/ha.proto, and snapshot files (docs/ha.md).
#pragma once

#include <cstdint>
#include <expected>
#include <string>

#include "ha.pb.h"
#include "master/change_log.h"
#include "master/master_service_types.h"
#include "mooncake/result.h"

namespace mooncake {

void ImageToProto(const MasterStateImage& image, ha::rpc::StateImage* proto);
MasterStateImage ImageFromProto(const ha::rpc::StateImage& proto);

// Change-log records (master/change_log.h) <-> proto/ha.proto.
void RecordToProto(const ChangeRecord& record, ha::rpc::LogRecord* proto);
// INVALID_PARAMS for a record of no kind this build knows.
Result<ChangeRecord> RecordFromProto(const ha::rpc::LogRecord& proto);

// Snapshot files in `directory`: snapshot-<taken_at_ms>.pb, written to a
// temporary name, fsynced and renamed, so a crash leaves either the old or
// the new file; `retention` newest files (and their logs) are kept.
// Returns the path written.
std::expected<std::string, std::string> WriteSnapshot(const std::string& directory,
                                                      const ha::rpc::StateImage& image,
                                                      int retention);
// The newest readable snapshot in `directory`, with the changes of its log
// (master/snapshot_log.h) applied. The error names why none could be read
// ("no snapshot in ..." when the directory holds none).
std::expected<ha::rpc::StateImage, std::string> ReadLatestSnapshot(const std::string& directory);

// The snapshot writer fell behind acknowledged changes: a file OUT_OF_SYNC
// in the directory says so until it has caught up, and restores refuse the
// snapshots meanwhile. True when the mark is durable.
bool MarkSnapshotSync(const std::string& directory, bool in_sync);
bool SnapshotOutOfSync(const std::string& directory);

}  // namespace mooncake
