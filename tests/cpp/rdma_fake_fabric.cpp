#include "rdma_fake_fabric.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace mooncake::rdma::testing {

namespace {

struct CompletionQueue {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<WorkCompletion> entries;
    uint32_t capacity = 0;
};

struct OpenedDevice {
    uint64_t id = 0;
    std::string name;
    PortInfo port;
    uint32_t gid_index = 0;
    Gid gid;
    std::shared_ptr<CompletionQueue> cq;
};

struct RegionState {
    std::shared_ptr<OpenedDevice> device;
    uint64_t address = 0;
    uint64_t length = 0;
    bool remote_access = false;

    bool Contains(uint64_t begin, uint64_t size) const {
        return begin >= address && size <= length && begin - address <= length - size;
    }
};

enum class Phase { kReset, kInit, kRtr, kRts, kError };

struct QueuePairRecord {
    uint32_t qp_num = 0;
    std::shared_ptr<OpenedDevice> device;
    uint32_t depth = 0;
    Phase phase = Phase::kReset;
    RemotePath path;
    uint32_t outstanding = 0;
};

struct QueuedRequest {
    std::shared_ptr<QueuePairRecord> qp;
    WorkRequest request;
};

}  // namespace

struct FakeFabric::Core {
    mutable std::mutex mutex;
    std::condition_variable work_ready;
    std::unordered_map<uint32_t, RegionState> regions;  // by key (lkey == rkey)
    std::unordered_map<uint32_t, std::shared_ptr<QueuePairRecord>> queue_pairs;
    std::deque<QueuedRequest> queue;
    bool paused = false;
    bool stopping = false;
    size_t fail_next = 0;
    uint32_t next_key = 0x1000;
    uint32_t next_qp_num = 0x100;
    uint64_t next_device_id = 1;
    Stats stats;
    std::thread worker;

    // Needs mutex.
    void Complete(QueuePairRecord& qp, const WorkRequest& request, const char* error) {
        WorkCompletion completion;
        completion.wr_id = request.wr_id;
        completion.qp_num = qp.qp_num;
        completion.success = error == nullptr;
        completion.status_text = error == nullptr ? "success" : error;
        completion.vendor_error = error == nullptr ? 0 : 0x42;
        if (error != nullptr) {
            qp.phase = Phase::kError;
            ++stats.failed;
        }
        --qp.outstanding;
        CompletionQueue& cq = *qp.device->cq;
        std::lock_guard lock(cq.mutex);
        if (cq.entries.size() >= cq.capacity) ++stats.completion_overflows;
        cq.entries.push_back(completion);
        cq.ready.notify_all();
    }

    // Needs mutex. The error a NIC would report for `item`, or nullptr.
    const char* Check(const QueuedRequest& item, RegionState** local, RegionState** remote) {
        QueuePairRecord& qp = *item.qp;
        const WorkRequest& request = item.request;
        if (qp.phase == Phase::kError) return kFlushError;
        auto local_region = regions.find(request.lkey);
        if (local_region == regions.end() || local_region->second.device != qp.device ||
            !local_region->second.Contains(request.local_address, request.length)) {
            return kLocalProtectionError;
        }
        auto peer = queue_pairs.find(qp.path.qp_num);
        if (peer == queue_pairs.end()) return kRetryExceeded;
        QueuePairRecord& target = *peer->second;
        const bool addressed = qp.path.use_global_route ? target.device->gid == qp.path.gid
                                                        : target.device->port.lid == qp.path.lid;
        if (!addressed || target.device->port.link_layer != qp.device->port.link_layer ||
            (target.phase != Phase::kRtr && target.phase != Phase::kRts) ||
            target.path.qp_num != qp.qp_num) {
            return kRetryExceeded;
        }
        if (fail_next > 0) {
            --fail_next;
            return kRemoteAccessError;
        }
        auto remote_region = regions.find(request.rkey);
        if (remote_region == regions.end() || remote_region->second.device != target.device ||
            !remote_region->second.remote_access ||
            !remote_region->second.Contains(request.remote_address, request.length)) {
            return kRemoteAccessError;
        }
        *local = &local_region->second;
        *remote = &remote_region->second;
        return nullptr;
    }

    void Run() {
        std::unique_lock lock(mutex);
        while (true) {
            work_ready.wait(lock, [&] { return stopping || (!paused && !queue.empty()); });
            if (stopping) return;
            QueuedRequest item = std::move(queue.front());
            queue.pop_front();
            RegionState* local = nullptr;
            RegionState* remote = nullptr;
            const char* error = Check(item, &local, &remote);
            if (error == nullptr) {
                void* local_bytes = reinterpret_cast<void*>(item.request.local_address);
                void* remote_bytes = reinterpret_cast<void*>(item.request.remote_address);
                if (item.request.opcode == TransferOpcode::READ) {
                    std::memcpy(local_bytes, remote_bytes, item.request.length);
                } else {
                    std::memcpy(remote_bytes, local_bytes, item.request.length);
                }
                ++stats.executed;
                stats.bytes += item.request.length;
                stats.largest_request =
                    std::max<uint64_t>(stats.largest_request, item.request.length);
                ++stats.executed_by_device[item.qp->device->name];
            }
            Complete(*item.qp, item.request, error);
        }
    }

