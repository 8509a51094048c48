// Memory shared between processes of one host: a memfd mapped MAP_SHARED.
// The owner creates it; a peer on the same host maps the owner's memfd by
// opening /proc/<owner pid>/fd/<fd> and checking its inode, so a recycled
// descriptor number never maps the wrong file.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mooncake/result.h"
#include "net/socket_util.h"
#include "transfer/segment_descriptor.h"

namespace mooncake {

class ShmRegion {
   public:
    // A fresh zero-filled memfd of `length` bytes (rounded up to the page
    // size), mapped read-write with every page committed (MAP_POPULATE).
    // INVALID_PARAMS for length 0, INTERNAL_ERROR when the kernel refuses.
    static Result<std::unique_ptr<ShmRegion>> Create(size_t length, const char* debug_name);

    // Maps a peer's memfd described by `info`, owned by process `pid`.
    // `writable` false maps it read-only. TRANSFER_FAIL (with a log line)
    // when it cannot be opened, is not the same file, or is too small.
    static Result<std::unique_ptr<ShmRegion>> MapPeer(pid_t pid, const ShmFileInfo& info,
                                                      bool writable);

    ~ShmRegion();
    ShmRegion(const ShmRegion&) = delete;
    ShmRegion& operator=(const ShmRegion&) = delete;

    void* data() const { return data_; }
    size_t size() const { return size_; }
    // What a same-host peer needs to map it (only for owned regions).
    const ShmFileInfo& file_info() const { return info_; }

    // Only Create and MapPeer can name the tag.
    struct ConstructionTag {
       private:
        friend class ShmRegion;
        ConstructionTag() = default;
    };
    ShmRegion(ConstructionTag, UniqueFd fd, void* data, size_t size, ShmFileInfo info)
        : fd_(std::move(fd)), data_(data), size_(size), info_(info) {}

   private:
    // Owned regions keep the memfd open: peers open it through /proc.
    UniqueFd fd_;
    void* data_;
    size_t size_;
    ShmFileInfo info_;
};

}  // namespace mooncake
