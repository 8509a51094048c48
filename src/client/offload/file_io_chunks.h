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

// pwrite / pread until all of `data` is moved (EINTR and short transfers
// retried). FILE_WRITE_FAIL / FILE_READ_FAIL (a short file included).
Status PwriteFully(int fd, std::span<const uint8_t> data, uint64_t offset);
Status PreadFully(int fd, std::span<uint8_t> data, uint64_t offset);

}  // namespace mooncake::offload
