// Helpers of the client tests: a real mooncake_master process on free
// loopback ports, a client helper process driven over pipes, deterministic
// value patterns and polling.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "mooncake/client.h"

namespace mooncake::testing {

inline constexpr uint64_t kMiB = 1ull << 20;

// Spawns `argv` with stdin/stdout as given (-1: inherit) and stdout+stderr
// sent to `log_path` when it is not empty; the child's pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd,
            const std::string& log_path);
// Waits for child `pid` to exit; its wait status.
int Reap(pid_t pid);

// A port nobody listens on right now (bound to 127.0.0.1 and released).
uint16_t PickFreePort();

// Polls `condition` every `interval` until it holds or `timeout` passed.
bool WaitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(30),
             std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// Deterministic bytes: the same (seed, size) always gives the same value.
std::vector<uint8_t> MakeValue(uint64_t seed, size_t size);
void FillValue(uint64_t seed, uint8_t* data, size_t size);
bool ValueMatches(uint64_t seed, const uint8_t* data, size_t size);

// Runs `work(t, i)` for every i < rounds on each of `threads` threads at
// once; the sum of what it returned (the failures it saw).
int CountFailuresOnThreads(int threads, int rounds, const std::function<int(int t, int i)>& work);

// Values for batch puts: keys "<prefix><i>" holding MakeValue(first_seed + i,
// 1000 * (i + 1)) for i < count, and one-part views of them for BatchPut.
struct ValueBatch {
    std::vector<std::string> keys;
    std::vector<std::vector<uint8_t>> values;
    std::vector<std::vector<ConstBytes>> parts;  // into `values`
};
ValueBatch MakeValueBatch(const std::string& prefix, int count, uint64_t first_seed);

// Puts the value (seed, size) under `key` in one piece.
Status PutValue(Client& client, const std::string& key, uint64_t seed, size_t size,
                const ReplicateConfig& config = {});
// True when `key` reads back as exactly the value (seed, size).
bool ReadsBack(Client& client, const std::string& key, uint64_t seed, size_t size);

// The real mooncake_master binary with its embedded HTTP metadata server,
// everything bound to `host` (127.0.0.1 unless given) on free ports, inside
// network namespace `netns` when one is named. Stopped by the destructor,
// which also deletes its log (under /tmp) when the current test passed.
class MasterProcess {
   public:
    // `extra_flags` such as "--client_ttl=2".
    explicit MasterProcess(std::vector<std::string> extra_flags = {}, std::string netns = "",
                           std::string host = "127.0.0.1");
    ~MasterProcess();
    MasterProcess(const MasterProcess&) = delete;
    MasterProcess& operator=(const MasterProcess&) = delete;

    // Starts (again, on the same ports after Kill/Stop) and waits until the
    // RPC port and the metadata server accept connections. A first start
    // whose ports were taken meanwhile (another process's ephemeral port)
    // tries fresh ones.
    bool Start();
    // SIGKILL, then reaps.
    void Kill();
    // SIGTERM, then reaps; returns the exit status.
    int Stop();
    bool running() const { return pid_ > 0; }

    std::string master_address() const;  // "127.0.0.1:port"
    std::string metadata_url() const;    // "http://127.0.0.1:port/metadata"
    const std::string& log_path() const { return log_path_; }

   private:
    std::vector<std::string> extra_flags_;
    std::string netns_;
    std::string host_;
    uint16_t rpc_port_;
    uint16_t http_port_;
    uint16_t metrics_port_;
    std::string log_path_;
    pid_t pid_ = -1;
    bool started_ = false;

    // One start on the current ports; false when the master exited or did
    // not answer in time.
    bool StartOnce();
};

// A ClientConfig pointing at `master`, for "localhost" and free ports.
ClientConfig MakeClientConfig(const MasterProcess& master, uint64_t segment_size = 64ull << 20,
                              uint64_t local_buffer_size = 64ull << 20);

// tests/cpp/client_test_helper in a separate process: a client driven by
// one-line commands over pipes (see client_test_helper.cpp and
// ServeCommands).
class HelperProcess {
   public:
    HelperProcess() = default;
    ~HelperProcess();
    HelperProcess(const HelperProcess&) = delete;
    HelperProcess& operator=(const HelperProcess&) = delete;

    // Starts the helper (inside network namespace `netns` when one is
    // named) with a client set up from `config`; true once it reported
    // READY. hostname() is then its segment name.
    bool Start(const ClientConfig& config, const std::string& netns = "");
    // The same for any helper that answers this way (ServeCommands), such
    // as tests/cpp/dummy_test_helper: `argv` is its command line.
    bool StartProgram(const std::vector<std::string>& argv, const std::string& netns = "");
    // Sends one command, returns the reply line ("" when the helper died or
    // did not answer within `timeout`).
    std::string Command(const std::string& line,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));
    void Kill();  // SIGKILL, then reaps
    const std::string& hostname() const { return hostname_; }
    pid_t pid() const { return pid_; }

   private:
    std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);

    pid_t pid_ = -1;
    int to_child_ = -1;
    int from_child_ = -1;
    std::string pending_;
    std::string hostname_;
};

// The helper processes (client_test_helper, dummy_test_helper) answer one
// line per command; a failed call is "ERR <code>".
std::string ErrReply(ErrorCode code);
// The commands both helpers answer alike: "exist KEY" (OK 1 | OK 0 | ERR)
// and "remove KEY" (OK | ERR). nullopt for any other verb.
std::optional<std::string> CommonReply(Client& client, const std::string& verb,
                                       const std::string& key);
// A helper's main once its client is made: prints "READY <hostname>" (or
// "FAILED <code>" and returns 1), then `handle(client, line)` for each line
// read from stdin until "quit" or the end of input.
template <typename ClientPtr, typename Handle>
int ServeCommands(const Result<ClientPtr>& client, Handle handle) {
    if (!client.has_value()) {
        std::cout << "FAILED " << ToInt(client.error()) << std::endl;
        return 1;
    }
    std::cout << "READY " << (*client)->GetHostname() << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line == "quit") break;
        std::cout << handle(**client, line) << std::endl;
    }
    return 0;
}

// Two network namespaces joined by a veth pair, 10.201.N.1/24 in the first
// and 10.201.N.2/24 in the second (N from the process id): two "hosts" for
// tests of the network transport. Deleted by the destructor.
class NamespacePair {
   public:
    NamespacePair();
    ~NamespacePair();
    NamespacePair(const NamespacePair&) = delete;
    NamespacePair& operator=(const NamespacePair&) = delete;

    // False (with the reason in error()) when this machine does not allow
    // creating namespaces.
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    const std::string& first() const { return names_[0]; }
    const std::string& second() const { return names_[1]; }
    const std::string& first_address() const { return addresses_[0]; }
    const std::string& second_address() const { return addresses_[1]; }

   private:
    std::string names_[2];
    std::string addresses_[2];
    std::string error_;
    bool created_[2] = {false, false};
};

}  // namespace mooncake::testing
