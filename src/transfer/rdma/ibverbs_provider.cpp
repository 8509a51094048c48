#include "transfer/rdma/ibverbs_provider.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <infiniband/verbs.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

namespace mooncake::rdma {

namespace {

// Queue pair timing: local ACK timeout 4.096 us * 2^14 (~67 ms), 7 retries,
// so a vanished peer fails a request within about half a second.
constexpr uint8_t kAckTimeout = 14;
constexpr uint8_t kRetryCount = 7;
constexpr uint8_t kRnrRetry = 7;  // 7 = retry forever on receiver-not-ready
constexpr uint8_t kMinRnrTimer = 12;
constexpr uint8_t kHopLimit = 64;
constexpr int kMaxReadAtomic = 16;
constexpr size_t kPostGroup = 32;
constexpr int kPollBatch = 64;

uint32_t MtuBytes(ibv_mtu mtu) {
    switch (mtu) {
        case IBV_MTU_256:
            return 256;
        case IBV_MTU_512:
            return 512;
        case IBV_MTU_1024:
            return 1024;
        case IBV_MTU_2048:
            return 2048;
        case IBV_MTU_4096:
            return 4096;
    }
    return 0;
}

ibv_mtu MtuEnum(uint32_t bytes) {
    switch (bytes) {
        case 256:
            return IBV_MTU_256;
        case 512:
            return IBV_MTU_512;
        case 2048:
            return IBV_MTU_2048;
        case 4096:
            return IBV_MTU_4096;
        default:
            return IBV_MTU_1024;
    }
}

ErrorCode CodeForErrno(int error) {
    return error == EINVAL || error == EFAULT ? ErrorCode::INVALID_PARAMS
                                              : ErrorCode::INTERNAL_ERROR;
}

GidType GidTypeOf(uint32_t type) {
    switch (type) {
        case IBV_GID_TYPE_IB:
            return GidType::kInfiniBand;
        case IBV_GID_TYPE_ROCE_V1:
            return GidType::kRoceV1;
        case IBV_GID_TYPE_ROCE_V2:
            return GidType::kRoceV2;
        default:
            return GidType::kUnknown;
    }
}

struct DeviceListDeleter {
    void operator()(ibv_device** list) const { ibv_free_device_list(list); }
};
using DeviceList = std::unique_ptr<ibv_device*, DeviceListDeleter>;

struct ContextCloser {
    void operator()(ibv_context* context) const { ibv_close_device(context); }
};
using ContextHandle = std::unique_ptr<ibv_context, ContextCloser>;

std::vector<GidEntry> QueryGids(ibv_context* context, uint8_t port, int table_length) {
    std::vector<GidEntry> gids;
    for (int index = 0; index < table_length; ++index) {
        GidEntry entry;
        entry.index = static_cast<uint32_t>(index);
        ibv_gid_entry extended{};
        const int rc = ibv_query_gid_ex(context, port, index, &extended, 0);
        if (rc == 0) {
            std::memcpy(entry.gid.bytes.data(), extended.gid.raw, entry.gid.bytes.size());
            entry.type = GidTypeOf(extended.gid_type);
        } else if (rc == ENODATA) {
            continue;  // an empty slot
        } else {
            // Kernels without the GID table API: the plain query, type unknown.
            ibv_gid gid{};
            if (ibv_query_gid(context, port, index, &gid) != 0) continue;
            std::memcpy(entry.gid.bytes.data(), gid.raw, entry.gid.bytes.size());
        }
        if (!entry.gid.IsZero()) gids.push_back(entry);
    }
    return gids;
}

std::optional<PortInfo> QueryPort(ibv_context* context, uint8_t port_num) {
    ibv_port_attr attr{};
    if (ibv_query_port(context, port_num, &attr) != 0) return std::nullopt;
    PortInfo port;
    port.port_num = port_num;
    port.active = attr.state == IBV_PORT_ACTIVE;
    port.link_layer =
        attr.link_layer == IBV_LINK_LAYER_ETHERNET ? LinkLayer::kEthernet : LinkLayer::kInfiniBand;
    port.lid = attr.lid;
    port.active_mtu = MtuBytes(attr.active_mtu);
    port.max_message_size = attr.max_msg_sz;
    port.gids = QueryGids(context, port_num, attr.gid_tbl_len);
    return port;
}

// What a device owns, shared with its queue pairs and memory regions so that
// verbs objects are always destroyed before the ones they depend on.
struct Resources {
    ~Resources() {
        if (cq != nullptr) ibv_destroy_cq(cq);
        if (channel != nullptr) ibv_destroy_comp_channel(channel);
        if (pd != nullptr) ibv_dealloc_pd(pd);
        if (context != nullptr) ibv_close_device(context);
    }

