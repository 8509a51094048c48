#include "transfer/shm_transport.h"

#include <glog/logging.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/clock.h"
#include "transfer/segment_status_page.h"

namespace mooncake {

struct ShmTransport::PeerState {
    pid_t pid = 0;
    UniqueFd pidfd;  // readable once the owner process exited
    std::unique_ptr<ShmRegion> status_page;
    bool usable = false;

    Mutex mutex;  // guards the two containers below
    std::map<std::pair<int32_t, uint64_t>, std::shared_ptr<ShmRegion>> mappings;
    std::set<std::pair<int32_t, uint64_t>> unmappable;
};

namespace {

constexpr int64_t kSweepIntervalMs = 2000;

int OpenPidFd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
    errno = ENOSYS;
    return -1;
#endif
}

bool ProcessAlive(const UniqueFd& pidfd, pid_t pid) {
    if (pidfd.valid()) {
        pollfd waiter{pidfd.get(), POLLIN, 0};
        return poll(&waiter, 1, 0) == 0;
    }
    return kill(pid, 0) == 0 || errno == EPERM;
}

const SegmentStatusPage* PageOf(const ShmRegion& region) {
    return static_cast<const SegmentStatusPage*>(region.data());
}

}  // namespace

std::shared_ptr<ShmTransport::PeerState> ShmTransport::GetPeer(const SegmentDescriptor& peer,
                                                               bool create) {
    {
        MutexLock lock(mutex_);
        auto it = peers_.find(peer.instance_id);
        if (it != peers_.end() || !create) return it == peers_.end() ? nullptr : it->second;
    }
    // Set the peer up outside the lock: opening /proc entries and mapping
    // take a while.
    auto state = std::make_shared<PeerState>();
    state->pid = peer.pid;
    if (peer.status_page && peer.pid > 0) {
        state->pidfd.Reset(OpenPidFd(peer.pid));
        auto page = ShmRegion::MapPeer(peer.pid, *peer.status_page, /*writable=*/false);
        if (page && (*page)->size() >= sizeof(SegmentStatusPage)) {
            const SegmentStatusPage* view = PageOf(**page);
            state->usable = view->magic.load() == SegmentStatusPage::kMagic &&
                            view->instance_hi.load() == peer.instance_id.hi &&
                            view->instance_lo.load() == peer.instance_id.lo;
            state->status_page = std::move(*page);
        }
    }
    if (!state->usable) {
        LOG(WARNING) << "Shared memory with " << peer.name << " (pid " << peer.pid
                     << ") unavailable; using the network transport";
    } else {
        VLOG(1) << "Shared memory with " << peer.name << " (pid " << peer.pid << ") set up";
    }
    MutexLock lock(mutex_);
    auto [it, inserted] = peers_.emplace(peer.instance_id, std::move(state));
    return it->second;
}

std::shared_ptr<ShmRegion> ShmTransport::GetMapping(PeerState& state, const SegmentDescriptor& peer,
                                                    const SegmentRange& range, bool create) {
    const auto key = std::make_pair(range.shm->fd, range.shm->inode);
    {
        MutexLock lock(state.mutex);
        auto it = state.mappings.find(key);
        if (it != state.mappings.end()) return it->second;
        if (!create || state.unmappable.contains(key)) return nullptr;
    }
    auto mapped = ShmRegion::MapPeer(peer.pid, *range.shm, /*writable=*/true);
    MutexLock lock(state.mutex);
    if (!mapped) {
        state.unmappable.insert(key);
        return nullptr;
    }
    auto [it, inserted] = state.mappings.emplace(key, std::move(*mapped));
    return it->second;
}

bool ShmTransport::StillCurrent(const PeerState& state, const SegmentDescriptor& peer) {
    const SegmentStatusPage* page = PageOf(*state.status_page);
    return page->alive.load(std::memory_order_acquire) == 1 &&
           page->removal_epoch.load(std::memory_order_acquire) == peer.removal_epoch &&
           ProcessAlive(state.pidfd, state.pid);
}

bool ShmTransport::OwnerGone(const PeerState& state) {
    return state.usable &&
           (PageOf(*state.status_page)->alive.load(std::memory_order_acquire) != 1 ||
            !ProcessAlive(state.pidfd, state.pid));
}

void ShmTransport::MaybeSweepGonePeers() {
    const int64_t now = NowMicros() / 1000;
    int64_t next = next_sweep_ms_.load(std::memory_order_relaxed);
    if (now < next || !next_sweep_ms_.compare_exchange_strong(next, now + kSweepIntervalMs)) {
        return;
    }
    std::vector<std::shared_ptr<PeerState>> dropped;  // unmapped outside the lock
    MutexLock lock(mutex_);
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (OwnerGone(*it->second)) {
            dropped.push_back(std::move(it->second));
            it = peers_.erase(it);
        } else {
            ++it;
        }
    }
}

void ShmTransport::DropPeer(const UUID& instance) {
    std::shared_ptr<PeerState> dropped;  // unmapped outside the lock
    MutexLock lock(mutex_);
    auto it = peers_.find(instance);
    if (it == peers_.end()) return;
    dropped = std::move(it->second);
    peers_.erase(it);
}

bool ShmTransport::CanReach(const SegmentDescriptor& peer, const SegmentRange& range) {
    if (!range.shm || !peer.status_page) return false;
    MaybeSweepGonePeers();
    auto state = GetPeer(peer, /*create=*/true);
    if (!state->usable) return false;
    return GetMapping(*state, peer, range, /*create=*/true) != nullptr;
}

void ShmTransport::Submit(std::vector<TransferTask> tasks) {
    // Tasks of one batch usually share a peer and a range: look them up and
    // check the peer's liveness once per run of equal tasks, not per task.
    const SegmentDescriptor* checked_peer = nullptr;
    const SegmentRange* mapped_range = nullptr;
    std::shared_ptr<PeerState> state;
    std::shared_ptr<ShmRegion> mapping;
    bool current = false;
    for (TransferTask& task : tasks) {
        const SegmentDescriptor& peer = *task.peer;
        if (&peer != checked_peer) {
            checked_peer = &peer;
            mapped_range = nullptr;
            mapping = nullptr;
            state = GetPeer(peer, /*create=*/false);
            current = state != nullptr && state->usable && StillCurrent(*state, peer);
            if (!current && state != nullptr && state->usable) {
                // Release the mappings now; a refreshed descriptor maps again.
                DropPeer(peer.instance_id);
                LOG_EVERY_N(WARNING, 100)
                    << "Shared-memory peer " << peer.name << " (pid " << peer.pid
                    << ") exited, restarted or unregistered memory";
            }
        }
        if (current && task.range != mapped_range) {
            mapped_range = task.range;
            mapping =
                task.range->shm ? GetMapping(*state, peer, *task.range, /*create=*/false) : nullptr;
        }
        if (!current || mapping == nullptr ||
            (task.cancelled != nullptr && task.cancelled->load())) {
            task.on_done(ErrorCode::TRANSFER_FAIL);
            continue;
        }
        // The range starts at offset 0 of the memfd (descriptor parsing
        // guarantees range.length <= shm.size).
        char* remote =
            static_cast<char*>(mapping->data()) + (task.remote_address - task.range->address);
        if (task.opcode == TransferOpcode::READ) {
            std::memmove(task.local_address, remote, task.length);
        } else {
            std::memmove(remote, task.local_address, task.length);
        }
        task.on_done(ErrorCode::OK);
    }
}

void ShmTransport::ForgetPeer(const SegmentDescriptor& peer) { DropPeer(peer.instance_id); }

}  // namespace mooncake
