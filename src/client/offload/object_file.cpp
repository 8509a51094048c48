#include "client/offload/object_file.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "client/offload/crc32c.h"
#include "client/offload/file_io_chunks.h"
#include "common/unique_fd.h"

namespace mooncake::offload {
namespace {

uint32_t HeaderCrc(const ObjectFileHeader& h) {
    return Crc32c(0, &h, offsetof(ObjectFileHeader, header_crc));
}

Status WriteAllParts(FileIo& io, int fd, const ObjectFileHeader& header, const std::string& key,
                     const std::vector<std::span<const uint8_t>>& parts) {
    std::vector<std::span<const uint8_t>> pieces;
    pieces.reserve(parts.size() + 2);
    pieces.push_back({reinterpret_cast<const uint8_t*>(&header), sizeof(header)});
    pieces.push_back({reinterpret_cast<const uint8_t*>(key.data()), key.size()});
    pieces.insert(pieces.end(), parts.begin(), parts.end());
    return io.Write(fd, pieces, 0);
}

// Opens `path` and checks header, key and length; the header on success.
Result<ObjectFileHeader> OpenChecked(const std::string& path, UniqueFd& fd, std::string* key) {
    fd.Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return Error(errno == ENOENT ? ErrorCode::FILE_NOT_FOUND : ErrorCode::FILE_OPEN_FAIL);
    }
    // Objects are read whole: let the kernel fetch all of it at once rather
    // than in small read-ahead steps behind our preads.
    (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_WILLNEED);
    ObjectFileHeader h;
    MC_RETURN_IF_ERROR(PreadFully(fd.get(), {reinterpret_cast<uint8_t*>(&h), sizeof(h)}, 0));
    struct stat st {};
    if (h.magic != kObjectFileMagic || h.version != kObjectFileVersion ||
        h.header_crc != HeaderCrc(h) || ::fstat(fd.get(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) != sizeof(h) + h.key_length + h.value_size) {
        return Error(ErrorCode::FILE_READ_FAIL);
    }
    key->resize(h.key_length);
    MC_RETURN_IF_ERROR(
        PreadFully(fd.get(), {reinterpret_cast<uint8_t*>(key->data()), key->size()}, sizeof(h)));
    if (Crc32c(0, key->data(), key->size()) != h.key_crc) return Error(ErrorCode::FILE_READ_FAIL);
    return h;
}

}  // namespace

Status WriteObjectFile(FileIo& io, const std::string& path, const std::string& key,
                       const std::vector<std::span<const uint8_t>>& parts, uint64_t value_id) {
    ObjectFileHeader header;
    header.key_length = static_cast<uint32_t>(key.size());
    header.value_id = value_id;
    header.key_crc = Crc32c(0, key.data(), key.size());
    for (const auto& part : parts) {
        header.value_size += part.size();
        header.value_crc = Crc32c(header.value_crc, part.data(), part.size());
    }
    header.header_crc = HeaderCrc(header);

    // A name of its own per write: two writers of one key never share it.
    static std::atomic<uint64_t> sequence{0};
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                            std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) {
        LOG(WARNING) << "offload: cannot create " << tmp << ": " << std::strerror(errno);
        return Error(ErrorCode::FILE_OPEN_FAIL);
    }
    Status written = WriteAllParts(io, fd.get(), header, key, parts);
    // close() can report a deferred write error (NFS, quota).
    if (written && ::close(fd.Release()) != 0) written = Error(ErrorCode::FILE_WRITE_FAIL);
    if (written && ::rename(tmp.c_str(), path.c_str()) != 0) {
        written = Error(ErrorCode::FILE_WRITE_FAIL);
    }
    if (!written) ::unlink(tmp.c_str());
    return written;
}

Result<ObjectFileInfo> ReadObjectFileInfo(const std::string& path) {
    UniqueFd fd;
    ObjectFileInfo info;
    auto header = OpenChecked(path, fd, &info.key);
    if (!header) return Error(header.error());
    info.value_size = header->value_size;
    info.value_id = header->value_id;
    return info;
}

Status ReadObjectFileValue(FileIo& io, const std::string& path, const std::string& key,
                           std::span<uint8_t> dest) {
    UniqueFd fd;
    std::string stored_key;
    auto header = OpenChecked(path, fd, &stored_key);
    if (!header) return Error(header.error());
    if (stored_key != key) return Error(ErrorCode::FILE_READ_FAIL);
    if (header->value_size != dest.size()) return Error(ErrorCode::FILE_INVALID_BUFFER);
    uint32_t crc = 0;
    MC_RETURN_IF_ERROR(io.Read(fd.get(), dest, sizeof(ObjectFileHeader) + header->key_length,
                               [&crc](std::span<const uint8_t> chunk) {
                                   crc = Crc32c(crc, chunk.data(), chunk.size());
                                   return true;
                               }));
    if (crc != header->value_crc) {
        LOG(ERROR) << "offload: checksum mismatch in " << path << " (key " << key << ")";
        return Error(ErrorCode::FILE_READ_FAIL);
    }
    return OkStatus();
}

}  // namespace mooncake::offload
