#include "client/client_http_server.h"

#include <cstdio>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "common/net_util.h"
#include "net/http_listener.h"

namespace mooncake {

namespace {

const char* HealthName(ClientHealth health) {
    switch (health) {
        case ClientHealth::kHealthy:
            return "healthy";
        case ClientHealth::kNotInitialized:
            return "not_initialized";
        case ClientHealth::kMasterUnreachable:
            return "master_unreachable";
    }
    return "unknown";
}

HttpResponse Health(const ClientHttpServer::ClientSource& source) {
    std::shared_ptr<Client> client = source();
    const ClientHealth health = CheckClientHealth(client.get());
    const int code = static_cast<int>(health);
    return HttpResponse{
        .status = health == ClientHealth::kHealthy ? 200 : 503,
        .content_type = "application/json",
        .body = std::string("{\"status\":\"") + HealthName(health) +
                "\",\"code\":" + std::to_string(code) + "}",
    };
}

std::string FormatValue(double value) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.17g", value);
    return text;
}

// The gauges, or a 503 response when there are none to give.
std::optional<HttpResponse> Unavailable(const std::shared_ptr<Client>& client,
                                        const std::vector<std::pair<std::string, double>>& values) {
    if (!client) return HttpResponse{.status = 503, .body = "client not initialized"};
    if (values.empty()) return HttpResponse{.status = 503, .body = "metrics not available"};
    return std::nullopt;
}

HttpResponse Metrics(const ClientHttpServer::ClientSource& source) {
    std::shared_ptr<Client> client = source();
    const auto values = client ? client->MetricValues() : decltype(client->MetricValues()){};
    if (auto refused = Unavailable(client, values)) return *refused;
    std::ostringstream text;
    for (const auto& [name, value] : values) {
        text << "# TYPE " << name << " gauge\n" << name << " " << FormatValue(value) << "\n";
    }
    return HttpResponse{.content_type = "text/plain; version=0.0.4", .body = text.str()};
}

HttpResponse Summary(const ClientHttpServer::ClientSource& source) {
    std::shared_ptr<Client> client = source();
    const auto values = client ? client->MetricValues() : decltype(client->MetricValues()){};
    if (auto refused = Unavailable(client, values)) return *refused;
    std::ostringstream text;
    const char* separator = "";
    for (const auto& [name, value] : values) {
        text << separator << name << "=" << FormatValue(value);
        separator = " ";
    }
    text << "\n";
    return HttpResponse{.content_type = "text/plain", .body = text.str()};
}

}  // namespace

ClientHealth CheckClientHealth(Client* client) {
    if (client == nullptr) return ClientHealth::kNotInitialized;
    // Any master round trip tells whether the master answers; an exist
    // probe of a key nobody writes is the cheapest one and grants no lease.
    static const std::string kProbeKey = "__mooncake_health_check__";
    Result<bool> probe = client->IsExist(kProbeKey);
    if (probe.has_value() || probe.error() == ErrorCode::OBJECT_NOT_FOUND) {
        return ClientHealth::kHealthy;
    }
    return probe.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS
               ? ClientHealth::kNotInitialized
               : ClientHealth::kMasterUnreachable;
}

ClientHttpServer::ClientHttpServer(StartTag) : listener_(std::make_unique<HttpListener>()) {}

ClientHttpServer::~ClientHttpServer() { listener_->Stop(); }

uint16_t ClientHttpServer::port() const { return listener_->port(); }

std::expected<std::unique_ptr<ClientHttpServer>, std::string> ClientHttpServer::Start(
    const std::string& client_hostname, uint16_t port, ClientSource source) {
    const auto host = ParseHostPort(client_hostname);
    const bool loopback = host.has_value() && IsLoopbackHost(host->host);
    auto server = std::make_unique<ClientHttpServer>(StartTag{});
    HttpLimits limits;
    limits.max_connections = 256;  // health probes and scrapers, not data
    limits.max_body_bytes = 4 << 10;
    limits.worker_threads = 2;
    server->listener_->set_limits(limits);
    server->listener_->Handle("GET", "/health",
                              [source](const HttpRequest&) { return Health(source); });
    server->listener_->Handle("GET", "/metrics",
                              [source](const HttpRequest&) { return Metrics(source); });
    server->listener_->Handle("GET", "/metrics/summary",
                              [source](const HttpRequest&) { return Summary(source); });
    auto started =
        server->listener_->Start(loopback ? "127.0.0.1" : "0.0.0.0", port, "client HTTP port");
    if (!started.has_value()) return std::unexpected(started.error());
    return server;
}

}  // namespace mooncake
