// mooncake_master: the metadata service of the store. Runs in the
// foreground, logs to stderr (glog), stops cleanly on SIGTERM / SIGINT.
// Flags and the config file: master_flags.cpp and docs/master.md.

#include <glog/logging.h>

#include <chrono>
#include <string>

#include "common/daemon.h"
#include "common/daemon_flags.h"
#include "master/master_flags.h"
#include "master/master_server.h"

#ifndef MOONCAKE_VERSION
#define MOONCAKE_VERSION "unknown"
#endif

namespace {

constexpr auto kReportInterval = std::chrono::seconds(10);
constexpr char kProgram[] = "mooncake_master";

}  // namespace

int main(int argc, char** argv) {
    mooncake::StopSignals stop_signals;

    if (int failed = mooncake::ParseDaemonCommandLine(
            kProgram, MOONCAKE_VERSION,
            "mooncake_master [--flag=value ...]\n"
            "The metadata service of the Mooncake store (see docs/master.md).",
            &argc, &argv);
        failed != 0) {
        return failed;
    }

    auto options = mooncake::LoadMasterServerOptions();
    if (!options) return mooncake::FailStartup(kProgram, options.error());

    const bool report = options->enable_metric_reporting;
    mooncake::MasterServer server(*options);
    if (auto started = server.Start(); !started)
        return mooncake::FailStartup(kProgram, started.error());
    LOG(INFO) << "mooncake_master " << MOONCAKE_VERSION << " started (instance "
              << server.instance_id().ToString() << ", cluster " << options->config.cluster_id
              << "): " << server.ListeningSummary();

    int received = 0;
    while (received == 0) {
        received = stop_signals.Wait(report ? kReportInterval : std::chrono::hours(1));
        if (received == 0 && report) {
            LOG(INFO) << "master stats: "
                      << mooncake::RenderSummaryLine(server.CollectMetrics(/*walk_objects=*/true));
        }
    }

    LOG(INFO) << "received " << mooncake::StopSignals::Name(received) << ", shutting down";
    server.Stop();
    LOG(INFO) << "mooncake_master stopped";
    google::ShutdownGoogleLogging();
    return 0;
}
