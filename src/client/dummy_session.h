// One dummy client as the standalone client sees it: the dummy's shared
// memory, mapped into this process and registered with the real client so
// that puts read from it and gets write into it directly. Shared by the
// dummy's connections; the last one to go unregisters and unmaps it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "mooncake/client.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "transfer/segment_descriptor.h"
#include "transfer/shm_region.h"

namespace mooncake {

class DummySession {
   public:
    // Maps `shm` of process `pid` (nothing when shm.size is 0) and registers
    // it with `client`, which must outlive the session. TRANSFER_FAIL when
    // the memory cannot be mapped (another host or pid namespace, a process
    // that is gone, a descriptor that is not that memfd); INVALID_PARAMS for
    // a nonsensical description.
    static Result<std::shared_ptr<DummySession>> Open(Client& client, const UUID& id, pid_t pid,
                                                      const ShmFileInfo& shm);
    ~DummySession();
    DummySession(const DummySession&) = delete;
    DummySession& operator=(const DummySession&) = delete;

    const UUID& id() const { return id_; }
    pid_t pid() const { return pid_; }
    const ShmFileInfo& shm() const { return shm_; }

    // True when it is the memory a new connection of the same dummy
    // describes.
    bool Describes(pid_t pid, const ShmFileInfo& shm) const { return pid == pid_ && shm == shm_; }

    // This process's address of [offset, offset + length) of the dummy's
    // memory. INVALID_PARAMS when the range is empty or not inside it.
    Result<void*> Translate(uint64_t offset, uint64_t length) const;

   private:
    DummySession(Client& client, const UUID& id, pid_t pid, const ShmFileInfo& shm,
                 std::unique_ptr<ShmRegion> mapping);

    Client& client_;
    const UUID id_;
    const pid_t pid_;
    const ShmFileInfo shm_;
    const std::unique_ptr<ShmRegion> mapping_;  // null when the dummy has no memory
};

}  // namespace mooncake
