#include "transfer/tcp_pipeline.h"

#include <glog/logging.h>
#include <limits.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "net/brief_spin.h"
#include "net/socket_util.h"

namespace mooncake {

namespace {

// Replies read with one receive at most (each is kResponseHeaderSize bytes).
constexpr size_t kMaxHeadersPerReceive = 64;

ErrorCode CodeForReply(wire::ReplyStatus status) {
    switch (status) {
        case wire::ReplyStatus::kOk:
            return ErrorCode::OK;
        case wire::ReplyStatus::kRefused:
            return ErrorCode::INVALID_PARAMS;
        default:
            return ErrorCode::TRANSFER_FAIL;
    }
}

}  // namespace

void TcpTaskProgress::ChunkDone(ErrorCode code) {
    if (code != ErrorCode::OK) {
        int32_t expected = 0;
        error.compare_exchange_strong(expected, ToInt(code));
    }
    if (remaining.fetch_sub(1) == 1) task.on_done(ErrorCodeFromInt(error.load()));
}

void TcpPipeline::Attach(PooledConnection connection) {
    connection_ = std::move(connection);
    received_any_ = false;
    timed_out_ = false;
    ready_headers_.clear();
}

void TcpPipeline::Break() {
    connection_.MarkBroken();
    connection_ = PooledConnection();
    received_any_ = false;
    ready_headers_.clear();
}

bool TcpPipeline::Send(const std::vector<TcpChunk*>& chunks) {
    iov_.clear();
    for (TcpChunk* chunk : chunks) {
        wire::RequestHeader request;
        request.opcode = chunk->progress->is_read() ? wire::Opcode::kRead : wire::Opcode::kWrite;
        request.instance = instance_;
        request.address = chunk->remote();
        request.length = chunk->length;
        request.request_id = chunk->id;
        wire::Encode(request, chunk->header);
        iov_.push_back({chunk->header, sizeof(chunk->header)});
        if (!chunk->progress->is_read()) iov_.push_back({chunk->local(), chunk->length});
        in_flight_.push_back(chunk);
        in_flight_bytes_ += chunk->length;
        if (chunk->progress->is_read()) ++reads_in_flight_;
    }
    return SendIov();
}

bool TcpPipeline::Resend() {
    iov_.clear();
    for (TcpChunk* chunk : in_flight_) {
        iov_.push_back({chunk->header, sizeof(chunk->header)});
        if (!chunk->progress->is_read()) iov_.push_back({chunk->local(), chunk->length});
    }
    return SendIov();
}

bool TcpPipeline::SendIov() {
    errno = 0;
    for (size_t first = 0; first < iov_.size(); first += IOV_MAX) {
        const int count = static_cast<int>(std::min<size_t>(IOV_MAX, iov_.size() - first));
        if (!net::SendAllV(connection_.fd(), iov_.data() + first, count)) return SendFailed();
    }
    return true;
}

bool TcpPipeline::SendFailed() {
    timed_out_ = errno == EAGAIN || errno == EWOULDBLOCK;
    return false;
}

TcpPipeline::Outcome TcpPipeline::ReceiveFailed() {
    timed_out_ = errno == EAGAIN || errno == EWOULDBLOCK;
    return Outcome::kBrokenLink;
}

bool TcpPipeline::DecodeHeaders(const uint8_t* bytes, size_t count) {
    for (size_t i = 0; i < count; ++i) {
        wire::ResponseHeader header;
        if (!wire::Decode(bytes + i * wire::kResponseHeaderSize, &header)) {
            LOG(WARNING) << "TCP transfer with " << endpoint_ << ": not a response header";
            return false;
        }
        ready_headers_.push_back(header);
    }
    return true;
}

bool TcpPipeline::ReceiveHeaders() {
    // Replies to WRITEs carry no payload: those at the front of the queue
    // can be read together, as many as have arrived.
    size_t writes = 0;
    while (writes < in_flight_.size() && writes < kMaxHeadersPerReceive &&
           !in_flight_[writes]->progress->is_read()) {
        ++writes;
    }
    uint8_t buffer[kMaxHeadersPerReceive * wire::kResponseHeaderSize];
    size_t received = 0;
    // Per thread, predicted apart for reads and writes (net/brief_spin.h).
    thread_local net::BriefSpin spin(net::BriefSpin::ProcessBudget());
    // Only a lone request is latency-bound; with more in flight the other
    // streams' threads need the CPUs more than this one needs to wake fast.
    const bool lone = in_flight_.size() == 1;
    if (lone) {
        spin.Expect(writes == 0 ? 1 : 2);
        (void)spin.Spin(connection_.fd());
    }
    if (writes <= 1) {
        if (!net::RecvAll(connection_.fd(), buffer, wire::kResponseHeaderSize)) return false;
        received = wire::kResponseHeaderSize;
    } else {
        ssize_t got;
        do {
            got = recv(connection_.fd(), buffer, writes * wire::kResponseHeaderSize, 0);
        } while (got < 0 && errno == EINTR);
        if (got <= 0) return false;
        received = static_cast<size_t>(got);
        // Complete a header cut in two.
        const size_t tail = received % wire::kResponseHeaderSize;
        if (tail != 0) {
            if (!net::RecvAll(connection_.fd(), buffer + received,
                              wire::kResponseHeaderSize - tail)) {
                return false;
            }
            received += wire::kResponseHeaderSize - tail;
        }
    }
    if (lone) spin.Arrived();
    received_any_ = true;
    return DecodeHeaders(buffer, received / wire::kResponseHeaderSize);
}

void TcpPipeline::Pop(TcpChunk* chunk) {
    in_flight_.pop_front();
    in_flight_bytes_ -= chunk->length;
    if (chunk->progress->is_read()) --reads_in_flight_;
}

TcpPipeline::Outcome TcpPipeline::ReceiveNext(TcpChunk** chunk_out, ErrorCode* code) {
    TcpChunk* chunk = in_flight_.front();
    errno = 0;  // a header that fails to decode is no timeout
    if (ready_headers_.empty() && !ReceiveHeaders()) return ReceiveFailed();
    const wire::ResponseHeader response = ready_headers_.front();
    ready_headers_.pop_front();
    if (response.request_id != chunk->id) {
        LOG(WARNING) << "TCP transfer with " << endpoint_ << ": response out of step";
        return Outcome::kBrokenLink;
    }
    const bool is_read = chunk->progress->is_read();
    if (response.status == wire::ReplyStatus::kOk) {
        const uint64_t expected = is_read ? chunk->length : 0;
        if (response.length != expected) {
            LOG(WARNING) << "TCP transfer with " << endpoint_ << ": unexpected payload length";
            return Outcome::kBrokenLink;
        }
        if (expected > 0) {
            if (in_flight_.size() > 1 && ready_headers_.empty()) {
                // The next response's header follows the payload on the wire.
                uint8_t next[wire::kResponseHeaderSize];
                iovec iov[2] = {{chunk->local(), chunk->length}, {next, sizeof(next)}};
                if (!net::RecvAllV(connection_.fd(), iov, 2) || !DecodeHeaders(next, 1)) {
                    return ReceiveFailed();
                }
            } else if (!net::RecvAll(connection_.fd(), chunk->local(), chunk->length)) {
                return ReceiveFailed();
            }
        }
        *code = ErrorCode::OK;
    } else {
        if (response.length != 0) return Outcome::kBrokenLink;
        switch (response.status) {
            case wire::ReplyStatus::kStaleInstance:
                LOG(INFO) << "Peer at " << endpoint_ << " restarted (instance changed)";
                break;
            case wire::ReplyStatus::kRefused:
                LOG(WARNING) << "Peer at " << endpoint_ << " refused "
                             << (is_read ? "READ" : "WRITE") << " of " << chunk->length
                             << " bytes at 0x" << std::hex << chunk->remote() << std::dec
                             << ": outside its registered memory";
                break;
            case wire::ReplyStatus::kBadRequest:
                // The server closes the connection after this.
                return Outcome::kBrokenLink;
            default:
                break;
        }
        *code = CodeForReply(response.status);
    }
    Pop(chunk);
    *chunk_out = chunk;
    return Outcome::kDone;
}

std::deque<TcpChunk*> TcpPipeline::TakeInFlight() {
    std::deque<TcpChunk*> chunks;
    chunks.swap(in_flight_);
    in_flight_bytes_ = 0;
    reads_in_flight_ = 0;
    ready_headers_.clear();
    return chunks;
}

}  // namespace mooncake
