#include "master/metrics_server.h"

#include <httplib.h>

#include "master/prometheus_text.h"

namespace mooncake {

MetricsServer::MetricsServer(std::function<MasterMetricsSnapshot()> collect)
    : collect_(std::move(collect)) {
    httplib::Server& server = listener_.server();
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(RenderPrometheusMetrics(collect_()), kPrometheusContentType);
    });
    server.Get("/metrics/summary", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(RenderSummaryLine(collect_()) + "\n", "text/plain");
    });
    // Role, epoch, leader and replication lag (docs/ha.md).
    server.Get("/ha/status", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(RenderHaStatusJson(collect_()), "application/json");
    });
    server.Get("/health", [](const httplib::Request&, httplib::Response& response) {
        response.set_content("OK", "text/plain");
    });
}

std::expected<void, std::string> MetricsServer::Start(const std::string& host, uint16_t port) {
    return listener_.Start(host, port, "metrics port");
}

}  // namespace mooncake
