#include "client/dummy_session.h"

#include <glog/logging.h>

#include "client/client_config_util.h"

namespace mooncake {

Result<std::shared_ptr<DummySession>> DummySession::Open(Client& client, const UUID& id, pid_t pid,
                                                         const ShmFileInfo& shm) {
    if (id.IsNil() || pid <= 0) return Error(ErrorCode::INVALID_PARAMS);
    std::unique_ptr<ShmRegion> mapping;
    if (shm.size > 0) {
        if (shm.fd < 0 || shm.size > kMaxClientMemorySize) return Error(ErrorCode::INVALID_PARAMS);
        auto mapped = ShmRegion::MapPeer(pid, shm, /*writable=*/true);
        if (!mapped.has_value()) {
            LOG(WARNING) << "Cannot map the shared memory of dummy process " << pid
                         << " (is it on this host, in this pid namespace?)";
            return Error(mapped.error());
        }
        Status registered = client.RegisterBuffer((*mapped)->data(), (*mapped)->size());
        if (!registered.has_value()) {
            LOG(WARNING) << "Cannot register the shared memory of dummy process " << pid << ": "
                         << ErrorCodeName(registered.error());
            return Error(registered.error());
        }
        mapping = std::move(*mapped);
    }
    return std::shared_ptr<DummySession>(
        new DummySession(client, id, pid, shm, std::move(mapping)));
}

DummySession::DummySession(Client& client, const UUID& id, pid_t pid, const ShmFileInfo& shm,
                           std::unique_ptr<ShmRegion> mapping)
    : client_(client), id_(id), pid_(pid), shm_(shm), mapping_(std::move(mapping)) {}

DummySession::~DummySession() {
    // Once the real client is closed its registrations are gone already.
    if (mapping_ != nullptr) (void)client_.UnregisterBuffer(mapping_->data());
    LOG(INFO) << "dummy service: dummy process " << pid_ << " detached (session " << id_.ToString()
              << ")";
}

Result<void*> DummySession::Translate(uint64_t offset, uint64_t length) const {
    if (mapping_ == nullptr || length == 0 || offset > mapping_->size() ||
        length > mapping_->size() - offset) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return static_cast<void*>(static_cast<uint8_t*>(mapping_->data()) + offset);
}

}  // namespace mooncake
