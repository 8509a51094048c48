// One offloaded object on disk: a checksummed header, the key, the value.
//
//   offset 0   ObjectFileHeader (48 bytes, little endian)
//   48         key bytes (key_length)
//   48 + k     value bytes (value_size)
//
// The header names the key, so a file found by a hashed file name (or by a
// rescan) is only ever taken for the key it names; header_crc covers the
// header, key_crc the key, value_crc the value. A file is written under a
// temporary name and renamed into place, so a crash leaves either the old
// file, the new one, or a stray temporary that a rescan deletes. A torn,
// truncated or bit-flipped file fails one of the checks and is reported as
// FILE_READ_FAIL, never returned as data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "client/offload/file_io.h"
#include "mooncake/result.h"

namespace mooncake::offload {

inline constexpr uint64_t kObjectFileMagic = 0x3130464F434D4F4DULL;  // "MOMCOF01"
inline constexpr uint32_t kObjectFileVersion = 1;

struct ObjectFileHeader {
    uint64_t magic = kObjectFileMagic;
    uint32_t version = kObjectFileVersion;
    uint32_t key_length = 0;
    uint64_t value_size = 0;
    uint32_t key_crc = 0;
    uint32_t value_crc = 0;
    // The master's id of the value (OffloadItem::value_id); 0: unknown.
    // Files from before it existed hold 0 here, which still reads right.
    uint64_t value_id = 0;
    uint32_t reserved2 = 0;
    uint32_t header_crc = 0;  // CRC32C of the 44 bytes before it
};
static_assert(sizeof(ObjectFileHeader) == 48);

// What a rescan learns from a file without reading its value.
struct ObjectFileInfo {
    std::string key;
    uint64_t value_size = 0;
    uint64_t value_id = 0;
};

// Writes `key` with the concatenation of `parts` to `path` through `io` (via
// a unique `path`.tmp.* name and a rename). FILE_OPEN_FAIL / FILE_WRITE_FAIL (disk full
// included); on failure nothing is left behind and an older file at `path`
// is untouched.
Status WriteObjectFile(FileIo& io, const std::string& path, const std::string& key,
                       const std::vector<std::span<const uint8_t>>& parts, uint64_t value_id = 0);

// Reads the header and key of `path`; FILE_READ_FAIL when they fail their
// checks or the file length does not match them.
Result<ObjectFileInfo> ReadObjectFileInfo(const std::string& path);

// Reads the value of `key` into `dest` (its size must equal the value
// size, else FILE_INVALID_BUFFER). FILE_NOT_FOUND when the file is gone,
// FILE_READ_FAIL when it is for another key, short, or fails a checksum
// (then `dest` holds garbage, and the caller must not use it).
Status ReadObjectFileValue(FileIo& io, const std::string& path, const std::string& key,
                           std::span<uint8_t> dest);

}  // namespace mooncake::offload
