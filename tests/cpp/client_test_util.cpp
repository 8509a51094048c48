#include "client_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "client/master_client.h"
#include "common/logging.h"

extern char** environ;

namespace mooncake::testing {

namespace {

using Clock = std::chrono::steady_clock;

// A dead helper must not take the test process down with SIGPIPE.
const bool kIgnoreSigpipe = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
}();

bool ConnectsTo(const std::string& host, uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    const bool connected =
        connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    close(fd);
    return connected;
}

// Whether `host:port` accepts connections, seen from network namespace
// `netns` (this process's own when empty). The probe runs on a thread of its
// own because setns() moves only the calling thread.
bool PortAcceptsConnections(const std::string& host, uint16_t port, const std::string& netns) {
    if (netns.empty()) return ConnectsTo(host, port);
    bool connected = false;
    std::thread probe([&] {
        const int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0) return;
        if (setns(ns, CLONE_NEWNET) == 0) connected = ConnectsTo(host, port);
        close(ns);
    });
    probe.join();
    return connected;
}

// Whether a master serves RPCs at `address` (a short deadline per attempt).
bool MasterAnswers(const std::string& address) {
    MasterClientOptions options;
    options.rpc_timeout = std::chrono::milliseconds(1000);
    options.use_hot_path = false;
    auto master = MasterClient::Connect(address, options);
    return master.has_value() && (*master)->GetServiceInfo().has_value();
}

// The `ip` tool, for `ip netns exec`.
const char* IpTool() {
    for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
        if (access(path, X_OK) == 0) return path;
    }
    return "ip";
}

// `argv` run inside network namespace `netns` (as it is when empty).
std::vector<std::string> InNamespace(const std::string& netns, std::vector<std::string> argv) {
    if (netns.empty()) return argv;
    std::vector<std::string> wrapped = {IpTool(), "netns", "exec", netns};
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    return wrapped;
}

// Runs a shell command quietly; true when it exited 0.
bool Run(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

bool LogMentions(const std::string& path, const std::string& text) {
    FILE* file = std::fopen(path.c_str(), "r");
    if (file == nullptr) return false;
    std::string contents;
    char chunk[4096];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof(chunk), file)) > 0) contents.append(chunk, got);
    std::fclose(file);
    return contents.find(text) != std::string::npos;
}

}  // namespace

pid_t Spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
            const std::string& log_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
    if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
    if (!log_path.empty()) {
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (stdout_fd < 0) {
            posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
        }
    }
    std::vector<char*> raw;
    for (const std::string& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
    raw.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        std::fprintf(stderr, "posix_spawn %s: %s\n", raw[0], std::strerror(rc));
        return -1;
    }
    return pid;
}

int Reap(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

uint16_t PickFreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    close(fd);
    return ntohs(address.sin_port);
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        if (condition()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(interval);
    }
}

void FillValue(uint64_t seed, uint8_t* data, size_t size) {
    // xorshift64*: cheap, and no two seeds share a prefix.
    uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
    for (size_t i = 0; i < size; ++i) {
        if (i % 8 == 0) {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
        }
        data[i] = static_cast<uint8_t>((state * 0x2545F4914F6CDD1DULL) >> (8 * (i % 8)));
    }
}

std::vector<uint8_t> MakeValue(uint64_t seed, size_t size) {
    std::vector<uint8_t> value(size);
    FillValue(seed, value.data(), size);
    return value;
}

bool ValueMatches(uint64_t seed, const uint8_t* data, size_t size) {
    const std::vector<uint8_t> expected = MakeValue(seed, size);
    return std::memcmp(expected.data(), data, size) == 0;
}

Status PutValue(Client& client, const std::string& key, uint64_t seed, size_t size,
                const ReplicateConfig& config) {
    const std::vector<uint8_t> value = MakeValue(seed, size);
    const ConstBytes part(value.data(), value.size());
    return client.Put(key, std::span<const ConstBytes>(&part, 1), config);
}

bool ReadsBack(Client& client, const std::string& key, uint64_t seed, size_t size) {
    auto got = client.Get(key);
    return got.has_value() && (*got)->size() == size && ValueMatches(seed, (*got)->data(), size);
}

// ---- MasterProcess ----------------------------------------------------------

MasterProcess::MasterProcess(std::vector<std::string> extra_flags, std::string netns,
                             std::string host)
    : extra_flags_(std::move(extra_flags)),
      netns_(std::move(netns)),
      host_(std::move(host)),
      rpc_port_(PickFreePort()),
      http_port_(PickFreePort()),
      metrics_port_(PickFreePort()) {
    log_path_ = "/tmp/mooncake_client_test_master_" + std::to_string(getpid()) + "_" +
                std::to_string(rpc_port_) + ".log";
}

