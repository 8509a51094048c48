#include "transfer/tcp_transport.h"

#include <glog/logging.h>

#include <algorithm>
#include <deque>
#include <map>
#include <utility>

#include "transfer/tcp_pipeline.h"
#include "transfer/wire_protocol.h"

namespace mooncake {

// Chunks of the tasks of one Submit call for one peer. Streams claim chunks
// until none is left.
struct TcpTransport::Submission {
    std::string endpoint;
    UUID instance;
    std::deque<TcpTaskProgress> tasks;  // stable addresses
    std::vector<TcpChunk> chunks;
    std::atomic<size_t> next{0};
    // Set once the peer proved unreachable (TRANSFER_FAIL) or unresponsive
    // (RPC_TIMEOUT): remaining chunks fail at once with that code.
    std::atomic<ErrorCode> failure{ErrorCode::OK};

    bool failed() const { return failure.load() != ErrorCode::OK; }
    void Fail(ErrorCode code) {
        ErrorCode none = ErrorCode::OK;
        failure.compare_exchange_strong(none, code);
    }

    TcpChunk* Claim() {
        const size_t index = next.fetch_add(1);
        return index < chunks.size() ? &chunks[index] : nullptr;
    }
};

TcpTransport::TcpTransport(const TcpTransportOptions& options)
    : options_(options),
      pool_(options.connect_timeout_ms, options.io_timeout_ms,
            /*max_idle_per_endpoint=*/64, options.cluster_key),
      workers_(std::make_unique<WorkerPool>(options.worker_threads)) {}

TcpTransport::~TcpTransport() { Stop(); }

void TcpTransport::Stop() {
    std::unique_ptr<WorkerPool> workers;
    stopped_.store(true);
    {
        MutexLock lock(mutex_);
        workers = std::move(workers_);
    }
    // Queued streams see `stopped_` and fail their chunks; running ones end
    // within the I/O timeout.
    workers.reset();
    pool_.Close();
}

void TcpTransport::Submit(std::vector<TransferTask> tasks) {
    // One submission per peer endpoint + instance (usually just one).
    std::map<std::pair<std::string, UUID>, std::shared_ptr<Submission>> by_peer;
    for (TransferTask& task : tasks) {
        auto& submission = by_peer[{task.peer->tcp_endpoint, task.peer->instance_id}];
        if (!submission) {
            submission = std::make_shared<Submission>();
            submission->endpoint = task.peer->tcp_endpoint;
            submission->instance = task.peer->instance_id;
        }
        TcpTaskProgress& progress = submission->tasks.emplace_back();
        progress.task = std::move(task);
        const size_t length = progress.task.length;
        const size_t pieces = (length + options_.chunk_size - 1) / options_.chunk_size;
        progress.remaining.store(pieces);
        for (size_t offset = 0; offset < length; offset += options_.chunk_size) {
            TcpChunk& chunk = submission->chunks.emplace_back();
            chunk.progress = &progress;
            chunk.offset = offset;
            chunk.length = std::min(options_.chunk_size, length - offset);
            chunk.id = submission->chunks.size() - 1;
        }
    }
    for (auto& [peer, submission] : by_peer) {
        uint64_t total = 0;
        for (const TcpChunk& chunk : submission->chunks) total += chunk.length;
        // Small transfers run on the submitting thread when it waits for
        // them anyway, saving two thread hand-offs.
        const bool caller_waits = std::all_of(
            submission->tasks.begin(), submission->tasks.end(),
            [](const TcpTaskProgress& progress) { return progress.task.may_run_on_caller; });
        if (caller_waits && total <= options_.inline_limit) {
            RunStream(submission);
            continue;
        }
        const size_t streams = std::min(options_.streams_per_peer, submission->chunks.size());
        MutexLock lock(mutex_);
        if (workers_ == nullptr) {
            lock.Unlock();
            submission->Fail(ErrorCode::TRANSFER_FAIL);
            RunStream(submission);  // fails every chunk without I/O
            continue;
        }
        for (size_t i = 0; i < streams; ++i) {
            workers_->Post([this, submission] { RunStream(submission); });
        }
    }
}

// One connection's share of a submission; lives for one RunStream call.
struct TcpTransport::Stream {
    explicit Stream(Submission& owner)
        : submission(owner), pipeline(owner.instance, owner.endpoint) {}

