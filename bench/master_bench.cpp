// Throughput and memory of the master's logic alone (no network).
//
// Drives MasterService directly on one thread: PutStart, PutEnd and
// GetReplicaList over N keys, one phase each, then reports operations per
// second per phase and the master's memory per object (VmRSS / VmHWM from
// /proc/self/status, after minus before populating; the keys themselves are
// generated before the baseline is taken).
//
//   master_bench [--keys=1000000] [--value_size=4096] [--replicas=1]
//                [--segments=1] [--key_length=16]
#include <glog/logging.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "master/master_service.h"

namespace {

using mooncake::MasterConfig;
using mooncake::MasterService;
using mooncake::ReplicateConfig;
using mooncake::SegmentInfo;
using mooncake::UUID;

struct Options {
    uint64_t keys = 1'000'000;
    uint64_t value_size = 4096;
    size_t replicas = 1;
    size_t segments = 1;
    size_t key_length = 16;
};

bool ParseFlag(const char* arg, const char* name, uint64_t* value) {
    const size_t length = std::strlen(name);
    if (std::strncmp(arg, name, length) != 0 || arg[length] != '=') return false;
    char* end = nullptr;
    *value = std::strtoull(arg + length + 1, &end, 10);
    if (end == arg + length + 1 || *end != '\0') {
        std::fprintf(stderr, "bad value in %s\n", arg);
        std::exit(2);
    }
    return true;
}

Options ParseOptions(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        uint64_t value = 0;
        if (ParseFlag(argv[i], "--keys", &value)) {
            options.keys = value;
        } else if (ParseFlag(argv[i], "--value_size", &value)) {
            options.value_size = value;
        } else if (ParseFlag(argv[i], "--replicas", &value)) {
            options.replicas = value;
        } else if (ParseFlag(argv[i], "--segments", &value)) {
            options.segments = value;
        } else if (ParseFlag(argv[i], "--key_length", &value)) {
            options.key_length = value;
        } else {
            std::fprintf(stderr,
                         "usage: %s [--keys=N] [--value_size=B] [--replicas=R] [--segments=S] "
                         "[--key_length=L]\n",
                         argv[0]);
            std::exit(2);
        }
    }
    if (options.keys == 0 || options.value_size == 0 || options.replicas == 0 ||
        options.segments < options.replicas || options.key_length < 8) {
        std::fprintf(stderr,
                     "need keys, value_size, replicas > 0, segments >= replicas, "
                     "key_length >= 8\n");
        std::exit(2);
    }
    return options;
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM").
uint64_t ProcStatusKiB(const std::string& field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.compare(0, field.size() + 1, field + ":") == 0) {
            return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
        }
    }
    return 0;
}

std::vector<std::string> MakeKeys(const Options& options) {
    std::vector<std::string> keys;
    keys.reserve(options.keys);
    char digits[32];
    for (uint64_t i = 0; i < options.keys; ++i) {
        std::snprintf(digits, sizeof(digits), "%llu", static_cast<unsigned long long>(i));
        std::string key = "kv/";
        const size_t digits_length = std::strlen(digits);
        if (key.size() + digits_length < options.key_length) {
            key.append(options.key_length - key.size() - digits_length, '0');
        }
        key += digits;
        keys.push_back(std::move(key));
    }
    return keys;
}

struct Phase {
    const char* name;
    double seconds;      // wall clock
    double cpu_seconds;  // this thread's CPU time: what one core spent
    uint64_t ops;
    uint64_t failures;
};

// CPU time of the calling thread. On a shared machine the wall clock also
// counts the time other processes held the core.
double ThreadCpuSeconds() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

template <typename Body>
Phase RunPhase(const char* name, uint64_t count, Body body) {
    uint64_t failures = 0;
    const double cpu_start = ThreadCpuSeconds();
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < count; ++i) {
        if (!body(i)) ++failures;
    }
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    return {name, elapsed.count(), ThreadCpuSeconds() - cpu_start, count, failures};
}

void Report(const Phase& phase) {
    std::printf(
        "%-18s %9llu ops %7.3f s %10.0f ops/s | cpu %7.3f s %10.0f ops/s %7.1f ns/op"
        " | failures %llu\n",
        phase.name, static_cast<unsigned long long>(phase.ops), phase.seconds,
        phase.ops / phase.seconds, phase.cpu_seconds, phase.ops / phase.cpu_seconds,
        phase.cpu_seconds * 1e9 / phase.ops, static_cast<unsigned long long>(phase.failures));
}

}  // namespace

