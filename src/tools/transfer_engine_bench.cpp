// transfer_engine_bench: measures the transfer engine between two processes
// (or hosts).
//
//   target:    transfer_engine_bench --mode=target --local_server_name=host[:port]
//              allocates --buffer_size bytes, registers them and waits for
//              SIGINT/SIGTERM; prints its segment name.
//   initiator: transfer_engine_bench --mode=initiator --segment_id=<target segment>
//              runs --threads threads, each submitting batches of --batch_size
//              requests of --block_size bytes (--operation=read|write) for
//              --duration seconds, then reports GB/s and per-batch latency.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <signal.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "common/size_parser.h"
#include "transfer/transfer_engine_impl.h"

DEFINE_string(mode, "initiator", "target or initiator");
DEFINE_string(metadata_server, "P2PHANDSHAKE",
              "http://host:port/metadata, or P2PHANDSHAKE (no metadata server)");
DEFINE_string(local_server_name, "localhost", "this engine's host or host:port");
DEFINE_string(segment_id, "", "initiator: the target's segment name (host:port)");
DEFINE_string(protocol, "tcp", "tcp or rdma");
DEFINE_string(device_name, "", "RDMA devices, comma-separated (protocol=rdma)");
DEFINE_string(operation, "read", "initiator: read or write");
DEFINE_string(block_size, "65536", "initiator: bytes per request (e.g. 65536, 1MB)");
DEFINE_uint64(batch_size, 128, "initiator: requests per batch");
DEFINE_uint64(threads, 4, "initiator: submitting threads");
DEFINE_double(duration, 10, "initiator: seconds to run");
DEFINE_string(buffer_size, "1GB", "target: bytes of registered memory");
DEFINE_bool(use_shared_memory, true,
            "target: allocate memfd-backed memory (same-host initiators map it) instead of "
            "anonymous memory (reached over the network transport)");
// Accepted for command lines written for the reference's bench.
DEFINE_string(report_unit, "GB",
              "initiator: unit of the throughput line (GB, GiB, Gb, MB, MiB, Mb)");
DEFINE_uint32(report_precision, 2, "initiator: digits after the point of the throughput line");
DEFINE_bool(auto_discovery, false, "accepted for compatibility (devices are always discovered)");
DEFINE_string(nic_priority_matrix, "", "accepted for compatibility (ignored)");
DEFINE_bool(use_vram, false, "GPU memory: not supported by this build");
DEFINE_int32(gpu_id, 0, "accepted for compatibility (ignored)");

