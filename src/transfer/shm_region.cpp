#include "transfer/shm_region.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace mooncake {

namespace {

size_t PageSize() {
    static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return page;
}

// Commits the pages now, which keeps page faults off the transfer path, in
// 64 MiB steps: one MAP_POPULATE of a large segment is a single system call
// of seconds that even SIGKILL waits for, so a daemon told to stop during its
// set-up could not (issue 16, item 10).
void PopulateInSteps(char* data, size_t size, size_t page) {
    constexpr size_t kStep = 64u << 20;
    for (size_t at = 0; at < size; at += kStep) {
        const size_t length = std::min(kStep, size - at);
        if (madvise(data + at, length, MADV_POPULATE_WRITE) == 0) continue;
        // Kernels before 5.14: touch each page (fresh memfd pages are zero).
        for (size_t offset = 0; offset < length; offset += page) {
            reinterpret_cast<volatile char*>(data)[at + offset] = 0;
        }
    }
}

}  // namespace

Result<std::unique_ptr<ShmRegion>> ShmRegion::Create(size_t length, const char* debug_name) {
    if (length == 0) return Error(ErrorCode::INVALID_PARAMS);
    const size_t page = PageSize();
    if (length > SIZE_MAX - page) return Error(ErrorCode::INVALID_PARAMS);
    const size_t size = (length + page - 1) / page * page;

    UniqueFd fd(memfd_create(debug_name, MFD_CLOEXEC));
    if (!fd.valid()) {
        PLOG(ERROR) << "memfd_create failed";
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    if (ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        PLOG(ERROR) << "ftruncate of a " << size << "-byte memfd failed";
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (data == MAP_FAILED) {
        PLOG(ERROR) << "mmap of a " << size << "-byte memfd failed";
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    PopulateInSteps(static_cast<char*>(data), size, page);
    struct stat status {};
    if (fstat(fd.get(), &status) != 0) {
        munmap(data, size);
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    ShmFileInfo info;
    info.fd = fd.get();
    info.inode = status.st_ino;
    info.size = size;
    return std::make_unique<ShmRegion>(ConstructionTag(), std::move(fd), data, size, info);
}

Result<std::unique_ptr<ShmRegion>> ShmRegion::MapPeer(pid_t pid, const ShmFileInfo& info,
                                                      bool writable) {
    if (info.fd < 0 || info.size == 0 || info.size > static_cast<uint64_t>(SIZE_MAX)) {
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(info.fd);
    UniqueFd fd(open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    if (!fd.valid()) {
        LOG(WARNING) << "Cannot open " << path << " for shared memory: " << strerror(errno);
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    struct stat status {};
    if (fstat(fd.get(), &status) != 0 || status.st_ino != info.inode ||
        static_cast<uint64_t>(status.st_size) < info.size) {
        LOG(WARNING) << path << " is not the expected shared memory (inode or size differ)";
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    const size_t size = static_cast<size_t>(info.size);
    const int protection = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    void* data = mmap(nullptr, size, protection, MAP_SHARED | MAP_POPULATE, fd.get(), 0);
    if (data == MAP_FAILED) {
        PLOG(WARNING) << "mmap of " << path << " failed";
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    // The mapping keeps the file alive; the descriptor is not needed.
    return std::make_unique<ShmRegion>(ConstructionTag(), UniqueFd(), data, size, info);
}

ShmRegion::~ShmRegion() {
    if (data_ != nullptr) munmap(data_, size_);
}

}  // namespace mooncake
