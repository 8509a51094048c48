// End-to-end tests of the transfer engine: this process is the initiator,
// the peer is a real process (transfer_test_peer) reached over loopback TCP
// or shared memory, or another engine in this process.
#include "mooncake/transfer_engine.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/mman.h>

#include <atomic>
#include <cinttypes>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "net/socket_util.h"
#include "transfer/segment_descriptor.h"
#include "transfer/transfer_engine_impl.h"
#include "transfer/wire_protocol.h"
#include "transfer_test_util.h"

namespace mooncake {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::FillPattern;
using testing::FindPatternMismatch;
using testing::HashBytes;

constexpr size_t kMiB = 1 << 20;
const size_t kTestSizes[] = {1, 7, 4096, 65537, kMiB + 3, 16 * kMiB, 64 * kMiB};

// Sets an environment variable for the scope of a test.
class ScopedEnv {
   public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = getenv(name)) old_ = old;
        setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (old_) {
            setenv(name_, old_->c_str(), 1);
        } else {
            unsetenv(name_);
        }
    }

   private:
    const char* name_;
    std::optional<std::string> old_;
};

// A transfer_test_peer in target mode.
struct Target {
    ChildProcess process;
    std::string segment;
    uint64_t base = 0;
    uint64_t size = 0;
    uint64_t guard = 0;
    uint64_t guard_size = 0;

    uint64_t Hash(uint64_t address, uint64_t length) {
        auto reply = process.Ask("HASH " + std::to_string(address) + " " + std::to_string(length));
        if (!reply || !reply->starts_with("HASH ")) {
            ADD_FAILURE() << "target did not answer HASH";
            return 0;
        }
        return std::stoull(reply->substr(5), nullptr, 16);
    }
    void Fill(uint64_t address, uint64_t length, uint64_t seed) {
        auto reply = process.Ask("FILL " + std::to_string(address) + " " + std::to_string(length) +
                                 " " + std::to_string(seed));
        EXPECT_EQ(reply.value_or(""), "OK");
    }
    // Clean exit: the engine unpublishes its descriptor.
    void Quit() {
        process.WriteLine("QUIT");
        auto status = process.Wait(60s);
        ASSERT_TRUE(status.has_value()) << "target did not exit";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    }
};

// Lines of /proc/self/maps naming `text` (memfd mappings show their name).
int CountMappings(const std::string& text) {
    std::ifstream maps("/proc/self/maps");
    int count = 0;
    for (std::string line; std::getline(maps, line);) count += line.find(text) != std::string::npos;
    return count;
}

std::string PeerBinary() { return testing::ExecutableDir() + "/transfer_test_peer"; }

