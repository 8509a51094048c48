#include "master/state_image.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "master/snapshot_log.h"

namespace mooncake {

namespace {

namespace fs = std::filesystem;
constexpr char kPrefix[] = "snapshot-";
constexpr char kSuffix[] = ".pb";

void SetUuid(const UUID& id, ha::rpc::Uuid* proto) {
    proto->set_hi(id.hi);
    proto->set_lo(id.lo);
}
UUID GetUuid(const ha::rpc::Uuid& proto) { return UUID{proto.hi(), proto.lo()}; }

void ObjectToProto(const MasterStateImage::Object& object, ha::rpc::ImageObject* proto) {
    proto->set_key(object.key);
    proto->set_size(object.size);
    proto->set_soft_pin(object.soft_pin);
    proto->set_hard_pin(object.hard_pin);
    proto->set_soft_pin_ttl_ms(object.soft_pin_ttl_ms);
    proto->set_value_id(object.value_id);
    for (const MasterStateImage::Replica& replica : object.replicas) {
        ha::rpc::ImageReplica* out = proto->add_replicas();
        SetUuid(replica.segment, out->mutable_segment_id());
        out->set_address(replica.address);
    }
}

MasterStateImage::Object ObjectFromProto(const ha::rpc::ImageObject& proto) {
    MasterStateImage::Object object{
        proto.key(), proto.size(),    proto.soft_pin(), proto.hard_pin(), proto.soft_pin_ttl_ms(),
        {},          proto.value_id()};
    object.replicas.reserve(proto.replicas_size());
    for (const ha::rpc::ImageReplica& replica : proto.replicas()) {
        object.replicas.push_back({GetUuid(replica.segment_id()), replica.address()});
    }
    return object;
}

// Snapshot files of `directory`, newest first.
std::vector<fs::path> SnapshotFiles(const std::string& directory) {
    std::vector<fs::path> files;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(directory, error)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(kPrefix) && name.ends_with(kSuffix)) files.push_back(entry.path());
    }
    // Same-length numbers: lexical order is numeric order.
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
        return a.filename().string() > b.filename().string();
    });
    return files;
}

bool WriteAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

void SegmentToProto(const MasterStateImage::Segment& segment, ha::rpc::ImageSegment* out) {
    SetUuid(segment.client, out->mutable_client_id());
    SetUuid(segment.info.id, out->mutable_segment_id());
    out->set_name(segment.info.name);
    out->set_base(segment.info.base);
    out->set_size(segment.info.size);
}

MasterStateImage::Segment SegmentFromProto(const ha::rpc::ImageSegment& segment) {
    return {GetUuid(segment.client_id()), SegmentInfo{GetUuid(segment.segment_id()), segment.name(),
                                                      segment.base(), segment.size()}};
}

}  // namespace

void RecordToProto(const ChangeRecord& record, ha::rpc::LogRecord* proto) {
    if (record.membership) {
        ha::rpc::Membership* membership = proto->mutable_membership();
        for (const auto& segment : record.segments) {
            SegmentToProto(segment, membership->add_segments());
        }
        return;
    }
    ha::rpc::KeyState* key = proto->mutable_key();
    key->set_key(record.key);
    // The key is in KeyState already; not repeated inside.
    if (record.complete) ObjectToProto(*record.complete, key->mutable_complete());
    if (record.reserved) ObjectToProto(*record.reserved, key->mutable_reserved());
    if (record.complete) key->mutable_complete()->clear_key();
    if (record.reserved) key->mutable_reserved()->clear_key();
}

Result<ChangeRecord> RecordFromProto(const ha::rpc::LogRecord& proto) {
    ChangeRecord record;
    switch (proto.change_case()) {
        case ha::rpc::LogRecord::kMembership:
            record.membership = true;
            for (const auto& segment : proto.membership().segments()) {
                record.segments.push_back(SegmentFromProto(segment));
            }
            return record;
        case ha::rpc::LogRecord::kKey: {
            const ha::rpc::KeyState& key = proto.key();
            record.key = key.key();
            if (record.key.empty()) return Error(ErrorCode::INVALID_PARAMS);
            if (key.has_complete()) {
                record.complete = ObjectFromProto(key.complete());
                record.complete->key = record.key;
            }
            if (key.has_reserved()) {
                record.reserved = ObjectFromProto(key.reserved());
                record.reserved->key = record.key;
            }
            return record;
        }
        default:
            return Error(ErrorCode::INVALID_PARAMS);
    }
}