int main(int argc, char** argv) {
    google::InitGoogleLogging(argv[0]);
    FLAGS_logtostderr = true;
    FLAGS_minloglevel = 1;  // warnings and up: the bench measures, not logs
    const Options options = ParseOptions(argc, argv);

    const std::vector<std::string> keys = MakeKeys(options);
    MasterConfig config;
    config.client_ttl_sec = 3600;
    auto service = std::make_unique<MasterService>(config, mooncake::SystemClock::Instance());
    const UUID client{0xBE7C4, 1};
    // Room for every replica with 25 % to spare, split over the segments,
    // below the eviction watermark.
    const uint64_t rounded = (options.value_size + 63) & ~uint64_t{63};
    const uint64_t segment_size =
        rounded * options.keys * options.replicas / options.segments * 5 / 4 + (1 << 20);
    for (size_t s = 0; s < options.segments; ++s) {
        const SegmentInfo segment{UUID::Generate(), "bench-node-" + std::to_string(s) + ":12345",
                                  0x100000000000ULL * (s + 1), segment_size};
        if (!service->MountSegment(client, segment)) {
            std::fprintf(stderr, "mount failed\n");
            return 1;
        }
    }

    const uint64_t rss_before = ProcStatusKiB("VmRSS");
    const uint64_t hwm_before = ProcStatusKiB("VmHWM");
    ReplicateConfig replicate;
    replicate.replica_num = options.replicas;

    std::vector<Phase> phases;
    phases.push_back(RunPhase("put_start", options.keys, [&](uint64_t i) {
        return service->PutStart(client, keys[i], options.value_size, replicate).has_value();
    }));
    phases.push_back(RunPhase("put_end", options.keys, [&](uint64_t i) {
        return service->PutEnd(client, keys[i]).has_value();
    }));
    const uint64_t rss_populated = ProcStatusKiB("VmRSS");
    phases.push_back(RunPhase("get_replica_list", options.keys, [&](uint64_t i) {
        return service->GetReplicaList(keys[i]).has_value();
    }));
    phases.push_back(RunPhase("exist_key", options.keys, [&](uint64_t i) {
        auto exists = service->ExistKey(keys[i]);
        return exists.has_value() && *exists;
    }));
    const uint64_t rss_after = ProcStatusKiB("VmRSS");
    const uint64_t hwm_after = ProcStatusKiB("VmHWM");

    std::printf(
        "master_bench: keys=%llu value_size=%llu replicas=%zu segments=%zu "
        "key_length=%zu\n",
        static_cast<unsigned long long>(options.keys),
        static_cast<unsigned long long>(options.value_size), options.replicas, options.segments,
        options.key_length);
    std::printf("%-18s %13s %9s %10s | %11s %10s\n", "phase", "", "wall", "", "cpu", "");
    Phase all{"all metadata ops", 0, 0, 0, 0};
    for (const Phase& phase : phases) {
        Report(phase);
        all.seconds += phase.seconds;
        all.cpu_seconds += phase.cpu_seconds;
        all.ops += phase.ops;
    }
    Report({"put (start+end)", phases[0].seconds + phases[1].seconds,
            phases[0].cpu_seconds + phases[1].cpu_seconds, options.keys, 0});
    Report(all);

    const auto stats = service->GetStats();
    const double per_object_steady =
        (static_cast<double>(rss_after) - static_cast<double>(rss_before)) * 1024.0 /
        static_cast<double>(stats.object_count);
    const double per_object_populated =
        (static_cast<double>(rss_populated) - static_cast<double>(rss_before)) * 1024.0 /
        static_cast<double>(stats.object_count);
    const double per_object_peak =
        (static_cast<double>(std::max(hwm_after, hwm_before)) - static_cast<double>(rss_before)) *
        1024.0 / static_cast<double>(stats.object_count);
    std::printf("objects stored     %llu (used %llu of %llu bytes)\n",
                static_cast<unsigned long long>(stats.object_count),
                static_cast<unsigned long long>(stats.used_bytes),
                static_cast<unsigned long long>(stats.capacity_bytes));
    std::printf(
        "memory per object  %.0f bytes steady, %.0f bytes right after the puts, "
        "%.0f bytes peak\n",
        per_object_steady, per_object_populated, per_object_peak);
    std::printf("memory per 1M objects  %.1f MiB steady, %.1f MiB peak\n",
                per_object_steady * 1e6 / (1 << 20), per_object_peak * 1e6 / (1 << 20));
    return stats.object_count == options.keys ? 0 : 1;
}