std::unique_ptr<Target> StartTarget(const std::vector<std::string>& flags,
                                    const std::vector<std::string>& env = {}) {
    auto target = std::make_unique<Target>();
    std::vector<std::string> argv = {PeerBinary(), "--mode=target"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    if (!target->process.Start(argv, env)) return nullptr;
    auto line = target->process.ReadLine(120s);
    if (!line) return nullptr;
    auto words = testing::SplitWords(*line);
    if (words.size() != 6 || words[0] != "READY") {
        ADD_FAILURE() << "target said: " << *line;
        return nullptr;
    }
    target->segment = words[1];
    target->base = std::stoull(words[2]);
    target->size = std::stoull(words[3]);
    target->guard = std::stoull(words[4]);
    target->guard_size = std::stoull(words[5]);
    return target;
}

std::unique_ptr<TransferEngineImpl> MakeEngine(const std::string& metadata = "P2PHANDSHAKE",
                                               const std::string& cluster = "") {
    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    config.metadata_server = metadata;
    config.cluster_id = cluster;
    auto engine = TransferEngineImpl::Create(config);
    EXPECT_TRUE(engine.has_value());
    return engine ? std::move(*engine) : nullptr;
}

// What most tests start from: a target started with `flags`, an engine of
// ours and the target's segment opened by it. A step that fails is reported
// and leaves the later members empty: check HasFailure() after it.
struct Session {
    std::unique_ptr<Target> target;
    std::unique_ptr<TransferEngineImpl> engine;
    SegmentHandle handle = 0;
};

Session StartSession(const std::vector<std::string>& flags) {
    Session session;
    session.target = StartTarget(flags);
    if (session.target == nullptr) {
        ADD_FAILURE() << "the target did not start";
        return session;
    }
    session.engine = MakeEngine();
    if (session.engine == nullptr) return session;  // MakeEngine reported it
    auto handle = session.engine->OpenSegment(session.target->segment);
    if (!handle) {
        ADD_FAILURE() << "OpenSegment: " << ErrorCodeName(handle.error());
        return session;
    }
    session.handle = *handle;
    return session;
}

// Page-aligned, pre-faulted local memory.
class LocalBuffer {
   public:
    explicit LocalBuffer(size_t size) : size_(size) {
        data_ = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
        if (data_ == MAP_FAILED) data_ = nullptr;
    }
    ~LocalBuffer() {
        if (data_ != nullptr) munmap(data_, size_);
    }
    uint8_t* data() const { return data_; }

   private:
    uint8_t* data_;
    size_t size_;
};

TransferRequest Write(void* local, SegmentHandle segment, uint64_t remote, size_t length) {
    return TransferRequest{TransferOpcode::WRITE, local, segment, remote, length};
}
TransferRequest Read(void* local, SegmentHandle segment, uint64_t remote, size_t length) {
    return TransferRequest{TransferOpcode::READ, local, segment, remote, length};
}

// Writes then reads back every test size at an odd offset, checking the
// bytes in the target's memory and in ours.
void RoundTripAllSizes(TransferEngineImpl& engine, Target& target, SegmentHandle handle) {
    LocalBuffer source(64 * kMiB + 8);
    LocalBuffer sink(64 * kMiB + 8);
    ASSERT_NE(source.data(), nullptr);
    ASSERT_NE(sink.data(), nullptr);

    // The initial pattern proves we read the target's memory.
    ASSERT_TRUE(engine.TransferSync({Read(sink.data(), handle, target.base, 8192)}).has_value());
    EXPECT_FALSE(FindPatternMismatch(sink.data(), 8192, /*seed=*/1).has_value());

    for (size_t length : kTestSizes) {
        SCOPED_TRACE("length " + std::to_string(length));
        ASSERT_LE(length + 3, target.size);
        const uint64_t remote = target.base + 3;
        FillPattern(source.data(), length, /*seed=*/length * 31);
        auto wrote = engine.TransferSync({Write(source.data(), handle, remote, length)});
        ASSERT_TRUE(wrote.has_value()) << ErrorCodeName(wrote.error());
        EXPECT_EQ(target.Hash(remote, length), HashBytes(source.data(), length));

        std::memset(sink.data(), 0, length);
        auto got = engine.TransferSync({Read(sink.data(), handle, remote, length)});
        ASSERT_TRUE(got.has_value()) << ErrorCodeName(got.error());
        auto mismatch = FindPatternMismatch(sink.data(), length, length * 31);
        EXPECT_FALSE(mismatch.has_value()) << "first bad byte at " << mismatch.value_or(0);
    }
}

TEST(TransferEngineTest, TcpReadsAndWritesAreByteExactForAllSizes) {
    auto [target, engine, handle] = StartSession({"--size=" + std::to_string(80 * kMiB)});
    ASSERT_FALSE(HasFailure());
    RoundTripAllSizes(*engine, *target, handle);
    // Anonymous memory of another process: only TCP reaches it.
    EXPECT_GT(engine->RoutedRequests("tcp"), 0u);
    EXPECT_EQ(engine->RoutedRequests("shm"), 0u);
    EXPECT_EQ(engine->RoutedRequests("memcpy"), 0u);
}

TEST(TransferEngineTest, SharedMemoryReadsAndWritesAreByteExactForAllSizes) {
    auto [target, engine, handle] = StartSession({"--size=" + std::to_string(80 * kMiB), "--shm"});
    ASSERT_FALSE(HasFailure());
    RoundTripAllSizes(*engine, *target, handle);
    EXPECT_GT(engine->RoutedRequests("shm"), 0u);
    EXPECT_EQ(engine->RoutedRequests("tcp"), 0u);
}

TEST(TransferEngineTest, BatchApiReportsPerRequestStatus) {
    auto target = StartTarget({"--size=" + std::to_string(4 * kMiB)});
    ASSERT_NE(target, nullptr);
    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    auto created = TransferEngine::Create(config);  // the public facade
    ASSERT_TRUE(created.has_value());
    TransferEngine& engine = **created;
    auto handle = engine.OpenSegment(target->segment);
    ASSERT_TRUE(handle.has_value());

    auto batch = engine.AllocateBatch(8);
    ASSERT_TRUE(batch.has_value());
    LocalBuffer local(8 * 65536);
    std::vector<TransferRequest> requests;
    for (size_t i = 0; i < 6; ++i) {
        FillPattern(local.data() + i * 65536, 65536, 500 + i);
        requests.push_back(
            Write(local.data() + i * 65536, *handle, target->base + i * 65536 + 11, 65536));
    }
    // One bad request among good ones fails alone.
    requests.push_back(Write(local.data(), *handle, target->base + target->size - 10, 20));
    ASSERT_TRUE(engine.SubmitTransfer(*batch, requests).has_value());
    // Two more would exceed the capacity of 8: refused, nothing submitted.
    EXPECT_EQ(engine.SubmitTransfer(*batch, {requests[0], requests[1]}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine.WaitBatch(*batch, 60s).error(), ErrorCode::INVALID_PARAMS);
    for (size_t i = 0; i < 6; ++i) {
        auto status = engine.GetTransferStatus(*batch, i);
        ASSERT_TRUE(status.has_value());
        EXPECT_EQ(status->state, TransferState::COMPLETED);
        EXPECT_EQ(status->transferred_bytes, 65536u);
        EXPECT_EQ(target->Hash(target->base + i * 65536 + 11, 65536),
                  HashBytes(local.data() + i * 65536, 65536));
    }
    auto bad = engine.GetTransferStatus(*batch, 6);
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->state, TransferState::FAILED);
    EXPECT_EQ(bad->error, ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine.GetTransferStatus(*batch, 7).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(engine.FreeBatch(*batch).has_value());
    EXPECT_EQ(engine.FreeBatch(*batch).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine.WaitBatch(*batch, 1s).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine.AllocateBatch(0).error(), ErrorCode::INVALID_PARAMS);

    std::vector<ErrorCode> codes;
    auto result = engine.TransferSync(
        {requests[0], Read(local.data(), *handle, target->base + target->size, 1)}, &codes);
    EXPECT_EQ(result.error(), ErrorCode::INVALID_PARAMS);
    ASSERT_EQ(codes.size(), 2u);
    EXPECT_EQ(codes[0], ErrorCode::OK);
    EXPECT_EQ(codes[1], ErrorCode::INVALID_PARAMS);
}

void ConcurrentBatches(bool shm) {
    const size_t threads = 4;
    const size_t region = 4 * kMiB;
    std::vector<std::string> flags = {"--size=" + std::to_string(threads * region)};
    if (shm) flags.push_back("--shm");
    auto [target, engine, handle] = StartSession(flags);
    ASSERT_FALSE(::testing::Test::HasFailure());

    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            const size_t sizes[] = {1, 4096, 100000, 300000, 1 << 20, 1500000};
            LocalBuffer source(region);
            LocalBuffer sink(region);
            const uint64_t remote_base = target->base + t * region;
            for (int iteration = 0; iteration < 20; ++iteration) {
                std::vector<TransferRequest> writes;
                std::vector<TransferRequest> reads;
                size_t offset = 0;
                for (size_t i = 0; i < std::size(sizes); ++i) {
                    const uint64_t seed = t * 1000 + iteration * 10 + i;
                    FillPattern(source.data() + offset, sizes[i], seed);
                    writes.push_back(
                        Write(source.data() + offset, handle, remote_base + offset, sizes[i]));
                    reads.push_back(
                        Read(sink.data() + offset, handle, remote_base + offset, sizes[i]));
                    offset += sizes[i] + 5;
                }
                std::memset(sink.data(), 0, offset);
                if (!engine->TransferSync(writes) || !engine->TransferSync(reads)) {
                    failures.fetch_add(1);
                    continue;
                }
                offset = 0;
                for (size_t i = 0; i < std::size(sizes); ++i) {
                    const uint64_t seed = t * 1000 + iteration * 10 + i;
                    if (FindPatternMismatch(sink.data() + offset, sizes[i], seed)) {
                        failures.fetch_add(1);
                    }
                    offset += sizes[i] + 5;
                }
            }
        });
    }
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(engine->RoutedRequests(shm ? "shm" : "tcp"), 0u);
}

