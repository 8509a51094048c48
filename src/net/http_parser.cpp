#include "net/http_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>
#include <vector>

#include "common/hex_digit.h"

namespace mooncake {

namespace {

constexpr std::string_view kHeadEnd = "\r\n\r\n";
// A chunk-size line is a hex number and maybe extensions; nothing honest
// needs more.
constexpr size_t kMaxChunkLineBytes = 1024;

std::string Lower(std::string_view text) {
    std::string out(text);
    std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

bool IsTokenChar(unsigned char c) {
    return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
    return !text.empty() && std::ranges::all_of(text, [](char c) { return IsTokenChar(c); });
}

// The name=value pairs of a query string as sent, in order ("a=1&&b" gives
// ("a", "1") and ("b", "")); views into `query`.
std::vector<std::pair<std::string_view, std::string_view>> QueryPairs(std::string_view query) {
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        pairs.emplace_back(pair.substr(0, eq),
                           eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    }
    return pairs;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out.push_back(' ');
        } else if (text[i] != '%') {
            out.push_back(text[i]);
        } else {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = HexDigitValue(text[i + 1]), low = HexDigitValue(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        }
    }
    return out;
}

std::optional<std::string> HttpRequest::Param(const std::string& name) const {
    for (const auto& [key, value] : params) {
        if (key == name) return value;
    }
    return std::nullopt;
}

std::optional<std::string> HttpRequest::RawParam(const std::string& name) const {
    for (const auto& [key, value] : QueryPairs(query)) {
        if (key == name) return std::string(value);
    }
    return std::nullopt;
}

std::string HttpRequest::Header(const std::string& lower_case_name) const {
    for (const auto& [key, value] : headers) {
        if (key == lower_case_name) return value;
    }
    return "";
}

bool HttpRequestParser::Fail(int status, std::string reason) {
    state_ = State::kFailed;
    failure_ = Failure{status, std::move(reason)};
    FreeString(head_);
    FreeString(line_);
    FreeString(request_.body);
    return false;
}

bool HttpRequestParser::TakeContinue() { return std::exchange(expect_continue_, false); }

HttpRequest HttpRequestParser::TakeRequest() {
    HttpRequest out = std::move(request_);
    request_ = HttpRequest{};
    state_ = State::kHead;
    started_ = false;
    expect_continue_ = false;
    FreeString(head_);
    FreeString(line_);
    trailer_bytes_ = 0;
    return out;
}

size_t HttpRequestParser::Feed(std::string_view data) {
    size_t used = 0;
    while (used < data.size() && state_ != State::kDone && state_ != State::kFailed) {
        const std::string_view rest = data.substr(used);
        if (state_ == State::kHead) {
            used += FeedHead(rest);
        } else if (state_ == State::kBody) {
            used += FeedBody(rest);
        } else {
            used += FeedChunked(rest);
        }
    }
    return used;
}

size_t HttpRequestParser::FeedHead(std::string_view data) {
    size_t skipped = 0;
    if (!started_) {
        // Stray line ends between requests are allowed (RFC 9112 2.2).
        while (skipped < data.size() && (data[skipped] == '\r' || data[skipped] == '\n')) {
            ++skipped;
        }
        if (skipped == data.size()) return skipped;
        started_ = true;
        data.remove_prefix(skipped);
    }
    const size_t searched_from = head_.size() < 3 ? 0 : head_.size() - 3;
    const size_t room = max_header_bytes_ - std::min(max_header_bytes_, head_.size());
    const size_t take = std::min(data.size(), room);
    head_.append(data.substr(0, take));
    const size_t end = head_.find(kHeadEnd, searched_from);
    if (end == std::string::npos) {
        if (take < data.size() || head_.size() >= max_header_bytes_) {
            Fail(431,
                 "request header block exceeds " + std::to_string(max_header_bytes_) + " bytes");
        }
        return skipped + take;
    }
    // Bytes after the header block belong to the body: hand them back.
    const size_t block_bytes = end + kHeadEnd.size();
    const size_t extra = head_.size() - block_bytes;
    head_.resize(block_bytes);
    if (ParseHead()) StartBody();
    FreeString(head_);  // gives the block's memory back
    return skipped + take - extra;
}

bool HttpRequestParser::ParseHead() {
    const std::string_view block(head_.data(), head_.size() - kHeadEnd.size());
    const size_t line_end = block.find("\r\n");
    const std::string_view request_line = block.substr(0, line_end);
    if (!ParseRequestLine(request_line)) return false;
    if (line_end == std::string_view::npos) return true;
    return ParseHeaders(block.substr(line_end + 2));
}

bool HttpRequestParser::ParseRequestLine(std::string_view line) {
    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) return Fail(400, "bad request line");
    const std::string_view method = line.substr(0, first);
    const std::string_view target = line.substr(first + 1, last - first - 1);
    const std::string_view version = line.substr(last + 1);
    if (!IsToken(method) || target.empty() || target.front() != '/' ||
        target.find(' ') != std::string_view::npos) {
        return Fail(400, "bad request line");
    }
    if (version == "HTTP/1.0") {
        keep_alive_ = false;
    } else if (version == "HTTP/1.1") {
        keep_alive_ = true;
    } else {
        return Fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
    }
    request_.method = std::string(method);
    const size_t query = target.find('?');
    request_.path = std::string(target.substr(0, query));
    if (query == std::string_view::npos) return true;
    request_.query = std::string(target.substr(query + 1));
    for (const auto& [raw_name, raw_value] : QueryPairs(request_.query)) {
        auto name = PercentDecode(raw_name);
        auto value = PercentDecode(raw_value);
        if (!name || !value) return Fail(400, "bad percent-escape in the query");
        request_.params.emplace_back(std::move(*name), std::move(*value));
    }
    return true;
}

bool HttpRequestParser::ParseHeaders(std::string_view block) {
    while (!block.empty()) {
        const size_t end = block.find("\r\n");
        const std::string_view line = block.substr(0, end);
        block = end == std::string_view::npos ? std::string_view() : block.substr(end + 2);
        const size_t colon = line.find(':');
        // No space before the colon and no obsolete line folding (RFC 9112 5).
        if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
            return Fail(400, "malformed header line");
        }
        request_.headers.emplace_back(Lower(line.substr(0, colon)),
                                      std::string(Trim(line.substr(colon + 1))));
    }
    return true;
}

