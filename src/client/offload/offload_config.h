// Settings of the SSD offload tier, read once from the MOONCAKE_OFFLOAD_*
// environment (names and defaults of the reference, interfaces.md §8.3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mooncake/result.h"

namespace mooncake::offload {

enum class DiskEvictionPolicy { kFifo, kLru, kNone };

struct OffloadConfig {
    // MOONCAKE_OFFLOAD_FILE_STORAGE_PATH; setup(ssd_offload_path=...) wins.
    std::string storage_path = "/data/file_storage";
    // MOONCAKE_OFFLOAD_FSDIR: subdirectory that holds the object files.
    std::string fsdir = "file_per_key_dir";
    // MOONCAKE_OFFLOAD_LOCAL_BUFFER_SIZE_BYTES: staging memory for disk reads
    // served to other clients; the process never holds more than this.
    uint64_t staging_buffer_bytes = 1342177280ULL;
    uint64_t total_keys_limit = 10'000'000;              // ..._TOTAL_KEYS_LIMIT
    uint64_t total_size_limit_bytes = 2199023255552ULL;  // ..._TOTAL_SIZE_LIMIT_BYTES
    uint64_t scan_batch_keys = 20000;                    // ..._SCANMETA_ITERATOR_KEYS_LIMIT
    uint64_t heartbeat_interval_sec = 10;                // ..._HEARTBEAT_INTERVAL_SECONDS
    uint64_t buffer_gc_ttl_ms = 5000;                    // ..._CLIENT_BUFFER_GC_TTL_MS
    bool enable_eviction = true;                         // ..._ENABLE_EVICTION
    bool enable_watermark_eviction = true;               // ..._ENABLE_DISK_WATERMARK_EVICTION
    double high_watermark_ratio = 0.90;                  // ..._DISK_EVICTION_HIGH_WATERMARK_RATIO
    double low_watermark_ratio = 0.80;                   // ..._DISK_EVICTION_LOW_WATERMARK_RATIO
    DiskEvictionPolicy eviction_policy = DiskEvictionPolicy::kFifo;  // ..._BUCKET_EVICTION_POLICY
    // MOONCAKE_OFFLOAD_USE_URING ("true"): object files are read and
    // written through io_uring when the build has liburing and the kernel
    // allows it, else (with a warning) through pread/pwrite.
    bool use_uring = false;
    // The storage backend descriptor asked for (..._STORAGE_BACKEND_DESCRIPTOR);
    // every name is served by the file-per-key backend.
    std::string backend_descriptor = "bucket_storage_backend";

    // The environment over the defaults; a malformed number keeps the
    // default and logs a warning.
    static OffloadConfig FromEnv();
    // The directory that holds the object files.
    std::string ObjectDir() const { return storage_path + "/" + fsdir; }
};

// INVALID_PARAMS unless the path is absolute, has no "..", is no symlink
// and is an existing writable directory; watermarks must satisfy
// 0 < low <= high <= 1 and limits be positive.
Status ValidateOffloadConfig(const OffloadConfig& config);

}  // namespace mooncake::offload
