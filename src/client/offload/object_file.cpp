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
#include "common/unique_fd.h"

namespace mooncake::offload {
namespace {

// Largest single pread/pwrite: bounds the time one call holds the disk and
// lets the checksum of a read run chunk by chunk behind it.
constexpr size_t kIoChunk = 4 << 20;

uint32_t HeaderCrc(const ObjectFileHeader& h) {
    return Crc32c(0, &h, offsetof(ObjectFileHeader, header_crc));
}

Status PwriteAll(int fd, const uint8_t* data, size_t size, uint64_t offset) {
    while (size > 0) {
        const size_t chunk = size < kIoChunk ? size : kIoChunk;
        const ssize_t n = ::pwrite(fd, data, chunk, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            LOG(WARNING) << "offload write failed: " << std::strerror(errno);
            return Error(ErrorCode::FILE_WRITE_FAIL);
        }
        data += n;
        size -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
    return OkStatus();
}

// Reads exactly `size` bytes; FILE_READ_FAIL on a short file or an error.
Status PreadAll(int fd, uint8_t* data, size_t size, uint64_t offset) {
    while (size > 0) {
        const size_t chunk = size < kIoChunk ? size : kIoChunk;
        const ssize_t n = ::pread(fd, data, chunk, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error(ErrorCode::FILE_READ_FAIL);
        data += n;
        size -= static_cast<size_t>(n);
        offset += static_cast<uint64_t>(n);
    }
    return OkStatus();
}

Status WriteAllParts(int fd, const ObjectFileHeader& header, const std::string& key,
                     const std::vector<std::span<const uint8_t>>& parts) {
    MC_RETURN_IF_ERROR(PwriteAll(fd, reinterpret_cast<const uint8_t*>(&header), sizeof(header), 0));
    MC_RETURN_IF_ERROR(
        PwriteAll(fd, reinterpret_cast<const uint8_t*>(key.data()), key.size(), sizeof(header)));
    uint64_t offset = sizeof(header) + key.size();
    for (const auto& part : parts) {
        MC_RETURN_IF_ERROR(PwriteAll(fd, part.data(), part.size(), offset));
        offset += part.size();
    }
    return OkStatus();
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
    MC_RETURN_IF_ERROR(PreadAll(fd.get(), reinterpret_cast<uint8_t*>(&h), sizeof(h), 0));
    struct stat st {};
    if (h.magic != kObjectFileMagic || h.version != kObjectFileVersion ||
        h.header_crc != HeaderCrc(h) || ::fstat(fd.get(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) != sizeof(h) + h.key_length + h.value_size) {
        return Error(ErrorCode::FILE_READ_FAIL);
    }
    key->resize(h.key_length);
    MC_RETURN_IF_ERROR(
        PreadAll(fd.get(), reinterpret_cast<uint8_t*>(key->data()), key->size(), sizeof(h)));
    if (Crc32c(0, key->data(), key->size()) != h.key_crc) return Error(ErrorCode::FILE_READ_FAIL);
    return h;
}

}  // namespace

Status WriteObjectFile(const std::string& path, const std::string& key,
                       const std::vector<std::span<const uint8_t>>& parts) {
    ObjectFileHeader header;
    header.key_length = static_cast<uint32_t>(key.size());
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
    Status written = WriteAllParts(fd.get(), header, key, parts);
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
    return info;
}

Status ReadObjectFileValue(const std::string& path, const std::string& key,
                           std::span<uint8_t> dest) {
    UniqueFd fd;
    std::string stored_key;
    auto header = OpenChecked(path, fd, &stored_key);
    if (!header) return Error(header.error());
    if (stored_key != key) return Error(ErrorCode::FILE_READ_FAIL);
    if (header->value_size != dest.size()) return Error(ErrorCode::FILE_INVALID_BUFFER);
    uint64_t offset = sizeof(ObjectFileHeader) + header->key_length;
    uint32_t crc = 0;
    for (size_t done = 0; done < dest.size();) {
        const size_t chunk = std::min(kIoChunk, dest.size() - done);
        MC_RETURN_IF_ERROR(PreadAll(fd.get(), dest.data() + done, chunk, offset + done));
        crc = Crc32c(crc, dest.data() + done, chunk);
        done += chunk;
    }
    if (crc != header->value_crc) {
        LOG(ERROR) << "offload: checksum mismatch in " << path << " (key " << key << ")";
        return Error(ErrorCode::FILE_READ_FAIL);
    }
    return OkStatus();
}

}  // namespace mooncake::offload