namespace mooncake {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes per second in --report_unit, or a negative value for an unknown unit.
double InReportUnit(double bytes_per_second) {
    static const std::pair<const char*, double> kUnits[] = {
        {"GB", 1e9}, {"GiB", 1073741824.0}, {"Gb", 1e9 / 8},
        {"MB", 1e6}, {"MiB", 1048576.0},    {"Mb", 1e6 / 8},
        {"KB", 1e3}, {"KiB", 1024.0},       {"Kb", 1e3 / 8},
    };
    for (const auto& [name, scale] : kUnits) {
        if (FLAGS_report_unit == name) return bytes_per_second / scale;
    }
    return -1;
}

std::unique_ptr<TransferEngineImpl> CreateEngine() {
    TransferEngineConfig config;
    config.local_hostname = FLAGS_local_server_name;
    config.metadata_server = FLAGS_metadata_server;
    config.protocol = FLAGS_protocol;
    config.rdma_devices = FLAGS_device_name;
    auto engine = TransferEngineImpl::Create(config);
    if (!engine) {
        std::fprintf(stderr, "Cannot start the transfer engine: %s\n",
                     std::string(ErrorCodeName(engine.error())).c_str());
        return nullptr;
    }
    return std::move(*engine);
}

void* MapPopulated(size_t size) {
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return memory == MAP_FAILED ? nullptr : memory;
}

int RunTarget() {
    auto size = ParseSize(FLAGS_buffer_size);
    if (!size || *size == 0) {
        std::fprintf(stderr, "Bad --buffer_size '%s'\n", FLAGS_buffer_size.c_str());
        return 2;
    }
    // Signals are taken synchronously below; block them before any thread
    // starts so every thread inherits the mask. A shell starting us in the
    // background may have set them to "ignore", which would discard them.
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto engine = CreateEngine();
    if (!engine) return 1;
    void* buffer = nullptr;
    if (FLAGS_use_shared_memory) {
        auto memory = engine->AllocateSharedMemory(*size);
        if (!memory) {
            std::fprintf(stderr, "Cannot allocate %" PRIu64 " bytes of shared memory\n", *size);
            return 1;
        }
        buffer = *memory;
    } else {
        buffer = MapPopulated(*size);
        if (buffer == nullptr || !engine->RegisterLocalMemory(buffer, *size, true)) {
            std::fprintf(stderr, "Cannot allocate and register %" PRIu64 " bytes\n", *size);
            return 1;
        }
    }
    std::printf("Target ready: segment %s, %" PRIu64 " bytes at %p (%s). Ctrl-C to stop.\n",
                engine->segment_name().c_str(), *size, buffer,
                FLAGS_use_shared_memory ? "shared memory" : "anonymous memory");
    std::fflush(stdout);
    int received = 0;
    sigwait(&signals, &received);
    std::printf("Target stopping\n");
    return 0;
}

// The block size of the initiator, or nothing (after saying why) when its
// flags cannot make a run.
std::optional<uint64_t> ParseInitiatorFlags() {
    if (FLAGS_segment_id.empty()) {
        std::fprintf(stderr, "--segment_id (the target's segment name) is required\n");
        return std::nullopt;
    }
    if (FLAGS_operation != "read" && FLAGS_operation != "write") {
        std::fprintf(stderr, "--operation must be read or write\n");
        return std::nullopt;
    }
    auto block = ParseSize(FLAGS_block_size);
    if (!block || *block == 0 || FLAGS_batch_size == 0 || FLAGS_threads == 0 ||
        FLAGS_duration <= 0) {
        std::fprintf(stderr, "--block_size, --batch_size, --threads and --duration must be > 0\n");
        return std::nullopt;
    }
    return *block;
}

// The target's largest registered range is the benchmark's playground.
const SegmentRange* LargestRange(const SegmentDescriptor& descriptor) {
    const SegmentRange* range = nullptr;
    for (const SegmentRange& candidate : descriptor.ranges) {
        if (range == nullptr || candidate.length > range->length) range = &candidate;
    }
    return range;
}

// What the initiator threads share. Thread t moves the `per_thread` bytes
// at offset t * per_thread, locally and in the target's range alike.
struct InitiatorPlan {
    TransferEngineImpl* engine = nullptr;
    SegmentHandle handle = 0;
    TransferOpcode opcode = TransferOpcode::READ;
    uint8_t* local = nullptr;
    uint64_t remote = 0;
    uint64_t block = 0;
    uint64_t per_thread = 0;
    std::chrono::time_point<Clock, std::chrono::duration<double, std::nano>> end;
};

struct ThreadStats {
    std::vector<double> latencies;  // per batch, in microseconds
    uint64_t bytes = 0;
};

// Submits batches until the plan's end or until any thread failed.
void RunInitiatorThread(const InitiatorPlan& plan, size_t t, std::atomic<bool>& failed,
                        ThreadStats& stats) {
    std::vector<TransferRequest> requests(FLAGS_batch_size);
    for (size_t i = 0; i < FLAGS_batch_size; ++i) {
        const uint64_t offset = t * plan.per_thread + i * plan.block;
        requests[i] = TransferRequest{plan.opcode, plan.local + offset, plan.handle,
                                      plan.remote + offset, plan.block};
    }
    TransferEngineImpl& engine = *plan.engine;
    while (Clock::now() < plan.end && !failed.load()) {
        const auto batch_start = Clock::now();
        auto batch = engine.AllocateBatch(FLAGS_batch_size);
        Status status =
            batch ? engine.SubmitTransfer(*batch, requests) : Status(Error(batch.error()));
        if (status) status = engine.WaitBatch(*batch, std::chrono::seconds(60));
        if (batch) (void)engine.FreeBatch(*batch);
        if (!status) {
            std::fprintf(stderr, "Batch failed: %s\n",
                         std::string(ErrorCodeName(status.error())).c_str());
            failed.store(true);
            return;
        }
        stats.latencies.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - batch_start).count());
        stats.bytes += plan.per_thread;
    }
}

