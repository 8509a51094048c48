// Incremental parser of one HTTP/1.1 request for HttpListener: fed the bytes
// as they arrive, it never holds more than the limits allow (header block,
// chunk-size lines and trailers within max_header_bytes, the decoded body
// within max_body_bytes, whatever the transfer encoding), and it refuses
// what request smuggling needs (Content-Length together with
// Transfer-Encoding, differing Content-Lengths, unknown encodings).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_listener.h"

namespace mooncake {

class HttpRequestParser {
   public:
    struct Failure {
        int status;          // 400, 413, 431, 501, 505
        std::string reason;  // one line for the response body
    };

    HttpRequestParser(size_t max_header_bytes, size_t max_body_bytes)
        : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {}

    // Consumes bytes of `data` and returns how many: all of them, or fewer
    // once the request is complete (the rest belongs to the next request)
    // or failed.
    size_t Feed(std::string_view data);

    bool started() const { return started_; }
    bool headers_done() const { return state_ > State::kHead; }
    bool complete() const { return state_ == State::kDone; }
    const std::optional<Failure>& failure() const { return failure_; }
    // True once, right after the header block of a request that sent
    // "Expect: 100-continue" and whose body is still to come.
    bool TakeContinue();
    bool keep_alive() const { return keep_alive_; }
    // Bytes held for the request so far (what the buffer budget charges).
    size_t buffered_bytes() const {
        return head_.capacity() + line_.capacity() + request_.body.capacity();
    }

    // Drops the request in progress and its buffers (the connection is
    // being refused).
    void Discard() { Fail(503, "discarded"); }

    // The request, once complete(); the parser is then ready for the next.
    HttpRequest TakeRequest();

   private:
    enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone, kFailed };

    size_t FeedHead(std::string_view data);
    size_t FeedBody(std::string_view data);
    size_t FeedChunked(std::string_view data);
    // Accumulates one line into line_ (without CRLF); true when it is whole.
    bool FeedLine(std::string_view data, size_t* used);
    bool ParseHead();
    bool ParseRequestLine(std::string_view line);
    bool ParseHeaders(std::string_view block);
    bool StartBody();
    bool OnChunkSize();
    bool Fail(int status, std::string reason);

    const size_t max_header_bytes_;
    const size_t max_body_bytes_;
    State state_ = State::kHead;
    bool started_ = false;
    bool keep_alive_ = true;
    bool expect_continue_ = false;
    std::string head_;  // the header block until it is parsed
    std::string line_;  // a chunk-size line or trailer line in progress
    size_t body_left_ = 0;
    size_t trailer_bytes_ = 0;
    HttpRequest request_;
    std::optional<Failure> failure_;
};

// Empties `text` and gives its heap block back (assigning an empty string
// keeps the block in libstdc++).
inline void FreeString(std::string& text) { std::string().swap(text); }

// "%41b+c" -> "Ab c"; nullopt for a broken escape.
std::optional<std::string> PercentDecode(std::string_view text);

}  // namespace mooncake