    // Needs mutex: completes (flushes) or drops the queued requests of `qp`.
    void RemoveQueued(const QueuePairRecord* qp, bool flush) {
        for (auto it = queue.begin(); it != queue.end();) {
            if (it->qp.get() != qp) {
                ++it;
                continue;
            }
            if (flush) Complete(*it->qp, it->request, kFlushError);
            it = queue.erase(it);
        }
    }
};

namespace {

using Core = FakeFabric::Core;

class FakeMemoryRegion final : public MemoryRegion {
   public:
    FakeMemoryRegion(std::shared_ptr<Core> core, uint32_t key)
        : core_(std::move(core)), key_(key) {}
    ~FakeMemoryRegion() override {
        std::lock_guard lock(core_->mutex);
        core_->regions.erase(key_);
    }
    uint32_t lkey() const override { return key_; }
    uint32_t rkey() const override { return key_; }

   private:
    std::shared_ptr<Core> core_;
    uint32_t key_;
};

class FakeQueuePair final : public QueuePair {
   public:
    FakeQueuePair(std::shared_ptr<Core> core, std::shared_ptr<QueuePairRecord> record)
        : core_(std::move(core)), record_(std::move(record)) {}
    ~FakeQueuePair() override {
        std::lock_guard lock(core_->mutex);
        core_->RemoveQueued(record_.get(), /*flush=*/false);
        core_->queue_pairs.erase(record_->qp_num);
    }

    uint32_t qp_num() const override { return record_->qp_num; }

    Status ToInit() override { return Move(Phase::kReset, Phase::kInit); }
    Status ToReadyToReceive(const RemotePath& path) override {
        std::lock_guard lock(core_->mutex);
        if (record_->phase != Phase::kInit || path.qp_num == 0) {
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        record_->path = path;
        record_->phase = Phase::kRtr;
        return OkStatus();
    }
    Status ToReadyToSend(uint32_t) override { return Move(Phase::kRtr, Phase::kRts); }
    Status ToError() override {
        std::lock_guard lock(core_->mutex);
        record_->phase = Phase::kError;
        core_->RemoveQueued(record_.get(), /*flush=*/true);
        return OkStatus();
    }

    Status Post(std::span<const WorkRequest> requests, size_t* posted) override {
        std::lock_guard lock(core_->mutex);
        *posted = 0;
        if (record_->phase != Phase::kRts) return Error(ErrorCode::TRANSFER_FAIL);
        for (const WorkRequest& request : requests) {
            if (record_->outstanding >= record_->depth) {
                ++core_->stats.queue_overflows;
                return Error(ErrorCode::TRANSFER_FAIL);
            }
            ++record_->outstanding;
            core_->queue.push_back({record_, request});
            ++*posted;
        }
        core_->work_ready.notify_all();
        return OkStatus();
    }

   private:
    Status Move(Phase from, Phase to) {
        std::lock_guard lock(core_->mutex);
        if (record_->phase != from) return Error(ErrorCode::TRANSFER_FAIL);
        record_->phase = to;
        return OkStatus();
    }

    std::shared_ptr<Core> core_;
    std::shared_ptr<QueuePairRecord> record_;
};

class FakeDevice final : public Device {
   public:
    FakeDevice(std::shared_ptr<Core> core, std::shared_ptr<OpenedDevice> device)
        : core_(std::move(core)), device_(std::move(device)) {}

    const std::string& name() const override { return device_->name; }
    const PortInfo& port() const override { return device_->port; }
    uint32_t gid_index() const override { return device_->gid_index; }
    uint32_t completion_queue_size() const override { return device_->cq->capacity; }
    uint32_t max_queue_pair_depth() const override { return 1024; }

    Result<std::unique_ptr<MemoryRegion>> RegisterMemory(void* address, size_t length,
                                                         bool remote_access) override {
        if (address == nullptr || length == 0) return Error(ErrorCode::INVALID_PARAMS);
        std::lock_guard lock(core_->mutex);
        const uint32_t key = core_->next_key++;
        core_->regions[key] =
            RegionState{device_, reinterpret_cast<uint64_t>(address), length, remote_access};
        return std::unique_ptr<MemoryRegion>(std::make_unique<FakeMemoryRegion>(core_, key));
    }

    Result<std::unique_ptr<QueuePair>> CreateQueuePair(uint32_t max_outstanding) override {
        auto record = std::make_shared<QueuePairRecord>();
        record->device = device_;
        record->depth = std::min<uint32_t>(max_outstanding, max_queue_pair_depth());
        std::lock_guard lock(core_->mutex);
        record->qp_num = core_->next_qp_num++;
        core_->queue_pairs[record->qp_num] = record;
        return std::unique_ptr<QueuePair>(std::make_unique<FakeQueuePair>(core_, record));
    }

