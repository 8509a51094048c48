#include "master/metrics_server.h"

#include "master/prometheus_text.h"

namespace mooncake {

MetricsServer::MetricsServer(Collect collect, HttpLimits limits)
    : collect_(std::move(collect)), listener_(limits) {
    listener_.Handle("GET", "/metrics", [this](const HttpRequest&) {
        return HttpResponse{200, kPrometheusContentType,
                            RenderPrometheusMetrics(collect_(/*walk_objects=*/false))};
    });
    listener_.Handle("GET", "/metrics/summary", [this](const HttpRequest&) {
        return HttpResponse{200, kPrometheusContentType,
                            RenderSummaryLine(collect_(/*walk_objects=*/true)) + "\n"};
    });
    // Role, epoch, leader and replication lag (docs/ha.md).
    listener_.Handle("GET", "/ha/status", [this](const HttpRequest&) {
        return HttpResponse{200, "application/json",
                            RenderHaStatusJson(collect_(/*walk_objects=*/false))};
    });
    // The reference HEAD's role routes (interfaces.md §6.2).
    listener_.Handle("GET", "/role", [this](const HttpRequest&) {
        return HttpResponse{200, "text/plain", RoleOf(collect_(/*walk_objects=*/false))};
    });
    listener_.Handle("GET", "/ha_status", [this](const HttpRequest&) {
        return HttpResponse{200, "text/plain", HaStateOf(collect_(/*walk_objects=*/false))};
    });
    listener_.Handle("GET", "/leader", [this](const HttpRequest&) {
        return HttpResponse{200, "application/json",
                            RenderLeaderJson(collect_(/*walk_objects=*/false))};
    });
    listener_.Handle("GET", "/health", [](const HttpRequest&) {
        return HttpResponse{200, "text/plain", "OK"};
    });
}

std::expected<void, std::string> MetricsServer::Start(const std::string& host, uint16_t port) {
    return listener_.Start(host, port, "metrics port");
}

}  // namespace mooncake
