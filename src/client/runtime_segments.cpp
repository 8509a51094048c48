#include "client/runtime_segments.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/logging.h"
#include "common/unique_fd.h"

namespace mooncake {

namespace {

constexpr ErrorCode kNotOurs = ErrorCode::INTERNAL_ERROR;

// INVALID_PARAMS unless [offset, offset + size) is a page-aligned, non-empty
// range inside a file of `file_size` bytes.
Status CheckFileRange(uint64_t size, uint64_t offset, uint64_t file_size) {
    const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    if (size == 0 || offset % page != 0 || offset > file_size || size > file_size - offset) {
        LOG(WARNING) << "mount_segment: range +" << offset << " size " << size
                     << " is empty, not page aligned or beyond the file (" << file_size
                     << " bytes)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return OkStatus();
}

}  // namespace

RuntimeSegments::RuntimeSegments(MasterClient* master, TransferEngine* engine, UUID client_id,
                                 std::string segment_name)
    : master_(master),
      engine_(engine),
      client_id_(client_id),
      segment_name_(std::move(segment_name)),
      grace_thread_([this] { GraceLoop(); }) {}

RuntimeSegments::~RuntimeSegments() {
    Stop();
    ReleaseAll();
}

Result<UUID> RuntimeSegments::MountFile(const std::string& path, uint64_t size, uint64_t offset) {
    if (engine_ == nullptr) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);  // rpc_only
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) {
        PLOG(WARNING) << "mount_segment: cannot open " << path << " read-write";
        return Error(ErrorCode::FILE_OPEN_FAIL);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error(ErrorCode::FILE_OPEN_FAIL);
    MC_RETURN_IF_ERROR(CheckFileRange(size, offset, static_cast<uint64_t>(st.st_size)));
    void* mapping = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(),
                           static_cast<off_t>(offset));
    if (mapping == MAP_FAILED) {
        PLOG(WARNING) << "mount_segment: mmap of " << path << " failed";
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    Status registered = engine_->RegisterLocalMemory(mapping, size, /*remote_accessible=*/true);
    if (!registered.has_value()) {
        ::munmap(mapping, size);
        return Error(registered.error());
    }
    Entry entry;
    entry.info = SegmentInfo{.id = UUID::Generate(),
                             .name = segment_name_,
                             .base = reinterpret_cast<uint64_t>(mapping),
                             .size = size};
    entry.mapping = mapping;
    return MountAtMaster(std::move(entry));
}

Result<UUID> RuntimeSegments::Allocate(uint64_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    if (engine_ == nullptr) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);  // rpc_only
    auto base = engine_->AllocateSharedMemory(size);
    if (!base.has_value()) return Error(base.error());
    Entry entry;
    entry.info = SegmentInfo{.id = UUID::Generate(),
                             .name = segment_name_,
                             .base = reinterpret_cast<uint64_t>(*base),
                             .size = size};
    entry.allocated = true;
    return MountAtMaster(std::move(entry));
}

Result<UUID> RuntimeSegments::MountAtMaster(Entry entry) {
    const UUID id = entry.info.id;
    {
        // Listed first so that a re-mount racing with this call includes it.
        MutexLock lock(mutex_);
        entries_.emplace(id, entry);
    }
    Status mounted = master_->MountSegment(client_id_, entry.info);
    // The id is new: "exists" means a heartbeat re-mount took it first.
    if (!mounted.has_value() && mounted.error() == ErrorCode::SEGMENT_ALREADY_EXISTS) {
        mounted = OkStatus();
    }
    if (!mounted.has_value()) {
        LOG(WARNING) << "Mounting a runtime segment of " << entry.info.size
                     << " bytes failed: " << ErrorCodeName(mounted.error());
        {
            MutexLock lock(mutex_);
            entries_.erase(id);
        }
        Release(entry);
        return Error(mounted.error());
    }
    LOG(INFO) << "Mounted runtime segment " << id.hi << "-" << id.lo << " of " << entry.info.size
              << " bytes (" << (entry.allocated ? "allocated" : "file") << ")";
    return id;
}