TEST(TransferEngineTest, ConcurrentBatchesFromManyThreadsOverTcp) { ConcurrentBatches(false); }

TEST(TransferEngineTest, ConcurrentBatchesFromManyThreadsOverSharedMemory) {
    ConcurrentBatches(true);
}

TEST(TransferEngineTest, MixedReadsAndWritesOnOneConnectionDoNotDeadlock) {
    // One stream carries everything: large READ responses and WRITE payloads
    // must never wait on each other.
    ScopedEnv one_stream("MC_TCP_STREAMS", "1");
    ScopedEnv short_timeout("MC_TRANSFER_TIMEOUT", "5");
    auto [target, engine, handle] = StartSession({"--size=" + std::to_string(64 * kMiB)});
    ASSERT_FALSE(HasFailure());
    LocalBuffer source(32 * kMiB);
    LocalBuffer sink(32 * kMiB);
    FillPattern(source.data(), 32 * kMiB, 4242);
    std::vector<TransferRequest> requests;
    for (size_t i = 0; i < 4; ++i) {
        // Reads of the initial pattern (first half) interleaved with writes
        // (second half).
        requests.push_back(
            Read(sink.data() + i * 8 * kMiB, handle, target->base + i * 8 * kMiB, 8 * kMiB));
        requests.push_back(Write(source.data() + i * 8 * kMiB, handle,
                                 target->base + 32 * kMiB + i * 8 * kMiB, 8 * kMiB));
    }
    auto result = engine->TransferSync(requests);
    ASSERT_TRUE(result.has_value()) << ErrorCodeName(result.error());
    EXPECT_FALSE(FindPatternMismatch(sink.data(), 32 * kMiB, 1).has_value());
    EXPECT_EQ(target->Hash(target->base + 32 * kMiB, 32 * kMiB),
              HashBytes(source.data(), 32 * kMiB));
}

