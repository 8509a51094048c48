// Helpers for tests that run the real mooncake_master binary: free ports,
// starting and stopping the process, waiting for readiness, reading its
// stderr, scraping /metrics.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "master.grpc.pb.h"

namespace mooncake::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t PickFreePort();

struct MasterPorts {
    std::string host = "127.0.0.1";  // rpc_address and HTTP metadata host
    uint16_t rpc = 0;
    uint16_t hot = 0;  // 0: the master picks one
    uint16_t http = 0;
    uint16_t metrics = 0;  // 0: the flag is left out (the default port)
};

MasterPorts PickMasterPorts();

// Exit status of a finished process: the exit code, or 128 + signal.
struct ExitStatus {
    int code = -1;
    bool signaled = false;
};

class MasterProcess {
   public:
    // Starts mooncake_master on 127.0.0.1 with `ports` (the HTTP metadata
    // server enabled) plus `extra_args`, and waits until it answers
    // GetServiceInfo. Retries with fresh ports when a port was taken in the
    // meantime (unless `ports` was given). nullptr, with the reason in
    // `error`, when it did not come up.
    static std::unique_ptr<MasterProcess> Start(const std::vector<std::string>& extra_args = {},
                                                std::optional<MasterPorts> ports = std::nullopt,
                                                std::string* error = nullptr);
    // Starts a master again on `rpc_port` (and `hot_port`, 0: the master
    // picks one), as a restart does; the ports nobody reconnects to (HTTP,
    // metrics) are fresh, and picked again when another process took one.
    static std::unique_ptr<MasterProcess> Restart(const std::vector<std::string>& extra_args,
                                                  uint16_t rpc_port, uint16_t hot_port,
                                                  std::string* error = nullptr);
    ~MasterProcess();

    const MasterPorts& ports() const { return ports_; }
    pid_t pid() const { return pid_; }
    std::string grpc_address() const;  // "host:port"
    uint16_t hot_rpc_port() const { return hot_rpc_port_; }

    rpc::MasterService::Stub& stub() { return *stub_; }

    // SIGTERM, then waits (SIGKILL after `timeout`).
    std::optional<ExitStatus> Terminate(std::chrono::seconds timeout = std::chrono::seconds(30));
    // SIGKILL and reap.
    void Kill();
    void Signal(int signal_number);
    // SIGSTOP, returning once the process is really stopped.
    bool Stop();
    std::optional<ExitStatus> WaitExit(std::chrono::milliseconds timeout);
    bool running();

    // What the process wrote to stdout and stderr so far.
    std::string Output() const;

   private:
    MasterProcess() = default;
    static std::unique_ptr<MasterProcess> Launch(const std::vector<std::string>& extra_args,
                                                 const std::function<MasterPorts()>& pick_ports,
                                                 int attempts, std::string* error);
    bool WaitReady(std::chrono::seconds timeout, std::string* error);

    pid_t pid_ = -1;
    bool reaped_ = false;
    ExitStatus exit_status_;
    MasterPorts ports_;
    uint16_t hot_rpc_port_ = 0;
    std::string output_path_;
    std::unique_ptr<rpc::MasterService::Stub> stub_;
};

// Runs mooncake_master with `args` until it exits (killed after `timeout`).
struct RunResult {
    std::optional<ExitStatus> exit;  // nullopt: it had to be killed
    std::string output;
};
RunResult RunMasterToExit(const std::vector<std::string>& args,
                          std::chrono::seconds timeout = std::chrono::seconds(30));

// A path under the test temp directory for `name`, unique to this process;
// the file is removed when the process exits.
std::string TempPath(const std::string& name);
// Writes `content` to TempPath(name) and returns the path.
std::string WriteTempFile(const std::string& name, const std::string& content);

// The lines of `text` that are not empty.
std::vector<std::string> NonEmptyLines(const std::string& text);

// GET http://127.0.0.1:port/path; the status (0 when unreachable) and body.
struct HttpReply {
    int status = 0;
    std::string body;
    std::string content_type;
};
HttpReply HttpGet(uint16_t port, const std::string& path);

// The value of the sample `series` (e.g. "mooncake_master_object_count" or
// `mooncake_master_rpc_errors_total{code="INVALID_KEY"}`) on /metrics.
std::optional<double> ScrapeMetric(uint16_t metrics_port, const std::string& series);

// Polls `condition` every 20 ms until it holds or `timeout` passes.
template <typename Condition>
bool WaitUntil(Condition condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}

// A gRPC client context with a deadline `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

}  // namespace mooncake::testing
