#include "client/offload/disk_store.h"

#include <glog/logging.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "client/offload/object_file.h"
#include "mooncake/types.h"

namespace mooncake::offload {
namespace {

namespace fs = std::filesystem;
constexpr char kSuffix[] = ".mco";

uint64_t Fnv1a(const std::string& key) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ULL;
    return h;
}

// "<hash16>-<gen16>.mco" -> hash and generation.
bool ParseFileName(const std::string& name, uint64_t* hash, uint64_t* generation) {
    if (name.size() != 16 + 1 + 16 + 4 || name[16] != '-' || !name.ends_with(kSuffix)) {
        return false;
    }
    char* end = nullptr;
    *hash = std::strtoull(name.substr(0, 16).c_str(), &end, 16);
    if (*end != '\0') return false;
    *generation = std::strtoull(name.substr(17, 16).c_str(), &end, 16);
    return *end == '\0';
}

}  // namespace

DiskStore::DiskStore(OffloadConfig config)
    : config_(std::move(config)), size_limit_(config_.total_size_limit_bytes) {
    stats_.size_limit = size_limit_;
    stats_.keys_limit = config_.total_keys_limit;
}

DiskStore::~DiskStore() = default;

Result<std::unique_ptr<DiskStore>> DiskStore::Open(const OffloadConfig& config) {
    MC_RETURN_IF_ERROR(ValidateOffloadConfig(config));
    std::error_code ec;
    fs::create_directories(config.ObjectDir(), ec);
    if (ec) {
        LOG(ERROR) << "offload: cannot create " << config.ObjectDir() << ": " << ec.message();
        return Error(ErrorCode::FILE_OPEN_FAIL);
    }
    std::unique_ptr<DiskStore> store(new DiskStore(config));
    if (config.use_uring) {
        std::string why_not;
        store->uring_ = MakeUringFileIo(&why_not);
        if (store->uring_) {
            store->io_ = store->uring_.get();
        } else {
            LOG(WARNING) << "offload: MOONCAKE_OFFLOAD_USE_URING is set but io_uring is not "
                            "available ("
                         << why_not << "); using pread/pwrite";
        }
    }
    LOG(INFO) << "offload: object files under " << config.ObjectDir() << " use "
              << store->io_->name();
    store->Rescan();
    store->FitLimitToVolume();
    return store;
}

void DiskStore::SetEvictListener(EvictListener listener) {
    MutexLock lock(mutex_);
    listener_ = std::move(listener);
}

std::string DiskStore::PathOf(const std::string& key, uint64_t generation) const {
    const uint64_t hash = Fnv1a(key);
    char name[64];
    std::snprintf(name, sizeof(name), "/%02x/%016llx-%016llx%s", static_cast<unsigned>(hash & 0xFF),
                  static_cast<unsigned long long>(hash),
                  static_cast<unsigned long long>(generation), kSuffix);
    return config_.ObjectDir() + name;
}