void ImageToProto(const MasterStateImage& image, ha::rpc::StateImage* proto) {
    for (const MasterStateImage::Segment& segment : image.segments) {
        SegmentToProto(segment, proto->add_segments());
    }
    proto->mutable_objects()->Reserve(static_cast<int>(image.objects.size()));
    for (const auto& object : image.objects) ObjectToProto(object, proto->add_objects());
    for (const auto& object : image.reserved) ObjectToProto(object, proto->add_reserved());
}

MasterStateImage ImageFromProto(const ha::rpc::StateImage& proto) {
    MasterStateImage image;
    for (const ha::rpc::ImageSegment& segment : proto.segments()) {
        image.segments.push_back(SegmentFromProto(segment));
    }
    image.objects.reserve(proto.objects_size());
    for (const auto& object : proto.objects()) image.objects.push_back(ObjectFromProto(object));
    for (const auto& object : proto.reserved()) image.reserved.push_back(ObjectFromProto(object));
    return image;
}

std::expected<std::string, std::string> WriteSnapshot(const std::string& directory,
                                                      const ha::rpc::StateImage& image,
                                                      int retention) {
    std::error_code error;
    fs::create_directories(directory, error);
    if (error) return std::unexpected("cannot create " + directory + ": " + error.message());
    char stamp[32];
    std::snprintf(stamp, sizeof(stamp), "%020lld", static_cast<long long>(image.taken_at_ms()));
    const fs::path final_path = fs::path(directory) / (std::string(kPrefix) + stamp + kSuffix);
    const fs::path temporary = final_path.string() + ".tmp";
    std::string bytes;
    if (!image.SerializeToString(&bytes)) return std::unexpected("cannot serialize the image");
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return std::unexpected("cannot write " + temporary.string() + ": " + std::strerror(errno));
    const bool written = WriteAll(fd, bytes) && ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
        fs::remove(temporary, error);
        return std::unexpected("cannot write " + temporary.string() + ": " + std::strerror(errno));
    }
    fs::rename(temporary, final_path, error);
    if (error)
        return std::unexpected("cannot rename " + temporary.string() + ": " + error.message());
    const std::vector<fs::path> files = SnapshotFiles(directory);
    for (size_t i = static_cast<size_t>(std::max(retention, 1)); i < files.size(); ++i) {
        fs::remove(files[i], error);
        fs::remove(SnapshotLog::PathFor(files[i].string()), error);
    }
    return final_path.string();
}

namespace {

// The image at `path` with the changes of its log applied.
ha::rpc::StateImage WithLog(const std::string& path, ha::rpc::StateImage image) {
    ShadowState shadow;
    bool changed = false;
    uint64_t version = image.version();
    shadow.Reset(ImageFromProto(image));
    const size_t frames =
        SnapshotLog::Replay(SnapshotLog::PathFor(path), [&](const ha::rpc::StateImage& delta) {
            if (!delta.delta() || delta.epoch() != image.epoch()) return;
            for (const ha::rpc::LogRecord& proto : delta.records()) {
                if (auto record = RecordFromProto(proto)) shadow.Apply(*record);
            }
            version = delta.version();
            changed = true;
        });
    if (!changed) return image;
    ha::rpc::StateImage merged;
    ImageToProto(shadow.ToImage(), &merged);
    merged.set_version(version);
    merged.set_epoch(image.epoch());
    merged.set_taken_at_ms(image.taken_at_ms());
    LOG(INFO) << "snapshot " << path << ": applied " << frames << " change frames of its log";
    return merged;
}

}  // namespace

std::expected<ha::rpc::StateImage, std::string> ReadLatestSnapshot(const std::string& directory) {
    const std::vector<fs::path> files = SnapshotFiles(directory);
    if (files.empty()) return std::unexpected("no snapshot in " + directory);
    for (const fs::path& path : files) {
        std::ifstream in(path, std::ios::binary);
        ha::rpc::StateImage image;
        if (in && image.ParseFromIstream(&in)) return WithLog(path.string(), std::move(image));
        LOG(WARNING) << "snapshot " << path << " is unreadable; trying an older one";
    }
    return std::unexpected("no readable snapshot in " + directory);
}

bool MarkSnapshotSync(const std::string& directory, bool in_sync) {
    const fs::path mark = fs::path(directory) / "OUT_OF_SYNC";
    std::error_code error;
    if (in_sync) {
        fs::remove(mark, error);
        return !error;
    }
    fs::create_directories(directory, error);
    const int fd = ::open(mark.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    return synced;
}

bool SnapshotOutOfSync(const std::string& directory) {
    std::error_code error;
    return fs::exists(fs::path(directory) / "OUT_OF_SYNC", error);
}

}  // namespace mooncake
