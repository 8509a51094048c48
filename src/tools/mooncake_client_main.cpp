// mooncake_client: the store client as a standalone process. It owns the
// memory it contributes to the pool (its segment) and serves dummy clients
// (setup_dummy) of this host over a local RPC plus shared memory, so that
// many worker processes share one pool member. Runs in the foreground, logs
// to stderr (glog), stops cleanly on SIGTERM / SIGINT (the segment is
// unmounted first). docs/standalone_client.md describes the deployment.

#include <gflags/gflags.h>
#include <glog/logging.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <expected>
#include <memory>
#include <string>
#include <thread>

#include "client/client_http_server.h"
#include "client/dummy_rpc_protocol.h"
#include "client/real_client_service.h"
#include "common/cluster_auth.h"
#include "common/daemon.h"
#include "common/daemon_flags.h"
#include "common/mutex.h"
#include "common/net_util.h"
#include "common/size_parser.h"
#include "mooncake/client.h"

#ifndef MOONCAKE_VERSION
#define MOONCAKE_VERSION "unknown"
#endif

// Names and defaults of the original mooncake_client (compat.md).
DEFINE_string(host, "0.0.0.0",
              "this host's name or address as peers reach the segment ('host' or 'host:port'); "
              "0.0.0.0 stands for this machine's host name");
DEFINE_string(metadata_server, "http://127.0.0.1:8080/metadata",
              "metadata server URL, or P2PHANDSHAKE");
DEFINE_string(device_names, "", "RDMA NICs, comma-separated; empty: auto (MC_MS_AUTO_DISC=1)");
DEFINE_string(master_server_address, "127.0.0.1:50051", "mooncake_master RPC address host:port");
DEFINE_string(protocol, "tcp", "transport between hosts: tcp or rdma");
DEFINE_int32(port, mooncake::kDefaultDummyServicePort,
             "port of the dummy service (setup_dummy(..., \"127.0.0.1:<port>\")); 0 picks one");
DEFINE_string(global_segment_size, "4 GB",
              "memory this client contributes to the pool (\"4 GB\", \"512MB\", bytes)");
DEFINE_int32(threads, 1, "dummy requests served at once, across all dummies");
DEFINE_bool(enable_http_server, false,
            "serve /health, /metrics and /metrics/summary of this client on --http_port");
DEFINE_bool(enable_offload, false,
            "SSD offload tier under MOONCAKE_OFFLOAD_FILE_STORAGE_PATH (master needs "
            "--enable_offload; docs/ssd_offload.md)");
DEFINE_int32(http_port, 9300, "port of the client HTTP server (--enable_http_server)");
// The reference HEAD's, accepted so that its command lines start.
DEFINE_bool(start_offload_rpc_server, true,
            "accepted; with --enable_offload this client always serves reads of its SSD "
            "objects to other clients");
DEFINE_string(tenant_id, "default", "accepted; every client is in the default tenant");
DEFINE_bool(use_mmap_arena_allocator, false, "accepted, unused (segments are mmap'ed anyway)");
DEFINE_string(mmap_arena_pool_size, "8 GB", "accepted, unused (see --use_mmap_arena_allocator)");
// Additions of this implementation.
DEFINE_string(local_buffer_size, "256 MB",
              "this process's own staging buffer (dummies bring their own memory)");
DEFINE_string(service_address, "127.0.0.1",
              "address the dummy service binds to; dummies share memory with this process, so "
              "they run on this host");
DEFINE_string(cluster_secret_file, "",
              "file holding the cluster secret (or set MC_CLUSTER_SECRET_FILE / "
              "MC_CLUSTER_SECRET): peers, the master and dummies must prove it; see "
              "docs/authentication.md");

