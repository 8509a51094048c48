// An in-memory RDMA fabric for the tests of the RDMA transport on machines
// without a NIC. It implements the verbs wrapper (transfer/rdma/verbs.h)
// the way a NIC behaves, as far as the transport can tell:
//   - queue pairs follow the RESET/INIT/RTR/RTS/ERROR machine, only post in
//     RTS and refuse more outstanding requests than their depth;
//   - a request reaches the remote queue pair named in its RTR path only if
//     that one is connected back (else "transport retry counter exceeded"),
//     its lkey must cover the local range and its rkey a remotely accessible
//     region of the remote device (else "local protection error" / "remote
//     access error"); any error moves the queue pair to ERROR, and later
//     requests flush;
//   - completions arrive asynchronously (a worker thread moves the bytes),
//     in posting order per queue pair; ToError flushes at once.
// It also counts what a test needs to check: requests per device, bytes,
// queue and completion-queue overflows (which must never happen).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "transfer/rdma/verbs.h"

namespace mooncake::rdma::testing {

// Status texts as ibv_wc_status_str writes them.
inline constexpr const char* kRemoteAccessError = "remote access error";
inline constexpr const char* kLocalProtectionError = "local protection error";
inline constexpr const char* kRetryExceeded = "transport retry counter exceeded";
inline constexpr const char* kFlushError = "Work Request Flushed Error";

// A device with one port. InfiniBand devices are addressed by `lid`, RoCE
// ones by a GID ending in `address` (an IPv4-mapped RoCE v2 entry at index
// 3, behind a link-local RoCE v1 one at index 0).
DeviceInfo MakeFakeDevice(const std::string& name, LinkLayer link_layer, uint16_t address,
                          bool active = true);

class FakeFabric {
   public:
    FakeFabric();
    ~FakeFabric();
    FakeFabric(const FakeFabric&) = delete;
    FakeFabric& operator=(const FakeFabric&) = delete;

    // One host's NICs. Devices of different providers reach each other
    // through this fabric.
    std::shared_ptr<VerbsProvider> MakeProvider(std::vector<DeviceInfo> devices);

    // While paused, posted requests stay in flight.
    void Pause();
    void Resume();
    // The next `count` requests executed fail with "remote access error"
    // without moving data.
    void FailNext(size_t count);

    struct Stats {
        uint64_t executed = 0;  // requests that moved their bytes
        uint64_t failed = 0;    // requests completed with an error (flushes included)
        uint64_t bytes = 0;
        uint64_t queue_overflows = 0;       // posts beyond a queue pair's depth
        uint64_t completion_overflows = 0;  // completions beyond a CQ's size
        uint64_t largest_request = 0;
        size_t live_queue_pairs = 0;
        size_t live_memory_regions = 0;
        size_t queued = 0;                                   // posted, not executed yet
        std::map<std::string, uint64_t> executed_by_device;  // local device name
    };
    Stats stats() const;

    struct Core;

   private:
    std::shared_ptr<Core> core_;
};

}  // namespace mooncake::rdma::testing