    size_t PollCompletions(std::span<WorkCompletion> out) override {
        CompletionQueue& cq = *device_->cq;
        std::lock_guard lock(cq.mutex);
        size_t taken = 0;
        while (taken < out.size() && !cq.entries.empty()) {
            out[taken++] = cq.entries.front();
            cq.entries.pop_front();
        }
        return taken;
    }

    void WaitForCompletions(std::chrono::milliseconds timeout) override {
        CompletionQueue& cq = *device_->cq;
        std::unique_lock lock(cq.mutex);
        cq.ready.wait_for(lock, timeout, [&] { return !cq.entries.empty(); });
    }

   private:
    std::shared_ptr<Core> core_;
    std::shared_ptr<OpenedDevice> device_;
};

class FakeProvider final : public VerbsProvider {
   public:
    FakeProvider(std::shared_ptr<Core> core, std::vector<DeviceInfo> devices)
        : core_(std::move(core)), devices_(std::move(devices)) {}

    std::vector<DeviceInfo> ListDevices() override { return devices_; }

    Result<std::unique_ptr<Device>> OpenDevice(const DeviceOpenOptions& options) override {
        for (const DeviceInfo& info : devices_) {
            if (info.name != options.name) continue;
            for (const PortInfo& port : info.ports) {
                if (port.port_num != options.port_num) continue;
                auto device = std::make_shared<OpenedDevice>();
                device->name = info.name;
                device->port = port;
                device->gid_index = options.gid_index;
                for (const GidEntry& entry : port.gids) {
                    if (entry.index == options.gid_index) device->gid = entry.gid;
                }
                device->cq = std::make_shared<CompletionQueue>();
                device->cq->capacity = std::max<uint32_t>(1, options.completion_queue_size);
                {
                    std::lock_guard lock(core_->mutex);
                    device->id = core_->next_device_id++;
                }
                return std::unique_ptr<Device>(std::make_unique<FakeDevice>(core_, device));
            }
        }
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }

   private:
    std::shared_ptr<Core> core_;
    std::vector<DeviceInfo> devices_;
};

}  // namespace

DeviceInfo MakeFakeDevice(const std::string& name, LinkLayer link_layer, uint16_t address,
                          bool active) {
    DeviceInfo info;
    info.name = name;
    PortInfo port;
    port.port_num = 1;
    port.active = active;
    port.link_layer = link_layer;
    port.active_mtu = 4096;
    port.max_message_size = 1u << 30;
    if (link_layer == LinkLayer::kInfiniBand) {
        port.lid = address;
        GidEntry entry;
        entry.index = 0;
        entry.type = GidType::kInfiniBand;
        entry.gid.bytes[0] = 0xfe;
        entry.gid.bytes[1] = 0x80;
        entry.gid.bytes[14] = static_cast<uint8_t>(address >> 8);
        entry.gid.bytes[15] = static_cast<uint8_t>(address);
        port.gids.push_back(entry);
    } else {
        GidEntry link_local;
        link_local.index = 0;
        link_local.type = GidType::kRoceV1;
        link_local.gid.bytes[0] = 0xfe;
        link_local.gid.bytes[1] = 0x80;
        link_local.gid.bytes[15] = static_cast<uint8_t>(address);
        port.gids.push_back(link_local);
        GidEntry ipv4;
        ipv4.index = 3;
        ipv4.type = GidType::kRoceV2;
        ipv4.gid.bytes[10] = 0xff;
        ipv4.gid.bytes[11] = 0xff;
        ipv4.gid.bytes[12] = 10;
        ipv4.gid.bytes[13] = 0;
        ipv4.gid.bytes[14] = static_cast<uint8_t>(address >> 8);
        ipv4.gid.bytes[15] = static_cast<uint8_t>(address);
        port.gids.push_back(ipv4);
    }
    info.ports.push_back(port);
    return info;
}

FakeFabric::FakeFabric() : core_(std::make_shared<Core>()) {
    core_->worker = std::thread([core = core_.get()] { core->Run(); });
}

FakeFabric::~FakeFabric() {
    {
        std::lock_guard lock(core_->mutex);
        core_->stopping = true;
    }
    core_->work_ready.notify_all();
    core_->worker.join();
}

std::shared_ptr<VerbsProvider> FakeFabric::MakeProvider(std::vector<DeviceInfo> devices) {
    return std::make_shared<FakeProvider>(core_, std::move(devices));
}

void FakeFabric::Pause() {
    std::lock_guard lock(core_->mutex);
    core_->paused = true;
}

void FakeFabric::Resume() {
    {
        std::lock_guard lock(core_->mutex);
        core_->paused = false;
    }
    core_->work_ready.notify_all();
}

void FakeFabric::FailNext(size_t count) {
    std::lock_guard lock(core_->mutex);
    core_->fail_next = count;
}

FakeFabric::Stats FakeFabric::stats() const {
    std::lock_guard lock(core_->mutex);
    Stats stats = core_->stats;
    stats.live_queue_pairs = core_->queue_pairs.size();
    stats.live_memory_regions = core_->regions.size();
    stats.queued = core_->queue.size();
    return stats;
}

}  // namespace mooncake::rdma::testing