namespace {

constexpr char kProgram[] = "mooncake_client";

std::expected<uint64_t, std::string> SizeFlag(const char* name, const std::string& value) {
    auto size = mooncake::ParseSize(value);
    if (!size.has_value()) {
        return std::unexpected("--" + std::string(name) + "='" + value +
                               "' is not a size (e.g. \"4 GB\", \"512MB\", 1048576)");
    }
    return *size;
}

// "0.0.0.0" names no host peers could reach: use this machine's name.
std::expected<std::string, std::string> LocalHostname(const std::string& host_flag) {
    auto parsed = mooncake::ParseHostPort(host_flag);
    if (!parsed.has_value()) {
        return std::unexpected("--host='" + host_flag + "' is not 'host' or 'host:port'");
    }
    if (parsed->host != "0.0.0.0") return host_flag;
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
        return std::unexpected(std::string("--host=0.0.0.0 and this machine has no host name; ") +
                               "pass --host=<address>");
    }
    return parsed->port.has_value() ? mooncake::JoinHostPort(name, *parsed->port)
                                    : std::string(name);
}

struct StartupConfig {
    mooncake::ClientConfig client;
    mooncake::RealClientService::Options service;
};

std::expected<StartupConfig, std::string> ConfigFromFlags() {
    StartupConfig config;
    auto hostname = LocalHostname(FLAGS_host);
    if (!hostname) return std::unexpected(hostname.error());
    auto segment = SizeFlag("global_segment_size", FLAGS_global_segment_size);
    if (!segment) return std::unexpected(segment.error());
    auto buffer = SizeFlag("local_buffer_size", FLAGS_local_buffer_size);
    if (!buffer) return std::unexpected(buffer.error());
    if (FLAGS_port < 0 || FLAGS_port > 65535) {
        return std::unexpected("--port=" + std::to_string(FLAGS_port) + " is not a port");
    }
    if (FLAGS_threads < 1 || FLAGS_threads > 4096) {
        return std::unexpected("--threads=" + std::to_string(FLAGS_threads) +
                               " must be between 1 and 4096");
    }
    if (FLAGS_protocol != "tcp" && FLAGS_protocol != "rdma") {
        return std::unexpected("--protocol='" + FLAGS_protocol + "' must be tcp or rdma");
    }
    auto master = mooncake::ParseHostPort(FLAGS_master_server_address);
    if (!master.has_value() || !master->port.has_value()) {
        return std::unexpected("--master_server_address='" + FLAGS_master_server_address +
                               "' must be host:port");
    }
    if (FLAGS_service_address.empty()) return std::unexpected("--service_address is empty");
    if (!FLAGS_cluster_secret_file.empty()) {
        // The embedded store client reads the secret from the environment.
        ::setenv(mooncake::auth::kSecretFileEnv, FLAGS_cluster_secret_file.c_str(), 1);
    }
    auto key = mooncake::auth::LoadClusterKey(FLAGS_cluster_secret_file);
    if (!key) return std::unexpected("cannot load the cluster secret (see the log line above)");
    config.service.cluster_key = std::move(*key);

    config.client.local_hostname = *hostname;
    config.client.metadata_server = FLAGS_metadata_server;
    config.client.global_segment_size = *segment;
    config.client.local_buffer_size = *buffer;
    config.client.protocol = FLAGS_protocol;
    config.client.rdma_devices = FLAGS_device_names;
    config.client.master_server_address = FLAGS_master_server_address;
    config.client.enable_ssd_offload = FLAGS_enable_offload;
    if (FLAGS_enable_offload && !FLAGS_start_offload_rpc_server) {
        LOG(WARNING) << "--start_offload_rpc_server=false: this client still serves reads of its "
                        "SSD objects (other clients find them through the master)";
    }
    if (FLAGS_tenant_id != "default") {
        LOG(INFO) << "--tenant_id=" << FLAGS_tenant_id
                  << ": maps to the default tenant (the master is single-tenant)";
    }
    config.service.address = FLAGS_service_address;
    config.service.port = static_cast<uint16_t>(FLAGS_port);
    config.service.threads = static_cast<uint32_t>(FLAGS_threads);
    return config;
}

// Takes SIGTERM / SIGINT on its own thread from the first moment, so that a
// stop request is honoured at any time: setting up the segment takes seconds
// for large ones (issue 16, item 10). Before the client serves, nothing is
// worth an orderly shutdown: the process exits at once (its memory is
// anonymous, the master forgets a half-registered client by its TTL).
// Once serving, main() is woken and stops in order.
class StopWatcher {
   public:
    explicit StopWatcher(mooncake::StopSignals& signals)
        : thread_([this, &signals] { Run(signals); }) {}
    ~StopWatcher() {
        bool waiting = false;
        {
            mooncake::MutexLock lock(mutex_);
            leaving_ = true;
            waiting = received_ == 0;
        }
        // The blocked signal wakes the watcher's sigtimedwait at once.
        if (waiting) ::pthread_kill(thread_.native_handle(), SIGTERM);
        thread_.join();
    }

