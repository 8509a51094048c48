#include "py_transfer_engine.h"

#include <glog/logging.h>

#include <algorithm>

#include "common/env.h"
#include "common/net_util.h"
#include "net/socket_util.h"
#include "transfer/metadata_client.h"

namespace mooncake::python {

namespace {

constexpr const char* kP2PHandshake = "P2PHANDSHAKE";
constexpr int kDefaultTimeoutSec = 30;
constexpr int kMinTimeoutSec = 5;
// The reference's codes for register_memory.
constexpr int kInvalidArgument = -1;
constexpr int kAddressOverlapped = -7;

// A port from the environment, `fallback` when unset or not a port.
uint16_t PortFromEnv(const char* name, uint16_t fallback) {
    return static_cast<uint16_t>(GetEnvInteger(name, 1024, 65535).value_or(fallback));
}

std::chrono::seconds TimeoutFromEnv() {
    const auto value = GetEnvInteger("MC_TRANSFER_TIMEOUT", 0, 86400).value_or(kDefaultTimeoutSec);
    return std::chrono::seconds(std::max<uint64_t>(value, kMinTimeoutSec));
}

// The host of "host[:port]".
std::string HostOnly(const std::string& local_hostname) {
    auto parsed = ParseHostPort(local_hostname);
    return parsed ? parsed->host : local_hostname;
}

}  // namespace

PyTransferEngine::PyTransferEngine() : timeout_(TimeoutFromEnv()) {}

int PyTransferEngine::Initialize(const std::string& local_hostname,
                                 const std::string& metadata_server, const std::string& protocol,
                                 const std::string& device_name) {
    // A bare "host:port" means etcd, as in the reference.
    return InitializeExt(local_hostname, metadata_server, protocol, device_name, "etcd");
}

int PyTransferEngine::InitializeExt(const std::string& local_hostname,
                                    const std::string& metadata_server, const std::string& protocol,
                                    const std::string& device_name,
                                    const std::string& metadata_type) {
    std::string connection = metadata_server;
    if (metadata_server != kP2PHandshake && metadata_server.find("://") == std::string::npos) {
        connection = metadata_type + "://" + metadata_server;
    }
    const bool p2p = connection == kP2PHandshake;
    if (!p2p && !IsMetadataServerUrl(connection)) {
        LOG(ERROR) << "TransferEngine.initialize: metadata server '" << connection
                   << "' is not supported; use P2PHANDSHAKE, etcd://host:port[;host:port] or "
                      "an http:// metadata server (mooncake_master's embedded one or "
                      "mooncake_http_metadata_server)";
        return -1;
    }
    TransferEngineConfig config{
        .local_hostname = local_hostname,
        .metadata_server = connection,
        .protocol = protocol == "rdma" ? "rdma" : "tcp",
        .rdma_devices = device_name,
        .cluster_id = "",
        .name_as_given = true,  // with a metadata service (interfaces.md §10.2)
    };
    if (p2p) {
        // As the reference's P2P engine: the port of local_hostname is
        // ignored, the engine names itself by a free port of
        // [MC_MIN_PRC_PORT, MC_MAX_PRC_PORT] (interfaces.md §10.2), which
        // get_rpc_port() tells.
        if (HostOnly(local_hostname) != local_hostname) {
            LOG(INFO) << "TransferEngine: P2PHANDSHAKE ignores the port of '" << local_hostname
                      << "'; see get_rpc_port()";
        }
        config.local_hostname = HostOnly(local_hostname);
        config.auto_port_first = PortFromEnv("MC_MIN_PRC_PORT", 15000);
        config.auto_port_last = PortFromEnv("MC_MAX_PRC_PORT", 17000);
    }
    auto created = TransferEngine::Create(config);
    if (!created && config.protocol == "rdma" &&
        created.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_MODE) {
        // As the reference: without a usable HCA the engine runs over TCP.
        LOG(WARNING) << "TransferEngine: no usable RDMA device, falling back to tcp";
        config.protocol = "tcp";
        created = TransferEngine::Create(config);
    }
    if (!created) {
        LOG(ERROR) << "TransferEngine.initialize(" << local_hostname << ", " << metadata_server
                   << ") failed: " << ErrorCodeName(created.error());
        return -1;
    }
    MutexLock lock(mutex_);
    if (engine_) {
        LOG(ERROR) << "TransferEngine.initialize: already initialized as "
                   << engine_->segment_name();
        return -1;
    }
    engine_ = std::shared_ptr<TransferEngine>(std::move(*created));
    return 0;
}

std::shared_ptr<TransferEngine> PyTransferEngine::engine() const {
    MutexLock lock(mutex_);
    return engine_;
}

std::shared_ptr<TransferEngine> PyTransferEngine::Ready(const char* method) const {
    auto engine = this->engine();
    if (!engine) LOG(ERROR) << "TransferEngine." << method << ": call initialize() first";
    return engine;
}

int PyTransferEngine::GetRpcPort() const {
    auto engine = Ready("get_rpc_port");
    return engine ? engine->rpc_port() : -1;
}

// ---------------------------------------------------------------------------
// Memory

int PyTransferEngine::RegisterMemory(uintptr_t address, size_t capacity) {
    auto engine = Ready("register_memory");
    if (!engine || address == 0 || capacity == 0) return kInvalidArgument;
    auto status = engine->RegisterLocalMemory(reinterpret_cast<void*>(address), capacity);
    if (status) return 0;
    return status.error() == ErrorCode::INVALID_PARAMS ? kAddressOverlapped : kInvalidArgument;
}

int PyTransferEngine::UnregisterMemory(uintptr_t address) {
    auto engine = Ready("unregister_memory");
    if (!engine) return kInvalidArgument;
    return engine->UnregisterLocalMemory(reinterpret_cast<void*>(address)) ? 0 : kInvalidArgument;
}

int PyTransferEngine::BatchRegisterMemory(const std::vector<uintptr_t>& addresses,
                                          const std::vector<size_t>& capacities) {
    if (addresses.size() != capacities.size()) return kInvalidArgument;
    for (size_t i = 0; i < addresses.size(); ++i) {
        const int code = RegisterMemory(addresses[i], capacities[i]);
        if (code == 0) continue;
        // All or nothing: undo what this call registered.
        for (size_t j = 0; j < i; ++j) (void)UnregisterMemory(addresses[j]);
        return code;
    }
    return 0;
}

int PyTransferEngine::BatchUnregisterMemory(const std::vector<uintptr_t>& addresses) {
    int first_error = 0;
    for (uintptr_t address : addresses) {
        const int code = UnregisterMemory(address);
        if (first_error == 0) first_error = code;
    }
    return first_error;
}

uintptr_t PyTransferEngine::AllocateManagedBuffer(size_t length) {
    auto engine = Ready("allocate_managed_buffer");
    if (!engine || length == 0) return 0;
    // Shared memory: peers on this host copy straight into it.
    auto memory = engine->AllocateSharedMemory(length);
    return memory ? reinterpret_cast<uintptr_t>(*memory) : 0;
}

int PyTransferEngine::FreeManagedBuffer(uintptr_t address, size_t /*length*/) {
    auto engine = Ready("free_managed_buffer");
    if (!engine) return -1;
    return engine->FreeSharedMemory(reinterpret_cast<void*>(address)) ? 0 : -1;
}

// ---------------------------------------------------------------------------
// Transfers

Result<SegmentHandle> PyTransferEngine::Open(TransferEngine& engine, const std::string& target) {
    auto handle = engine.OpenSegment(target);
    if (!handle) LOG(WARNING) << "TransferEngine: cannot open segment '" << target << "'";
    return handle;
}

Result<std::vector<TransferRequest>> PyTransferEngine::Requests(SegmentHandle segment,
                                                                const TransferParts& parts,
                                                                TransferOpcode opcode) const {
    if (parts.local.size() != parts.remote.size() || parts.local.size() != parts.lengths.size()) {
        LOG(WARNING) << "TransferEngine: buffers, peer addresses and lengths differ in length";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::vector<TransferRequest> requests;
    requests.reserve(parts.local.size());
    for (size_t i = 0; i < parts.local.size(); ++i) {
        requests.push_back(TransferRequest{
            .opcode = opcode,
            .local_address = reinterpret_cast<void*>(parts.local[i]),
            .segment = segment,
            .remote_address = parts.remote[i],
            .length = parts.lengths[i],
        });
    }
    return requests;
}

std::chrono::milliseconds PyTransferEngine::TimeoutFor(const TransferParts& parts) const {
    uint64_t bytes = 0;
    for (size_t length : parts.lengths) bytes += length;
    return std::chrono::duration_cast<std::chrono::milliseconds>(timeout_) +
           std::chrono::milliseconds(bytes / 1000000);
}

int PyTransferEngine::TransferSync(const std::string& target, const TransferParts& parts,
                                   TransferOpcode opcode,
                                   const std::optional<TransferNotifyMessage>& notify) {
    auto engine = Ready("transfer_sync");
    if (!engine) return -1;
    auto segment = Open(*engine, target);
    if (!segment) return -1;
    auto requests = Requests(*segment, parts, opcode);
    if (!requests) return -1;
    if (auto done = engine->TransferSync(*requests, nullptr, TimeoutFor(parts)); !done) {
        LOG(WARNING) << "TransferEngine: transfer of " << requests->size() << " requests to "
                     << target << " failed: " << ErrorCodeName(done.error());
        return -1;
    }
    if (notify && !engine->SendNotify(*segment, *notify)) return -1;
    return 0;
}

uint64_t PyTransferEngine::TransferAsync(const std::string& target, const TransferParts& parts,
                                         TransferOpcode opcode) {
    auto engine = Ready("batch_transfer_async");
    if (!engine) return 0;
    auto segment = Open(*engine, target);
    if (!segment) return kBadPeerBatch;
    auto requests = Requests(*segment, parts, opcode);
    if (!requests || requests->empty()) return 0;
    auto batch = engine->AllocateBatch(requests->size());
    if (!batch) return 0;
    if (!engine->SubmitTransfer(*batch, *requests)) {
        (void)engine->FreeBatch(*batch);
        return 0;
    }
    MutexLock lock(mutex_);
    async_[*batch] =
        AsyncBatch{requests->size(), std::chrono::steady_clock::now() + TimeoutFor(parts)};
    return *batch;
}

std::optional<PyTransferEngine::AsyncBatch> PyTransferEngine::TakeBatch(uint64_t batch_id) {
    MutexLock lock(mutex_);
    auto it = async_.find(batch_id);
    if (it == async_.end()) return std::nullopt;
    AsyncBatch batch = it->second;
    async_.erase(it);
    return batch;
}

int PyTransferEngine::WaitBatches(const std::vector<uint64_t>& batch_ids) {
    auto engine = Ready("get_batch_transfer_status");
    if (!engine) return -1;
    int result = 0;
    for (uint64_t id : batch_ids) {
        auto batch = TakeBatch(id);
        if (!batch) {
            LOG(WARNING) << "get_batch_transfer_status: unknown batch id " << id;
            result = -1;
            continue;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            batch->deadline - std::chrono::steady_clock::now());
        if (!engine->WaitBatch(id, std::max(left, std::chrono::milliseconds(0)))) result = -1;
        (void)engine->FreeBatch(id);
    }
    return result;
}

int PyTransferEngine::CheckBatch(uint64_t batch_id) {
    auto engine = Ready("transfer_check_status");
    if (!engine) return -1;
    std::optional<AsyncBatch> batch;
    {
        MutexLock lock(mutex_);
        auto it = async_.find(batch_id);
        if (it != async_.end()) batch = it->second;
    }
    if (!batch) return -1;
    bool running = false;
    bool failed = false;
    for (size_t i = 0; i < batch->requests; ++i) {
        auto status = engine->GetTransferStatus(batch_id, i);
        if (!status || status->state == TransferState::FAILED) failed = true;
        if (status && status->state == TransferState::PENDING) running = true;
    }
    if (running && !failed) {
        return std::chrono::steady_clock::now() > batch->deadline ? -2 : 0;
    }
    if (TakeBatch(batch_id)) (void)engine->FreeBatch(batch_id);
    return failed ? -1 : 1;
}

// ---------------------------------------------------------------------------
// Peers and notifications

uintptr_t PyTransferEngine::FirstBufferAddress(const std::string& segment_name) {
    auto engine = Ready("get_first_buffer_address");
    if (!engine) return 0;
    auto segment = Open(*engine, segment_name);
    if (!segment) return 0;
    auto address = engine->FirstBufferAddress(*segment);
    return address ? static_cast<uintptr_t>(*address) : 0;
}

int PyTransferEngine::SendProbe(const std::string& peer_segment_name) const {
    if (!Ready("send_probe")) return -1;
    auto peer = ParseHostPort(peer_segment_name);
    if (!peer || !peer->port) {
        LOG(WARNING) << "send_probe: '" << peer_segment_name << "' is not a host:port segment name";
        return -1;
    }
    auto ip = ResolveIPv4(peer->host);
    if (!ip) return -1;
    constexpr int kProbeTimeoutMs = 2000;
    return net::ConnectTcp(*ip, *peer->port, kProbeTimeoutMs).has_value() ? 0 : -1;
}

std::vector<TransferNotifyMessage> PyTransferEngine::TakeNotifies() {
    auto engine = Ready("get_notifies");
    return engine ? engine->TakeNotifies() : std::vector<TransferNotifyMessage>{};
}

}  // namespace mooncake::python
