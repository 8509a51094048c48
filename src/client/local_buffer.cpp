#include "client/local_buffer.h"

#include <glog/logging.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "client/client_config_util.h"

namespace mooncake {

namespace {

// An anonymous mapping, unmapped when the last slice of its arena goes.
struct AnonymousMapping {
    uint8_t* base = nullptr;
    uint64_t length = 0;
    ~AnonymousMapping() {
        if (munmap(base, length) != 0) {
            LOG(ERROR) << "munmap of the local buffer failed: " << std::strerror(errno);
        }
    }
};

}  // namespace

Result<std::shared_ptr<LocalBuffer>> LocalBuffer::Create(uint64_t size) {
    if (size == 0 || size > kMaxClientMemorySize) return Error(ErrorCode::INVALID_PARAMS);
    const uint64_t length = RoundUpToPageSize(size);
    // Address space only: pages are committed when first written, so a
    // 1 GiB default buffer costs nothing until it is used.
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        LOG(ERROR) << "Cannot map a local buffer of " << length
                   << " bytes: " << std::strerror(errno);
        return Error(ErrorCode::INTERNAL_ERROR);
    }
    auto mapping = std::make_shared<AnonymousMapping>();
    mapping->base = static_cast<uint8_t*>(base);
    mapping->length = length;
    auto arena = SlicedArena::Create(mapping, mapping->base, mapping->base, length);
    return std::shared_ptr<LocalBuffer>(new LocalBuffer(std::move(arena)));
}

}  // namespace mooncake