TEST(TransferEngineTest, PeerKilledMidTransferYieldsErrorNotHang) {
    auto [target, engine, handle] = StartSession({"--size=" + std::to_string(128 * kMiB)});
    ASSERT_FALSE(HasFailure());

    std::atomic<int> completed{0};
    auto reader = std::async(std::launch::async, [&]() -> ErrorCode {
        LocalBuffer sink(128 * kMiB);
        for (;;) {
            std::vector<TransferRequest> requests;
            for (int i = 0; i < 8; ++i) {
                requests.push_back(Read(sink.data() + i * 16 * kMiB, handle,
                                        target->base + i * 16 * kMiB, 16 * kMiB));
            }
            auto result = engine->TransferSync(requests, nullptr, 120s);
            if (!result) return result.error();
            completed.fetch_add(1);
        }
    });
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (completed.load() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    ASSERT_GT(completed.load(), 0);
    target->process.KillNoWait();
    ASSERT_EQ(reader.wait_for(90s), std::future_status::ready) << "transfer hung";
    EXPECT_EQ(reader.get(), ErrorCode::TRANSFER_FAIL);
    target->process.Kill();

    // The dead peer keeps failing cleanly.
    LocalBuffer sink(4096);
    EXPECT_EQ(engine->TransferSync({Read(sink.data(), handle, target->base, 4096)}).error(),
              ErrorCode::TRANSFER_FAIL);
}

TEST(TransferEngineTest, SharedMemoryPeerKilledIsDetected) {
    auto [target, engine, handle] = StartSession({"--size=" + std::to_string(kMiB), "--shm"});
    ASSERT_FALSE(HasFailure());
    LocalBuffer sink(4096);
    ASSERT_TRUE(engine->TransferSync({Read(sink.data(), handle, target->base, 4096)}));
    EXPECT_EQ(CountMappings("mooncake-segment"), 1);
    // Not reaped: a zombie must count as dead too.
    target->process.KillNoWait();
    const auto start = std::chrono::steady_clock::now();
    ErrorCode code = ErrorCode::OK;
    while (code == ErrorCode::OK && std::chrono::steady_clock::now() - start < 60s) {
        auto result = engine->TransferSync({Write(sink.data(), handle, target->base, 4096)});
        code = CodeOf(result);
    }
    EXPECT_EQ(code, ErrorCode::TRANSFER_FAIL);
    // The dead peer's memory is unmapped here, so the kernel can free it.
    EXPECT_EQ(CountMappings("mooncake-segment"), 0);
}

TEST(TransferEngineTest, StalledPeerTimesOutInsteadOfHanging) {
    auto target = StartTarget({"--size=" + std::to_string(16 * kMiB)});
    ASSERT_NE(target, nullptr);
    ScopedEnv timeout("MC_TRANSFER_TIMEOUT", "2");
    auto engine = MakeEngine();
    ASSERT_NE(engine, nullptr);
    auto handle = engine->OpenSegment(target->segment);
    ASSERT_TRUE(handle.has_value());
    ASSERT_EQ(kill(target->process.pid(), SIGSTOP), 0);
    LocalBuffer sink(16 * kMiB);
    const auto start = std::chrono::steady_clock::now();
    auto result =
        engine->TransferSync({Read(sink.data(), *handle, target->base, 16 * kMiB)}, nullptr, 120s);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    kill(target->process.pid(), SIGCONT);
    EXPECT_EQ(result.error(), ErrorCode::TRANSFER_FAIL);
    EXPECT_LT(elapsed, 100s);

    // A TransferSync deadline shorter than the I/O timeout also holds.
    ASSERT_EQ(kill(target->process.pid(), SIGSTOP), 0);
    auto short_wait =
        engine->TransferSync({Read(sink.data(), *handle, target->base, 16 * kMiB)}, nullptr, 500ms);
    kill(target->process.pid(), SIGCONT);
    EXPECT_EQ(short_wait.error(), ErrorCode::TRANSFER_FAIL);
}

TEST(TransferEngineTest, RequestsOutsideRegisteredRangesAreRefused) {
    auto [target, engine, handle] =
        StartSession({"--size=" + std::to_string(kMiB), "--guard=65536"});
    ASSERT_FALSE(HasFailure());
    const uint64_t guard_hash = target->Hash(target->guard, target->guard_size);
    const uint64_t tail_hash = target->Hash(target->base + target->size - 4096, 4096);

    LocalBuffer local(65536);
    FillPattern(local.data(), 65536, 9);
    const uint64_t end = target->base + target->size;
    for (const TransferRequest& request : {
             Write(local.data(), handle, end - 10, 20),         // straddles the end
             Write(local.data(), handle, target->guard, 4096),  // inside the guard
             Write(local.data(), handle, target->base - 4096, 4097),
             Read(local.data(), handle, end, 1),
             Write(local.data(), handle, UINT64_MAX - 10, 100),  // wraps
         }) {
        auto result = engine->TransferSync({request});
        EXPECT_EQ(result.error(), ErrorCode::INVALID_PARAMS);
    }
    EXPECT_EQ(target->Hash(target->guard, target->guard_size), guard_hash);
    EXPECT_EQ(target->Hash(target->base + target->size - 4096, 4096), tail_hash);
    // Malformed requests.
    EXPECT_EQ(engine->TransferSync({Write(nullptr, handle, target->base, 1)}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine->TransferSync({Write(local.data(), handle, target->base, 0)}).error(),
              ErrorCode::INVALID_PARAMS);
}

// A raw client of the engine's TCP protocol, to play a hostile peer.
class RawClient {
   public:
    explicit RawClient(const std::string& endpoint) {
        auto host_port = endpoint.substr(0, endpoint.rfind(':'));
        auto port = static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
        auto fd = net::ConnectTcp(host_port, port, 5000);
        if (fd) {
            fd_ = std::move(*fd);
            net::TuneDataSocket(fd_.get(), 30000);
        }
    }
    bool connected() const { return fd_.valid(); }
    int fd() const { return fd_.get(); }

    bool Send(wire::Opcode opcode, const UUID& instance, uint64_t address, uint64_t length,
              const std::string& payload = "") {
        wire::RequestHeader request;
        request.opcode = opcode;
        request.instance = instance;
        request.address = address;
        request.length = length;
        request.request_id = ++next_id_;
        uint8_t header[wire::kRequestHeaderSize];
        wire::Encode(request, header);
        return net::SendAll(fd_.get(), header, sizeof(header)).has_value() &&
               (payload.empty() || net::SendAll(fd_.get(), payload.data(), payload.size()));
    }
    std::optional<wire::ResponseHeader> Receive() {
        uint8_t buffer[wire::kResponseHeaderSize];
        if (!net::RecvAll(fd_.get(), buffer, sizeof(buffer))) return std::nullopt;
        wire::ResponseHeader response;
        if (!wire::Decode(buffer, &response)) return std::nullopt;
        return response;
    }
    std::optional<std::string> ReceivePayload(uint64_t length) {
        std::string data(length, '\0');
        if (!net::RecvAll(fd_.get(), data.data(), length)) return std::nullopt;
        return data;
    }
    // True when the server closed the connection.
    bool ClosedByPeer() {
        char byte;
        return recv(fd_.get(), &byte, 1, 0) == 0;
    }

   private:
    UniqueFd fd_;
    uint64_t next_id_ = 0;
};

std::optional<SegmentDescriptor> FetchDescriptorRaw(const std::string& endpoint) {
    RawClient client(endpoint);
    if (!client.connected() || !client.Send(wire::Opcode::kGetDescriptor, UUID(), 0, 0)) {
        return std::nullopt;
    }
    auto response = client.Receive();
    if (!response || response->status != wire::ReplyStatus::kOk) return std::nullopt;
    auto text = client.ReceivePayload(response->length);
    if (!text) return std::nullopt;
    auto parsed = SegmentDescriptor::Parse(*text);
    if (!parsed) return std::nullopt;
    return *parsed;
}

TEST(TransferEngineTest, HostileRawRequestsAreRefusedByTheServer) {
    auto target = StartTarget({"--size=" + std::to_string(kMiB), "--guard=65536"});
    ASSERT_NE(target, nullptr);
    // P2P handshake by hand: the endpoint is the segment name's port on
    // 127.0.0.1.
    const std::string endpoint = target->segment;
    auto descriptor = FetchDescriptorRaw(endpoint);
    ASSERT_TRUE(descriptor.has_value());
    EXPECT_EQ(descriptor->name, target->segment);
    ASSERT_NE(descriptor->FindRange(target->base, target->size), nullptr);
    const UUID instance = descriptor->instance_id;

    const uint64_t guard_hash = target->Hash(target->guard, target->guard_size);
    const uint64_t buffer_hash = target->Hash(target->base, target->size);
    const std::string payload(4096, 'X');

    RawClient client(descriptor->tcp_endpoint);
    ASSERT_TRUE(client.connected());
    struct Case {
        wire::Opcode opcode;
        UUID instance;
        uint64_t address;
        uint64_t length;
        wire::ReplyStatus expected;
    };
    const uint64_t end = target->base + target->size;
    const Case cases[] = {
        {wire::Opcode::kWrite, instance, target->guard, 4096, wire::ReplyStatus::kRefused},
        {wire::Opcode::kWrite, instance, end - 100, 4096, wire::ReplyStatus::kRefused},
        {wire::Opcode::kWrite, instance, UINT64_MAX - 100, 4096, wire::ReplyStatus::kRefused},
        {wire::Opcode::kWrite, instance, 0, 4096, wire::ReplyStatus::kRefused},
        {wire::Opcode::kWrite, UUID{1, 2}, target->base, 4096, wire::ReplyStatus::kStaleInstance},
        {wire::Opcode::kRead, instance, target->guard, 4096, wire::ReplyStatus::kRefused},
        {wire::Opcode::kRead, instance, end - 1, 2, wire::ReplyStatus::kRefused},
        {wire::Opcode::kRead, UUID(), target->base, 16, wire::ReplyStatus::kStaleInstance},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(wire::OpcodeName(c.opcode)) + " at " + std::to_string(c.address));
        const bool is_write = c.opcode == wire::Opcode::kWrite;
        ASSERT_TRUE(client.Send(c.opcode, c.instance, c.address, c.length,
                                is_write ? payload : std::string()));
        auto response = client.Receive();
        ASSERT_TRUE(response.has_value());
        EXPECT_EQ(response->status, c.expected);
        EXPECT_EQ(response->length, 0u);  // not a byte of data came back
    }
    // The connection stayed usable: a legitimate read on it works.
    ASSERT_TRUE(client.Send(wire::Opcode::kRead, instance, target->base, 64));
    auto response = client.Receive();
    ASSERT_TRUE(response.has_value());
    ASSERT_EQ(response->status, wire::ReplyStatus::kOk);
    auto bytes = client.ReceivePayload(64);
    ASSERT_TRUE(bytes.has_value());
    EXPECT_FALSE(FindPatternMismatch(bytes->data(), 64, 1).has_value());

    // An oversized length cannot be skipped: refused, connection closed.
    ASSERT_TRUE(client.Send(wire::Opcode::kWrite, instance, target->base, 1ull << 40));
    response = client.Receive();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, wire::ReplyStatus::kBadRequest);
    EXPECT_TRUE(client.ClosedByPeer());

    EXPECT_EQ(target->Hash(target->guard, target->guard_size), guard_hash);
    EXPECT_EQ(target->Hash(target->base, target->size), buffer_hash);
}

