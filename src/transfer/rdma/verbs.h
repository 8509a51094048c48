// The thin layer between the RDMA transport and the NIC. Everything the
// transport asks of libibverbs goes through these interfaces, so that the
// transport's logic runs the same over real hardware (ibverbs_provider.h) and
// over the in-memory fabric the tests use on machines without a NIC.
//
// Objects are created by a Device and may outlive it: implementations keep
// what they need alive. Calls may come from any thread, except that one
// QueuePair is posted to and modified by one thread at a time, and a
// Device's PollCompletions and WaitForCompletions are called by one polling
// thread (the transport arranges both).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mooncake/result.h"
#include "mooncake/transfer_engine.h"
#include "transfer/rdma/gid.h"

namespace mooncake::rdma {

enum class LinkLayer : uint8_t {
    kInfiniBand = 0,
    kEthernet = 1,  // RoCE
};

enum class GidType : uint8_t {
    kInfiniBand = 0,
    kRoceV1 = 1,
    kRoceV2 = 2,
    kUnknown = 3,  // the kernel could not say (old kernels)
};

struct GidEntry {
    uint32_t index = 0;
    Gid gid;
    GidType type = GidType::kUnknown;
};

struct PortInfo {
    uint8_t port_num = 1;
    bool active = false;  // IBV_PORT_ACTIVE
    LinkLayer link_layer = LinkLayer::kInfiniBand;
    uint16_t lid = 0;
    uint32_t active_mtu = 0;        // bytes: 256 .. 4096
    uint32_t max_message_size = 0;  // bytes, 0 when unknown
    std::vector<GidEntry> gids;     // the valid (non-zero) entries
};

struct DeviceInfo {
    std::string name;  // "mlx5_0"
    std::vector<PortInfo> ports;
};

// What a queue pair needs to know about the remote one to reach it (the
// RTR transition).
struct RemotePath {
    uint32_t qp_num = 0;
    uint32_t psn = 0;
    uint16_t lid = 0;
    Gid gid;
    // Route by GID (always for RoCE); by LID otherwise.
    bool use_global_route = false;
    uint32_t path_mtu = 0;  // bytes
};

// One signaled one-sided operation with a single scatter/gather entry.
struct WorkRequest {
    uint64_t wr_id = 0;
    TransferOpcode opcode = TransferOpcode::READ;  // READ: remote -> local
    uint64_t local_address = 0;
    uint32_t length = 0;
    uint32_t lkey = 0;
    uint64_t remote_address = 0;
    uint32_t rkey = 0;
};

struct WorkCompletion {
    uint64_t wr_id = 0;
    uint32_t qp_num = 0;
    bool success = false;
    // ibv_wc_status_str of the status; static storage.
    const char* status_text = "";
    uint32_t vendor_error = 0;
};

// A registered memory region; deregistered on destruction.
class MemoryRegion {
   public:
    virtual ~MemoryRegion() = default;
    virtual uint32_t lkey() const = 0;
    virtual uint32_t rkey() const = 0;
};

// A reliable-connected queue pair; destroyed on destruction.
class QueuePair {
   public:
    virtual ~QueuePair() = default;
    virtual uint32_t qp_num() const = 0;

    // RESET -> INIT -> RTR -> RTS; ToError from any state flushes what was
    // posted (each flushed request completes with an error).
    virtual Status ToInit() = 0;
    virtual Status ToReadyToReceive(const RemotePath& path) = 0;
    virtual Status ToReadyToSend(uint32_t local_psn) = 0;
    virtual Status ToError() = 0;

    // Posts the requests in order, each signaled. Sets *posted to how many
    // were accepted (all of them on success; on failure the ones before the
    // first refused one).
    virtual Status Post(std::span<const WorkRequest> requests, size_t* posted) = 0;
};

// One port of one NIC opened for use: protection domain, completion queue.
class Device {
   public:
    virtual ~Device() = default;

    virtual const std::string& name() const = 0;
    virtual const PortInfo& port() const = 0;
    virtual uint32_t gid_index() const = 0;
    // Completion queue entries; the transport never has more work
    // outstanding on the device than this.
    virtual uint32_t completion_queue_size() const = 0;
    // Largest number of outstanding requests one queue pair accepts.
    virtual uint32_t max_queue_pair_depth() const = 0;

    // `remote_access`: peers may READ and WRITE it (LOCAL_WRITE |
    // REMOTE_READ | REMOTE_WRITE); local use only otherwise (LOCAL_WRITE).
    virtual Result<std::unique_ptr<MemoryRegion>> RegisterMemory(void* address, size_t length,
                                                                 bool remote_access) = 0;
    // An RC queue pair in RESET whose completions go to this device's
    // completion queue.
    virtual Result<std::unique_ptr<QueuePair>> CreateQueuePair(uint32_t max_outstanding) = 0;

    // Takes up to out.size() completions; returns how many.
    virtual size_t PollCompletions(std::span<WorkCompletion> out) = 0;
    // Sleeps until a completion may be ready or `timeout` passed. May return
    // early; callers poll again.
    virtual void WaitForCompletions(std::chrono::milliseconds timeout) = 0;
};

struct DeviceOpenOptions {
    std::string name;
    uint8_t port_num = 1;
    uint32_t gid_index = 0;
    uint32_t completion_queue_size = 0;
};

// Entry point: lists and opens devices.
class VerbsProvider {
   public:
    virtual ~VerbsProvider() = default;
    // Every RDMA device of the host with its ports (empty when there are
    // none or the kernel has no RDMA support).
    virtual std::vector<DeviceInfo> ListDevices() = 0;
    virtual Result<std::unique_ptr<Device>> OpenDevice(const DeviceOpenOptions& options) = 0;
};

}  // namespace mooncake::rdma
