// How object files are read and written: plain pread/pwrite, or io_uring
// with several pieces of one object in flight (MOONCAKE_OFFLOAD_USE_URING).
//
// Both move a whole object as consecutive chunks and hand each chunk of a
// read to a callback in file order, so the caller's checksum runs behind the
// disk: with io_uring the next chunks are already being read while the
// callback runs. The callback may stop the read early by returning false.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mooncake/result.h"

namespace mooncake::offload {

class FileIo {
   public:
    // Called with each chunk of a read, in file order; false ends the read
    // with FILE_READ_FAIL.
    using ChunkDone = std::function<bool(std::span<const uint8_t> chunk)>;

    virtual ~FileIo() = default;
    // "pread" or "io_uring", for logs and stats.
    virtual const char* name() const = 0;
    // Writes `pieces` one after the other from `offset`. FILE_WRITE_FAIL on
    // any error (a full disk included).
    virtual Status Write(int fd, const std::vector<std::span<const uint8_t>>& pieces,
                         uint64_t offset) = 0;
    // Fills `dest` from `offset`. FILE_READ_FAIL when the file is short or a
    // read fails. Returns only once no read into `dest` is in flight.
    virtual Status Read(int fd, std::span<uint8_t> dest, uint64_t offset,
                        const ChunkDone& chunk_done) = 0;
};

// Plain pread/pwrite; one process-wide instance (it holds no state).
FileIo& PosixFileIo();

// io_uring when this build has liburing and the kernel lets this process
// make a ring; otherwise nullptr, with the reason in `*why_not`.
std::unique_ptr<FileIo> MakeUringFileIo(std::string* why_not);

}  // namespace mooncake::offload