Status RuntimeSegments::Unmount(const UUID& id, bool allocated, uint32_t grace_period_seconds) {
    {
        MutexLock lock(mutex_);
        auto it = entries_.find(id);
        if (it == entries_.end() || it->second.allocated != allocated || it->second.leaving) {
            return Error(kNotOurs);
        }
        it->second.leaving = true;
    }
    if (grace_period_seconds == 0) return Finish(id);
    // Readers keep their replicas; new objects go elsewhere meanwhile.
    Status draining = master_->UnmountSegment(client_id_, id, grace_period_seconds);
    LOG_IF(WARNING, !draining.has_value())
        << "Segment " << id.hi << "-" << id.lo << ": the master did not take the grace period ("
        << ErrorCodeName(draining.error()) << "); unmounting it after the period anyway";
    MutexLock lock(mutex_);
    pending_.emplace(std::chrono::steady_clock::now() + std::chrono::seconds(grace_period_seconds),
                     id);
    wake_.NotifyAll();
    return OkStatus();
}

Status RuntimeSegments::Finish(const UUID& id) {
    Status unmounted = master_->UnmountSegment(client_id_, id);
    // SEGMENT_NOT_FOUND: the master holds nothing there any more (it
    // restarted, or expired us), so the memory can go all the same.
    const bool gone = unmounted.has_value() || unmounted.error() == ErrorCode::SEGMENT_NOT_FOUND;
    Entry entry;
    {
        MutexLock lock(mutex_);
        auto it = entries_.find(id);
        if (it == entries_.end()) return unmounted;
        if (!gone) {
            it->second.leaving = false;  // still mounted: may be retried
            return unmounted;
        }
        entry = it->second;
        entries_.erase(it);
    }
    Release(entry);
    return unmounted;
}

void RuntimeSegments::Release(const Entry& entry) {
    void* base = reinterpret_cast<void*>(entry.info.base);
    if (entry.allocated) {
        (void)engine_->FreeSharedMemory(base);
        return;
    }
    (void)engine_->UnregisterLocalMemory(base);
    ::munmap(entry.mapping, entry.info.size);
}

void RuntimeSegments::GraceLoop() {
    MutexLock lock(mutex_);
    while (!stopping_) {
        if (pending_.empty()) {
            wake_.Wait(lock);
            continue;
        }
        auto first = pending_.begin();
        if (std::chrono::steady_clock::now() < first->first) {
            wake_.WaitUntil(lock, first->first);
            continue;
        }
        const UUID id = first->second;
        pending_.erase(first);
        lock.Unlock();
        Status done = Finish(id);
        if (!done.has_value()) {
            LOG(WARNING) << "Unmount after the grace period of segment " << id.hi << "-" << id.lo
                         << " failed: " << ErrorCodeName(done.error());
        }
        lock.Lock();
    }
}

std::vector<SegmentInfo> RuntimeSegments::Active() const {
    MutexLock lock(mutex_);
    std::vector<SegmentInfo> segments;
    for (const auto& [id, entry] : entries_) {
        if (!entry.leaving) segments.push_back(entry.info);
    }
    return segments;
}

size_t RuntimeSegments::active_count() const { return Active().size(); }

uint64_t RuntimeSegments::active_bytes() const {
    uint64_t total = 0;
    for (const SegmentInfo& segment : Active()) total += segment.size;
    return total;
}

void RuntimeSegments::Stop() {
    {
        MutexLock lock(mutex_);
        stopping_ = true;
        wake_.NotifyAll();
    }
    if (grace_thread_.joinable()) grace_thread_.join();
}

void RuntimeSegments::ReleaseAll() {
    std::map<UUID, Entry> entries;
    {
        MutexLock lock(mutex_);
        entries.swap(entries_);
        pending_.clear();
    }
    for (const auto& [id, entry] : entries) Release(entry);
}

}  // namespace mooncake
