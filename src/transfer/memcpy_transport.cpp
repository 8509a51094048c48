#include "transfer/memcpy_transport.h"

#include <glog/logging.h>

#include <cstring>

#include "transfer/local_engine_directory.h"

namespace mooncake {

bool MemcpyTransport::CanReach(const SegmentDescriptor& peer, const SegmentRange& range) {
    return LocalEngineDirectory::Find(peer.instance_id) != nullptr;
}

void MemcpyTransport::Submit(std::vector<TransferTask> tasks) {
    for (TransferTask& task : tasks) {
        auto memory = LocalEngineDirectory::Find(task.peer->instance_id);
        if (memory == nullptr) {
            LOG(WARNING) << "memcpy transfer: engine " << task.peer->name << " is gone";
            task.on_done(ErrorCode::TRANSFER_FAIL);
            continue;
        }
        if (!memory->IsRemotelyAccessible(task.remote_address, task.length)) {
            LOG(WARNING) << "memcpy transfer refused: range outside the registered memory of "
                         << task.peer->name;
            task.on_done(ErrorCode::INVALID_PARAMS);
            continue;
        }
        if (task.cancelled != nullptr && task.cancelled->load()) {
            task.on_done(ErrorCode::TRANSFER_FAIL);
            continue;
        }
        void* remote = reinterpret_cast<void*>(task.remote_address);
        // memmove: a transfer within one engine may overlap itself.
        if (task.opcode == TransferOpcode::READ) {
            std::memmove(task.local_address, remote, task.length);
        } else {
            std::memmove(remote, task.local_address, task.length);
        }
        task.on_done(ErrorCode::OK);
    }
}

}  // namespace mooncake
