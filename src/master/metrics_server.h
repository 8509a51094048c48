// HTTP endpoint of the master's metrics, on rpc_address:metrics_port:
//
//   GET /metrics          Prometheus text format 0.0.4 (master_metrics.h)
//   GET /metrics/summary  the one-line summary the periodic log line shows
//   GET /health           200 "OK"
// and, registered by MasterServer, the admin routes of admin_endpoints.h.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <string>

#include "master/master_metrics.h"
#include "net/http_listener.h"

namespace mooncake {

class MetricsServer {
   public:
    // `collect` is called for every scrape, on an HTTP worker thread;
    // `walk_objects` asks for the figures that cost a walk over every object
    // (only the summary line shows them).
    using Collect = std::function<MasterMetricsSnapshot(bool walk_objects)>;
    explicit MetricsServer(Collect collect, HttpLimits limits = {});

    // More routes on this port (admin endpoints); before Start().
    void Handle(const std::string& method, const std::string& path, HttpHandler handler) {
        listener_.Handle(method, path, std::move(handler));
    }

    std::expected<void, std::string> Start(const std::string& host, uint16_t port);
    void Stop() { listener_.Stop(); }
    uint16_t port() const { return listener_.port(); }

   private:
    Collect collect_;
    HttpListener listener_;
};

}  // namespace mooncake