    std::string name;
    ibv_context* context = nullptr;
    ibv_pd* pd = nullptr;
    ibv_comp_channel* channel = nullptr;
    ibv_cq* cq = nullptr;
    ibv_device_attr attr{};
    uint8_t port_num = 1;
    uint32_t gid_index = 0;
};

// A destructor cannot report a failed release (rc, an errno value) other
// than in the log.
void WarnIfReleaseFailed(int rc, const char* call, const std::string& device) {
    if (rc != 0) LOG(WARNING) << call << " on " << device << " failed: " << std::strerror(rc);
}

class IbvMemoryRegion final : public MemoryRegion {
   public:
    IbvMemoryRegion(std::shared_ptr<Resources> resources, ibv_mr* mr)
        : resources_(std::move(resources)), mr_(mr) {}
    ~IbvMemoryRegion() override {
        WarnIfReleaseFailed(ibv_dereg_mr(mr_), "ibv_dereg_mr", resources_->name);
    }
    uint32_t lkey() const override { return mr_->lkey; }
    uint32_t rkey() const override { return mr_->rkey; }

   private:
    std::shared_ptr<Resources> resources_;
    ibv_mr* mr_;
};

class IbvQueuePair final : public QueuePair {
   public:
    IbvQueuePair(std::shared_ptr<Resources> resources, ibv_qp* qp)
        : resources_(std::move(resources)), qp_(qp) {}
    ~IbvQueuePair() override {
        WarnIfReleaseFailed(ibv_destroy_qp(qp_), "ibv_destroy_qp", resources_->name);
    }

    uint32_t qp_num() const override { return qp_->qp_num; }

    Status ToInit() override {
        ibv_qp_attr attr{};
        attr.qp_state = IBV_QPS_INIT;
        attr.pkey_index = 0;
        attr.port_num = resources_->port_num;
        attr.qp_access_flags =
            IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
        return Modify(attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS,
                      "INIT");
    }

    Status ToReadyToReceive(const RemotePath& path) override {
        ibv_qp_attr attr{};
        attr.qp_state = IBV_QPS_RTR;
        attr.path_mtu = MtuEnum(path.path_mtu);
        attr.dest_qp_num = path.qp_num;
        attr.rq_psn = path.psn;
        attr.max_dest_rd_atomic =
            static_cast<uint8_t>(std::clamp(resources_->attr.max_qp_rd_atom, 1, kMaxReadAtomic));
        attr.min_rnr_timer = kMinRnrTimer;
        attr.ah_attr.dlid = path.lid;
        attr.ah_attr.sl = 0;
        attr.ah_attr.src_path_bits = 0;
        attr.ah_attr.port_num = resources_->port_num;
        if (path.use_global_route) {
            attr.ah_attr.is_global = 1;
            std::memcpy(attr.ah_attr.grh.dgid.raw, path.gid.bytes.data(), path.gid.bytes.size());
            attr.ah_attr.grh.sgid_index = static_cast<uint8_t>(resources_->gid_index);
            attr.ah_attr.grh.hop_limit = kHopLimit;
            attr.ah_attr.grh.traffic_class = 0;
            attr.ah_attr.grh.flow_label = 0;
        }
        return Modify(attr,
                      IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                          IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER,
                      "RTR");
    }

    Status ToReadyToSend(uint32_t local_psn) override {
        ibv_qp_attr attr{};
        attr.qp_state = IBV_QPS_RTS;
        attr.timeout = kAckTimeout;
        attr.retry_cnt = kRetryCount;
        attr.rnr_retry = kRnrRetry;
        attr.sq_psn = local_psn;
        attr.max_rd_atomic = static_cast<uint8_t>(
            std::clamp(resources_->attr.max_qp_init_rd_atom, 1, kMaxReadAtomic));
        return Modify(attr,
                      IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                          IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC,
                      "RTS");
    }

    Status ToError() override {
        ibv_qp_attr attr{};
        attr.qp_state = IBV_QPS_ERR;
        return Modify(attr, IBV_QP_STATE, "ERROR");
    }

