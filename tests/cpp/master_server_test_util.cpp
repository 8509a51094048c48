#include "master_server_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace mooncake::testing {

namespace {

// Files this process created, removed when it exits.
class TempFileRegistry {
   public:
    ~TempFileRegistry() {
        for (const std::string& path : paths_) std::remove(path.c_str());
    }
    void Add(const std::string& path) {
        std::lock_guard<std::mutex> lock(mutex_);
        paths_.push_back(path);
    }

   private:
    std::mutex mutex_;
    std::vector<std::string> paths_;
};

TempFileRegistry& TempFiles() {
    static TempFileRegistry registry;
    return registry;
}

std::string NewOutputPath() {
    static std::atomic<int> counter{0};
    return TempPath("mooncake_master_" + std::to_string(counter.fetch_add(1)) + ".log");
}

// fork + exec of the master with stdout and stderr going to `output_path`.
// Only async-signal-safe calls happen between fork and exec: the test
// process has gRPC threads.
pid_t Spawn(const std::vector<std::string>& args, const std::string& output_path) {
    std::vector<std::string> all = {MOONCAKE_MASTER_BIN};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : all) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int output = ::open(output_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (output < 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        // Never outlive the test binary, even when it crashes.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(output, STDOUT_FILENO);
        ::dup2(output, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(output);
    return pid;
}

ExitStatus FromWaitStatus(int status) {
    ExitStatus exit;
    if (WIFEXITED(status)) {
        exit.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        exit.code = 128 + WTERMSIG(status);
        exit.signaled = true;
    }
    return exit;
}

std::string ReadFile(const std::string& path) {
    std::ifstream file(path);
    std::stringstream content;
    content << file.rdbuf();
    return content.str();
}

std::vector<std::string> DefaultArgs(const MasterPorts& ports) {
    std::vector<std::string> args = {
        "--rpc_address=" + ports.host,
        "--port=" + std::to_string(ports.rpc),
        "--enable_http_metadata_server=true",
        "--http_metadata_server_host=" + ports.host,
        "--http_metadata_server_port=" + std::to_string(ports.http),
    };
    if (ports.hot != 0) args.push_back("--hot_rpc_port=" + std::to_string(ports.hot));
    if (ports.metrics != 0) args.push_back("--metrics_port=" + std::to_string(ports.metrics));
    return args;
}

}  // namespace

std::string TempPath(const std::string& name) {
    const std::string path =
        ::testing::TempDir() + "mc_test_" + std::to_string(getpid()) + "_" + name;
    TempFiles().Add(path);
    return path;
}

std::string WriteTempFile(const std::string& name, const std::string& content) {
    const std::string path = TempPath(name);
    std::ofstream(path) << content;
    return path;
}

uint16_t PickFreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
        socklen_t length = sizeof(address);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
        port = ntohs(address.sin_port);
    }
    ::close(fd);
    return port;
}

MasterPorts PickMasterPorts() {
    MasterPorts ports;
    // Distinct ports: the kernel may hand the same free port out twice.
    std::vector<uint16_t> taken;
    auto fresh = [&taken] {
        while (true) {
            const uint16_t port = PickFreePort();
            if (port != 0 && std::find(taken.begin(), taken.end(), port) == taken.end()) {
                taken.push_back(port);
                return port;
            }
        }
    };
    ports.rpc = fresh();
    ports.http = fresh();
    ports.metrics = fresh();
    return ports;
}

std::unique_ptr<MasterProcess> MasterProcess::Start(const std::vector<std::string>& extra_args,
                                                    std::optional<MasterPorts> ports,
                                                    std::string* error) {
    if (ports) return Launch(extra_args, [&] { return *ports; }, 1, error);
    return Launch(extra_args, PickMasterPorts, 4, error);
}

std::unique_ptr<MasterProcess> MasterProcess::Restart(const std::vector<std::string>& extra_args,
                                                      uint16_t rpc_port, uint16_t hot_port,
                                                      std::string* error) {
    auto pick = [&] {
        MasterPorts ports = PickMasterPorts();
        ports.rpc = rpc_port;
        ports.hot = hot_port;
        return ports;
    };
    return Launch(extra_args, pick, 4, error);
}

std::unique_ptr<MasterProcess> MasterProcess::Launch(const std::vector<std::string>& extra_args,
                                                     const std::function<MasterPorts()>& pick_ports,
                                                     int attempts, std::string* error) {
    std::string last_error;
    for (int attempt = 0; attempt < attempts; ++attempt) {
        std::unique_ptr<MasterProcess> process(new MasterProcess());
        process->ports_ = pick_ports();
        process->output_path_ = NewOutputPath();
        std::vector<std::string> args = DefaultArgs(process->ports_);
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        process->pid_ = Spawn(args, process->output_path_);
        if (process->pid_ < 0) {
            last_error = "cannot spawn " MOONCAKE_MASTER_BIN;
            break;
        }
        if (process->WaitReady(std::chrono::seconds(60), &last_error)) return process;
        const bool port_race = process->Output().find("in use") != std::string::npos;
        process->Kill();
        if (!port_race) break;
    }
    if (error != nullptr) *error = last_error;
    return nullptr;
}