    Submission& submission;
    TcpPipeline pipeline;
    // A WRITE claimed while READs are in flight waits here (see FillWindow).
    TcpChunk* held = nullptr;
    bool retried = false;
    std::vector<TcpChunk*> batch;
};

void TcpTransport::RunStream(const std::shared_ptr<Submission>& submission) {
    Stream stream(*submission);
    TcpPipeline& pipeline = stream.pipeline;
    for (;;) {
        // Refill the window once half of it drained, so that requests leave
        // in groups (one syscall for many small ones).
        if (pipeline.in_flight() == 0 || (pipeline.in_flight_bytes() <= options_.window_bytes / 2 &&
                                          pipeline.in_flight() <= options_.window_chunks / 2)) {
            FillWindow(stream);
            if (!stream.batch.empty() && !pipeline.Send(stream.batch) && !Recover(stream)) {
                continue;  // the peer is gone: the loop fails what is left
            }
        }
        if (pipeline.in_flight() == 0) {
            if (stream.held != nullptr) continue;
            break;
        }
        ReceiveOne(stream);
    }
}

void TcpTransport::FillWindow(Stream& stream) {
    TcpPipeline& pipeline = stream.pipeline;
    Submission& submission = stream.submission;
    stream.batch.clear();
    size_t count = pipeline.in_flight();
    uint64_t bytes = pipeline.in_flight_bytes();
    bool reads_pending = pipeline.reads_in_flight() > 0;
    while (count == 0 || (count < options_.window_chunks && bytes < options_.window_bytes)) {
        TcpChunk* chunk =
            stream.held != nullptr ? std::exchange(stream.held, nullptr) : submission.Claim();
        if (chunk == nullptr) break;
        if (submission.failed() || chunk->progress->cancelled() || stopped_.load()) {
            chunk->progress->ChunkDone(submission.failed() ? submission.failure.load()
                                                           : ErrorCode::TRANSFER_FAIL);
            continue;
        }
        // Never send a WRITE payload while READ data is coming back: the
        // server could block sending us that data while we block sending it
        // the payload. Headers and replies are small enough for the socket
        // buffers, so other orders are safe.
        if (!chunk->progress->is_read() && reads_pending) {
            stream.held = chunk;
            break;
        }
        if (!pipeline.connected()) {
            auto acquired = pool_.Acquire(submission.endpoint);
            if (!acquired) {
                LOG(WARNING) << "TCP transfer: cannot connect to " << submission.endpoint;
                submission.Fail(ErrorCode::TRANSFER_FAIL);
                chunk->progress->ChunkDone(ErrorCode::TRANSFER_FAIL);
                continue;
            }
            pipeline.Attach(std::move(*acquired));
        }
        stream.batch.push_back(chunk);
        ++count;
        bytes += chunk->length;
        reads_pending |= chunk->progress->is_read();
    }
}

bool TcpTransport::Recover(Stream& stream) {
    TcpPipeline& pipeline = stream.pipeline;
    const std::string& endpoint = stream.submission.endpoint;
    // A stale pooled connection fails at once and earns one retry; a peer
    // that let the I/O timeout pass would only let it pass again.
    const bool timed_out = pipeline.timed_out();
    const bool may_retry =
        pipeline.reused() && !pipeline.received_any() && !stream.retried && !timed_out;
    pipeline.Break();
    if (may_retry) {
        stream.retried = true;
        auto fresh = pool_.AcquireFresh(endpoint);
        if (fresh) {
            pipeline.Attach(std::move(*fresh));
            if (pipeline.Resend()) return true;
            pipeline.Break();
        }
    }
    const ErrorCode code = timed_out ? ErrorCode::RPC_TIMEOUT : ErrorCode::TRANSFER_FAIL;
    LOG(WARNING) << "TCP transfer with " << endpoint << " failed: "
                 << (timed_out ? "no answer within the I/O timeout" : "connection lost");
    stream.submission.Fail(code);
    for (TcpChunk* chunk : pipeline.TakeInFlight()) chunk->progress->ChunkDone(code);
    return false;
}

void TcpTransport::ReceiveOne(Stream& stream) {
    TcpChunk* chunk = nullptr;
    ErrorCode code = ErrorCode::OK;
    if (stream.pipeline.ReceiveNext(&chunk, &code) == TcpPipeline::Outcome::kBrokenLink) {
        Recover(stream);
        return;
    }
    if (code == ErrorCode::TRANSFER_FAIL) stream.submission.Fail(code);  // stale peer
    chunk->progress->ChunkDone(code);
}

Result<std::string> TcpTransport::Call(const std::string& endpoint, uint8_t opcode,
                                       const std::string& payload, uint64_t max_response) {
    wire::RequestHeader request;
    request.opcode = static_cast<wire::Opcode>(opcode);
    request.length = payload.size();
    uint8_t header[wire::kRequestHeaderSize];
    wire::Encode(request, header);

    for (int attempt = 0; attempt < 2; ++attempt) {
        auto acquired = attempt == 0 ? pool_.Acquire(endpoint) : pool_.AcquireFresh(endpoint);
        if (!acquired) return Error(ErrorCode::TRANSFER_FAIL);
        PooledConnection connection = std::move(*acquired);
        iovec iov[2] = {{header, sizeof(header)},
                        {const_cast<char*>(payload.data()), payload.size()}};
        uint8_t buffer[wire::kResponseHeaderSize];
        if (!net::SendAllV(connection.fd(), iov, payload.empty() ? 1 : 2) ||
            !net::RecvAll(connection.fd(), buffer, sizeof(buffer))) {
            const bool may_retry = connection.reused();
            connection.MarkBroken();
            if (may_retry) continue;
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        wire::ResponseHeader response;
        if (!wire::Decode(buffer, &response) || response.length > max_response ||
            (response.status != wire::ReplyStatus::kOk && response.length != 0)) {
            LOG(WARNING) << "Malformed response from " << endpoint;
            connection.MarkBroken();
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        switch (response.status) {
            case wire::ReplyStatus::kOk:
                break;
            case wire::ReplyStatus::kUnsupported:
                return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
            case wire::ReplyStatus::kHandlerError:
                return Error(response.error == ErrorCode::OK ? ErrorCode::INTERNAL_ERROR
                                                             : response.error);
            case wire::ReplyStatus::kBadRequest:
                connection.MarkBroken();
                return Error(ErrorCode::INVALID_PARAMS);
            default:
                return Error(ErrorCode::TRANSFER_FAIL);
        }
        std::string body(response.length, '\0');
        if (!net::RecvAll(connection.fd(), body.data(), body.size())) {
            connection.MarkBroken();
            return Error(ErrorCode::TRANSFER_FAIL);
        }
        return body;
    }
    return Error(ErrorCode::TRANSFER_FAIL);
}

Result<std::string> TcpTransport::FetchDescriptor(const std::string& endpoint) {
    return Call(endpoint, static_cast<uint8_t>(wire::Opcode::kGetDescriptor), std::string(),
                kMaxDescriptorBytes);
}

Result<nlohmann::json> TcpTransport::SendControl(const std::string& endpoint,
                                                 std::string_view transport,
                                                 const std::string& from,
                                                 const nlohmann::json& body) {
    nlohmann::json message{{"transport", transport}, {"from", from}, {"body", body}};
    const std::string payload =
        message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (payload.size() > wire::kMaxControlRequestLength) return Error(ErrorCode::INVALID_PARAMS);
    auto reply = Call(endpoint, static_cast<uint8_t>(wire::Opcode::kTransportControl), payload,
                      wire::kMaxControlResponseLength);
    if (!reply) return Error(reply.error());
    nlohmann::json parsed = nlohmann::json::parse(*reply, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return Error(ErrorCode::TRANSFER_FAIL);
    return parsed;
}

}  // namespace mooncake