    Status Post(std::span<const WorkRequest> requests, size_t* posted) override {
        *posted = 0;
        ibv_sge sges[kPostGroup];
        ibv_send_wr wrs[kPostGroup];
        while (*posted < requests.size()) {
            const size_t count = std::min(kPostGroup, requests.size() - *posted);
            for (size_t i = 0; i < count; ++i) {
                const WorkRequest& request = requests[*posted + i];
                sges[i] = ibv_sge{};
                sges[i].addr = request.local_address;
                sges[i].length = request.length;
                sges[i].lkey = request.lkey;
                wrs[i] = ibv_send_wr{};
                wrs[i].wr_id = request.wr_id;
                wrs[i].sg_list = &sges[i];
                wrs[i].num_sge = 1;
                wrs[i].opcode =
                    request.opcode == TransferOpcode::READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
                wrs[i].send_flags = IBV_SEND_SIGNALED;
                wrs[i].wr.rdma.remote_addr = request.remote_address;
                wrs[i].wr.rdma.rkey = request.rkey;
                wrs[i].next = i + 1 < count ? &wrs[i + 1] : nullptr;
            }
            ibv_send_wr* bad = nullptr;
            if (int rc = ibv_post_send(qp_, wrs, &bad); rc != 0) {
                const size_t accepted = bad != nullptr ? static_cast<size_t>(bad - wrs) : 0;
                *posted += accepted;
                LOG(WARNING) << "ibv_post_send on " << resources_->name << " qp " << qp_->qp_num
                             << " failed: " << std::strerror(rc);
                return Error(ErrorCode::TRANSFER_FAIL);
            }
            *posted += count;
        }
        return OkStatus();
    }

   private:
    Status Modify(ibv_qp_attr& attr, int mask, const char* target) {
        if (int rc = ibv_modify_qp(qp_, &attr, mask); rc != 0) {
            LOG(WARNING) << "ibv_modify_qp to " << target << " on " << resources_->name << " qp "
                         << qp_->qp_num << " failed: " << std::strerror(rc);
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        return OkStatus();
    }

    std::shared_ptr<Resources> resources_;
    ibv_qp* qp_;
};

class IbvDevice final : public Device {
   public:
    IbvDevice(std::shared_ptr<Resources> resources, PortInfo port, uint32_t capacity)
        : resources_(std::move(resources)), port_(std::move(port)), capacity_(capacity) {}

    const std::string& name() const override { return resources_->name; }
    const PortInfo& port() const override { return port_; }
    uint32_t gid_index() const override { return resources_->gid_index; }
    uint32_t completion_queue_size() const override { return capacity_; }
    uint32_t max_queue_pair_depth() const override {
        return static_cast<uint32_t>(std::max(1, resources_->attr.max_qp_wr));
    }

    Result<std::unique_ptr<MemoryRegion>> RegisterMemory(void* address, size_t length,
                                                         bool remote_access) override {
        int access = IBV_ACCESS_LOCAL_WRITE;
        if (remote_access) access |= IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
        ibv_mr* mr = ibv_reg_mr(resources_->pd, address, length, access);
        if (mr == nullptr) {
            const int error = errno;
            LOG(ERROR) << "ibv_reg_mr of " << length << " bytes at " << address << " on "
                       << resources_->name << " failed: " << std::strerror(error);
            return Error(CodeForErrno(error));
        }
        return std::unique_ptr<MemoryRegion>(std::make_unique<IbvMemoryRegion>(resources_, mr));
    }

    Result<std::unique_ptr<QueuePair>> CreateQueuePair(uint32_t max_outstanding) override {
        ibv_qp_init_attr attr{};
        attr.send_cq = resources_->cq;
        attr.recv_cq = resources_->cq;
        attr.qp_type = IBV_QPT_RC;
        attr.sq_sig_all = 0;
        attr.cap.max_send_wr = std::min(max_outstanding, max_queue_pair_depth());
        attr.cap.max_recv_wr = 1;
        attr.cap.max_send_sge = 1;
        attr.cap.max_recv_sge = 1;
        attr.cap.max_inline_data = 0;
        ibv_qp* qp = ibv_create_qp(resources_->pd, &attr);
        if (qp == nullptr) {
            const int error = errno;
            LOG(WARNING) << "ibv_create_qp on " << resources_->name
                         << " failed: " << std::strerror(error);
            return Error(ErrorCode::INTERNAL_ERROR);
        }
        return std::unique_ptr<QueuePair>(std::make_unique<IbvQueuePair>(resources_, qp));
    }

    size_t PollCompletions(std::span<WorkCompletion> out) override {
        size_t taken = 0;
        while (taken < out.size() && !stash_.empty()) {
            out[taken++] = stash_.front();
            stash_.pop_front();
        }
        if (taken == out.size()) return taken;
        ibv_wc wcs[kPollBatch];
        const int wanted = static_cast<int>(std::min<size_t>(out.size() - taken, kPollBatch));
        const int count = ibv_poll_cq(resources_->cq, wanted, wcs);
        if (count < 0) {
            LOG_EVERY_N(ERROR, 100) << "ibv_poll_cq on " << resources_->name << " failed";
            return taken;
        }
        for (int i = 0; i < count; ++i) out[taken++] = Convert(wcs[i]);
        return taken;
    }

