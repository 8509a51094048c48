// Runs a cpp-httplib server on its own thread, bound exactly where asked.
//
// httplib sets SO_REUSEPORT by default, which lets a second process bind the
// same port silently; this listener uses SO_REUSEADDR only, so a busy port is
// an error at start-up.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace mooncake {

class HttpListener {
   public:
    HttpListener();
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    // Register routes here before Start().
    httplib::Server& server() { return *server_; }

    // Binds host:port (0 picks a free port) and serves on a thread. `what`
    // names the endpoint in the one-line error ("HTTP metadata port").
    std::expected<void, std::string> Start(const std::string& host, uint16_t port,
                                           const std::string& what);
    void Stop();

    uint16_t port() const { return port_; }

   private:
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    uint16_t port_ = 0;
};

}  // namespace mooncake