TEST(TransferEngineTest, GarbageOnTheTcpPortDoesNotHurtTheServer) {
    auto target = StartTarget({"--size=" + std::to_string(kMiB)});
    ASSERT_NE(target, nullptr);
    auto descriptor = FetchDescriptorRaw(target->segment);
    ASSERT_TRUE(descriptor.has_value());
    std::mt19937_64 random(42);
    for (int i = 0; i < 30; ++i) {
        RawClient client(descriptor->tcp_endpoint);
        ASSERT_TRUE(client.connected());
        std::string junk(1 + random() % 3000, '\0');
        for (char& c : junk) c = static_cast<char>(random());
        if (i % 3 == 0) {
            // Our magic with nonsense behind it.
            uint8_t header[wire::kRequestHeaderSize];
            wire::RequestHeader request;
            request.opcode = static_cast<wire::Opcode>(77 + i);
            request.length = random();
            wire::Encode(request, header);
            junk.replace(0, std::min(junk.size(), sizeof(header)), reinterpret_cast<char*>(header),
                         std::min(junk.size(), sizeof(header)));
        }
        (void)net::SendAll(client.fd(), junk.data(), junk.size());
    }
    {
        // A WRITE that stops halfway through its payload.
        RawClient client(descriptor->tcp_endpoint);
        ASSERT_TRUE(client.Send(wire::Opcode::kWrite, descriptor->instance_id, target->base, 8192,
                                std::string(100, 'Z')));
    }
    {
        // A control message that is not JSON.
        RawClient client(descriptor->tcp_endpoint);
        ASSERT_TRUE(client.Send(wire::Opcode::kTransportControl, UUID(), 0, 5, "{{{{{"));
        auto response = client.Receive();
        ASSERT_TRUE(response.has_value());
        EXPECT_EQ(response->status, wire::ReplyStatus::kBadRequest);
    }
    {
        // A control message for a transport the peer lacks.
        RawClient client(descriptor->tcp_endpoint);
        const std::string message = R"({"transport":"rdma","from":"x:1","body":{}})";
        ASSERT_TRUE(
            client.Send(wire::Opcode::kTransportControl, UUID(), 0, message.size(), message));
        auto response = client.Receive();
        ASSERT_TRUE(response.has_value());
        EXPECT_EQ(response->status, wire::ReplyStatus::kUnsupported);
    }
    // Still alive and serving.
    EXPECT_FALSE(target->process.Wait(100ms).has_value());
    auto engine = MakeEngine();
    ASSERT_NE(engine, nullptr);
    auto handle = engine->OpenSegment(target->segment);
    ASSERT_TRUE(handle.has_value());
    LocalBuffer sink(kMiB);
    ASSERT_TRUE(engine->TransferSync({Read(sink.data(), *handle, target->base, kMiB)}));
    // The half-written WRITE may have landed its first bytes; the rest of
    // the buffer is intact.
    EXPECT_FALSE(FindPatternMismatch(sink.data() + 8192, kMiB - 8192, 1, 8192).has_value());
}

