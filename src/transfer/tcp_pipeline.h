// Pipelined data requests on one TCP connection (wire_protocol.h): many
// chunk requests are sent with one syscall, and responses are read in order
// with as few syscalls as possible (a READ's payload and the next response
// header in one receive; the replies to consecutive WRITEs in one).
//
// Syscalls, not bytes, are what small chunks pay for: with 64 KiB chunks the
// naive one-request-one-response exchange spent a third of its time in them.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "mooncake/types.h"
#include "transfer/connection_pool.h"
#include "transfer/transport.h"
#include "transfer/wire_protocol.h"

namespace mooncake {

// One task of a TCP submission, cut into chunks: it ends when its last chunk
// does, with the first error any chunk saw.
struct TcpTaskProgress {
    TransferTask task;
    std::atomic<size_t> remaining{0};
    std::atomic<int32_t> error{0};

    void ChunkDone(ErrorCode code);
    bool cancelled() const { return task.cancelled != nullptr && task.cancelled->load(); }
    bool is_read() const { return task.opcode == TransferOpcode::READ; }
};

// A piece of a task that travels as one wire request.
struct TcpChunk {
    TcpTaskProgress* progress = nullptr;
    uint64_t offset = 0;  // within the task
    uint64_t length = 0;
    uint64_t id = 0;  // request id, unique within the submission
    uint8_t header[wire::kRequestHeaderSize] = {};

    char* local() const { return static_cast<char*>(progress->task.local_address) + offset; }
    uint64_t remote() const { return progress->task.remote_address + offset; }
};

class TcpPipeline {
   public:
    enum class Outcome {
        kDone,        // a chunk finished: successfully, or refused by the peer
        kBrokenLink,  // I/O failed or the stream is out of step: drop the connection
    };

    TcpPipeline(const UUID& instance, const std::string& endpoint)
        : instance_(instance), endpoint_(endpoint) {}

    bool connected() const { return connection_.fd() >= 0; }
    void Attach(PooledConnection connection);
    // Closes the connection (its stream state is unknown) and forgets what
    // was received on it.
    void Break();
    bool reused() const { return connection_.reused(); }
    // Whether any response bytes arrived on the current connection.
    bool received_any() const { return received_any_; }
    // Whether the last failed Send, Resend or ReceiveNext ran into the I/O
    // timeout: the peer stopped reading or answering (a stopped process, a
    // dead host) rather than closing the connection.
    bool timed_out() const { return timed_out_; }

    size_t in_flight() const { return in_flight_.size(); }
    uint64_t in_flight_bytes() const { return in_flight_bytes_; }
    size_t reads_in_flight() const { return reads_in_flight_; }

    // Puts the chunks' requests on the wire, in order, with one sendmsg where
    // possible. The chunks count as in flight even when this fails.
    bool Send(const std::vector<TcpChunk*>& chunks);
    // Sends every in-flight request again (on a fresh connection).
    bool Resend();

    // Reads the response to the oldest in-flight chunk and takes it off the
    // queue. On kDone, *chunk and *code tell which chunk ended and how.
    Outcome ReceiveNext(TcpChunk** chunk, ErrorCode* code);

    // The chunks still in flight, oldest first; the queue is emptied.
    std::deque<TcpChunk*> TakeInFlight();

   private:
    // Decodes `count` response headers from `bytes` into ready_headers_.
    bool DecodeHeaders(const uint8_t* bytes, size_t count);
    // Reads response headers into ready_headers_: the replies to all the
    // WRITEs at the front of the queue that have arrived, at least one.
    bool ReceiveHeaders();
    void Pop(TcpChunk* chunk);
    // Records whether the socket call that just failed timed out (errno).
    bool SendFailed();
    Outcome ReceiveFailed();
    bool SendIov();

    const UUID instance_;
    const std::string& endpoint_;
    PooledConnection connection_;
    bool received_any_ = false;
    bool timed_out_ = false;
    std::deque<TcpChunk*> in_flight_;
    uint64_t in_flight_bytes_ = 0;
    size_t reads_in_flight_ = 0;
    // Headers received ahead of their chunk's turn, in queue order.
    std::deque<wire::ResponseHeader> ready_headers_;
    std::vector<iovec> iov_;
};

}  // namespace mooncake
