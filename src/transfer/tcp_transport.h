// Transfers to peers on other hosts (or wherever memcpy and shared memory do
// not apply) over the engine's TCP protocol (wire_protocol.h).
//
// Requests are cut into chunks of at most `chunk_size` bytes. A submission
// of at most `inline_limit` bytes whose caller waits for it anyway
// (TransferTask::may_run_on_caller) runs in the caller's thread on one pooled
// connection (no thread hop: a small read costs one round trip). Others
// are spread over up to `streams_per_peer` connections served by worker
// threads; each connection pipelines chunks (up to `window_chunks` and
// `window_bytes`) so that the round trip of one chunk overlaps the bytes of
// the next.
#pragma once

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/mutex.h"
#include "transfer/connection_pool.h"
#include "transfer/transport.h"
#include "transfer/worker_pool.h"

namespace mooncake {

struct TcpTransportOptions {
    size_t chunk_size = 1u << 20;
    size_t streams_per_peer = 4;
    size_t window_chunks = 64;
    size_t window_bytes = 4u << 20;
    size_t inline_limit = 256u << 10;
    size_t worker_threads = 8;
    int connect_timeout_ms = 5000;
    // No-progress limit of every send and receive (MC_TRANSFER_TIMEOUT).
    int io_timeout_ms = 10000;
    // Set: connections authenticate first (common/auth_handshake.h).
    auth::ClusterKeyPtr cluster_key;
};

class TcpTransport final : public Transport {
   public:
    explicit TcpTransport(const TcpTransportOptions& options);
    ~TcpTransport() override;

    std::string_view name() const override { return "tcp"; }
    void Stop() override;
    bool CanReach(const SegmentDescriptor& peer, const SegmentRange& range) override {
        return !peer.tcp_endpoint.empty();
    }
    void Submit(std::vector<TransferTask> tasks) override;
    void ForgetPeer(const SegmentDescriptor& peer) override { pool_.Drop(peer.tcp_endpoint); }

    // The descriptor JSON served by the engine at `endpoint` ("ip:port").
    // TRANSFER_FAIL when it cannot be reached or answers nonsense.
    Result<std::string> FetchDescriptor(const std::string& endpoint);

    // A control message for `transport` of the engine at `endpoint`; see
    // TransportContext::SendControlMessage.
    Result<nlohmann::json> SendControl(const std::string& endpoint, std::string_view transport,
                                       const std::string& from, const nlohmann::json& body);

    const TcpTransportOptions& options() const { return options_; }

   private:
    struct Submission;
    struct Stream;
    // Sends and receives chunks of `submission` on one connection until no
    // chunk is left to claim and none is in flight.
    void RunStream(const std::shared_ptr<Submission>& submission);
    // Claims chunks into stream.batch until the window is full, connecting
    // first when needed; chunks that cannot go fail at once.
    void FillWindow(Stream& stream);
    // After an I/O failure: one retry on a fresh connection when the failed
    // one came from the pool and never answered (the peer may have closed it
    // while idle) unless it timed out; otherwise the peer is gone for this
    // submission and the chunks in flight fail (RPC_TIMEOUT after a timeout).
    // True when the retry is on its way.
    bool Recover(Stream& stream);
    // Waits for the next reply and completes its chunk.
    void ReceiveOne(Stream& stream);
    // One request/response exchange for control operations.
    Result<std::string> Call(const std::string& endpoint, uint8_t opcode,
                             const std::string& payload, uint64_t max_response);

    const TcpTransportOptions options_;
    ConnectionPool pool_;
    std::atomic<bool> stopped_{false};
    Mutex mutex_;
    std::unique_ptr<WorkerPool> workers_ MC_GUARDED_BY(mutex_);
};

}  // namespace mooncake
