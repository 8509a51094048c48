// The state behind one Python mooncake.engine.TransferEngine: a shared
// mooncake::TransferEngine (shareable with a store through get_engine()),
// the async batches it handed out, and the reference's return conventions
// (0 / -1, batch id 0 or 2^64-1 on failure). Methods never touch Python
// objects, so the bindings call them with the GIL released.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "mooncake/transfer_engine.h"

namespace mooncake::python {

// Batch id of the async calls when the peer cannot be opened.
inline constexpr uint64_t kBadPeerBatch = UINT64_MAX;

struct TransferParts {
    std::vector<uintptr_t> local;
    std::vector<uintptr_t> remote;
    std::vector<size_t> lengths;
};

class PyTransferEngine {
   public:
    // Reads MC_TRANSFER_TIMEOUT (seconds, at least 5, default 30).
    PyTransferEngine();
    PyTransferEngine(const PyTransferEngine&) = delete;
    PyTransferEngine& operator=(const PyTransferEngine&) = delete;

    int Initialize(const std::string& local_hostname, const std::string& metadata_server,
                   const std::string& protocol, const std::string& device_name);
    int InitializeExt(const std::string& local_hostname, const std::string& metadata_server,
                      const std::string& protocol, const std::string& device_name,
                      const std::string& metadata_type);
    int GetRpcPort() const;

    int RegisterMemory(uintptr_t address, size_t capacity);
    int UnregisterMemory(uintptr_t address);
    int BatchRegisterMemory(const std::vector<uintptr_t>& addresses,
                            const std::vector<size_t>& capacities);
    int BatchUnregisterMemory(const std::vector<uintptr_t>& addresses);
    uintptr_t AllocateManagedBuffer(size_t length);
    int FreeManagedBuffer(uintptr_t address, size_t length);

    // 0 or -1. With `notify`, the peer receives it after the data.
    int TransferSync(const std::string& target, const TransferParts& parts, TransferOpcode opcode,
                     const std::optional<TransferNotifyMessage>& notify);
    // Batch id; 0 when the request is malformed or refused, kBadPeerBatch
    // when the peer cannot be opened.
    uint64_t TransferAsync(const std::string& target, const TransferParts& parts,
                           TransferOpcode opcode);
    // 0 when every batch completed, -1 when one failed or timed out. Frees
    // them all.
    int WaitBatches(const std::vector<uint64_t>& batch_ids);
    // 1 completed, 0 running, -1 failed or unknown (1 and -1 free the
    // batch), -2 past its deadline.
    int CheckBatch(uint64_t batch_id);

    uintptr_t FirstBufferAddress(const std::string& segment_name);
    // 0 when the peer's engine accepts a connection on the port its segment
    // name gives (within 2 s), else -1. Nothing is sent.
    int SendProbe(const std::string& peer_segment_name) const;
    std::vector<TransferNotifyMessage> TakeNotifies();
    std::shared_ptr<TransferEngine> engine() const;

   private:
    struct AsyncBatch {
        size_t requests = 0;
        std::chrono::steady_clock::time_point deadline;
    };

    // The engine, or null (logged) before initialize.
    std::shared_ptr<TransferEngine> Ready(const char* method) const;
    Result<SegmentHandle> Open(TransferEngine& engine, const std::string& target);
    // The requests of `parts`; INVALID_PARAMS when the lists differ in size.
    Result<std::vector<TransferRequest>> Requests(SegmentHandle segment, const TransferParts& parts,
                                                  TransferOpcode opcode) const;
    // MC_TRANSFER_TIMEOUT plus 1 ns per byte.
    std::chrono::milliseconds TimeoutFor(const TransferParts& parts) const;
    std::optional<AsyncBatch> TakeBatch(uint64_t batch_id);

    std::chrono::seconds timeout_;
    mutable Mutex mutex_;
    std::shared_ptr<TransferEngine> engine_ MC_GUARDED_BY(mutex_);
    std::unordered_map<uint64_t, AsyncBatch> async_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake::python