    void WaitForCompletions(std::chrono::milliseconds timeout) override {
        if (!stash_.empty()) return;
        if (ibv_req_notify_cq(resources_->cq, 0) != 0) {
            poll(nullptr, 0, static_cast<int>(timeout.count()));
            return;
        }
        // A completion that arrived before the CQ was armed raises no event.
        ibv_wc wcs[kPollBatch];
        const int count = ibv_poll_cq(resources_->cq, kPollBatch, wcs);
        for (int i = 0; i < count; ++i) stash_.push_back(Convert(wcs[i]));
        if (count > 0) return;
        pollfd waiter{resources_->channel->fd, POLLIN, 0};
        if (poll(&waiter, 1, static_cast<int>(timeout.count())) <= 0) return;
        ibv_cq* cq = nullptr;
        void* cq_context = nullptr;
        if (ibv_get_cq_event(resources_->channel, &cq, &cq_context) == 0) {
            ibv_ack_cq_events(cq, 1);
        }
    }

   private:
    static WorkCompletion Convert(const ibv_wc& wc) {
        WorkCompletion completion;
        completion.wr_id = wc.wr_id;
        completion.qp_num = wc.qp_num;
        completion.success = wc.status == IBV_WC_SUCCESS;
        completion.status_text = ibv_wc_status_str(wc.status);
        completion.vendor_error = wc.vendor_err;
        return completion;
    }

    std::shared_ptr<Resources> resources_;
    const PortInfo port_;
    const uint32_t capacity_;
    // Completions taken while arming the CQ; the polling thread alone
    // touches it.
    std::deque<WorkCompletion> stash_;
};

class IbverbsProvider final : public VerbsProvider {
   public:
    std::vector<DeviceInfo> ListDevices() override {
        std::vector<DeviceInfo> devices;
        int count = 0;
        DeviceList list(ibv_get_device_list(&count));
        if (list == nullptr) {
            VLOG(1) << "ibv_get_device_list failed: " << std::strerror(errno);
            return devices;
        }
        for (int i = 0; i < count; ++i) {
            DeviceInfo info;
            info.name = ibv_get_device_name(list.get()[i]);
            ContextHandle context(ibv_open_device(list.get()[i]));
            ibv_device_attr attr{};
            if (context == nullptr || ibv_query_device(context.get(), &attr) != 0) {
                LOG(WARNING) << "RDMA device " << info.name << " cannot be opened or queried";
                devices.push_back(std::move(info));
                continue;
            }
            for (int port = 1; port <= attr.phys_port_cnt; ++port) {
                if (auto port_info = QueryPort(context.get(), static_cast<uint8_t>(port))) {
                    info.ports.push_back(std::move(*port_info));
                }
            }
            devices.push_back(std::move(info));
        }
        return devices;
    }

    Result<std::unique_ptr<Device>> OpenDevice(const DeviceOpenOptions& options) override {
        int count = 0;
        DeviceList list(ibv_get_device_list(&count));
        ibv_device* found = nullptr;
        for (int i = 0; list != nullptr && i < count; ++i) {
            if (options.name == ibv_get_device_name(list.get()[i])) found = list.get()[i];
        }
        if (found == nullptr) {
            LOG(ERROR) << "RDMA device " << options.name << " not found";
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
        }
        auto resources = std::make_shared<Resources>();
        resources->name = options.name;
        resources->port_num = options.port_num;
        resources->gid_index = options.gid_index;
        const auto fail = [&](const char* what) {
            LOG(ERROR) << what << " on RDMA device " << options.name
                       << " failed: " << std::strerror(errno);
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
        };
        resources->context = ibv_open_device(found);
        if (resources->context == nullptr) return fail("ibv_open_device");
        if (ibv_query_device(resources->context, &resources->attr) != 0) {
            return fail("ibv_query_device");
        }
        auto port = QueryPort(resources->context, options.port_num);
        if (!port) return fail("ibv_query_port");
        resources->pd = ibv_alloc_pd(resources->context);
        if (resources->pd == nullptr) return fail("ibv_alloc_pd");
        resources->channel = ibv_create_comp_channel(resources->context);
        if (resources->channel == nullptr) return fail("ibv_create_comp_channel");
        const int flags = fcntl(resources->channel->fd, F_GETFL);
        if (flags < 0 || fcntl(resources->channel->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
            return fail("making the completion channel non-blocking");
        }
        const uint32_t capacity = static_cast<uint32_t>(std::clamp<int64_t>(
            options.completion_queue_size, 1, std::max(1, resources->attr.max_cqe)));
        resources->cq = ibv_create_cq(resources->context, static_cast<int>(capacity), nullptr,
                                      resources->channel, 0);
        if (resources->cq == nullptr) return fail("ibv_create_cq");
        return std::unique_ptr<Device>(
            std::make_unique<IbvDevice>(std::move(resources), std::move(*port), capacity));
    }
};

}  // namespace

std::shared_ptr<VerbsProvider> CreateIbverbsProvider() {
    return std::make_shared<IbverbsProvider>();
}

}  // namespace mooncake::rdma
