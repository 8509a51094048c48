// The other process of the transfer-engine tests.
//
// --mode=target: starts an engine, registers a buffer filled with pattern
//   --seed (shared memory with --shm, else anonymous memory followed by an
//   unregistered guard area of --guard bytes filled with 0xAB), prints
//     READY <segment name> <buffer address> <size> <guard address> <guard size>
//   and then answers commands on stdin, one per line:
//     HASH <address> <length>         -> HASH <hex>   (of its own memory)
//     FILL <address> <length> <seed>  -> OK
//     QUIT                            -> exits cleanly (descriptor unpublished)
//   EOF on stdin also ends it.
// --mode=initiator: opens --segment, writes and reads back patterns of the
//   test sizes at --remote (a buffer of --size bytes there), prints
//     RESULT ok|fail memcpy=<n> shm=<n> tcp=<n>
//   and exits 0 on success.
#include <gflags/gflags.h>
#include <glog/logging.h>
#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "transfer/transfer_engine_impl.h"
#include "transfer_test_util.h"

DEFINE_string(mode, "target", "target or initiator");
DEFINE_string(hostname, "127.0.0.1", "local_hostname of the engine");
DEFINE_string(metadata, "P2PHANDSHAKE", "metadata_server of the engine");
DEFINE_uint64(size, 1 << 20, "buffer size in bytes");
DEFINE_bool(shm, false, "target: allocate the buffer with AllocateSharedMemory");
DEFINE_uint64(guard, 4096, "target: unregistered bytes after the buffer (anonymous memory)");
DEFINE_uint64(fixed_address, 0, "target: map the buffer at this address (anonymous memory)");
DEFINE_uint64(seed, 1, "target: pattern the buffer starts with");
DEFINE_string(segment, "", "initiator: segment to open");
DEFINE_uint64(remote, 0, "initiator: address of the buffer in the segment");

namespace mooncake {
namespace {

using testing::FillPattern;
using testing::FindPatternMismatch;
using testing::HashBytes;

// An engine as --hostname and --metadata say.
Result<std::unique_ptr<TransferEngineImpl>> CreateEngine() {
    TransferEngineConfig config;
    config.local_hostname = FLAGS_hostname;
    config.metadata_server = FLAGS_metadata;
    return TransferEngineImpl::Create(config);
}

int RunTarget() {
    auto engine = CreateEngine();
    if (!engine) {
        std::printf("FAILED %s\n", std::string(ErrorCodeName(engine.error())).c_str());
        std::fflush(stdout);
        return 1;
    }
    const size_t size = FLAGS_size;
    uint8_t* base = nullptr;
    size_t guard = 0;
    if (FLAGS_shm) {
        auto memory = (*engine)->AllocateSharedMemory(size);
        if (!memory) return 1;
        base = static_cast<uint8_t*>(*memory);
    } else {
        guard = FLAGS_guard;
        int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
        void* hint = nullptr;
        if (FLAGS_fixed_address != 0) {
            flags |= MAP_FIXED_NOREPLACE;
            hint = reinterpret_cast<void*>(FLAGS_fixed_address);
        }
        void* memory = mmap(hint, size + guard, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (memory == MAP_FAILED) {
            std::printf("FAILED mmap\n");
            std::fflush(stdout);
            return 1;
        }
        base = static_cast<uint8_t*>(memory);
        if (!(*engine)->RegisterLocalMemory(base, size, true)) return 1;
    }
    FillPattern(base, size, FLAGS_seed);
    std::memset(base + size, 0xAB, guard);
    std::printf("READY %s %" PRIu64 " %zu %" PRIu64 " %zu\n", (*engine)->segment_name().c_str(),
                reinterpret_cast<uint64_t>(base), size, reinterpret_cast<uint64_t>(base + size),
                guard);
    std::fflush(stdout);

    const uint64_t begin = reinterpret_cast<uint64_t>(base);
    const uint64_t end = begin + size + guard;
    std::string line;
    while (std::getline(std::cin, line)) {
        auto words = testing::SplitWords(line);
        if (words.empty()) continue;
        if (words[0] == "QUIT") break;
        if ((words[0] == "HASH" && words.size() == 3) ||
            (words[0] == "FILL" && words.size() == 4)) {
            const uint64_t address = std::stoull(words[1]);
            const uint64_t length = std::stoull(words[2]);
            if (address < begin || length > end - address) {
                std::printf("ERROR out of range\n");
            } else if (words[0] == "HASH") {
                std::printf("HASH %" PRIx64 "\n",
                            HashBytes(reinterpret_cast<void*>(address), length));
            } else {
                FillPattern(reinterpret_cast<void*>(address), length, std::stoull(words[3]));
                std::printf("OK\n");
            }
        } else {
            std::printf("ERROR unknown command\n");
        }
        std::fflush(stdout);
    }
    return 0;
}

int RunInitiator() {
    auto engine = CreateEngine();
    if (!engine) {
        std::printf("RESULT fail create %s\n", std::string(ErrorCodeName(engine.error())).c_str());
        return 1;
    }
    auto handle = (*engine)->OpenSegment(FLAGS_segment);
    if (!handle) {
        std::printf("RESULT fail open %s\n", std::string(ErrorCodeName(handle.error())).c_str());
        return 1;
    }
    const size_t size = FLAGS_size;
    std::vector<uint8_t> source(size);
    std::vector<uint8_t> sink(size);
    bool ok = true;
    for (size_t length : {size_t{1}, size_t{7}, size_t{4096}, size_t{65537}, size_t{(1 << 20) + 3},
                          size_t{16 << 20}}) {
        if (length + 3 > size) continue;
        const uint64_t seed = 1000 + length;
        FillPattern(source.data(), length, seed);
        std::fill(sink.begin(), sink.begin() + length, 0);
        TransferRequest write{TransferOpcode::WRITE, source.data(), *handle, FLAGS_remote + 3,
                              length};
        TransferRequest read{TransferOpcode::READ, sink.data(), *handle, FLAGS_remote + 3, length};
        auto wrote = (*engine)->TransferSync({write}, nullptr, std::chrono::seconds(60));
        auto got = (*engine)->TransferSync({read}, nullptr, std::chrono::seconds(60));
        if (!wrote || !got || FindPatternMismatch(sink.data(), length, seed)) {
            std::fprintf(stderr, "initiator: length %zu failed\n", length);
            ok = false;
        }
    }
    std::printf("RESULT %s memcpy=%" PRIu64 " shm=%" PRIu64 " tcp=%" PRIu64 "\n",
                ok ? "ok" : "fail", (*engine)->RoutedRequests("memcpy"),
                (*engine)->RoutedRequests("shm"), (*engine)->RoutedRequests("tcp"));
    std::fflush(stdout);
    return ok ? 0 : 1;
}

}  // namespace
}  // namespace mooncake

int main(int argc, char** argv) {
    gflags::ParseCommandLineFlags(&argc, &argv, true);
    FLAGS_logtostderr = true;
    google::InitGoogleLogging(argv[0]);
    if (FLAGS_mode == "target") return mooncake::RunTarget();
    if (FLAGS_mode == "initiator") return mooncake::RunInitiator();
    std::fprintf(stderr, "unknown --mode\n");
    return 2;
}
