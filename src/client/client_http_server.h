// The client HTTP server (setup(enable_client_http_server=True), or the
// standalone mooncake_client --enable_http_server): health and metrics of
// one store client on client_http_port, served by the master's epoll
// listener (net/http_listener.h) rather than a second HTTP stack.
//
//   GET /health           {"status": S, "code": N}; 200 when healthy, else 503
//   GET /metrics          Prometheus text of the client's gauges
//   GET /metrics/summary  the same on one line
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "mooncake/client.h"
#include "mooncake/result.h"

namespace mooncake {

class HttpListener;

// health_check() values, as in the reference.
enum class ClientHealth : int {
    kHealthy = 0,
    kNotInitialized = 1,
    kMasterUnreachable = 2,
};
// One master (or standalone client) round trip; null: not initialized.
ClientHealth CheckClientHealth(Client* client);

class ClientHttpServer {
   public:
    // The client the server reports on now, or null (not set up, closed).
    using ClientSource = std::function<std::shared_ptr<Client>()>;

    // Binds port (0 picks a free one) on 127.0.0.1 when the client's
    // hostname ("host" or "host:port") is a loopback name, else on 0.0.0.0.
    // The error names the port.
    static std::expected<std::unique_ptr<ClientHttpServer>, std::string> Start(
        const std::string& client_hostname, uint16_t port, ClientSource source);
    // Only Start() can make one (it holds the tag).
    struct StartTag {
       private:
        StartTag() = default;
        friend class ClientHttpServer;
    };
    explicit ClientHttpServer(StartTag);
    ~ClientHttpServer();
    ClientHttpServer(const ClientHttpServer&) = delete;
    ClientHttpServer& operator=(const ClientHttpServer&) = delete;

    uint16_t port() const;

   private:
    std::unique_ptr<HttpListener> listener_;
};

}  // namespace mooncake
