// FileIo over io_uring (liburing): an object is split into pieces of
// kUringPiece bytes and up to kUringDepth of them are in flight at once, so
// the device works on several while the caller checksums the ones done.
#include <glog/logging.h>
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "client/offload/file_io.h"
#include "client/offload/file_io_chunks.h"

namespace mooncake::offload {
namespace {

constexpr size_t kUringPiece = 256 << 10;
constexpr unsigned kUringDepth = 32;  // 8 MiB in flight per thread

// One ring per thread: a ring is not safe to share, and the callers (the
// offload worker, the RPC server's threads, get callers) each do one file
// operation at a time.
class Ring {
   public:
    Ring() { ok_ = io_uring_queue_init(kUringDepth, &ring_, 0) == 0; }
    ~Ring() {
        if (ok_) io_uring_queue_exit(&ring_);
    }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    bool ok() const { return ok_; }
    io_uring* get() { return &ring_; }

   private:
    io_uring ring_{};
    bool ok_ = false;
};

Ring* ThisThreadsRing() {
    thread_local Ring ring;
    return ring.ok() ? &ring : nullptr;
}

struct Piece {
    uint8_t* data;
    size_t size;
    uint64_t offset;
    bool done = false;
};

template <typename Span>
void AppendPieces(Span span, uint64_t offset, std::vector<Piece>* pieces) {
    auto* data = const_cast<uint8_t*>(span.data());
    for (size_t at = 0; at < span.size(); at += kUringPiece) {
        pieces->push_back({data + at, std::min(kUringPiece, span.size() - at), offset + at});
    }
}

// Moves every piece, at most kUringDepth in flight. `in_order` is called
// with each finished piece in order (reads); false from it stops the run.
// Returns only when nothing is in flight any more, so the caller's buffers
// are free to go.
Status Run(io_uring* ring, int fd, bool write, std::vector<Piece>& pieces,
           const FileIo::ChunkDone& in_order) {
    const ErrorCode failure = write ? ErrorCode::FILE_WRITE_FAIL : ErrorCode::FILE_READ_FAIL;
    size_t next_submit = 0, next_in_order = 0;
    unsigned in_flight = 0;
    bool failed = false;
    int first_errno = 0;
    while (in_flight > 0 || (!failed && next_in_order < pieces.size())) {
        while (!failed && next_submit < pieces.size() && in_flight < kUringDepth) {
            io_uring_sqe* sqe = io_uring_get_sqe(ring);
            if (sqe == nullptr) break;
            Piece& p = pieces[next_submit];
            if (write) {
                io_uring_prep_write(sqe, fd, p.data, static_cast<unsigned>(p.size), p.offset);
            } else {
                io_uring_prep_read(sqe, fd, p.data, static_cast<unsigned>(p.size), p.offset);
            }
            io_uring_sqe_set_data64(sqe, next_submit);
            ++next_submit;
            ++in_flight;
        }
        if (in_flight == 0) break;
        const int submitted = io_uring_submit_and_wait(ring, 1);
        if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
            // EBADF, EFAULT, EINVAL...: the ring itself is broken, and
            // pieces already in the kernel could still land in buffers the
            // caller is about to free. Stopping is the only safe answer.
            LOG(FATAL) << "io_uring_submit_and_wait failed: " << std::strerror(-submitted);
        }
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(ring, &cqe) == 0) {
            Piece& p = pieces[io_uring_cqe_get_data64(cqe)];
            const int res = cqe->res;
            io_uring_cqe_seen(ring, cqe);
            --in_flight;
            if (failed) continue;
            if (res < 0 || (res == 0 && p.size > 0)) {
                failed = true;
                first_errno = res < 0 ? -res : (write ? ENOSPC : 0);
                continue;
            }
            // A short transfer (a signal, the end of a device queue): the
            // rest of this piece synchronously.
            const size_t moved = static_cast<size_t>(res);
            if (moved < p.size) {
                const Status rest =
                    write ? PwriteFully(fd, {p.data + moved, p.size - moved}, p.offset + moved)
                          : PreadFully(fd, {p.data + moved, p.size - moved}, p.offset + moved);
                if (!rest) {
                    failed = true;
                    continue;
                }
            }
            p.done = true;
        }
        while (!failed && next_in_order < pieces.size() && pieces[next_in_order].done) {
            const Piece& p = pieces[next_in_order];
            if (in_order && !in_order({p.data, p.size})) failed = true;
            ++next_in_order;
        }
    }
    if (failed) {
        if (write && first_errno != 0) {
            LOG(WARNING) << "offload write failed: " << std::strerror(first_errno);
        }
        return Error(failure);
    }
    return OkStatus();
}

class UringIo final : public FileIo {
   public:
    const char* name() const override { return "io_uring"; }

    Status Write(int fd, const std::vector<std::span<const uint8_t>>& spans,
                 uint64_t offset) override {
        Ring* ring = ThisThreadsRing();
        if (ring == nullptr) return PosixFileIo().Write(fd, spans, offset);
        std::vector<Piece> pieces;
        for (const auto& span : spans) {
            AppendPieces(span, offset, &pieces);
            offset += span.size();
        }
        return Run(ring->get(), fd, /*write=*/true, pieces, nullptr);
    }

    Status Read(int fd, std::span<uint8_t> dest, uint64_t offset,
                const ChunkDone& chunk_done) override {
        Ring* ring = ThisThreadsRing();
        if (ring == nullptr) return PosixFileIo().Read(fd, dest, offset, chunk_done);
        std::vector<Piece> pieces;
        AppendPieces(dest, offset, &pieces);
        return Run(ring->get(), fd, /*write=*/false, pieces, chunk_done);
    }
};

}  // namespace

std::unique_ptr<FileIo> MakeUringFileIo(std::string* why_not) {
    // A probe ring: the kernel (or a seccomp filter) may refuse io_uring.
    io_uring probe{};
    const int rc = io_uring_queue_init(2, &probe, 0);
    if (rc != 0) {
        *why_not = std::string("io_uring_queue_init failed: ") + std::strerror(-rc);
        return nullptr;
    }
    io_uring_queue_exit(&probe);
    return std::make_unique<UringIo>();
}

}  // namespace mooncake::offload
