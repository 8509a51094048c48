// A small event-driven HTTP/1.1 server for the master's embedded endpoints
// (HTTP metadata server, /metrics). Why our own and not cpp-httplib or
// libmicrohttpd: see docs/security.md ("HTTP listeners").
//
// Every peer is untrusted. One epoll thread owns all sockets, so idle or
// trickling connections cost a few hundred bytes and no thread; complete
// requests run on a small worker pool. Each request must arrive whole within
// `request_timeout` (headers and body, whatever the transfer encoding), its
// header block within `max_header_bytes` and its body within
// `max_body_bytes`; the bytes all connections buffer together are bounded by
// `max_buffered_bytes`; when `max_connections` are open, the one idle the
// longest (or slowest to finish its request) is closed to make room.
//
// Routes are method + exact path -> handler; the handler gets the parsed
// request and returns status, content type and body.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mooncake {

struct HttpRequest {
    std::string method;  // "GET", "PUT", ...
    std::string path;    // without the query, not decoded
    std::string peer;    // "ip:port"
    // Query parameters, percent-decoded ('+' is a space), in order.
    std::vector<std::pair<std::string, std::string>> params;
    std::string query;  // after the '?', as sent (not decoded)
    // Header names lower-cased.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // de-chunked

    // The first value of parameter `name`, nullopt when absent.
    std::optional<std::string> Param(const std::string& name) const;
    // The same, as sent: not percent-decoded (the reference's admin routes
    // take keys raw).
    std::optional<std::string> RawParam(const std::string& name) const;
    // The first value of header `lower_case_name`, "" when absent.
    std::string Header(const std::string& lower_case_name) const;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpLimits {
    size_t max_connections = 4096;
    // Request line + header lines (and chunked trailers) of one request.
    size_t max_header_bytes = 64 << 10;
    size_t max_body_bytes = 16 << 20;
    // Request and response bytes all connections hold together.
    size_t max_buffered_bytes = 256 << 20;
    // From a request's first byte until it is complete; also bounds the
    // writing of its response.
    std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
    // A keep-alive connection with no request in progress closes after this.
    std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
    size_t worker_threads = 4;
};

class HttpListener {
   public:
    explicit HttpListener(HttpLimits limits = {});
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    // Register routes before Start(). A path with a route but not for the
    // method gets 405, an unknown path 404.
    void Handle(const std::string& method, const std::string& path, HttpHandler handler);

    // Binds host:port (0 picks a free port) and serves on its own threads.
    // `what` names the endpoint in the one-line error ("HTTP metadata port").
    std::expected<void, std::string> Start(const std::string& host, uint16_t port,
                                           const std::string& what);
    void Stop();

    uint16_t port() const { return port_; }
    void set_limits(const HttpLimits& limits) { limits_ = limits; }
    const HttpLimits& limits() const { return limits_; }

    class Loop;  // the epoll thread and its connections (http_listener.cpp)
    using Routes = std::map<std::string, std::map<std::string, HttpHandler>>;  // path -> method

   private:
    HttpLimits limits_;
    Routes routes_;
    std::unique_ptr<Loop> loop_;
    uint16_t port_ = 0;
};

}  // namespace mooncake