// A minimal HTTP metadata server with the embedded master's API.
class TestMetadataServer {
   public:
    TestMetadataServer() {
        server_.Get("/metadata", [this](const httplib::Request& request, httplib::Response& reply) {
            std::lock_guard lock(mutex_);
            auto it = values_.find(request.get_param_value("key"));
            if (!request.has_param("key")) {
                reply.status = 400;
            } else if (it == values_.end()) {
                reply.status = 404;
            } else {
                reply.set_content(it->second, "application/json");
            }
        });
        server_.Put("/metadata", [this](const httplib::Request& request, httplib::Response& reply) {
            if (!request.has_param("key")) {
                reply.status = 400;
                return;
            }
            std::lock_guard lock(mutex_);
            values_[request.get_param_value("key")] = request.body;
            ++puts_;
        });
        server_.Delete("/metadata",
                       [this](const httplib::Request& request, httplib::Response& reply) {
                           std::lock_guard lock(mutex_);
                           if (values_.erase(request.get_param_value("key")) == 0) {
                               reply.status = 404;
                           }
                       });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // stop() only works once the accept loop runs.
        while (!server_.is_running()) std::this_thread::sleep_for(1ms);
    }
    ~TestMetadataServer() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/metadata"; }
    std::optional<std::string> Value(const std::string& key) {
        std::lock_guard lock(mutex_);
        auto it = values_.find(key);
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }
    int puts() {
        std::lock_guard lock(mutex_);
        return puts_;
    }

   private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::map<std::string, std::string> values_;
    int puts_ = 0;
};