void ReportInitiator(const std::vector<ThreadStats>& stats, double elapsed, uint64_t block,
                     const TransferEngineImpl& engine) {
    std::vector<double> all;
    uint64_t total = 0;
    for (const ThreadStats& thread : stats) {
        all.insert(all.end(), thread.latencies.begin(), thread.latencies.end());
        total += thread.bytes;
    }
    std::sort(all.begin(), all.end());
    double sum = 0;
    for (double value : all) sum += value;
    const auto percentile = [&](double p) {
        return all.empty() ? 0.0 : all[std::min(all.size() - 1, size_t(p * all.size()))];
    };
    std::printf("%s %s: %zu threads x %" PRIu64 " requests x %" PRIu64 " bytes, %.1f s\n",
                FLAGS_operation.c_str(), FLAGS_segment_id.c_str(), size_t(FLAGS_threads),
                FLAGS_batch_size, block, elapsed);
    std::printf("throughput: %.3f GB/s (%.3f GiB/s), %zu batches\n", total / elapsed / 1e9,
                total / elapsed / (1u << 30), all.size());
    const double in_unit = InReportUnit(total / elapsed);
    if (in_unit >= 0) {
        std::printf("Test completed: duration %.2f, batch count %zu, throughput %.*f %s/s\n",
                    elapsed, all.size(), int(FLAGS_report_precision), in_unit,
                    FLAGS_report_unit.c_str());
    }
    std::printf("batch latency: avg %.1f us, p50 %.1f us, p99 %.1f us\n",
                all.empty() ? 0.0 : sum / all.size(), percentile(0.5), percentile(0.99));
    std::printf("transport: memcpy %" PRIu64 ", shm %" PRIu64 ", tcp %" PRIu64 ", rdma %" PRIu64
                " requests\n",
                engine.RoutedRequests("memcpy"), engine.RoutedRequests("shm"),
                engine.RoutedRequests("tcp"), engine.RoutedRequests("rdma"));
}

int RunInitiator() {
    auto block = ParseInitiatorFlags();
    if (!block) return 2;
    auto engine = CreateEngine();
    if (!engine) return 1;
    auto handle = engine->OpenSegment(FLAGS_segment_id);
    if (!handle) {
        std::fprintf(stderr, "Cannot open segment %s: %s\n", FLAGS_segment_id.c_str(),
                     std::string(ErrorCodeName(handle.error())).c_str());
        return 1;
    }
    // Held while the threads run: `range` points into it.
    auto descriptor = engine->PeerDescriptor(*handle);
    const SegmentRange* range = LargestRange(*descriptor);
    const uint64_t per_thread = *block * FLAGS_batch_size;
    if (range == nullptr || range->length < per_thread * FLAGS_threads) {
        std::fprintf(stderr,
                     "The target needs %" PRIu64
                     " bytes of registered memory (threads x "
                     "batch_size x block_size)\n",
                     per_thread * FLAGS_threads);
        return 1;
    }
    const size_t local_size = per_thread * FLAGS_threads;
    auto* local = static_cast<uint8_t*>(MapPopulated(local_size));
    if (local == nullptr || !engine->RegisterLocalMemory(local, local_size, false)) {
        std::fprintf(stderr, "Cannot allocate %zu bytes of local memory\n", local_size);
        return 1;
    }
    std::memset(local, 0x5A, local_size);
    InitiatorPlan plan;
    plan.engine = engine.get();
    plan.handle = *handle;
    plan.opcode = FLAGS_operation == "read" ? TransferOpcode::READ : TransferOpcode::WRITE;
    plan.local = local;
    plan.remote = range->address;
    plan.block = *block;
    plan.per_thread = per_thread;

    std::atomic<bool> failed{false};
    std::vector<ThreadStats> stats(FLAGS_threads);
    const auto start = Clock::now();
    plan.end = start + std::chrono::duration<double>(FLAGS_duration);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < FLAGS_threads; ++t) {
        threads.emplace_back([&, t] { RunInitiatorThread(plan, t, failed, stats[t]); });
    }
    for (std::thread& thread : threads) thread.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (failed.load()) return 1;
    ReportInitiator(stats, elapsed, *block, *engine);
    return 0;
}

}  // namespace
}  // namespace mooncake

int main(int argc, char** argv) {
    gflags::SetUsageMessage(
        "transfer engine benchmark: --mode=target on one side, --mode=initiator "
        "--segment_id=<target segment> on the other");
    gflags::ParseCommandLineFlags(&argc, &argv, true);
    FLAGS_logtostderr = true;
    google::InitGoogleLogging(argv[0]);
    if (FLAGS_use_vram) {
        std::fprintf(stderr, "--use_vram: this build has no GPU memory support\n");
        return 2;
    }
    if (mooncake::InReportUnit(1) < 0) {
        std::fprintf(stderr, "--report_unit must be GB, GiB, Gb, MB, MiB, Mb, KB, KiB or Kb\n");
        return 2;
    }
    if (FLAGS_mode == "target") return mooncake::RunTarget();
    if (FLAGS_mode == "initiator") return mooncake::RunInitiator();
    std::fprintf(stderr, "--mode must be target or initiator\n");
    return 2;
}
