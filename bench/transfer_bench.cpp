// Transfer engine throughput against the machine's own limits, in one run:
//   limit 1: single-thread memcpy bandwidth (per block size, same working set)
//   limit 2: a plain TCP stream between two processes on loopback
//   engine:  shared memory and TCP between two processes, 64 KiB / 1 MiB /
//            16 MiB blocks, reads and writes
// and the latency of a single 4 KiB read. Prints a Markdown report with the
// ratios (docs/performance.md, "## Transfer engine").
//
//   transfer_bench [--seconds=1] [--repeats=3] [--working_set_mb=256] [--batch_mb=16]
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "net/socket_util.h"
#include "transfer/transfer_engine_impl.h"

DEFINE_double(seconds, 1.0, "duration of each measurement");
DEFINE_uint64(working_set_mb, 256, "bytes cycled through per measurement (beats the caches)");
DEFINE_uint64(batch_mb, 16, "bytes per TransferSync call (several requests for small blocks)");
DEFINE_uint64(repeats, 3, "rounds; each measurement reports its best round");

namespace mooncake {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMiB = 1 << 20;
const size_t kBlockSizes[] = {64 << 10, 1 << 20, 16 << 20};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

uint8_t* MapPopulated(size_t size) {
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CHECK(memory != MAP_FAILED) << "mmap of " << size << " bytes";
    std::memset(memory, 0x5A, size);
    return static_cast<uint8_t*>(memory);
}

std::string BlockName(size_t block) {
    return block >= kMiB ? std::to_string(block / kMiB) + " MiB"
                         : std::to_string(block >> 10) + " KiB";
}

// ---- limit 1 ---------------------------------------------------------------

double MemcpyGBps(size_t block, uint8_t* source, uint8_t* destination, size_t working_set) {
    uint64_t bytes = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(FLAGS_seconds);
    size_t offset = 0;
    while (Clock::now() < end) {
        for (int i = 0; i < 16; ++i) {
            std::memcpy(destination + offset, source + offset, block);
            bytes += block;
            offset = offset + 2 * block > working_set ? 0 : offset + block;
        }
    }
    return bytes / Seconds(Clock::now() - start) / 1e9;
}

// ---- limit 2 ---------------------------------------------------------------

// A process forked before any thread exists that, for every byte written to
// its control pipe, connects to `port` and streams to it for FLAGS_seconds
// with 4 MiB sends. We receive with 4 MiB recvs.
constexpr size_t kStreamPiece = 4 * kMiB;

struct StreamSender {
    pid_t pid = -1;
    int control_fd = -1;
    UniqueFd listener;
};

StreamSender StartStreamSender() {
    StreamSender sender;
    auto listener = net::ListenTcp("127.0.0.1", 0);
    CHECK(listener.has_value());
    const uint16_t port = net::LocalPort(listener->get());
    sender.listener = std::move(*listener);
    int control[2];
    CHECK_EQ(pipe(control), 0);
    sender.pid = fork();
    CHECK_GE(sender.pid, 0);
    if (sender.pid == 0) {
        close(control[1]);
        uint8_t* buffer = MapPopulated(64 * kMiB);
        char command;
        while (read(control[0], &command, 1) == 1) {
            auto fd = net::ConnectTcp("127.0.0.1", port, 5000);
            if (!fd) _exit(1);
            const auto end = Clock::now() + std::chrono::duration<double>(FLAGS_seconds);
            size_t offset = 0;
            while (Clock::now() < end) {
                if (!net::SendAll(fd->get(), buffer + offset, kStreamPiece)) _exit(1);
                offset = (offset + kStreamPiece) % (64 * kMiB);
            }
        }
        _exit(0);
    }
    close(control[0]);
    sender.control_fd = control[1];
    return sender;
}

double PlainSocketGBps(StreamSender& sender, uint8_t* buffer, size_t buffer_size) {
    const char go = 'g';
    CHECK_EQ(write(sender.control_fd, &go, 1), 1);
    UniqueFd connection(accept(sender.listener.get(), nullptr, nullptr));
    CHECK(connection.valid());
    uint64_t bytes = 0;
    size_t offset = 0;
    Clock::time_point start;
    for (;;) {
        const ssize_t got = recv(connection.get(), buffer + offset, kStreamPiece, 0);
        if (got <= 0) break;
        if (bytes == 0) start = Clock::now();
        bytes += static_cast<uint64_t>(got);
        offset = (offset + kStreamPiece) % (buffer_size - kStreamPiece);
    }
    return bytes / Seconds(Clock::now() - start) / 1e9;
}

// ---- engine ------------------------------------------------------------------

struct RemoteTarget {
    pid_t pid = -1;
    int control_fd = -1;  // closing it ends the target
    std::string segment;
    uint64_t base = 0;
};

// Forks a process holding an engine with `size` bytes of registered memory:
// memfd-backed when `shared`, else anonymous (reachable only over TCP).
RemoteTarget StartTarget(bool shared, size_t size) {
    int to_child[2];
    int from_child[2];
    CHECK_EQ(pipe(to_child), 0);
    CHECK_EQ(pipe(from_child), 0);
    const pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        TransferEngineConfig config;
        config.local_hostname = "127.0.0.1";
        auto engine = TransferEngineImpl::Create(config);
        if (!engine) _exit(1);
        void* memory = nullptr;
        if (shared) {
            memory = (*engine)->AllocateSharedMemory(size).value_or(nullptr);
        } else {
            memory = MapPopulated(size);
            if (!(*engine)->RegisterLocalMemory(memory, size, true)) memory = nullptr;
        }
        if (memory == nullptr) _exit(1);
        const std::string line = (*engine)->segment_name() + " " +
                                 std::to_string(reinterpret_cast<uint64_t>(memory)) + "\n";
        if (write(from_child[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            _exit(1);
        }
        char byte;
        while (read(to_child[0], &byte, 1) > 0) {
        }
        _exit(0);
    }
    close(to_child[0]);
    close(from_child[1]);
    std::string line;
    char c;
    while (read(from_child[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(from_child[0]);
    RemoteTarget target;
    target.pid = pid;
    target.control_fd = to_child[1];
    const size_t space = line.find(' ');
    CHECK(space != std::string::npos) << "target did not start";
    target.segment = line.substr(0, space);
    target.base = std::stoull(line.substr(space + 1));
    return target;
}

void StopTarget(RemoteTarget& target) {
    // Targets forked later inherited the control pipe too: do not wait for
    // its EOF.
    close(target.control_fd);
    kill(target.pid, SIGTERM);
    waitpid(target.pid, nullptr, 0);
}

double EngineGBps(TransferEngineImpl& engine, SegmentHandle handle, uint64_t remote_base,
                  uint8_t* local, size_t working_set, size_t block, TransferOpcode opcode) {
    const size_t per_batch = std::max<size_t>(1, FLAGS_batch_mb * kMiB / block);
    std::vector<TransferRequest> batch(per_batch);
    uint64_t bytes = 0;
    size_t offset = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(FLAGS_seconds);
    while (Clock::now() < end) {
        for (TransferRequest& request : batch) {
            request = TransferRequest{opcode, local + offset, handle, remote_base + offset, block};
            offset = offset + 2 * block > working_set ? 0 : offset + block;
        }
        auto result = engine.TransferSync(batch);
        CHECK(result.has_value()) << ErrorCodeName(result.error());
        bytes += per_batch * block;
    }
    return bytes / Seconds(Clock::now() - start) / 1e9;
}

struct Latency {
    double average_us, p50_us, p99_us;
};

Latency SmallReadLatency(TransferEngineImpl& engine, SegmentHandle handle, uint64_t remote,
                         uint8_t* local) {
    std::vector<double> samples;
    const TransferRequest request{TransferOpcode::READ, local, handle, remote, 4096};
    for (int i = 0; i < 3000; ++i) {
        const auto start = Clock::now();
        CHECK(engine.TransferSync({request}).has_value());
        if (i >= 200) samples.push_back(Seconds(Clock::now() - start) * 1e6);
    }
    std::sort(samples.begin(), samples.end());
    double sum = 0;
    for (double s : samples) sum += s;
    return {sum / samples.size(), samples[samples.size() / 2], samples[samples.size() * 99 / 100]};
}

std::string CpuModel() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
    }
    return "unknown";
}

std::string LoadAverage() {
    std::ifstream file("/proc/loadavg");
    std::string one, five, fifteen;
    file >> one >> five >> fifteen;
    return one + " " + five + " " + fifteen;
}

int Main() {
    const size_t working_set = FLAGS_working_set_mb * kMiB;
    utsname host{};
    uname(&host);
    std::printf("Machine: %s, %ld online CPUs, kernel %s\n", CpuModel().c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), host.release);
    std::printf("Settings: %.1f s per measurement, best of %" PRIu64 " interleaved rounds, %" PRIu64
                " MiB working set, %" PRIu64 " MiB per TransferSync\n",
                FLAGS_seconds, FLAGS_repeats, FLAGS_working_set_mb, FLAGS_batch_mb);
    std::printf("Load average at start: %s\n\n", LoadAverage().c_str());

    // Helper processes are forked before this one starts any thread.
    StreamSender sender = StartStreamSender();
    RemoteTarget shm_target = StartTarget(/*shared=*/true, working_set);
    RemoteTarget tcp_target = StartTarget(/*shared=*/false, working_set);

    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    auto engine = TransferEngineImpl::Create(config);
    CHECK(engine.has_value());
    uint8_t* local = MapPopulated(working_set);
    uint8_t* scratch = MapPopulated(working_set);
    auto shm_handle = (*engine)->OpenSegment(shm_target.segment);
    auto tcp_handle = (*engine)->OpenSegment(tcp_target.segment);
    CHECK(shm_handle.has_value() && tcp_handle.has_value());

    // Best of several rounds, each round measuring everything once, so that
    // other load on the machine hurts the limits and the engine alike.
    double memcpy_gbps[3] = {};
    double socket_gbps = 0;
    double shm_gbps[3][2] = {};
    double tcp_gbps[3][2] = {};
    const TransferOpcode kOps[2] = {TransferOpcode::READ, TransferOpcode::WRITE};
    for (uint64_t round = 0; round < FLAGS_repeats; ++round) {
        for (size_t i = 0; i < 3; ++i) {
            memcpy_gbps[i] =
                std::max(memcpy_gbps[i], MemcpyGBps(kBlockSizes[i], local, scratch, working_set));
        }
        socket_gbps = std::max(socket_gbps, PlainSocketGBps(sender, scratch, working_set));
        for (size_t i = 0; i < 3; ++i) {
            for (size_t op = 0; op < 2; ++op) {
                shm_gbps[i][op] = std::max(shm_gbps[i][op],
                                           EngineGBps(**engine, *shm_handle, shm_target.base, local,
                                                      working_set, kBlockSizes[i], kOps[op]));
                tcp_gbps[i][op] = std::max(tcp_gbps[i][op],
                                           EngineGBps(**engine, *tcp_handle, tcp_target.base, local,
                                                      working_set, kBlockSizes[i], kOps[op]));
            }
        }
    }

    std::printf(
        "| block | memcpy GB/s | shm read | shm write | shm/memcpy (r/w) | "
        "tcp read | tcp write | tcp/socket (r/w) |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < 3; ++i) {
        std::printf(
            "| %s | %.2f | %.2f | %.2f | %.0f%% / %.0f%% | %.2f | %.2f | %.0f%% / %.0f%% |\n",
            BlockName(kBlockSizes[i]).c_str(), memcpy_gbps[i], shm_gbps[i][0], shm_gbps[i][1],
            100 * shm_gbps[i][0] / memcpy_gbps[i], 100 * shm_gbps[i][1] / memcpy_gbps[i],
            tcp_gbps[i][0], tcp_gbps[i][1], 100 * tcp_gbps[i][0] / socket_gbps,
            100 * tcp_gbps[i][1] / socket_gbps);
    }
    std::printf("\nPlain TCP stream between two processes (limit 2): %.2f GB/s\n", socket_gbps);
    CHECK_EQ((*engine)->RoutedRequests("memcpy"), 0u);

    const Latency shm_latency = SmallReadLatency(**engine, *shm_handle, shm_target.base, local);
    const Latency tcp_latency = SmallReadLatency(**engine, *tcp_handle, tcp_target.base, local);
    std::printf(
        "\n4 KiB read, one TransferSync: shm avg %.1f us p50 %.1f us p99 %.1f us; "
        "tcp avg %.1f us p50 %.1f us p99 %.1f us\n",
        shm_latency.average_us, shm_latency.p50_us, shm_latency.p99_us, tcp_latency.average_us,
        tcp_latency.p50_us, tcp_latency.p99_us);
    std::printf("Load average at end: %s\n", LoadAverage().c_str());

    engine->reset();
    StopTarget(shm_target);
    StopTarget(tcp_target);
    close(sender.control_fd);
    kill(sender.pid, SIGTERM);
    waitpid(sender.pid, nullptr, 0);
    munmap(local, working_set);
    munmap(scratch, working_set);
    return 0;
}

}  // namespace
}  // namespace mooncake

int main(int argc, char** argv) {
    gflags::SetUsageMessage("transfer engine throughput against memcpy and a plain TCP stream");
    gflags::ParseCommandLineFlags(&argc, &argv, true);
    setvbuf(stdout, nullptr, _IOLBF, 0);
    FLAGS_logtostderr = true;
    FLAGS_minloglevel = 1;  // warnings and errors only: keep the report readable
    google::InitGoogleLogging(argv[0]);
    return mooncake::Main();
}