TEST(TransferEngineTest, HttpMetadataModePublishesAndUnpublishes) {
    TestMetadataServer metadata;
    auto target =
        StartTarget({"--size=" + std::to_string(2 * kMiB), "--metadata=" + metadata.url()},
                    {"MC_STORE_CLUSTER_ID=testcluster"});
    ASSERT_NE(target, nullptr);
    const std::string key = "testcluster/ram/" + target->segment;
    auto published = metadata.Value(key);
    ASSERT_TRUE(published.has_value());
    auto descriptor = SegmentDescriptor::Parse(*published);
    ASSERT_TRUE(descriptor.has_value());
    EXPECT_EQ(descriptor->name, target->segment);
    EXPECT_NE(descriptor->FindRange(target->base, target->size), nullptr);
    EXPECT_TRUE(descriptor->tcp_endpoint.starts_with("127.0.0.1:"));

    // Another cluster does not see it.
    auto stranger = MakeEngine(metadata.url());
    ASSERT_NE(stranger, nullptr);
    EXPECT_EQ(stranger->OpenSegment(target->segment).error(), ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_TRUE(metadata.Value("mooncake/ram/" + stranger->segment_name()).has_value());

    auto engine = MakeEngine(metadata.url(), "testcluster");
    ASSERT_NE(engine, nullptr);
    auto handle = engine->OpenSegment(target->segment);
    ASSERT_TRUE(handle.has_value());
    LocalBuffer local(kMiB);
    FillPattern(local.data(), kMiB, 77);
    ASSERT_TRUE(engine->TransferSync({Write(local.data(), *handle, target->base + kMiB, kMiB)}));
    EXPECT_EQ(target->Hash(target->base + kMiB, kMiB), HashBytes(local.data(), kMiB));

    // Registration changes are republished.
    const int puts_before = metadata.puts();
    LocalBuffer extra(8192);
    ASSERT_TRUE(engine->RegisterLocalMemory(extra.data(), 8192, true));
    EXPECT_GT(metadata.puts(), puts_before);
    auto republished =
        SegmentDescriptor::Parse(*metadata.Value("testcluster/ram/" + engine->segment_name()));
    ASSERT_TRUE(republished.has_value());
    EXPECT_NE(republished->FindRange(reinterpret_cast<uint64_t>(extra.data()), 8192), nullptr);
    // Local-only registrations are not published.
    LocalBuffer private_memory(8192);
    ASSERT_TRUE(engine->RegisterLocalMemory(private_memory.data(), 8192, false));
    republished =
        SegmentDescriptor::Parse(*metadata.Value("testcluster/ram/" + engine->segment_name()));
    EXPECT_EQ(republished->FindRange(reinterpret_cast<uint64_t>(private_memory.data()), 1),
              nullptr);

    target->Quit();
    EXPECT_FALSE(metadata.Value(key).has_value());
    const std::string engine_key = "testcluster/ram/" + engine->segment_name();
    engine.reset();
    EXPECT_FALSE(metadata.Value(engine_key).has_value());
}

TEST(TransferEngineTest, UnreachableMetadataServerFailsCreate) {
    // A port that was free a moment ago and has no listener now.
    auto probe = net::ListenTcp("127.0.0.1", 0);
    ASSERT_TRUE(probe.has_value());
    const uint16_t port = net::LocalPort(probe->get());
    probe->Reset();
    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    config.metadata_server = "http://127.0.0.1:" + std::to_string(port) + "/metadata";
    EXPECT_EQ(TransferEngine::Create(config).error(), ErrorCode::RPC_FAIL);
}

TEST(TransferEngineTest, RestartedPeerOnSamePortIsDetectedAndRetried) {
    // Both instances map their buffer at the same address, so only the
    // instance id tells them apart. The address is far below the usual mmap
    // area and outside the sanitizers' shadow ranges.
    const std::string fixed = "--fixed_address=" + std::to_string(0x7e0000000000ULL);
    auto [first, engine, handle] =
        StartSession({"--size=" + std::to_string(kMiB), fixed, "--seed=11"});
    ASSERT_FALSE(HasFailure());
    LocalBuffer sink(kMiB);
    ASSERT_TRUE(engine->TransferSync({Read(sink.data(), handle, first->base, kMiB)}));
    EXPECT_FALSE(FindPatternMismatch(sink.data(), kMiB, 11).has_value());
    const std::string segment = first->segment;
    const uint64_t base = first->base;
    first->Quit();

    auto second = StartTarget(
        {"--size=" + std::to_string(kMiB), fixed, "--seed=22", "--hostname=" + segment});
    ASSERT_NE(second, nullptr);
    ASSERT_EQ(second->segment, segment);
    ASSERT_EQ(second->base, base);
    // Same handle, no reopen: the stale instance is noticed, the descriptor
    // refreshed and the read retried against the new instance.
    std::memset(sink.data(), 0, kMiB);
    auto result = engine->TransferSync({Read(sink.data(), handle, base, kMiB)});
    ASSERT_TRUE(result.has_value()) << ErrorCodeName(result.error());
    EXPECT_FALSE(FindPatternMismatch(sink.data(), kMiB, 22).has_value());
    // The cached descriptor now names the new instance.
    auto refreshed = engine->PeerDescriptor(handle);
    auto current = FetchDescriptorRaw(segment);
    ASSERT_NE(refreshed, nullptr);
    ASSERT_TRUE(current.has_value());
    EXPECT_EQ(refreshed->instance_id, current->instance_id);
}

TEST(TransferEngineTest, RestartedSharedMemoryPeerIsDetected) {
    auto [first, engine, handle] =
        StartSession({"--size=" + std::to_string(kMiB), "--shm", "--seed=11"});
    ASSERT_FALSE(HasFailure());
    LocalBuffer sink(kMiB);
    ASSERT_TRUE(engine->TransferSync({Read(sink.data(), handle, first->base, kMiB)}));
    const std::string segment = first->segment;
    const uint64_t old_base = first->base;
    first->Quit();

    auto second = StartTarget(
        {"--size=" + std::to_string(kMiB), "--shm", "--seed=22", "--hostname=" + segment});
    ASSERT_NE(second, nullptr);
    std::memset(sink.data(), 0, kMiB);
    auto result = engine->TransferSync({Read(sink.data(), handle, second->base, kMiB)});
    ASSERT_TRUE(result.has_value()) << ErrorCodeName(result.error());
    EXPECT_FALSE(FindPatternMismatch(sink.data(), kMiB, 22).has_value());
    if (old_base != second->base) {
        // The first instance's memory is not reachable any more.
        EXPECT_FALSE(engine->TransferSync({Read(sink.data(), handle, old_base, kMiB)}));
    }
    EXPECT_GT(engine->RoutedRequests("shm"), 0u);
}

TEST(TransferEngineTest, SameProcessUsesMemcpyUnlessDisabled) {
    auto owner = MakeEngine();
    ASSERT_NE(owner, nullptr);
    auto shared = owner->AllocateSharedMemory(kMiB);
    ASSERT_TRUE(shared.has_value());
    LocalBuffer plain(kMiB);
    ASSERT_TRUE(owner->RegisterLocalMemory(plain.data(), kMiB, true));
    LocalBuffer local(kMiB);
    LocalBuffer back(kMiB);

    auto exercise = [&](TransferEngineImpl& engine) {
        auto handle = engine.OpenSegment(owner->segment_name());
        ASSERT_TRUE(handle.has_value());
        for (uint64_t remote :
             {reinterpret_cast<uint64_t>(*shared), reinterpret_cast<uint64_t>(plain.data())}) {
            FillPattern(local.data(), kMiB, remote % 1000);
            std::memset(back.data(), 0, kMiB);
            ASSERT_TRUE(engine.TransferSync({Write(local.data(), *handle, remote, kMiB)}));
            ASSERT_TRUE(engine.TransferSync({Read(back.data(), *handle, remote, kMiB)}));
            EXPECT_FALSE(FindPatternMismatch(back.data(), kMiB, remote % 1000).has_value());
            EXPECT_EQ(engine.TransferSync({Write(local.data(), *handle, remote + 1, kMiB)}).error(),
                      ErrorCode::INVALID_PARAMS);
        }
    };

    {
        ScopedEnv memcpy_on("MC_STORE_MEMCPY", "1");
        auto engine = MakeEngine();
        ASSERT_NE(engine, nullptr);
        exercise(*engine);
        EXPECT_EQ(engine->RoutedRequests("memcpy"), 4u);
        EXPECT_EQ(engine->RoutedRequests("shm") + engine->RoutedRequests("tcp"), 0u);
        // The engine reaches its own segment too.
        auto self = engine->OpenSegment(engine->segment_name());
        ASSERT_TRUE(self.has_value());
        LocalBuffer mine(4096);
        ASSERT_TRUE(engine->RegisterLocalMemory(mine.data(), 4096, true));
        ASSERT_TRUE(engine->TransferSync(
            {Write(local.data(), *self, reinterpret_cast<uint64_t>(mine.data()), 4096)}));
        EXPECT_EQ(std::memcmp(mine.data(), local.data(), 4096), 0);
    }
    {
        ScopedEnv memcpy_off("MC_STORE_MEMCPY", "0");
        auto engine = MakeEngine();
        ASSERT_NE(engine, nullptr);
        exercise(*engine);
        EXPECT_EQ(engine->RoutedRequests("memcpy"), 0u);
        EXPECT_EQ(engine->RoutedRequests("shm"), 2u);  // the memfd-backed range
        EXPECT_EQ(engine->RoutedRequests("tcp"), 2u);  // the anonymous one
    }
    ASSERT_TRUE(owner->UnregisterLocalMemory(plain.data()));
}

TEST(TransferEngineTest, MemoryRegistrationRules) {
    auto engine = MakeEngine();
    ASSERT_NE(engine, nullptr);
    LocalBuffer memory(64 * 1024);
    uint8_t* base = memory.data();
    ASSERT_TRUE(engine->RegisterLocalMemory(base + 4096, 8192, true));
    EXPECT_EQ(engine->RegisterLocalMemory(base, 8192, true).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine->RegisterLocalMemory(base + 8192, 100, true).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine->RegisterLocalMemory(nullptr, 100, true).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(engine->RegisterLocalMemory(base, 0, true).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(engine->IsRegistered(base + 4096, 8192));
    EXPECT_FALSE(engine->IsRegistered(base + 4096, 8193));
    EXPECT_FALSE(engine->IsRegistered(base, 1));
    EXPECT_EQ(engine->UnregisterLocalMemory(base + 4097).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(engine->UnregisterLocalMemory(base + 4096));
    EXPECT_FALSE(engine->IsRegistered(base + 4096, 1));
    EXPECT_EQ(engine->FreeSharedMemory(base).error(), ErrorCode::INVALID_PARAMS);

    EXPECT_EQ(engine->AllocateSharedMemory(0).error(), ErrorCode::INVALID_PARAMS);
    auto shared = engine->AllocateSharedMemory(3 * 4096 + 5);
    ASSERT_TRUE(shared.has_value());
    const auto* bytes = static_cast<const uint8_t*>(*shared);
    EXPECT_TRUE(std::all_of(bytes, bytes + 3 * 4096 + 5, [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(engine->IsRegistered(*shared, 3 * 4096 + 5));
    EXPECT_EQ(engine->UnregisterLocalMemory(*shared).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(engine->FreeSharedMemory(*shared));
    EXPECT_FALSE(engine->IsRegistered(*shared, 1));
}

TEST(TransferEngineTest, UnknownSegmentsAndHandles) {
    auto engine = MakeEngine();
    ASSERT_NE(engine, nullptr);
    // Nothing listens on port 1.
    EXPECT_EQ(engine->OpenSegment("127.0.0.1:1").error(), ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(engine->OpenSegment("no-port").error(), ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(engine->OpenSegment("").error(), ErrorCode::INVALID_PARAMS);
    LocalBuffer local(4096);
    EXPECT_EQ(engine->TransferSync({Read(local.data(), 12345, 0x1000, 16)}).error(),
              ErrorCode::SEGMENT_NOT_FOUND);
    EXPECT_EQ(engine->CloseSegment(12345).error(), ErrorCode::INVALID_PARAMS);

    auto self = engine->OpenSegment(engine->segment_name());
    ASSERT_TRUE(self.has_value());
    EXPECT_EQ(engine->OpenSegment(engine->segment_name()).value(), *self);  // cached
    EXPECT_TRUE(engine->CloseSegment(*self));
    EXPECT_EQ(engine->CloseSegment(*self).error(), ErrorCode::INVALID_PARAMS);
}

TEST(TransferEngineTest, CreateValidatesItsConfiguration) {
    auto create = [](const std::string& hostname, const std::string& metadata = "P2PHANDSHAKE",
                     const std::string& protocol = "tcp") {
        TransferEngineConfig config;
        config.local_hostname = hostname;
        config.metadata_server = metadata;
        config.protocol = protocol;
        return TransferEngine::Create(config);
    };
    EXPECT_EQ(create("").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(create("127.0.0.1:notaport").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(create("127.0.0.1:70000").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(create("no-such-host.invalid").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(create("127.0.0.1", "ftp://127.0.0.1/metadata").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(create("127.0.0.1", "").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(create("127.0.0.1", "P2PHANDSHAKE", "udp").error(), ErrorCode::INVALID_PARAMS);
    {
        ScopedEnv force_tcp("MC_FORCE_TCP", "false");
        // No RDMA device on these machines (and possibly no RDMA build).
        EXPECT_EQ(create("127.0.0.1", "P2PHANDSHAKE", "rdma").error(),
                  ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    {
        ScopedEnv force_tcp("MC_FORCE_TCP", "true");
        auto engine = create("127.0.0.1", "P2PHANDSHAKE", "rdma");
        ASSERT_TRUE(engine.has_value());
        EXPECT_EQ((*engine)->protocol(), "tcp");
    }

    // "localhost" keeps its name but listens on (and advertises) 127.0.0.1,
    // on a port of the automatic range.
    auto local = create("localhost");
    ASSERT_TRUE(local.has_value());
    const std::string name = (*local)->segment_name();
    ASSERT_TRUE(name.starts_with("localhost:")) << name;
    const int port = std::stoi(name.substr(name.find(':') + 1));
    EXPECT_GE(port, 12300);
    EXPECT_LE(port, 14300);
    auto descriptor = FetchDescriptorRaw("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(descriptor.has_value());
    EXPECT_EQ(descriptor->tcp_endpoint, "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(descriptor->name, name);

    // A taken port is refused clearly; the given port is used otherwise.
    EXPECT_EQ(create("127.0.0.1:" + std::to_string(port)).error(), ErrorCode::INVALID_PARAMS);
    const std::string fixed_name = (*local)->segment_name();
    local->reset();
    auto again = create("localhost:" + std::to_string(port));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ((*again)->segment_name(), fixed_name);
}

}  // namespace
}  // namespace mooncake