    void MarkServing() {
        mooncake::MutexLock lock(mutex_);
        serving_ = true;
    }

    int WaitForStop() {
        mooncake::MutexLock lock(mutex_);
        while (received_ == 0) woken_.Wait(lock);
        return received_;
    }

   private:
    void Run(mooncake::StopSignals& signals) {
        int received = 0;
        while (received == 0) received = signals.Wait(std::chrono::hours(1));
        mooncake::MutexLock lock(mutex_);
        if (leaving_) return;
        if (!serving_) {
            LOG(INFO) << "mooncake_client: " << mooncake::StopSignals::Name(received)
                      << " received during start-up, exiting";
            std::_Exit(0);
        }
        received_ = received;
        woken_.NotifyAll();
    }

    mooncake::Mutex mutex_;
    mooncake::CondVar woken_;
    bool serving_ MC_GUARDED_BY(mutex_) = false;
    bool leaving_ MC_GUARDED_BY(mutex_) = false;
    int received_ MC_GUARDED_BY(mutex_) = 0;
    std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
    mooncake::StopSignals stop_signals;

    if (const int failed = mooncake::ParseDaemonCommandLine(
            kProgram, MOONCAKE_VERSION,
            "mooncake_client [--flag=value ...]\n"
            "A Mooncake store client as a standalone process: contributes "
            "--global_segment_size bytes to the pool and serves dummy clients "
            "(setup_dummy) of this host on --port (see docs/standalone_client.md).",
            &argc, &argv);
        failed != 0) {
        return failed;
    }
    StopWatcher watcher(stop_signals);

    auto config = ConfigFromFlags();
    if (!config) return mooncake::FailStartup(kProgram, config.error());

    auto client = mooncake::Client::Create(config->client);
    if (!client.has_value()) {
        return mooncake::FailStartup(
            kProgram, "cannot start the client with master " +
                          config->client.master_server_address + " and metadata server " +
                          config->client.metadata_server + ": " + client.error().ToString());
    }
    // Shared with the HTTP server's handlers.
    std::shared_ptr<mooncake::Client> owner(std::move(*client));
    auto service = std::make_unique<mooncake::RealClientService>(*owner, config->service);
    if (auto started = service->Start(); !started) {
        (void)owner->Close();
        return mooncake::FailStartup(kProgram, started.error());
    }
    std::unique_ptr<mooncake::ClientHttpServer> http_server;
    if (FLAGS_enable_http_server) {
        if (FLAGS_http_port < 1 || FLAGS_http_port > 65535) {
            (void)owner->Close();
            return mooncake::FailStartup(kProgram, "--http_port must be in 1..65535");
        }
        auto http = mooncake::ClientHttpServer::Start(owner->GetHostname(),
                                                      static_cast<uint16_t>(FLAGS_http_port),
                                                      [owner] { return owner; });
        if (http.has_value()) {
            http_server = std::move(*http);
        } else {
            LOG(WARNING) << "client HTTP server not started: " << http.error();
        }
    }
    LOG(INFO) << "mooncake_client " << MOONCAKE_VERSION << " started: segment "
              << owner->GetHostname() << " (" << config->client.global_segment_size
              << " bytes, master " << config->client.master_server_address << "), dummy service on "
              << mooncake::JoinHostPort(config->service.address, service->port()) << " ("
              << config->service.threads << " request threads)";

    watcher.MarkServing();
    const int received = watcher.WaitForStop();
    LOG(INFO) << "mooncake_client: " << mooncake::StopSignals::Name(received)
              << " received, stopping";
    // Dummies first: requests being served finish, their memory is
    // unmapped; then the segment is unmounted.
    http_server.reset();
    service->Stop();
    service.reset();
    (void)owner->Close();
    LOG(INFO) << "mooncake_client stopped";
    return 0;
}
