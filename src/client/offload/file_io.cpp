#include "client/offload/file_io.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "client/offload/file_io_chunks.h"

namespace mooncake::offload {
namespace {

class PosixIo final : public FileIo {
   public:
    const char* name() const override { return "pread"; }

    Status Write(int fd, const std::vector<std::span<const uint8_t>>& pieces,
                 uint64_t offset) override {
        for (const auto& piece : pieces) {
            MC_RETURN_IF_ERROR(PwriteFully(fd, piece, offset));
            offset += piece.size();
        }
        return OkStatus();
    }

    Status Read(int fd, std::span<uint8_t> dest, uint64_t offset,
                const ChunkDone& chunk_done) override {
        for (size_t done = 0; done < dest.size();) {
            const auto chunk = dest.subspan(done, std::min(kReadCheckChunk, dest.size() - done));
            MC_RETURN_IF_ERROR(PreadFully(fd, chunk, offset + done));
            if (chunk_done && !chunk_done(chunk)) return Error(ErrorCode::FILE_READ_FAIL);
            done += chunk.size();
        }
        return OkStatus();
    }
};

}  // namespace

Status PwriteFully(int fd, std::span<const uint8_t> data, uint64_t offset) {
    while (!data.empty()) {
        const size_t chunk = std::min(kFileIoChunk, data.size());
        const ssize_t n = ::pwrite(fd, data.data(), chunk, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            LOG(WARNING) << "offload write failed: " << std::strerror(n < 0 ? errno : ENOSPC);
            return Error(ErrorCode::FILE_WRITE_FAIL);
        }
        data = data.subspan(static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
    }
    return OkStatus();
}

Status PreadFully(int fd, std::span<uint8_t> data, uint64_t offset) {
    while (!data.empty()) {
        const size_t chunk = std::min(kFileIoChunk, data.size());
        const ssize_t n = ::pread(fd, data.data(), chunk, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error(ErrorCode::FILE_READ_FAIL);
        data = data.subspan(static_cast<size_t>(n));
        offset += static_cast<uint64_t>(n);
    }
    return OkStatus();
}

FileIo& PosixFileIo() {
    static PosixIo io;
    return io;
}

#if !defined(MOONCAKE_HAVE_LIBURING)
std::unique_ptr<FileIo> MakeUringFileIo(std::string* why_not) {
    *why_not = "this build has no liburing (install liburing-dev and rebuild)";
    return nullptr;
}
#endif

}  // namespace mooncake::offload
