#include "host_mem_allocator.h"

#include <glog/logging.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>

#include "common/mutex.h"

namespace mooncake::python {
namespace {

Mutex& AllocationsMutex() {
    static Mutex mu;
    return mu;
}

// address -> mapped length
std::map<uintptr_t, size_t>& Allocations() {
    static std::map<uintptr_t, size_t> allocations;
    return allocations;
}

size_t RoundUpToPage(size_t size) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (size + page - 1) / page * page;
}

}  // namespace

Result<uintptr_t> HostMemAllocator::Alloc(size_t size) {
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS);
    const size_t length = RoundUpToPage(size);
    if (length < size) return Error(ErrorCode::INVALID_PARAMS);  // wrapped around
    void* address =
        mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (address == MAP_FAILED) {
        PLOG(WARNING) << "MooncakeHostMemAllocator: mmap of " << length << " bytes failed";
        return Error(ErrorCode::BUFFER_OVERFLOW);
    }
    const auto key = reinterpret_cast<uintptr_t>(address);
    MutexLock lock(AllocationsMutex());
    Allocations()[key] = length;
    return key;
}

Status HostMemAllocator::Free(uintptr_t address) {
    size_t length = 0;
    {
        MutexLock lock(AllocationsMutex());
        auto it = Allocations().find(address);
        if (it == Allocations().end()) {
            LOG(WARNING) << "MooncakeHostMemAllocator: free of unknown address 0x" << std::hex
                         << address;
            return Error(ErrorCode::INVALID_PARAMS);
        }
        length = it->second;
        Allocations().erase(it);
    }
    munmap(reinterpret_cast<void*>(address), length);
    return OkStatus();
}

}  // namespace mooncake::python
