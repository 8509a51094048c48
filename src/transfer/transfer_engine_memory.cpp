// Local memory of the engine: registration and unregistration (each change
// hooked into every transport and, for remotely accessible memory,
// republished in the descriptor), and the memfd-backed shared memory that
// same-host peers map instead of copying over the network.
#include <glog/logging.h>

#include "transfer/transfer_engine_impl.h"

namespace mooncake {

Status TransferEngineImpl::RegisterRegionLocked(RegisteredRegion region) {
    std::vector<Transport*> hooked;
    auto undo_hooks = [&] {
        for (Transport* transport : hooked) transport->OnUnregisterMemory(region);
    };
    for (Transport* transport : AllTransports()) {
        nlohmann::json published = nlohmann::json::object();
        if (auto status = transport->OnRegisterMemory(region, &published); !status) {
            LOG(ERROR) << "Transport " << transport->name() << " refused to register "
                       << region.length << " bytes: " << ErrorCodeName(status.error());
            undo_hooks();
            return status;
        }
        hooked.push_back(transport);
        if (published.is_object() && !published.empty()) {
            region.transports[std::string(transport->name())] = std::move(published);
        }
    }
    const uint64_t address = region.address;
    const bool remote = region.remote_accessible;
    const uint64_t length = region.length;
    if (auto added = memory_->Add(region); !added) {
        LOG(WARNING) << "Register of [0x" << std::hex << address << std::dec << ", +" << length
                     << ") refused: overlaps a registered range";
        undo_hooks();
        return added;
    }
    if (remote) {
        version_.fetch_add(1);
        if (auto published = Publish(); !published) {
            (void)memory_->Remove(address);
            undo_hooks();
            version_.fetch_add(1);
            return published;
        }
    }
    VLOG(1) << "Registered [0x" << std::hex << address << std::dec << ", +" << length << ")"
            << (remote ? " remotely accessible" : " local only");
    return OkStatus();
}

Status TransferEngineImpl::UnregisterRegionLocked(uint64_t address) {
    auto region = memory_->Remove(address);
    if (!region) return Error(ErrorCode::INVALID_PARAMS);
    if (region->remote_accessible) {
        // Same-host peers copying without asking see the epoch move and
        // refetch the descriptor.
        const uint64_t epoch = removal_epoch_.fetch_add(1) + 1;
        status_page_->removal_epoch.store(epoch, std::memory_order_release);
        version_.fetch_add(1);
        if (auto published = Publish(); !published) {
            LOG(WARNING) << "Unregistered [0x" << std::hex << address << std::dec
                         << "] but could not republish the descriptor";
        }
    }
    for (Transport* transport : AllTransports()) transport->OnUnregisterMemory(*region);
    return OkStatus();
}

Result<void*> TransferEngineImpl::AllocateSharedMemory(size_t length) {
    if (length == 0) return Error(ErrorCode::INVALID_PARAMS);
    auto region = ShmRegion::Create(length, "mooncake-segment");
    if (!region) return Error(region.error());
    RegisteredRegion registered;
    registered.address = reinterpret_cast<uint64_t>((*region)->data());
    registered.length = length;
    registered.remote_accessible = true;
    registered.shm = (*region)->file_info();
    MutexLock lock(registration_mutex_);
    MC_RETURN_IF_ERROR(RegisterRegionLocked(std::move(registered)));
    void* data = (*region)->data();
    shared_regions_.emplace(reinterpret_cast<uint64_t>(data), std::move(*region));
    LOG(INFO) << "Transfer engine " << segment_name_ << ": allocated " << length
              << " bytes of shared memory at " << data;
    return data;
}

Status TransferEngineImpl::FreeSharedMemory(void* address) {
    MutexLock lock(registration_mutex_);
    auto it = shared_regions_.find(reinterpret_cast<uint64_t>(address));
    if (it == shared_regions_.end()) return Error(ErrorCode::INVALID_PARAMS);
    MC_RETURN_IF_ERROR(UnregisterRegionLocked(it->first));
    shared_regions_.erase(it);
    return OkStatus();
}

Status TransferEngineImpl::RegisterLocalMemory(void* address, size_t length,
                                               bool remote_accessible) {
    const auto start = reinterpret_cast<uint64_t>(address);
    if (address == nullptr || length == 0 || start + length < start) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    RegisteredRegion region;
    region.address = start;
    region.length = length;
    region.remote_accessible = remote_accessible;
    MutexLock lock(registration_mutex_);
    return RegisterRegionLocked(std::move(region));
}

Status TransferEngineImpl::UnregisterLocalMemory(void* address) {
    MutexLock lock(registration_mutex_);
    if (shared_regions_.contains(reinterpret_cast<uint64_t>(address))) {
        LOG(WARNING) << "UnregisterLocalMemory on shared memory: use FreeSharedMemory";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return UnregisterRegionLocked(reinterpret_cast<uint64_t>(address));
}

bool TransferEngineImpl::IsRegistered(const void* address, size_t length) const {
    return memory_->Contains(reinterpret_cast<uint64_t>(address), length);
}

}  // namespace mooncake
