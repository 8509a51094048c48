// Shared by the FileIo implementations (not part of its interface).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mooncake/result.h"

namespace mooncake::offload {

// Largest single read or write: bounds the time one call holds the disk and
// is the unit a read hands to its checksum.
inline constexpr size_t kFileIoChunk = 4 << 20;

// A read hands its checksum pieces this large: small enough that a piece is
// still in the core's L2 cache when the checksum runs over it right after
// the read (from L3 or memory the checksum costs more than the read).
inline constexpr size_t kReadCheckChunk = 128 << 10;

// pwrite / pread until all of `data` is moved (EINTR and short transfers
// retried). FILE_WRITE_FAIL / FILE_READ_FAIL (a short file included).
Status PwriteFully(int fd, std::span<const uint8_t> data, uint64_t offset);
Status PreadFully(int fd, std::span<uint8_t> data, uint64_t offset);

}  // namespace mooncake::offload