MasterProcess::~MasterProcess() {
    if (running()) Kill();
    // The log tells why a test failed; a passing test's log is clutter.
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    if (test != nullptr && !::testing::Test::HasFailure()) unlink(log_path_.c_str());
}

bool MasterProcess::Start() {
    if (running()) return true;
    constexpr int kAttempts = 5;
    for (int attempt = 1;; ++attempt) {
        if (StartOnce()) {
            started_ = true;
            return true;
        }
        if (started_ || attempt == kAttempts || !LogMentions(log_path_, "already in use")) {
            std::fprintf(stderr, "mooncake_master did not start; log: %s\n", log_path_.c_str());
            return false;
        }
        rpc_port_ = PickFreePort();
        http_port_ = PickFreePort();
        metrics_port_ = PickFreePort();
    }
}

bool MasterProcess::StartOnce() {
    InitLoggingOnce("client_test");
    // A retried first start: the log tells of this attempt only.
    if (!started_) (void)truncate(log_path_.c_str(), 0);
    std::vector<std::string> argv = {
        MOONCAKE_MASTER_BIN,
        "--rpc_address=" + host_,
        "--port=" + std::to_string(rpc_port_),
        "--enable_http_metadata_server=true",
        "--http_metadata_server_host=" + host_,
        "--http_metadata_server_port=" + std::to_string(http_port_),
        "--metrics_port=" + std::to_string(metrics_port_),
        "--hot_rpc_port=0",
        "--enable_metric_reporting=false",
    };
    argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
    pid_ = Spawn(InNamespace(netns_, std::move(argv)), -1, -1, log_path_);
    if (pid_ < 0) return false;
    const bool ready = WaitFor(
        [this] {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;  // exited during start-up
                return true;
            }
            if (!PortAcceptsConnections(host_, rpc_port_, netns_) ||
                !PortAcceptsConnections(host_, http_port_, netns_)) {
                return false;
            }
            // Listening is not serving yet: ask for the service info too
            // (from inside the namespace, where the master lives).
            return netns_.empty() ? MasterAnswers(master_address())
                                  : PortAcceptsConnections(host_, rpc_port_, netns_);
        },
        std::chrono::seconds(30));
    if (!ready || pid_ < 0) {
        if (pid_ > 0) Kill();
        return false;
    }
    return true;
}

void MasterProcess::Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    Reap(pid_);
    pid_ = -1;
}

int MasterProcess::Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    const int status = Reap(pid_);
    pid_ = -1;
    return status;
}

std::string MasterProcess::master_address() const {
    return host_ + ":" + std::to_string(rpc_port_);
}

std::string MasterProcess::metadata_url() const {
    return "http://" + host_ + ":" + std::to_string(http_port_) + "/metadata";
}

ClientConfig MakeClientConfig(const MasterProcess& master, uint64_t segment_size,
                              uint64_t local_buffer_size) {
    ClientConfig config;
    config.local_hostname = "localhost";
    config.metadata_server = master.metadata_url();
    config.global_segment_size = segment_size;
    config.local_buffer_size = local_buffer_size;
    config.protocol = "tcp";
    config.master_server_address = master.master_address();
    return config;
}

// ---- HelperProcess ----------------------------------------------------------

HelperProcess::~HelperProcess() { Kill(); }

bool HelperProcess::Start(const ClientConfig& config, const std::string& netns) {
    return StartProgram(
        {
            CLIENT_TEST_HELPER_BIN,
            "--host=" + config.local_hostname,
            "--metadata=" + config.metadata_server,
            "--master=" + config.master_server_address,
            "--segment=" + std::to_string(config.global_segment_size),
            "--buffer=" + std::to_string(config.local_buffer_size),
            "--protocol=" + config.protocol,
        },
        netns);
}

bool HelperProcess::StartProgram(const std::vector<std::string>& argv, const std::string& netns) {
    int to_child[2];
    int from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0) return false;
    if (pipe2(from_child, O_CLOEXEC) != 0) {
        close(to_child[0]);
        close(to_child[1]);
        return false;
    }
    pid_ = Spawn(InNamespace(netns, argv), to_child[0], from_child[1], "");
    close(to_child[0]);
    close(from_child[1]);
    to_child_ = to_child[1];
    from_child_ = from_child[0];
    if (pid_ < 0) return false;
    auto line = ReadLine(std::chrono::seconds(60));
    if (!line.has_value() || !line->starts_with("READY ")) {
        std::fprintf(stderr, "%s did not start: '%s'\n", argv[0].c_str(),
                     line.value_or("<no answer>").c_str());
        return false;
    }
    hostname_ = line->substr(6);
    return true;
}