MasterProcess::~MasterProcess() { Kill(); }

std::string MasterProcess::grpc_address() const {
    return ports_.host + ":" + std::to_string(ports_.rpc);
}

bool MasterProcess::WaitReady(std::chrono::seconds timeout, std::string* error) {
    // The master is still starting: retry quickly, not with gRPC's default
    // back-off of seconds. (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone:
    // gRPC also uses it as the connect timeout.)
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    // After a refused connection gRPC waits for a new name resolution, which
    // is rate-limited to one per several seconds by default.
    arguments.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 50);
    auto channel =
        grpc::CreateCustomChannel(grpc_address(), grpc::InsecureChannelCredentials(), arguments);
    stub_ = rpc::MasterService::NewStub(channel);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running()) {
            *error = "mooncake_master exited with " + std::to_string(exit_status_.code) + ": " +
                     Output();
            return false;
        }
        auto context = ContextWithDeadline(std::chrono::milliseconds(500));
        rpc::GetServiceInfoResponse reply;
        if (stub_->GetServiceInfo(context.get(), {}, &reply).ok()) {
            hot_rpc_port_ = static_cast<uint16_t>(reply.hot_rpc_port());
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *error = "mooncake_master did not answer within the deadline: " + Output();
    return false;
}

bool MasterProcess::running() {
    if (pid_ < 0 || reaped_) return false;
    int status = 0;
    const pid_t rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
        reaped_ = true;
        exit_status_ = FromWaitStatus(status);
        return false;
    }
    return true;
}

std::optional<ExitStatus> MasterProcess::WaitExit(std::chrono::milliseconds timeout) {
    if (WaitUntil([this] { return !running(); }, timeout)) {
        if (reaped_) return exit_status_;
    }
    return std::nullopt;
}

void MasterProcess::Signal(int signal_number) {
    if (running()) ::kill(pid_, signal_number);
}

bool MasterProcess::Stop() {
    if (!running()) return false;
    ::kill(pid_, SIGSTOP);
    // kill() only queues the signal; WUNTRACED reports the actual stop.
    int status = 0;
    return ::waitpid(pid_, &status, WUNTRACED) == pid_ && WIFSTOPPED(status);
}

std::optional<ExitStatus> MasterProcess::Terminate(std::chrono::seconds timeout) {
    if (!running()) return reaped_ ? std::optional<ExitStatus>(exit_status_) : std::nullopt;
    ::kill(pid_, SIGTERM);
    auto exit = WaitExit(timeout);
    if (!exit) Kill();
    return exit;
}

void MasterProcess::Kill() {
    if (pid_ < 0 || reaped_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) {
        reaped_ = true;
        exit_status_ = FromWaitStatus(status);
    }
}

std::string MasterProcess::Output() const { return ReadFile(output_path_); }

RunResult RunMasterToExit(const std::vector<std::string>& args, std::chrono::seconds timeout) {
    RunResult result;
    const std::string path = NewOutputPath();
    const pid_t pid = Spawn(args, path);
    if (pid < 0) return result;
    int status = 0;
    const bool exited = WaitUntil([&] { return ::waitpid(pid, &status, WNOHANG) == pid; },
                                  std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    if (exited) {
        result.exit = FromWaitStatus(status);
    } else {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    result.output = ReadFile(path);
    return result;
}

std::vector<std::string> NonEmptyLines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream stream(text);
    std::string line;
    while (std::getline(stream, line)) {
        if (!line.empty()) lines.push_back(line);
    }
    return lines;
}

HttpReply HttpGet(uint16_t port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(std::chrono::seconds(10));
    client.set_read_timeout(std::chrono::seconds(10));
    HttpReply reply;
    if (auto response = client.Get(path.c_str())) {
        reply.status = response->status;
        reply.body = response->body;
        reply.content_type = response->get_header_value("Content-Type");
    }
    return reply;
}

std::optional<double> ScrapeMetric(uint16_t metrics_port, const std::string& series) {
    HttpReply reply = HttpGet(metrics_port, "/metrics");
    // A scrape that did not get through (seen once in CI under a full
    // parallel ctest, status unknown) is tried again before giving up.
    for (int retry = 0; retry < 3 && reply.status != 200; ++retry) {
        std::fprintf(stderr, "ScrapeMetric: /metrics on port %u answered %d; retrying\n",
                     static_cast<unsigned>(metrics_port), reply.status);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        reply = HttpGet(metrics_port, "/metrics");
    }
    if (reply.status != 200) return std::nullopt;
    for (const std::string& line : NonEmptyLines(reply.body)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            return std::strtod(line.c_str() + series.size() + 1, nullptr);
        }
    }
    return std::nullopt;
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(std::chrono::milliseconds timeout) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + timeout);
    return context;
}

}  // namespace mooncake::testing
