#include "master/snapshot_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace mooncake {

namespace {

constexpr size_t kHeaderBytes = 4 + 8;
// A frame carries at most ImageSource::kMaxRecordsPerFetch records; far
// below this bound, which only stops a corrupt length from allocating.
constexpr uint32_t kMaxFrameBytes = 1u << 30;

// FNV-1a: enough to tell a torn or flipped frame from a whole one.
uint64_t Checksum(std::string_view bytes) {
    uint64_t hash = 14695981039346656037ull;
    for (unsigned char byte : bytes) {
        hash ^= byte;
        hash *= 1099511628211ull;
    }
    return hash;
}

void PutLittleEndian(uint64_t value, size_t width, char* out) {
    for (size_t i = 0; i < width; ++i) out[i] = static_cast<char>(value >> (8 * i));
}

uint64_t GetLittleEndian(const char* in, size_t width) {
    uint64_t value = 0;
    for (size_t i = 0; i < width; ++i) {
        value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
    }
    return value;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

std::string SnapshotLog::PathFor(const std::string& image_path) {
    const std::string suffix = ".pb";
    if (image_path.ends_with(suffix)) {
        return image_path.substr(0, image_path.size() - suffix.size()) + ".log";
    }
    return image_path + ".log";
}

std::expected<SnapshotLog, std::string> SnapshotLog::Create(const std::string& image_path) {
    const std::string path = PathFor(image_path);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
    if (!fd.valid()) return std::unexpected(Errno("cannot create " + path));
    return SnapshotLog(std::move(fd), path);
}

std::expected<void, std::string> SnapshotLog::Append(const ha::rpc::StateImage& delta) {
    std::string frame(kHeaderBytes, '\0');
    if (!delta.AppendToString(&frame)) return std::unexpected("cannot serialize a change frame");
    const std::string_view body(frame.data() + kHeaderBytes, frame.size() - kHeaderBytes);
    PutLittleEndian(body.size(), 4, frame.data());
    PutLittleEndian(Checksum(body), 8, frame.data() + 4);
    size_t done = 0;
    while (done < frame.size()) {
        const ssize_t n = ::write(fd_.get(), frame.data() + done, frame.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::unexpected(Errno("cannot append to " + path_));
        done += static_cast<size_t>(n);
    }
    bytes_ += frame.size();
    dirty_ = true;
    return {};
}

std::expected<void, std::string> SnapshotLog::Sync() {
    if (!dirty_) return {};
    if (::fdatasync(fd_.get()) != 0) return std::unexpected(Errno("cannot sync " + path_));
    dirty_ = false;
    return {};
}

size_t SnapshotLog::Replay(const std::string& path,
                           const std::function<void(const ha::rpc::StateImage&)>& apply) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return 0;
    size_t frames = 0;
    char header[kHeaderBytes];
    std::string body;
    while (in.read(header, kHeaderBytes)) {
        const uint64_t length = GetLittleEndian(header, 4);
        if (length > kMaxFrameBytes) break;
        body.resize(length);
        if (!in.read(body.data(), static_cast<std::streamsize>(length))) break;
        if (Checksum(body) != GetLittleEndian(header + 4, 8)) break;
        ha::rpc::StateImage delta;
        if (!delta.ParseFromString(body)) break;
        apply(delta);
        ++frames;
    }
    return frames;
}

}  // namespace mooncake