void DiskStore::Rescan() {
    const auto start = std::chrono::steady_clock::now();
    uint64_t removed = 0;
    std::error_code ec;
    MutexLock lock(mutex_);
    for (fs::recursive_directory_iterator it(config_.ObjectDir(), ec), end; !ec && it != end;
         it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        const std::string path = it->path().string();
        const std::string name = it->path().filename().string();
        uint64_t hash = 0, generation = 0;
        if (name.find(".tmp.") != std::string::npos) {  // a write a crash interrupted
            ::unlink(path.c_str());
            ++removed;
            continue;
        }
        if (!ParseFileName(name, &hash, &generation)) continue;  // not ours: leave it
        auto info = ReadObjectFileInfo(path);
        if (!info || Fnv1a(info->key) != hash) {
            LOG(WARNING) << "offload rescan: dropping damaged file " << path;
            ::unlink(path.c_str());
            ++removed;
            continue;
        }
        next_generation_ = std::max(next_generation_, generation + 1);
        auto found = index_.find(info->key);
        if (found != index_.end()) {  // two generations of one key: keep the newer
            if (found->second.generation > generation) {
                ::unlink(path.c_str());
                continue;
            }
            ::unlink(PathOf(info->key, found->second.generation).c_str());
            DropLocked(info->key);
        }
        order_.push_back(info->key);
        index_[info->key] =
            Entry{info->value_size, generation, info->value_id, std::prev(order_.end())};
        bytes_ += info->value_size;
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    stats_.rescan_keys = index_.size();
    stats_.rescan_ms = static_cast<uint64_t>(us / 1000);
    const uint64_t keys_per_sec = index_.size() * 1'000'000ULL / std::max<uint64_t>(1, us);
    LOG(INFO) << "offload rescan of " << config_.ObjectDir() << ": " << index_.size()
              << " objects, " << bytes_ << " bytes, " << removed << " stale files removed, in "
              << us / 1000 << " ms (" << keys_per_sec << " keys/s)";
}

void DiskStore::DropLocked(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    bytes_ -= it->second.size;
    order_.erase(it->second.order);
    index_.erase(it);
}

void DiskStore::EvictLocked(uint64_t target_keys, uint64_t target_bytes,
                            std::vector<DiskObject>* victims,
                            std::vector<std::string>* victim_paths) {
    while (!order_.empty() && (index_.size() > target_keys || bytes_ > target_bytes)) {
        const std::string key = order_.front();
        const Entry& entry = index_.at(key);
        victims->push_back(DiskObject{key, entry.size});
        victim_paths->push_back(PathOf(key, entry.generation));
        DropLocked(key);
        ++stats_.evicted;
    }
}

Status DiskStore::Reserve(const std::string& key, uint64_t size, std::vector<DiskObject>* victims,
                          std::vector<std::string>* victim_paths) {
    const uint64_t size_limit = size_limit_;
    const bool can_evict =
        config_.enable_eviction && config_.eviction_policy != DiskEvictionPolicy::kNone;
    if (size > size_limit) return Error(ErrorCode::KEYS_ULTRA_LIMIT);
    const uint64_t new_key = index_.contains(key) ? 0 : 1;
    const bool keys_full = index_.size() + reserved_keys_ + new_key > config_.total_keys_limit;
    const bool bytes_full = bytes_ + reserved_bytes_ + size > size_limit;
    if (keys_full || bytes_full) {
        if (!can_evict) return Error(ErrorCode::KEYS_ULTRA_LIMIT);
        const uint64_t low = static_cast<uint64_t>(size_limit * config_.low_watermark_ratio);
        const uint64_t room = size_limit - size;
        const uint64_t target_bytes =
            std::min(low, room > reserved_bytes_ ? room - reserved_bytes_ : 0);
        const uint64_t key_room = config_.total_keys_limit - new_key;
        const uint64_t target_keys = key_room > reserved_keys_ ? key_room - reserved_keys_ : 0;
        EvictLocked(keys_full ? target_keys : index_.size(), bytes_full ? target_bytes : bytes_,
                    victims, victim_paths);
        if (index_.size() + reserved_keys_ + new_key > config_.total_keys_limit ||
            bytes_ + reserved_bytes_ + size > size_limit) {
            return Error(ErrorCode::KEYS_ULTRA_LIMIT);  // the rest is being written
        }
    }
    reserved_bytes_ += size;
    reserved_keys_ += new_key;
    return OkStatus();
}

void DiskStore::FinishEviction(const std::vector<DiskObject>& victims,
                               const std::vector<std::string>& paths) {
    if (victims.empty()) return;
    EvictListener listener;
    {
        MutexLock lock(mutex_);
        listener = listener_;
    }
    if (listener) {
        std::vector<std::string> keys;
        keys.reserve(victims.size());
        for (const auto& v : victims) keys.push_back(v.key);
        listener(keys);
    }
    for (const auto& path : paths) ::unlink(path.c_str());
}

std::optional<uint64_t> DiskStore::FreeOnVolume() const {
    struct statvfs volume {};
    if (::statvfs(config_.ObjectDir().c_str(), &volume) != 0) return std::nullopt;
    return static_cast<uint64_t>(volume.f_bavail) * volume.f_frsize;
}

void DiskStore::FitLimitToVolume() {
    const std::optional<uint64_t> free = FreeOnVolume();
    if (!free) return;
    MutexLock lock(mutex_);
    const uint64_t fits = bytes_ + *free;
    if (fits >= size_limit_) return;
    LOG(INFO) << "offload: the size limit of " << size_limit_ << " bytes is more than "
              << config_.ObjectDir() << " can hold; using " << fits
              << " (what is stored plus the free space)";
    size_limit_ = fits;
    stats_.size_limit = fits;
}

bool DiskStore::ShrinkToFullVolume(uint64_t wanted) {
    const std::optional<uint64_t> free = FreeOnVolume();
    // Room enough for the write (blocks and inode included): not a full disk.
    constexpr uint64_t kSlack = 1 << 20;
    if (!free || *free >= wanted + kSlack) return false;
    std::vector<DiskObject> victims;
    std::vector<std::string> victim_paths;
    {
        MutexLock lock(mutex_);
        const uint64_t fits = bytes_ + *free;
        if (fits < size_limit_) {
            LOG(WARNING) << "offload: " << config_.ObjectDir() << " is full; size limit "
                         << size_limit_ << " -> " << fits << " bytes";
            size_limit_ = fits;
            stats_.size_limit = fits;
        }
        if (!config_.enable_eviction || config_.eviction_policy == DiskEvictionPolicy::kNone) {
            return false;
        }
        const auto low = static_cast<uint64_t>(size_limit_ * config_.low_watermark_ratio);
        const uint64_t target = std::min(low, size_limit_ > wanted ? size_limit_ - wanted : 0);
        EvictLocked(index_.size(), target, &victims, &victim_paths);
    }
    FinishEviction(victims, victim_paths);
    return !victims.empty();
}

Status DiskStore::Put(const std::string& key, const std::vector<std::span<const uint8_t>>& parts,
                      uint64_t value_id) {
    Status stored = PutOnce(key, parts, value_id);
    if (stored || stored.error() != ErrorCode::FILE_WRITE_FAIL) return stored;
    // A volume smaller than the configured limit, or shared with other
    // data, fills up before the limit: learn its real size, make room the
    // way the limit would, and try once more.
    uint64_t size = 0;
    for (const auto& part : parts) size += part.size();
    if (!ShrinkToFullVolume(size)) return stored;
    return PutOnce(key, parts, value_id);
}

Status DiskStore::PutOnce(const std::string& key,
                          const std::vector<std::span<const uint8_t>>& parts, uint64_t value_id) {
    if (key.empty() || key.size() > kMaxKeyLength) return Error(ErrorCode::INVALID_PARAMS);
    uint64_t size = 0;
    for (const auto& part : parts) size += part.size();
    std::vector<DiskObject> victims;
    std::vector<std::string> victim_paths;
    uint64_t generation = 0;
    uint64_t new_key = 0;
    {
        MutexLock lock(mutex_);
        new_key = index_.contains(key) ? 0 : 1;
        Status reserved = Reserve(key, size, &victims, &victim_paths);
        if (!reserved) {
            ++stats_.put_failures;
            return reserved;
        }
        generation = next_generation_++;
    }
    FinishEviction(victims, victim_paths);
    victims.clear();
    victim_paths.clear();

    const std::string path = PathOf(key, generation);
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    Status written = WriteObjectFile(*io_, path, key, parts, value_id);

    std::string replaced_path;
    {
        MutexLock lock(mutex_);
        reserved_bytes_ -= size;
        reserved_keys_ -= new_key;
        if (!written) {
            ++stats_.put_failures;
            return written;
        }
        auto old = index_.find(key);
        if (old != index_.end()) {
            // Another put of the key may have finished meanwhile: newest wins.
            if (old->second.generation > generation) {
                replaced_path = path;
            } else {
                replaced_path = PathOf(key, old->second.generation);
                DropLocked(key);
            }
        }
        if (replaced_path != path) {
            order_.push_back(key);
            index_[key] = Entry{size, generation, value_id, std::prev(order_.end())};
            bytes_ += size;
        }
        ++stats_.puts;
        const uint64_t high = static_cast<uint64_t>(size_limit_ * config_.high_watermark_ratio);
        if (config_.enable_watermark_eviction && config_.enable_eviction &&
            config_.eviction_policy != DiskEvictionPolicy::kNone && bytes_ > high) {
            const uint64_t low = static_cast<uint64_t>(size_limit_ * config_.low_watermark_ratio);
            EvictLocked(index_.size(), low, &victims, &victim_paths);
        }
    }
    if (!replaced_path.empty()) ::unlink(replaced_path.c_str());
    FinishEviction(victims, victim_paths);
    return OkStatus();
}

Status DiskStore::Get(const std::string& key, std::span<uint8_t> dest) {
    uint64_t generation = 0;
    {
        MutexLock lock(mutex_);
        auto it = index_.find(key);
        if (it == index_.end()) return Error(ErrorCode::OBJECT_NOT_FOUND);
        if (it->second.size != dest.size()) return Error(ErrorCode::FILE_INVALID_BUFFER);
        generation = it->second.generation;
        if (config_.eviction_policy == DiskEvictionPolicy::kLru) {
            order_.splice(order_.end(), order_, it->second.order);
        }
        ++stats_.reads;
    }
    const std::string path = PathOf(key, generation);
    Status read = ReadObjectFileValue(*io_, path, key, dest);
    if (read) return read;
    MutexLock lock(mutex_);
    ++stats_.read_failures;
    auto it = index_.find(key);
    // Evicted or removed while we looked: it is simply gone now.
    if (it == index_.end()) return Error(ErrorCode::OBJECT_NOT_FOUND);
    if (read.error() == ErrorCode::FILE_INVALID_BUFFER) return read;
    if (it->second.generation == generation) {
        // A damaged or vanished file is never good again: forget it.
        DropLocked(key);
        ::unlink(path.c_str());
    }
    return Error(ErrorCode::FILE_READ_FAIL);
}

std::optional<uint64_t> DiskStore::SizeOf(const std::string& key) const {
    MutexLock lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    return it->second.size;
}

Status DiskStore::Remove(const std::string& key) {
    std::string path;
    {
        MutexLock lock(mutex_);
        auto it = index_.find(key);
        if (it == index_.end()) return Error(ErrorCode::OBJECT_NOT_FOUND);
        path = PathOf(key, it->second.generation);
        DropLocked(key);
    }
    ::unlink(path.c_str());
    return OkStatus();
}

std::vector<DiskObject> DiskStore::ListObjects() const {
    MutexLock lock(mutex_);
    std::vector<DiskObject> out;
    out.reserve(index_.size());
    for (const auto& [key, entry] : index_) {
        out.push_back(DiskObject{key, entry.size, entry.value_id});
    }
    return out;
}

DiskStoreStats DiskStore::GetStats() const {
    MutexLock lock(mutex_);
    DiskStoreStats stats = stats_;
    stats.keys = index_.size();
    stats.bytes = bytes_;
    return stats;
}

}  // namespace mooncake::offload