bool HttpRequestParser::StartBody() {
    const std::string connection = Lower(request_.Header("connection"));
    if (connection.find("close") != std::string::npos) keep_alive_ = false;
    if (connection.find("keep-alive") != std::string::npos) keep_alive_ = true;
    std::optional<size_t> length;
    bool chunked = false;
    for (const auto& [name, value] : request_.headers) {
        if (name == "content-length") {
            size_t parsed = 0;
            const auto [end, error] =
                std::from_chars(value.data(), value.data() + value.size(), parsed);
            if (error != std::errc() || end != value.data() + value.size() || value.empty() ||
                (length && *length != parsed)) {
                return Fail(400, "bad Content-Length");
            }
            length = parsed;
        } else if (name == "transfer-encoding") {
            if (Lower(value) != "chunked" || chunked) {
                return Fail(501, "only the chunked transfer encoding is served");
            }
            chunked = true;
        }
    }
    if (chunked && length) return Fail(400, "both Content-Length and Transfer-Encoding");
    const bool has_body = chunked || (length && *length > 0);
    expect_continue_ = has_body && Lower(request_.Header("expect")) == "100-continue";
    if (chunked) {
        state_ = State::kChunkSize;
    } else if (length && *length > max_body_bytes_) {
        return Fail(413, "body exceeds " + std::to_string(max_body_bytes_) + " bytes");
    } else if (has_body) {
        body_left_ = *length;
        state_ = State::kBody;
    } else {
        state_ = State::kDone;
    }
    return true;
}

size_t HttpRequestParser::FeedBody(std::string_view data) {
    const size_t take = std::min(data.size(), body_left_);
    request_.body.append(data.substr(0, take));
    body_left_ -= take;
    if (body_left_ == 0) state_ = State::kDone;
    return take;
}

bool HttpRequestParser::FeedLine(std::string_view data, size_t* used) {
    const size_t newline = data.find('\n');
    const size_t take = newline == std::string_view::npos ? data.size() : newline + 1;
    line_.append(data.substr(0, take));
    *used = take;
    return newline != std::string_view::npos;
}

bool HttpRequestParser::OnChunkSize() {
    std::string_view line(line_);
    if (line.size() < 2 || line.substr(line.size() - 2) != "\r\n") {
        return Fail(400, "bad chunk-size line");
    }
    line.remove_suffix(2);
    line = line.substr(0, line.find(';'));  // chunk extensions are ignored
    line = Trim(line);
    size_t size = 0;
    const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (line.empty() || end != line.data() + line.size()) return Fail(400, "bad chunk size");
    if (error != std::errc() || size > max_body_bytes_ - request_.body.size()) {
        return Fail(413, "body exceeds " + std::to_string(max_body_bytes_) + " bytes");
    }
    line_.clear();
    body_left_ = size;
    state_ = size == 0 ? State::kTrailers : State::kChunkData;
    return true;
}

size_t HttpRequestParser::FeedChunked(std::string_view data) {
    if (state_ == State::kChunkData) {
        const size_t take = std::min(data.size(), body_left_);
        request_.body.append(data.substr(0, take));
        body_left_ -= take;
        if (body_left_ == 0) state_ = State::kChunkEnd;
        return take;
    }
    size_t used = 0;
    const bool whole = FeedLine(data, &used);
    if (state_ == State::kChunkSize) {
        if (line_.size() > kMaxChunkLineBytes) {
            Fail(400, "chunk-size line too long");
        } else if (whole) {
            OnChunkSize();
        }
    } else if (state_ == State::kChunkEnd) {
        if (line_.size() > 2 || (whole && line_ != "\r\n")) {
            Fail(400, "chunk data longer than its size");
        } else if (whole) {
            line_.clear();
            state_ = State::kChunkSize;
        }
    } else {  // kTrailers: header lines we ignore, up to an empty line
        trailer_bytes_ += used;
        if (trailer_bytes_ > max_header_bytes_) {
            Fail(431, "trailers too long");
        } else if (whole) {
            if (line_ == "\r\n") state_ = State::kDone;
            line_.clear();
        }
    }
    return used;
}

}  // namespace mooncake
