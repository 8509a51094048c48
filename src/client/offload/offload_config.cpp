#include "client/offload/offload_config.h"

#include <glog/logging.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <string_view>

#include "common/env.h"

namespace mooncake::offload {
namespace {

// The value of `name`, or of the older `fallback_name` the reference still
// accepts.
std::optional<std::string> EnvWithFallback(const char* name, const char* fallback_name) {
    if (auto value = GetEnv(name)) return value;
    if (fallback_name != nullptr) return GetEnv(fallback_name);
    return std::nullopt;
}

void ReadUint(const char* name, const char* fallback_name, uint64_t& out) {
    auto text = EnvWithFallback(name, fallback_name);
    if (!text) return;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) {
        LOG(WARNING) << name << "=" << *text << " is not a number; keeping " << out;
        return;
    }
    out = value;
}

void ReadRatio(const char* name, const char* fallback_name, double& out) {
    auto text = EnvWithFallback(name, fallback_name);
    if (!text) return;
    try {
        size_t used = 0;
        double value = std::stod(*text, &used);
        if (used == text->size()) {
            out = value;
            return;
        }
    } catch (const std::exception&) {
    }
    LOG(WARNING) << name << "=" << *text << " is not a number; keeping " << out;
}

bool ReadBool(const char* name, const char* fallback_name, bool fallback) {
    if (GetEnv(name)) return GetEnvBool(name, fallback);
    if (fallback_name != nullptr) return GetEnvBool(fallback_name, fallback);
    return fallback;
}

}  // namespace

OffloadConfig OffloadConfig::FromEnv() {
    OffloadConfig c;
    c.storage_path = GetEnvString("MOONCAKE_OFFLOAD_FILE_STORAGE_PATH", c.storage_path);
    c.fsdir = GetEnvString("MOONCAKE_OFFLOAD_FSDIR", c.fsdir);
    c.backend_descriptor =
        GetEnvString("MOONCAKE_OFFLOAD_STORAGE_BACKEND_DESCRIPTOR", c.backend_descriptor);
    ReadUint("MOONCAKE_OFFLOAD_LOCAL_BUFFER_SIZE_BYTES", nullptr, c.staging_buffer_bytes);
    ReadUint("MOONCAKE_OFFLOAD_TOTAL_KEYS_LIMIT", nullptr, c.total_keys_limit);
    ReadUint("MOONCAKE_OFFLOAD_TOTAL_SIZE_LIMIT_BYTES", nullptr, c.total_size_limit_bytes);
    ReadUint("MOONCAKE_OFFLOAD_SCANMETA_ITERATOR_KEYS_LIMIT",
             "MOONCAKE_SCANMETA_ITERATOR_KEYS_LIMIT", c.scan_batch_keys);
    ReadUint("MOONCAKE_OFFLOAD_HEARTBEAT_INTERVAL_SECONDS", nullptr, c.heartbeat_interval_sec);
    ReadUint("MOONCAKE_OFFLOAD_CLIENT_BUFFER_GC_TTL_MS", nullptr, c.buffer_gc_ttl_ms);
    c.enable_eviction = ReadBool("MOONCAKE_OFFLOAD_ENABLE_EVICTION", "ENABLE_EVICTION", true);
    c.enable_watermark_eviction =
        ReadBool("MOONCAKE_OFFLOAD_ENABLE_DISK_WATERMARK_EVICTION", nullptr, true);
    ReadRatio("MOONCAKE_OFFLOAD_DISK_EVICTION_HIGH_WATERMARK_RATIO",
              "MOONCAKE_DISK_EVICTION_HIGH_WATERMARK_RATIO", c.high_watermark_ratio);
    ReadRatio("MOONCAKE_OFFLOAD_DISK_EVICTION_LOW_WATERMARK_RATIO",
              "MOONCAKE_DISK_EVICTION_LOW_WATERMARK_RATIO", c.low_watermark_ratio);
    auto policy = EnvWithFallback("MOONCAKE_OFFLOAD_BUCKET_EVICTION_POLICY",
                                  "MOONCAKE_BUCKET_EVICTION_POLICY");
    if (policy) {
        c.eviction_policy = *policy == "fifo"  ? DiskEvictionPolicy::kFifo
                            : *policy == "lru" ? DiskEvictionPolicy::kLru
                                               : DiskEvictionPolicy::kNone;
    }
    auto uring = EnvWithFallback("MOONCAKE_OFFLOAD_USE_URING", "MOONCAKE_USE_URING");
    c.use_uring = uring && (*uring == "true" || *uring == "1");
    // One backend serves every descriptor (docs/ssd_offload.md); a name the
    // reference does not know is its error too.
    static constexpr std::string_view kKnownBackends[] = {
        "bucket_storage_backend", "file_per_key_storage_backend",
        "offset_allocator_storage_backend", "distributed_storage_backend",
        "nvme_kv_storage_backend"};
    if (std::find(std::begin(kKnownBackends), std::end(kKnownBackends), c.backend_descriptor) ==
        std::end(kKnownBackends)) {
        LOG(ERROR) << "MOONCAKE_OFFLOAD_STORAGE_BACKEND_DESCRIPTOR=" << c.backend_descriptor
                   << " is not a storage backend; using the default";
        c.backend_descriptor = OffloadConfig{}.backend_descriptor;
    }
    return c;
}

Status ValidateOffloadConfig(const OffloadConfig& c) {
    const std::string& path = c.storage_path;
    if (path.empty() || path.front() != '/' || path.find("..") != std::string::npos) {
        LOG(ERROR) << "offload path must be absolute without '..': " << path;
        return Error(ErrorCode::INVALID_PARAMS);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode) ||
        ::access(path.c_str(), W_OK) != 0) {
        LOG(ERROR) << "offload path is not an existing writable directory: " << path;
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (c.fsdir.empty() || c.fsdir.find('/') != std::string::npos || c.fsdir == "." ||
        c.fsdir == "..") {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (!(c.low_watermark_ratio > 0 && c.low_watermark_ratio <= c.high_watermark_ratio &&
          c.high_watermark_ratio <= 1.0) ||
        c.total_keys_limit == 0 || c.total_size_limit_bytes == 0) {
        LOG(ERROR) << "offload limits or watermarks out of range";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return OkStatus();
}

}  // namespace mooncake::offload
