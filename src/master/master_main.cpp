// mooncake_master: the metadata service of the store. Runs in the
// foreground, logs to stderr (glog), stops cleanly on SIGTERM / SIGINT.
// Flags and the config file: master_flags.cpp and docs/master.md.

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>

#include "master/master_flags.h"
#include "master/master_server.h"

#ifndef MOONCAKE_VERSION
#define MOONCAKE_VERSION "unknown"
#endif

namespace {

constexpr int kReportIntervalSec = 10;

// Start-up failures are reported as exactly one line on stderr, so that
// systemd's journal and scripts show the reason at a glance.
int FailStartup(std::string reason) {
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    std::replace(reason.begin(), reason.end(), '\r', ' ');
    std::fprintf(stderr, "mooncake_master: %s\n", reason.c_str());
    std::fflush(stderr);
    return 1;
}

const char* SignalName(int signal_number) {
    switch (signal_number) {
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        default:
            return "a signal";
    }
}

}  // namespace

int main(int argc, char** argv) {
    // Termination signals are taken by sigtimedwait() in this thread only;
    // block them before any library starts a thread that would inherit them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    gflags::SetVersionString(MOONCAKE_VERSION);
    gflags::SetUsageMessage(
        "mooncake_master [--flag=value ...]\n"
        "The metadata service of the Mooncake store (see docs/master.md).");
    // Log to stderr unless the command line says otherwise.
    FLAGS_logtostderr = true;
    gflags::ParseCommandLineFlags(&argc, &argv, true);
    if (argc > 1) return FailStartup(std::string("unexpected argument '") + argv[1] + "'");
    google::InitGoogleLogging(argv[0]);

    auto options = mooncake::LoadMasterServerOptions();
    if (!options) return FailStartup(options.error());

    const bool report = options->enable_metric_reporting;
    mooncake::MasterServer server(*options);
    if (auto started = server.Start(); !started) return FailStartup(started.error());
    LOG(INFO) << "mooncake_master " << MOONCAKE_VERSION << " started (instance "
              << server.instance_id().ToString() << ", cluster " << options->config.cluster_id
              << "): " << server.ListeningSummary();

    int received = 0;
    while (received == 0) {
        timespec wait{};
        wait.tv_sec = report ? kReportIntervalSec : 3600;
        const int signal_number = sigtimedwait(&stop_signals, nullptr, &wait);
        if (signal_number > 0) {
            received = signal_number;
        } else if (report) {
            // EAGAIN (timeout) or EINTR: either way, time for a report.
            LOG(INFO) << "master stats: " << mooncake::RenderSummaryLine(server.CollectMetrics());
        }
    }

    LOG(INFO) << "received " << SignalName(received) << ", shutting down";
    server.Stop();
    LOG(INFO) << "mooncake_master stopped";
    google::ShutdownGoogleLogging();
    return 0;
}