std::string HelperProcess::Command(const std::string& line, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return "";
    const std::string framed = line + "\n";
    size_t written = 0;
    while (written < framed.size()) {
        const ssize_t n = write(to_child_, framed.data() + written, framed.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return "";
        written += static_cast<size_t>(n);
    }
    return ReadLine(timeout).value_or("");
}

std::optional<std::string> HelperProcess::ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
        const size_t newline = pending_.find('\n');
        if (newline != std::string::npos) {
            std::string line = pending_.substr(0, newline);
            pending_.erase(0, newline + 1);
            return line;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd ready{from_child_, POLLIN, 0};
        const int rc = poll(&ready, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return std::nullopt;
        char chunk[4096];
        const ssize_t n = read(from_child_, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;  // the helper exited
        pending_.append(chunk, static_cast<size_t>(n));
    }
}

void HelperProcess::Kill() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        Reap(pid_);
        pid_ = -1;
    }
    if (to_child_ >= 0) close(to_child_);
    if (from_child_ >= 0) close(from_child_);
    to_child_ = -1;
    from_child_ = -1;
}

// ---- NamespacePair ---------------------------------------------------------

NamespacePair::NamespacePair() {
    const std::string tag = std::to_string(getpid());
    const std::string subnet = "10.201." + std::to_string(getpid() % 250 + 1) + ".";
    names_[0] = "mcc_a_" + tag;
    names_[1] = "mcc_b_" + tag;
    addresses_[0] = subnet + "1";
    addresses_[1] = subnet + "2";
    const std::string ip = IpTool();
    // Interface names are limited to 15 characters.
    const std::string link_a = "mcca" + tag.substr(0, 10);
    const std::string link_b = "mccb" + tag.substr(0, 10);
    for (int i = 0; i < 2; ++i) {
        created_[i] = Run(ip + " netns add " + names_[i]);
        if (!created_[i]) {
            error_ = "cannot create network namespaces here (ip netns add failed)";
            return;
        }
    }
    const std::vector<std::string> steps = {
        ip + " link add " + link_a + " netns " + names_[0] + " type veth peer name " + link_b +
            " netns " + names_[1],
        ip + " -n " + names_[0] + " addr add " + addresses_[0] + "/24 dev " + link_a,
        ip + " -n " + names_[1] + " addr add " + addresses_[1] + "/24 dev " + link_b,
        ip + " -n " + names_[0] + " link set " + link_a + " up",
        ip + " -n " + names_[1] + " link set " + link_b + " up",
        ip + " -n " + names_[0] + " link set lo up",
        ip + " -n " + names_[1] + " link set lo up",
    };
    for (const std::string& step : steps) {
        if (!Run(step)) {
            error_ = "network namespace set-up failed: " + step;
            return;
        }
    }
}

NamespacePair::~NamespacePair() {
    // Deleting a namespace deletes its end of the veth pair, and the pair
    // with it.
    for (int i = 0; i < 2; ++i) {
        if (created_[i]) Run(std::string(IpTool()) + " netns del " + names_[i]);
    }
}

int CountFailuresOnThreads(int threads, int rounds, const std::function<int(int t, int i)>& work) {
    std::atomic<int> failures{0};
    std::vector<std::thread> running;
    for (int t = 0; t < threads; ++t) {
        running.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) failures += work(t, i);
        });
    }
    for (auto& thread : running) thread.join();
    return failures.load();
}

ValueBatch MakeValueBatch(const std::string& prefix, int count, uint64_t first_seed) {
    ValueBatch batch;
    for (int i = 0; i < count; ++i) {
        batch.keys.push_back(prefix + std::to_string(i));
        batch.values.push_back(MakeValue(first_seed + i, 1000 * (i + 1)));
    }
    for (const auto& value : batch.values) {
        batch.parts.push_back({ConstBytes(value.data(), value.size())});
    }
    return batch;
}

std::string ErrReply(ErrorCode code) { return "ERR " + std::to_string(ToInt(code)); }

std::optional<std::string> CommonReply(Client& client, const std::string& verb,
                                       const std::string& key) {
    if (verb == "exist") {
        auto exists = client.IsExist(key);
        if (!exists.has_value()) return ErrReply(exists.error());
        return *exists ? "OK 1" : "OK 0";
    }
    if (verb == "remove") {
        auto removed = client.Remove(key);
        return removed.has_value() ? "OK" : ErrReply(removed.error());
    }
    return std::nullopt;
}

}  // namespace mooncake::testing
