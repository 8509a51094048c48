// A quick look at the client's data path on one host, next to its limits
// measured in the same run (not a test: it asserts nothing, ctest does not
// run it; the Python benchmark under bench/ is the reference).
//
//   client_perf_probe [rounds]
//
// Starts a real master and a client_test_helper process that owns a 1 GiB
// segment; this process is a pure client. Prints:
//   - single-thread memcpy bandwidth (the limit),
//   - batch of 32 x 1 MiB zero-copy BatchPutFrom / BatchGetInto into and out
//     of the helper's segment (the shared-memory path), median GB/s,
//   - 4 KiB Put / Get latency next to a bare master round trip (ExistKey),
//     and a 4 KiB Put placed by the master (through a put credit).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "client/master_client.h"
#include "client_test_util.h"
#include "mooncake/client.h"

namespace {

using mooncake::Client;
using mooncake::ConstBytes;
using mooncake::ReplicateConfig;
using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::duration elapsed) {
    return std::chrono::duration<double>(elapsed).count();
}

double Percentile(std::vector<double> samples, double fraction) {
    std::sort(samples.begin(), samples.end());
    return samples[static_cast<size_t>(fraction * static_cast<double>(samples.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 30;
    mooncake::testing::MasterProcess master({"--default_kv_lease_ttl=100"});
    if (!master.Start()) return 1;
    mooncake::testing::HelperProcess owner;
    if (!owner.Start(mooncake::testing::MakeClientConfig(master, 1ull << 30, 16ull << 20))) {
        return 1;
    }
    auto created = Client::Create(mooncake::testing::MakeClientConfig(master, 0, 256ull << 20));
    if (!created.has_value()) return 1;
    Client& client = **created;

    constexpr size_t kBlock = 1 << 20;
    constexpr size_t kBatch = 32;
    std::vector<uint8_t> source(kBlock * kBatch);
    std::vector<uint8_t> sink(kBlock * kBatch, 0);
    mooncake::testing::FillValue(1, source.data(), source.size());
    if (!client.RegisterBuffer(source.data(), source.size()).has_value() ||
        !client.RegisterBuffer(sink.data(), sink.size()).has_value()) {
        return 1;
    }

    double memcpy_best = 0;
    for (int r = 0; r < 20; ++r) {
        const auto start = SteadyClock::now();
        std::memcpy(sink.data(), source.data(), source.size());
        memcpy_best = std::max(memcpy_best, source.size() / Seconds(SteadyClock::now() - start));
    }

    ReplicateConfig on_owner;
    on_owner.preferred_segment = owner.hostname();
    std::vector<const void*> sources;
    std::vector<void*> sinks;
    const std::vector<size_t> sizes(kBatch, kBlock);
    for (size_t i = 0; i < kBatch; ++i) {
        sources.push_back(source.data() + i * kBlock);
        sinks.push_back(sink.data() + i * kBlock);
    }
    std::vector<double> put_rates;
    std::vector<double> get_rates;
    for (int r = 0; r < rounds; ++r) {
        std::vector<std::string> keys;
        for (size_t i = 0; i < kBatch; ++i) {
            keys.push_back("probe_" + std::to_string(r) + "_" + std::to_string(i));
        }
        auto start = SteadyClock::now();
        auto put = client.BatchPutFrom(keys, sources, sizes, on_owner);
        put_rates.push_back(source.size() / Seconds(SteadyClock::now() - start));
        start = SteadyClock::now();
        auto got = client.BatchGetInto(keys, sinks, sizes);
        get_rates.push_back(source.size() / Seconds(SteadyClock::now() - start));
        for (size_t i = 0; i < kBatch; ++i) {
            if (!put[i].has_value() || !got[i].has_value()) {
                std::fprintf(stderr, "round %d key %zu failed\n", r, i);
                return 1;
            }
        }
        (void)client.RemoveAll();
    }
    const bool intact = std::memcmp(source.data(), sink.data(), source.size()) == 0;
    const double put_rate = Percentile(put_rates, 0.5);
    const double get_rate = Percentile(get_rates, 0.5);
    std::printf("memcpy (1 thread, best)        %6.2f GB/s\n", memcpy_best / 1e9);
    std::printf("batch 32 x 1 MiB put_from      %6.2f GB/s  %3.0f%% of memcpy\n", put_rate / 1e9,
                100 * put_rate / memcpy_best);
    std::printf("batch 32 x 1 MiB get_into      %6.2f GB/s  %3.0f%% of memcpy  (data %s)\n",
                get_rate / 1e9, 100 * get_rate / memcpy_best, intact ? "intact" : "CORRUPT");

    mooncake::MasterClientOptions pipelining;
    pipelining.pipeline_put_end = true;  // awaited vs pipelined below
    auto bare = mooncake::MasterClient::Connect(master.master_address(), pipelining);
    if (!bare.has_value()) return 1;
    std::vector<double> round_trip;
    std::vector<double> small_put;
    std::vector<double> small_get;
    std::vector<double> credit_put;  // placed by the master: a put credit
    const std::vector<uint8_t> value(4096, 7);
    const ConstBytes part(value.data(), value.size());
    for (int i = 0; i < 2000; ++i) {
        const std::string key = "small_" + std::to_string(i);
        auto start = SteadyClock::now();
        (void)(*bare)->ExistKey("no_such_key");
        round_trip.push_back(Seconds(SteadyClock::now() - start) * 1e6);
        start = SteadyClock::now();
        const bool put_ok = client.Put(key, {&part, 1}, on_owner).has_value();
        small_put.push_back(Seconds(SteadyClock::now() - start) * 1e6);
        start = SteadyClock::now();
        const bool get_ok = client.Get(key).has_value();
        small_get.push_back(Seconds(SteadyClock::now() - start) * 1e6);
        start = SteadyClock::now();
        const bool credit_ok = client.Put("credit_" + key, {&part, 1}, {}).has_value();
        credit_put.push_back(Seconds(SteadyClock::now() - start) * 1e6);
        if (!put_ok || !get_ok || !credit_ok) return 1;
    }
    // The master's share of a put, without the write: PutStart then PutEnd
    // awaited, and PutEnd pipelined (its answer read by the next call).
    const mooncake::UUID probe_client = mooncake::UUID::Generate();
    if (!(*bare)->MountSegment(probe_client, {mooncake::UUID::Generate(), "127.0.0.1:1",
                                              0x7f0000000000ULL, 1ull << 30})) {
        return 1;
    }
    std::vector<double> awaited_ends;
    std::vector<double> pipelined_ends;
    for (int i = 0; i < 2000; ++i) {
        for (const bool pipelined : {false, true}) {
            const std::string key = "master_only_" + std::to_string(pipelined) + std::to_string(i);
            const auto start = SteadyClock::now();
            if (!(*bare)->PutStart(probe_client, key, 4096, ReplicateConfig{})) {
                return 1;
            }
            const bool ended = pipelined ? (*bare)->PutEndPipelined(probe_client, key).has_value()
                                         : (*bare)->PutEnd(probe_client, key).has_value();
            if (!ended) return 1;
            (pipelined ? pipelined_ends : awaited_ends)
                .push_back(Seconds(SteadyClock::now() - start) * 1e6);
        }
    }
    const std::pair<const char*, const std::vector<double>*> rows[] = {
        {"master round trip (ExistKey)", &round_trip},
        {"PutStart + PutEnd awaited", &awaited_ends},
        {"PutStart + PutEnd pipelined", &pipelined_ends},
        {"4 KiB get", &small_get},
        {"4 KiB put", &small_put},
        {"4 KiB put, put credit", &credit_put},
    };
    for (const auto& [name, samples] : rows) {
        std::printf("%-30s p50 %6.1f us  p99 %6.1f us\n", name, Percentile(*samples, 0.5),
                    Percentile(*samples, 0.99));
    }
    return intact ? 0 : 1;
}
