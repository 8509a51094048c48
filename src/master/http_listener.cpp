#include "master/http_listener.h"

#include <glog/logging.h>
#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>

#include "common/net_util.h"
#include "master/socket_util.h"

namespace mooncake {

namespace {

// Requests served at once per listener (metadata server, /metrics).
constexpr size_t kWorkerThreads = 32;

}  // namespace

HttpListener::HttpListener() : server_(std::make_unique<httplib::Server>()) {
    server_->set_socket_options([](socket_t sock) {
        const int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // Idle keep-alive connections and stalled requests (a lying
    // Content-Length, a peer that stops sending) must not pin the worker
    // threads for long: each holds one until a timeout, so the pool is
    // larger than httplib's default and the timeouts short.
    server_->set_read_timeout(std::chrono::seconds(5));
    server_->set_write_timeout(std::chrono::seconds(5));
    server_->set_keep_alive_timeout(5);
    // httplib owns the queue it gets from this factory (its API takes a raw
    // pointer).
    server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
}

HttpListener::~HttpListener() { Stop(); }

std::expected<void, std::string> HttpListener::Start(const std::string& host, uint16_t port,
                                                     const std::string& what) {
    const std::string where = JoinHostPort(host, port);
    if (port == 0) {
        const int bound = server_->bind_to_any_port(host);
        if (bound <= 0) {
            return std::unexpected("cannot listen on " + where + " (" + what + ")");
        }
        port_ = static_cast<uint16_t>(bound);
    } else {
        // httplib hides the errno; probe first so the message says why.
        if (auto free = net::CheckPortFree(host, port); !free) {
            return std::unexpected(free.error() + " (" + what + ")");
        }
        if (!server_->bind_to_port(host, port)) {
            return std::unexpected("cannot listen on " + where + " (" + what + ")");
        }
        port_ = port;
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() is a no-op until the accept loop runs; wait for it so that a
    // quick Stop() cannot leave the thread serving for ever.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!server_->is_running()) {
        LOG(WARNING) << "HTTP server on " << where << " (" << what
                     << ") did not report running within 10 s";
    }
    return {};
}

void HttpListener::Stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
}

}  // namespace mooncake
