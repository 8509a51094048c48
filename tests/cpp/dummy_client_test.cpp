// The standalone client (mooncake_client) and its dummy clients, end to end:
// a real mooncake_master, a real mooncake_client process, dummies in this
// process and in tests/cpp/dummy_test_helper processes, all on loopback.
#include "client/dummy_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "client/dummy_memory.h"
#include "client/dummy_rpc_protocol.h"
#include "client/real_client_service.h"
#include "client_test_util.h"
#include "mooncake/client.h"
#include "rpc/framed_rpc_client.h"
#include "rpc/rpc_convert.h"

namespace mooncake {
namespace {

using testing::CountFailuresOnThreads;
using testing::FillValue;
using testing::HelperProcess;
using testing::MakeClientConfig;
using testing::MakeValue;
using testing::MakeValueBatch;
using testing::MasterProcess;
using testing::PickFreePort;
using testing::PutValue;
using testing::ReadsBack;
using testing::Reap;
using testing::Spawn;
using testing::ValueMatches;
using testing::WaitFor;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kKiB = 1ull << 10;
constexpr uint64_t kMiB = 1ull << 20;

// ---- processes --------------------------------------------------------------

std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

bool CurrentTestPassed() {
    return ::testing::UnitTest::GetInstance()->current_test_info() != nullptr &&
           !::testing::Test::HasFailure();
}

// A real mooncake_client process serving dummies on a loopback port that
// stays the same across restarts.
class StandaloneClient {
   public:
    explicit StandaloneClient(const MasterProcess& master, std::vector<std::string> extra = {})
        : master_(master), extra_(std::move(extra)) {
        static std::atomic<int> instances{0};
        log_path_ = "/tmp/mooncake_dummy_test_standalone_" + std::to_string(getpid()) + "_" +
                    std::to_string(instances.fetch_add(1)) + ".log";
    }
    ~StandaloneClient() {
        Kill();
        if (CurrentTestPassed()) unlink(log_path_.c_str());
    }

    // Starts (again, on the same port after Kill/Stop) and waits until it
    // serves dummies.
    bool Start() {
        for (int attempt = 0; attempt < 3; ++attempt) {
            if (port_ == 0) port_ = PickFreePort();
            const size_t log_offset = ReadFile(log_path_).size();
            std::vector<std::string> argv = {
                MOONCAKE_CLIENT_BIN,
                "--host=127.0.0.1",
                "--metadata_server=" + master_.metadata_url(),
                "--master_server_address=" + master_.master_address(),
                "--port=" + std::to_string(port_),
                "--global_segment_size=64MB",
                "--local_buffer_size=16MB",
            };
            argv.insert(argv.end(), extra_.begin(), extra_.end());
            pid_ = Spawn(argv, -1, -1, log_path_);
            bool exited = false;
            const bool ready = WaitFor(
                [&] {
                    int status = 0;
                    if (waitpid(pid_, &status, WNOHANG) == pid_) {
                        exited = true;
                        return true;
                    }
                    return ReadFile(log_path_).find("dummy service on", log_offset) !=
                           std::string::npos;
                },
                std::chrono::seconds(60));
            if (ready && !exited) {
                started_once_ = true;
                return true;
            }
            if (exited) {
                pid_ = -1;
            } else {
                Kill();
            }
            // A port taken meanwhile: another one, unless dummies know this one.
            if (started_once_) break;
            port_ = 0;
        }
        std::fprintf(stderr, "mooncake_client did not start; log %s:\n%s\n", log_path_.c_str(),
                     ReadFile(log_path_).c_str());
        return false;
    }

    void Kill() {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);
        Reap(pid_);
        pid_ = -1;
    }
    // SIGTERM; the exit status.
    int Stop() {
        if (pid_ <= 0) return -1;
        kill(pid_, SIGTERM);
        const int status = Reap(pid_);
        pid_ = -1;
        return status;
    }
    // Returns once the process is stopped: SIGSTOP takes effect
    // asynchronously, and a request sent before that would still be answered.
    void Pause() {
        kill(pid_, SIGSTOP);
        int status = 0;
        while (waitpid(pid_, &status, WUNTRACED) < 0 && errno == EINTR) {
        }
    }
    void Resume() { kill(pid_, SIGCONT); }

    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // The segment name the latest start logged.
    std::string segment_name() const {
        const std::string log = ReadFile(log_path_);
        const std::string marker = "started: segment ";
        const size_t at = log.rfind(marker);
        if (at == std::string::npos) return "";
        const size_t begin = at + marker.size();
        return log.substr(begin, log.find(' ', begin) - begin);
    }
    const std::string& log_path() const { return log_path_; }

   private:
    const MasterProcess& master_;
    std::vector<std::string> extra_;
    std::string log_path_;
    uint16_t port_ = 0;
    bool started_once_ = false;
    pid_t pid_ = -1;
};

// tests/cpp/dummy_test_helper: a dummy client in another process.
class DummyProcess : public HelperProcess {
   public:
    bool Start(const std::string& server, uint64_t pool, uint64_t buffer) {
        return StartProgram({DUMMY_TEST_HELPER_BIN, "--server=" + server,
                             "--pool=" + std::to_string(pool),
                             "--buffer=" + std::to_string(buffer)});
    }
    std::string Command(const std::string& line) {
        return HelperProcess::Command(line, std::chrono::seconds(180));
    }
};

// ---- helpers ----------------------------------------------------------------

std::unique_ptr<DummyClient> ConnectDummy(const std::string& server, uint64_t pool = 16 * kMiB,
                                          uint64_t buffer = 16 * kMiB, uint32_t timeout_ms = 0) {
    DummyClientConfig config;
    config.server_address = server;
    config.mem_pool_size = pool;
    config.local_buffer_size = buffer;
    config.rpc_timeout_ms = timeout_ms;
    auto client = DummyClient::Connect(config);
    if (!client.has_value()) {
        ADD_FAILURE() << "dummy connect to " << server
                      << " failed: " << ErrorCodeName(client.error());
        return nullptr;
    }
    return std::move(*client);
}

template <typename T>
ErrorCode CodeOfResult(const Result<T>& result) {
    return CodeOf(result);
}

// A master (short leases, so removes are not refused for long) and a
// standalone client serving dummies.
class DummyClientTest : public ::testing::Test {
   protected:
    void SetUp() override {
        ASSERT_TRUE(master_.Start()) << master_.log_path();
        ASSERT_TRUE(standalone_.Start()) << standalone_.log_path();
    }

    MasterProcess master_{{"--default_kv_lease_ttl=200"}};
    StandaloneClient standalone_{master_, {"--threads=4"}};
};

// ---- shared memory ----------------------------------------------------------

TEST(DummyMemoryTest, PoolsAreSeparateAndSlicesComeBack) {
    EXPECT_EQ(DummyMemory::Create(0, 0).error(), ErrorCode::INVALID_PARAMS);
    auto created = DummyMemory::Create(1 * kMiB, 2 * kMiB);
    ASSERT_TRUE(created.has_value());
    std::shared_ptr<DummyMemory> memory = *created;
    EXPECT_EQ(memory->size(), 3 * kMiB);
    EXPECT_GE(memory->file_info().fd, 0);
    EXPECT_EQ(memory->file_info().size, 3 * kMiB);

    auto pool = memory->Allocate(DummyMemory::Pool::kMemPool, 1 * kMiB);
    ASSERT_TRUE(pool.has_value());
    EXPECT_EQ((*pool)->offset(), 0u);
    EXPECT_EQ(memory->Allocate(DummyMemory::Pool::kMemPool, 64).error(),
              ErrorCode::BUFFER_OVERFLOW);
    auto buffer = memory->Allocate(DummyMemory::Pool::kLocalBuffer, 2 * kMiB);
    ASSERT_TRUE(buffer.has_value());
    EXPECT_EQ((*buffer)->offset(), 1 * kMiB);
    EXPECT_EQ(memory->Allocate(DummyMemory::Pool::kLocalBuffer, 1).error(),
              ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(memory->Allocate(DummyMemory::Pool::kLocalBuffer, 0).error(),
              ErrorCode::INVALID_PARAMS);

    EXPECT_TRUE(memory->Contains((*buffer)->data(), 2 * kMiB));
    EXPECT_FALSE(memory->Contains((*buffer)->data(), 2 * kMiB + 1));
    EXPECT_FALSE(memory->Contains(memory->base() - 1, 1));
    int outside = 0;
    EXPECT_FALSE(memory->Contains(&outside, sizeof(outside)));

    // A slice keeps the mapping alive after its owner is dropped.
    std::memset((*buffer)->mutable_data(), 0x5a, 2 * kMiB);
    std::shared_ptr<DummyMemorySlice> kept = std::move(*buffer);
    memory.reset();
    EXPECT_EQ(kept->data()[2 * kMiB - 1], 0x5a);
    kept->Truncate(10);
    EXPECT_EQ(kept->size(), 10u);
    kept->Truncate(20);  // never grows
    EXPECT_EQ(kept->size(), 10u);

    auto again = DummyMemory::Create(0, 64 * kKiB);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ((*again)->Allocate(DummyMemory::Pool::kMemPool, 1).error(),
              ErrorCode::BUFFER_OVERFLOW);
    {
        auto slice = (*again)->Allocate(DummyMemory::Pool::kLocalBuffer, 4000);
        ASSERT_TRUE(slice.has_value());
        EXPECT_GE((*again)->used_bytes(DummyMemory::Pool::kLocalBuffer), 4000u);
        // Truncating gives the tail back at once.
        (*slice)->Truncate(100);
        EXPECT_EQ((*again)->used_bytes(DummyMemory::Pool::kLocalBuffer), 128u);
        auto rest = (*again)->Allocate(DummyMemory::Pool::kLocalBuffer, 64 * kKiB - 128);
        EXPECT_TRUE(rest.has_value());
    }
    EXPECT_EQ((*again)->used_bytes(DummyMemory::Pool::kLocalBuffer), 0u);
}

// ---- data paths -------------------------------------------------------------

TEST_F(DummyClientTest, PutGetAndQueriesRoundTrip) {
    auto dummy = ConnectDummy(standalone_.address());
    ASSERT_NE(dummy, nullptr);
    const std::string hostname = dummy->GetHostname();
    EXPECT_TRUE(hostname.starts_with("127.0.0.1:")) << hostname;

    // Values of several sizes, one of them put in parts.
    const std::vector<size_t> sizes = {1, 4096, 3 * kMiB + 17};
    for (size_t i = 0; i < sizes.size(); ++i) {
        const std::string key = "value_" + std::to_string(i);
        ASSERT_TRUE(PutValue(*dummy, key, 100 + i, sizes[i]).has_value()) << key;
        EXPECT_TRUE(ReadsBack(*dummy, key, 100 + i, sizes[i])) << key;
        EXPECT_EQ(dummy->GetSize(key).value_or(0), sizes[i]);
    }
    const std::vector<uint8_t> whole = MakeValue(7, 3000);
    const ConstBytes parts[] = {
        {whole.data(), 1000}, {whole.data() + 1000, 0}, {whole.data() + 1000, 2000}};
    ASSERT_TRUE(dummy->Put("parts", parts, {}).has_value());
    EXPECT_TRUE(ReadsBack(*dummy, "parts", 7, 3000));
    // Write-once: a second put keeps the stored value.
    EXPECT_TRUE(PutValue(*dummy, "parts", 8, 10).has_value());
    EXPECT_TRUE(ReadsBack(*dummy, "parts", 7, 3000));

    EXPECT_EQ(dummy->Get("missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(dummy->GetSize("missing").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(dummy->Get("").error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(PutValue(*dummy, "", 1, 10).error(), ErrorCode::INVALID_KEY);
    EXPECT_EQ(dummy->Put("empty", {}, {}).error(), ErrorCode::INVALID_PARAMS);
    ReplicateConfig no_replicas;
    no_replicas.replica_num = 0;
    EXPECT_EQ(PutValue(*dummy, "k", 1, 10, no_replicas).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->IsExist("value_0").value_or(false), true);
    EXPECT_EQ(dummy->IsExist("missing").value_or(true), false);

    auto exists = dummy->BatchIsExist({"value_1", "missing", ""});
    ASSERT_EQ(exists.size(), 3u);
    EXPECT_TRUE(exists[0].value_or(false));
    EXPECT_FALSE(exists[1].value_or(true));
    EXPECT_EQ(exists[2].error(), ErrorCode::INVALID_KEY);

    // Batches: one value per key, missing keys answered per key.
    auto [keys, values, batch] = MakeValueBatch("batch_", 8, 200);
    for (const Status& status : dummy->BatchPut(keys, batch, {})) EXPECT_TRUE(status.has_value());
    keys.push_back("missing");
    auto got = dummy->BatchGet(keys);
    ASSERT_EQ(got.size(), keys.size());
    for (int i = 0; i < 8; ++i) {
        ASSERT_TRUE(got[i].has_value()) << keys[i];
        EXPECT_EQ((*got[i])->size(), values[i].size());
        EXPECT_TRUE(ValueMatches(200 + i, (*got[i])->data(), (*got[i])->size()));
    }
    EXPECT_EQ(got[8].error(), ErrorCode::OBJECT_NOT_FOUND);

    // Where the objects live: the standalone client's segment.
    auto replicas = dummy->GetReplicaDesc("batch_0");
    ASSERT_TRUE(replicas.has_value());
    ASSERT_EQ(replicas->size(), 1u);
    EXPECT_EQ(replicas->front().memory().transport_endpoint, hostname);
    auto described = dummy->BatchGetReplicaDesc({"batch_1", "missing", "batch_2"});
    EXPECT_EQ(described.size(), 2u);
    EXPECT_EQ(described.count("missing"), 0u);
    EXPECT_EQ(dummy->GetReplicaDesc("missing").error(), ErrorCode::OBJECT_NOT_FOUND);

    // Removes, once the leases of the reads above ran out.
    EXPECT_TRUE(WaitFor([&] { return dummy->Remove("batch_0").has_value(); }));
    EXPECT_FALSE(dummy->IsExist("batch_0").value_or(true));
    EXPECT_EQ(dummy->Remove("batch_0").error(), ErrorCode::OBJECT_NOT_FOUND);
    int64_t by_regex = 0;
    EXPECT_TRUE(WaitFor([&] {
        auto removed = dummy->RemoveByRegex("^batch_[1-3]$");
        if (removed.has_value()) by_regex += *removed;
        return by_regex == 3;
    }));
    EXPECT_FALSE(dummy->IsExist("batch_2").value_or(true));
    int64_t all = 0;
    EXPECT_TRUE(WaitFor([&] {
        auto removed = dummy->RemoveAll();
        if (removed.has_value()) all += *removed;
        return dummy->BatchIsExist({"batch_4", "value_2", "parts"}) ==
               std::vector<Result<bool>>{false, false, false};
    }));
    EXPECT_GE(all, 3);
    EXPECT_TRUE(dummy->Close().has_value());
    EXPECT_EQ(dummy->IsExist("x").error(), ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    EXPECT_TRUE(dummy->Close().has_value());
}

TEST_F(DummyClientTest, ZeroCopyThroughSharedMemory) {
    auto dummy = ConnectDummy(standalone_.address(), 8 * kMiB, 3 * kMiB);
    ASSERT_NE(dummy, nullptr);
    const DummyMemory* memory = dummy->memory();
    ASSERT_NE(memory, nullptr);

    auto source = dummy->AllocFromMemPool(2 * kMiB);
    ASSERT_TRUE(source.has_value());
    EXPECT_TRUE(memory->Contains(*source, 2 * kMiB));
    FillValue(11, static_cast<uint8_t*>(*source), 2 * kMiB);
    ASSERT_TRUE(dummy->PutFrom("zc", *source, 2 * kMiB, {}).has_value());
    // No staging was needed: the standalone client read the pool directly.
    EXPECT_EQ(memory->used_bytes(DummyMemory::Pool::kLocalBuffer), 0u);

    auto target = dummy->AllocFromMemPool(3 * kMiB);
    ASSERT_TRUE(target.has_value());
    auto read = dummy->GetInto("zc", *target, 3 * kMiB);
    ASSERT_TRUE(read.has_value()) << ErrorCodeName(read.error());
    EXPECT_EQ(*read, 2 * kMiB);
    EXPECT_TRUE(ValueMatches(11, static_cast<uint8_t*>(*target), 2 * kMiB));
    EXPECT_EQ(dummy->GetInto("zc", *target, kMiB).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->GetInto("zc", nullptr, kMiB).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->GetInto("missing", *target, kMiB).error(), ErrorCode::OBJECT_NOT_FOUND);

    {
        // get_buffer: the bytes land in the dummy's own mapping, no copy.
        auto buffer = dummy->Get("zc");
        ASSERT_TRUE(buffer.has_value());
        EXPECT_TRUE(memory->Contains((*buffer)->data(), (*buffer)->size()));
        EXPECT_TRUE(ValueMatches(11, (*buffer)->data(), 2 * kMiB));
        EXPECT_GE(memory->used_bytes(DummyMemory::Pool::kLocalBuffer), 2 * kMiB);
        // The local buffer has room for one such object only.
        EXPECT_EQ(dummy->Get("zc").error(), ErrorCode::BUFFER_OVERFLOW);
    }
    EXPECT_EQ(memory->used_bytes(DummyMemory::Pool::kLocalBuffer), 0u);
    EXPECT_TRUE(ReadsBack(*dummy, "zc", 11, 2 * kMiB));
    {
        // A small object read speculatively keeps no more than its size.
        ASSERT_TRUE(PutValue(*dummy, "small", 12, 4000).has_value());
        auto buffer = dummy->Get("small");
        ASSERT_TRUE(buffer.has_value());
        EXPECT_TRUE(ValueMatches(12, (*buffer)->data(), 4000));
        EXPECT_EQ((*buffer)->size(), 4000u);
        EXPECT_LT(memory->used_bytes(DummyMemory::Pool::kLocalBuffer), 8 * kKiB);
    }

    // Batches of pool memory.
    auto pieces = dummy->AllocFromMemPool(4 * 64 * kKiB);
    ASSERT_TRUE(pieces.has_value());
    auto* base = static_cast<uint8_t*>(*pieces);
    std::vector<std::string> keys = {"zc_0", "zc_1", "zc_2", "zc_3"};
    std::vector<const void*> sources;
    std::vector<void*> targets;
    std::vector<size_t> lengths(4, 64 * kKiB);
    for (int i = 0; i < 4; ++i) {
        FillValue(300 + i, base + i * 64 * kKiB, 64 * kKiB);
        sources.push_back(base + i * 64 * kKiB);
        targets.push_back(static_cast<uint8_t*>(*target) + i * 64 * kKiB);
    }
    for (const Status& status : dummy->BatchPutFrom(keys, sources, lengths, {})) {
        EXPECT_TRUE(status.has_value());
    }
    auto batch = dummy->BatchGetInto(keys, targets, lengths);
    ASSERT_EQ(batch.size(), 4u);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(batch[i].value_or(0), 64 * kKiB);
        EXPECT_TRUE(ValueMatches(300 + i, static_cast<uint8_t*>(targets[i]), 64 * kKiB));
    }

    // Memory neither shared nor registered is refused, as by the real client.
    std::vector<uint8_t> heap(4096);
    EXPECT_EQ(dummy->PutFrom("heap", heap.data(), heap.size(), {}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->GetInto("zc_0", heap.data(), heap.size()).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->PutFrom("zero", *source, 0, {}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->AllocFromMemPool(0).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->AllocFromMemPool(64 * kMiB).error(), ErrorCode::BUFFER_OVERFLOW);
}

TEST_F(DummyClientTest, RegisteredMemoryOutsideIsStagedThroughTheLocalBuffer) {
    auto dummy = ConnectDummy(standalone_.address(), 4 * kMiB, 4 * kMiB);
    ASSERT_NE(dummy, nullptr);
    std::vector<uint8_t> source = MakeValue(21, 1 * kMiB);
    std::vector<uint8_t> target(2 * kMiB);
    ASSERT_TRUE(dummy->RegisterBuffer(source.data(), source.size()).has_value());
    ASSERT_TRUE(dummy->RegisterBuffer(target.data(), target.size()).has_value());
    EXPECT_EQ(dummy->RegisterBuffer(source.data() + 10, 10).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->RegisterBuffer(nullptr, 10).error(), ErrorCode::INVALID_PARAMS);

    ASSERT_TRUE(dummy->PutFrom("staged", source.data(), source.size(), {}).has_value());
    auto read = dummy->GetInto("staged", target.data(), target.size());
    ASSERT_TRUE(read.has_value());
    EXPECT_EQ(*read, 1 * kMiB);
    EXPECT_TRUE(ValueMatches(21, target.data(), 1 * kMiB));
    // Inside a registered range is fine too.
    std::fill(target.begin(), target.end(), 0);
    ASSERT_TRUE(dummy->GetInto("staged", target.data() + 1, kMiB).has_value());
    EXPECT_TRUE(ValueMatches(21, target.data() + 1, 1 * kMiB));
    // The staging went back.
    EXPECT_EQ(dummy->memory()->used_bytes(DummyMemory::Pool::kLocalBuffer), 0u);

    // Multi-buffer values mixing shared and registered pieces.
    auto pool = dummy->AllocFromMemPool(96 * kKiB);
    ASSERT_TRUE(pool.has_value());
    auto* shared = static_cast<uint8_t*>(*pool);
    const std::vector<uint8_t> whole = MakeValue(22, 160 * kKiB);
    std::memcpy(shared, whole.data(), 96 * kKiB);
    std::memcpy(source.data(), whole.data() + 96 * kKiB, 64 * kKiB);
    auto put = dummy->BatchPutFromMultiBuffers({"multi"}, {{shared, source.data()}},
                                               {{96 * kKiB, 64 * kKiB}}, {});
    ASSERT_EQ(put.size(), 1u);
    ASSERT_TRUE(put[0].has_value()) << ErrorCodeName(put[0].error());
    EXPECT_TRUE(ReadsBack(*dummy, "multi", 22, 160 * kKiB));
    std::memset(shared, 0, 96 * kKiB);
    std::fill(target.begin(), target.end(), 0);
    auto scattered = dummy->BatchGetIntoMultiBuffers(
        {"multi", "missing"}, {{target.data(), shared}, {target.data() + kMiB}},
        {{100 * kKiB, 96 * kKiB}, {kMiB}});
    ASSERT_EQ(scattered.size(), 2u);
    ASSERT_TRUE(scattered[0].has_value()) << ErrorCodeName(scattered[0].error());
    EXPECT_EQ(*scattered[0], 160 * kKiB);
    EXPECT_EQ(std::memcmp(target.data(), whole.data(), 100 * kKiB), 0);
    EXPECT_EQ(std::memcmp(shared, whole.data() + 100 * kKiB, 60 * kKiB), 0);
    EXPECT_EQ(scattered[1].error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ(dummy->memory()->used_bytes(DummyMemory::Pool::kLocalBuffer), 0u);

    // Unregistered again: refused.
    EXPECT_TRUE(dummy->UnregisterBuffer(source.data()).has_value());
    EXPECT_EQ(dummy->UnregisterBuffer(source.data()).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(dummy->PutFrom("again", source.data(), 100, {}).error(), ErrorCode::INVALID_PARAMS);
}

TEST_F(DummyClientTest, StagingOnlyNeedsRoomForTheObject) {
    // A 1 MiB local buffer and an 8 MiB registered destination: only the
    // object's bytes are staged.
    auto dummy = ConnectDummy(standalone_.address(), 4 * kMiB, 1 * kMiB);
    ASSERT_NE(dummy, nullptr);
    std::vector<uint8_t> destination(8 * kMiB);
    ASSERT_TRUE(dummy->RegisterBuffer(destination.data(), destination.size()).has_value());
    ASSERT_TRUE(PutValue(*dummy, "small", 31, 512 * kKiB).has_value());
    auto read = dummy->GetInto("small", destination.data(), destination.size());
    ASSERT_TRUE(read.has_value()) << ErrorCodeName(read.error());
    EXPECT_EQ(*read, 512 * kKiB);
    EXPECT_TRUE(ValueMatches(31, destination.data(), 512 * kKiB));
    auto batch = dummy->BatchGetInto({"small", "missing"}, {destination.data(), destination.data()},
                                     {destination.size(), destination.size()});
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[0].value_or(0), 512 * kKiB);
    EXPECT_EQ(batch[1].error(), ErrorCode::OBJECT_NOT_FOUND);

    // Larger than the whole local buffer: put zero copy from the pool, but
    // neither get nor a staged get_into can hold it.
    auto pool = dummy->AllocFromMemPool(2 * kMiB);
    ASSERT_TRUE(pool.has_value());
    FillValue(32, static_cast<uint8_t*>(*pool), 2 * kMiB);
    ASSERT_TRUE(dummy->PutFrom("large", *pool, 2 * kMiB, {}).has_value());
    EXPECT_EQ(dummy->Get("large").error(), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(dummy->GetInto("large", destination.data(), destination.size()).error(),
              ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ(PutValue(*dummy, "too_large", 33, 2 * kMiB).error(), ErrorCode::BUFFER_OVERFLOW);
    // Into the pool it works.
    std::memset(*pool, 0, 2 * kMiB);
    EXPECT_EQ(dummy->GetInto("large", *pool, 2 * kMiB).value_or(0), 2 * kMiB);
    EXPECT_TRUE(ValueMatches(32, static_cast<uint8_t*>(*pool), 2 * kMiB));
}

TEST_F(DummyClientTest, ManyThreadsShareOneDummy) {
    auto dummy = ConnectDummy(standalone_.address(), 4 * kMiB, 16 * kMiB);
    ASSERT_NE(dummy, nullptr);
    const int failures = CountFailuresOnThreads(8, 20, [&](int t, int i) {
        const std::string key = "thread_" + std::to_string(t) + "_" + std::to_string(i);
        const uint64_t seed = 1000 * t + i;
        const size_t size = 1000 + 977 * i;
        return int{!PutValue(*dummy, key, seed, size).has_value()} +
               int{!ReadsBack(*dummy, key, seed, size)} + int{!dummy->IsExist(key).value_or(false)};
    });
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(dummy->memory()->used_bytes(DummyMemory::Pool::kLocalBuffer), 0u);
}

TEST(DummyThreadsTest, OneRequestSlotServesEveryDummyInTurn) {
    // --threads=1 (the default): requests of all dummies run one at a time,
    // and all of them are served.
    MasterProcess master;
    ASSERT_TRUE(master.Start()) << master.log_path();
    StandaloneClient standalone(master);
    ASSERT_TRUE(standalone.Start()) << standalone.log_path();
    auto first = ConnectDummy(standalone.address(), kMiB, 8 * kMiB);
    auto second = ConnectDummy(standalone.address(), kMiB, 8 * kMiB);
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    const int failures = CountFailuresOnThreads(6, 10, [&](int t, int i) {
        Client& dummy = t % 2 == 0 ? *first : *second;
        Client& other = t % 2 == 0 ? *second : *first;
        const std::string key = "slot_" + std::to_string(t) + "_" + std::to_string(i);
        const uint64_t seed = 100 * t + i;
        return int{!PutValue(dummy, key, seed, 50000).has_value()} +
               int{!ReadsBack(other, key, seed, 50000)};
    });
    EXPECT_EQ(failures, 0);
}

// ---- several processes ------------------------------------------------------

TEST_F(DummyClientTest, TwoDummyProcessesReadEachOthersObjects) {
    DummyProcess first, second;
    ASSERT_TRUE(first.Start(standalone_.address(), 8 * kMiB, 8 * kMiB));
    ASSERT_TRUE(second.Start(standalone_.address(), 8 * kMiB, 8 * kMiB));
    // Both are served by the same standalone client.
    EXPECT_EQ(first.hostname(), second.hostname());

    EXPECT_EQ(first.Command("put from_first 3000000 41"), "OK");
    EXPECT_EQ(second.Command("get from_first 41"), "OK 3000000");
    EXPECT_EQ(second.Command("putpool from_second 2000000 42"), "OK");
    EXPECT_EQ(first.Command("get from_second 42"), "OK 2000000");
    EXPECT_EQ(first.Command("getpool from_second 42 4000000"), "OK 2000000");
    EXPECT_EQ(first.Command("get from_second 43"), "MISMATCH");  // the check can fail

    // A dummy in this process and a real client see them too.
    auto dummy = ConnectDummy(standalone_.address());
    ASSERT_NE(dummy, nullptr);
    EXPECT_TRUE(ReadsBack(*dummy, "from_first", 41, 3000000));
    EXPECT_TRUE(ReadsBack(*dummy, "from_second", 42, 2000000));
    auto real = Client::Create(MakeClientConfig(master_, 0, 16 * kMiB));
    ASSERT_TRUE(real.has_value());
    EXPECT_TRUE(ReadsBack(**real, "from_first", 41, 3000000));
    ASSERT_TRUE(PutValue(**real, "from_real", 44, 5000).has_value());
    EXPECT_EQ(first.Command("get from_real 44"), "OK 5000");

    // Objects outlive the dummy that put them.
    first.Kill();
    EXPECT_EQ(second.Command("get from_first 41"), "OK 3000000");
    EXPECT_EQ(second.Command("exist from_first"), "OK 1");
}

TEST(DummyServiceTest, SessionsEndWithTheirDummies) {
    MasterProcess master;
    ASSERT_TRUE(master.Start()) << master.log_path();
    auto real = Client::Create(MakeClientConfig(master));
    ASSERT_TRUE(real.has_value());
    RealClientService::Options options;
    options.port = 0;
    options.threads = 2;
    RealClientService service(**real, options);
    ASSERT_TRUE(service.Start().has_value());
    const std::string address = "127.0.0.1:" + std::to_string(service.port());

    DummyProcess process;
    ASSERT_TRUE(process.Start(address, kMiB, kMiB));
    EXPECT_EQ(process.hostname(), (*real)->GetHostname());
    EXPECT_EQ(process.Command("put killed_dummy 100000 51"), "OK");
    EXPECT_EQ(service.session_count(), 1u);
    {
        auto dummy = ConnectDummy(address);
        ASSERT_NE(dummy, nullptr);
        EXPECT_TRUE(ReadsBack(*dummy, "killed_dummy", 51, 100000));
        EXPECT_EQ(service.session_count(), 2u);
        (void)dummy->Close();
        EXPECT_TRUE(WaitFor([&] { return service.session_count() == 1; }));
    }
    // A dummy killed with SIGKILL: its connections close, its memory is let go.
    process.Kill();
    EXPECT_TRUE(WaitFor([&] { return service.session_count() == 0; }));
    EXPECT_TRUE(ReadsBack(**real, "killed_dummy", 51, 100000));
    service.Stop();
}

// ---- failures ---------------------------------------------------------------

TEST(DummyRestartTest, KilledStandaloneGivesRpcFailThenWorksOnceBack) {
    // A short client_ttl: the master soon forgets the killed process's
    // segment, which would otherwise still be offered to puts.
    MasterProcess master({"--client_ttl=3"});
    ASSERT_TRUE(master.Start()) << master.log_path();
    StandaloneClient standalone(master);
    ASSERT_TRUE(standalone.Start()) << standalone.log_path();
    auto dummy = ConnectDummy(standalone.address());
    ASSERT_NE(dummy, nullptr);
    DummyProcess process;
    ASSERT_TRUE(process.Start(standalone.address(), kMiB, kMiB));
    ASSERT_TRUE(PutValue(*dummy, "before", 61, 10000).has_value());
    auto pool = dummy->AllocFromMemPool(64 * kKiB);
    ASSERT_TRUE(pool.has_value());

    standalone.Kill();
    // Every kind of call fails at once with RPC_FAIL (a hang would time the
    // test out; the bound below is far above the real figure).
    const auto started = Clock::now();
    EXPECT_EQ(PutValue(*dummy, "while_down", 62, 1000).error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->Get("before").error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->IsExist("before").error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->GetSize("before").error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->PutFrom("while_down", *pool, 1000, {}).error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->GetInto("before", *pool, 64 * kKiB).error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->Remove("before").error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(dummy->RemoveAll().error(), ErrorCode::RPC_FAIL);
    auto batch = dummy->BatchGet({"before", "other"});
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[1].error(), ErrorCode::RPC_FAIL);
    EXPECT_EQ(process.Command("put while_down 1000 63"), "ERR -900");
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(30));
    // Nothing was kept aside: the requests never reached anybody.
    EXPECT_EQ(dummy->quarantined_bytes(), 0u);

    const std::string old_hostname = dummy->GetHostname();
    ASSERT_TRUE(standalone.Start()) << standalone.log_path();
    // Back: the next calls attach again by themselves.
    EXPECT_TRUE(WaitFor([&] { return PutValue(*dummy, "after", 64, 20000).has_value(); },
                        std::chrono::seconds(60)));
    EXPECT_TRUE(ReadsBack(*dummy, "after", 64, 20000));
    // The old segment's objects go once the master gave up on that process.
    EXPECT_TRUE(WaitFor([&] { return !dummy->IsExist("before").value_or(true); },
                        std::chrono::seconds(60)));
    // The dummy names the segment of the process serving it now.
    EXPECT_EQ(dummy->GetHostname(), standalone.segment_name());
    EXPECT_FALSE(old_hostname.empty());
    auto replicas = dummy->GetReplicaDesc("after");
    ASSERT_TRUE(replicas.has_value());
    EXPECT_EQ(replicas->front().memory().transport_endpoint, dummy->GetHostname());
    FillValue(65, static_cast<uint8_t*>(*pool), 1000);
    EXPECT_TRUE(dummy->PutFrom("after_pool", *pool, 1000, {}).has_value());
    EXPECT_EQ(process.Command("get after_pool 65"), "OK 1000");
    EXPECT_EQ(process.Command("put after_process 1000 66"), "OK");
    EXPECT_TRUE(ReadsBack(*dummy, "after_process", 66, 1000));
}

TEST_F(DummyClientTest, HungStandaloneHitsTheDeadlineAndItsMemoryIsKeptAside) {
    auto dummy = ConnectDummy(standalone_.address(), kMiB, 4 * kMiB, /*timeout_ms=*/1500);
    ASSERT_NE(dummy, nullptr);
    ASSERT_TRUE(PutValue(*dummy, "before", 71, 1000).has_value());

    standalone_.Pause();
    const auto started = Clock::now();
    EXPECT_EQ(PutValue(*dummy, "while_hung", 72, 100 * kKiB).error(), ErrorCode::RPC_FAIL);
    const auto waited = Clock::now() - started;
    EXPECT_GE(waited, std::chrono::milliseconds(1400));
    EXPECT_LT(waited, std::chrono::seconds(30));
    // The request was sent: its staging stays reserved while that process
    // might still read it.
    EXPECT_GE(dummy->quarantined_bytes(), 100 * kKiB);
    // New connections are not answered either.
    EXPECT_EQ(dummy->IsExist("before").error(), ErrorCode::RPC_FAIL);

    // That process dies and another takes its place: the memory is free again.
    standalone_.Kill();
    ASSERT_TRUE(standalone_.Start()) << standalone_.log_path();
    EXPECT_TRUE(WaitFor([&] { return PutValue(*dummy, "after", 73, 1000).has_value(); },
                        std::chrono::seconds(60)));
    EXPECT_EQ(dummy->quarantined_bytes(), 0u);
    EXPECT_TRUE(ReadsBack(*dummy, "after", 73, 1000));
}

TEST_F(DummyClientTest, SetupRefusesWhatCannotWork) {
    DummyClientConfig config;
    config.mem_pool_size = kMiB;
    config.local_buffer_size = kMiB;
    config.server_address = "127.0.0.1:" + std::to_string(PickFreePort());
    EXPECT_EQ(DummyClient::Connect(config).error(), ErrorCode::RPC_FAIL);
    config.server_address = "127.0.0.1";
    EXPECT_EQ(DummyClient::Connect(config).error(), ErrorCode::INVALID_PARAMS);
    config.server_address = ":50052";
    EXPECT_EQ(DummyClient::Connect(config).error(), ErrorCode::INVALID_PARAMS);
    config.server_address = standalone_.address();
    config.mem_pool_size = 1ull << 60;
    EXPECT_EQ(DummyClient::Connect(config).error(), ErrorCode::INVALID_PARAMS);
    // The master's port speaks another protocol.
    config.mem_pool_size = kMiB;
    config.server_address = master_.master_address();
    EXPECT_EQ(Client::ConnectDummy(config).error(), ErrorCode::RPC_FAIL);

    // No memory at all: queries work, data calls have no room.
    config.server_address = standalone_.address();
    config.mem_pool_size = 0;
    config.local_buffer_size = 0;
    auto bare = Client::ConnectDummy(config);
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(PutValue(**bare, "k", 1, 10).error(), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_EQ((*bare)->Get("k").error(), ErrorCode::OBJECT_NOT_FOUND);
    EXPECT_EQ((*bare)->AllocFromMemPool(10).error(), ErrorCode::BUFFER_OVERFLOW);
    EXPECT_FALSE((*bare)->IsExist("k").value_or(true));
}

// The service checks what dummies send: requests before the attach, memory
// that is not the dummy's, ranges outside it.
TEST_F(DummyClientTest, ServiceRefusesBadRequests) {
    const auto deadline = [] { return Clock::now() + std::chrono::seconds(30); };
    auto addresses = ResolveFramedRpcHost("127.0.0.1");
    ASSERT_TRUE(addresses.has_value());
    const uint16_t port = static_cast<uint16_t>(std::stoi(standalone_.address().substr(10)));

    auto connection = FramedRpcConnection::Open(*addresses, port, deadline(), kDummyProtocol);
    ASSERT_TRUE(connection.has_value());
    dummy_rpc::Request request;
    dummy_rpc::Response response;
    request.set_request_id(1);
    request.mutable_is_exist()->add_keys("k");
    ASSERT_TRUE((*connection)->Call(request, &response, deadline()).has_value());
    EXPECT_EQ(response.error_code(), ToInt(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS));

    // Memory of this process that does not exist.
    request.Clear();
    request.set_request_id(2);
    dummy_rpc::AttachRequest* attach = request.mutable_attach();
    ToProto(UUID::Generate(), attach->mutable_session_id());
    attach->set_pid(getpid());
    attach->set_shm_fd(9999);
    attach->set_shm_inode(12345);
    attach->set_shm_size(kMiB);
    ASSERT_TRUE((*connection)->Call(request, &response, deadline()).has_value());
    EXPECT_EQ(response.error_code(), ToInt(ErrorCode::TRANSFER_FAIL));

    // Real memory, then ranges outside it.
    auto memory = DummyMemory::Create(kMiB, kMiB);
    ASSERT_TRUE(memory.has_value());
    attach->set_shm_fd((*memory)->file_info().fd);
    attach->set_shm_inode((*memory)->file_info().inode + 1);
    attach->set_shm_size((*memory)->file_info().size);
    ASSERT_TRUE((*connection)->Call(request, &response, deadline()).has_value());
    EXPECT_EQ(response.error_code(), ToInt(ErrorCode::TRANSFER_FAIL));  // wrong inode
    attach->set_shm_inode((*memory)->file_info().inode);
    ASSERT_TRUE((*connection)->Call(request, &response, deadline()).has_value());
    ASSERT_EQ(response.error_code(), 0);
    EXPECT_EQ(response.attach().segment_name(), ConnectDummy(standalone_.address())->GetHostname());

    request.Clear();
    request.set_request_id(3);
    dummy_rpc::PutRequest* put = request.mutable_put();
    put->mutable_config()->set_replica_num(1);
    const std::vector<std::pair<uint64_t, uint64_t>> ranges = {
        {0, 2 * kMiB + 1}, {2 * kMiB, 1}, {UINT64_MAX, 2}, {10, 0}, {0, 100}};
    for (size_t i = 0; i < ranges.size(); ++i) {
        dummy_rpc::DataItem* item = put->add_items();
        item->set_key("bad_range_" + std::to_string(i));
        item->add_ranges()->set_offset(ranges[i].first);
        item->mutable_ranges(0)->set_length(ranges[i].second);
    }
    put->add_items()->set_key("no_ranges");
    ASSERT_TRUE((*connection)->Call(request, &response, deadline()).has_value());
    ASSERT_EQ(response.statuses().error_codes_size(), 6);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(response.statuses().error_codes(i), ToInt(ErrorCode::INVALID_PARAMS)) << i;
    }
    EXPECT_EQ(response.statuses().error_codes(4), 0);  // the one good range
    EXPECT_EQ(response.statuses().error_codes(5), ToInt(ErrorCode::INVALID_PARAMS));

    // A master hot-path client, and garbage, on connections of their own:
    // refused at the handshake, and the service carries on.
    auto master_protocol = FramedRpcConnection::Open(*addresses, port, deadline());
    EXPECT_FALSE(master_protocol.has_value());
    {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in target{};
        target.sin_family = AF_INET;
        target.sin_port = htons(port);
        target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)), 0);
        const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(5000, 'x');
        EXPECT_GT(send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL), 0);
        char byte = 0;
        timeval wait{30, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
        EXPECT_LE(recv(fd, &byte, 1, 0), 0);  // closed by the service
        close(fd);
    }
    request.Clear();
    request.set_request_id(4);
    request.mutable_is_exist()->add_keys("bad_range_4");
    ASSERT_TRUE((*connection)->Call(request, &response, deadline()).has_value());
    EXPECT_TRUE(response.exists().exists(0));
}

// ---- the binary -------------------------------------------------------------

// Runs the binary to its end; its exit status and output.
std::pair<int, std::string> RunToExit(const std::vector<std::string>& flags) {
    const std::string log = "/tmp/mooncake_dummy_test_run_" + std::to_string(getpid()) + ".log";
    unlink(log.c_str());
    std::vector<std::string> argv = {MOONCAKE_CLIENT_BIN};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const int status = Reap(Spawn(argv, -1, -1, log));
    std::string output = ReadFile(log);
    unlink(log.c_str());
    return {status, output};
}

std::string LastLine(const std::string& text) {
    std::string trimmed = text;
    while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
    const size_t newline = trimmed.rfind('\n');
    return newline == std::string::npos ? trimmed : trimmed.substr(newline + 1);
}

TEST(StandaloneBinaryTest, BadFlagsFailWithOneLine) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--global_segment_size=50%"}, "global_segment_size"},
        {{"--local_buffer_size=lots"}, "local_buffer_size"},
        {{"--threads=0"}, "threads"},
        {{"--port=70000"}, "port"},
        {{"--protocol=udp"}, "protocol"},
        {{"--master_server_address=nohost"}, "master_server_address"},
        {{"stray"}, "unexpected argument"},
    };
    for (const auto& [flags, mentioned] : cases) {
        auto [status, output] = RunToExit(flags);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << flags[0];
        EXPECT_EQ(output.find('\n'), output.size() - 1) << flags[0] << ": " << output;
        EXPECT_TRUE(output.starts_with("mooncake_client: ")) << output;
        EXPECT_NE(output.find(mentioned), std::string::npos) << output;
    }
    // No master there: the last line says so.
    auto [status, output] =
        RunToExit({"--master_server_address=127.0.0.1:" + std::to_string(PickFreePort()),
                   "--global_segment_size=16MB", "--host=127.0.0.1"});
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    EXPECT_TRUE(LastLine(output).starts_with("mooncake_client: cannot start the client")) << output;
}

TEST(StandaloneBinaryTest, SigtermUnmountsTheSegmentAndExitsZero) {
    MasterProcess master;
    ASSERT_TRUE(master.Start()) << master.log_path();
    StandaloneClient standalone(master);
    ASSERT_TRUE(standalone.Start());
    auto dummy = ConnectDummy(standalone.address());
    ASSERT_NE(dummy, nullptr);
    ReplicateConfig on_standalone;
    on_standalone.preferred_segment = dummy->GetHostname();
    ASSERT_TRUE(PutValue(*dummy, "on_standalone", 81, 1000, on_standalone).has_value());
    auto real = Client::Create(MakeClientConfig(master, 0, 4 * kMiB));
    ASSERT_TRUE(real.has_value());
    EXPECT_TRUE(ReadsBack(**real, "on_standalone", 81, 1000));

    const int status = standalone.Stop();
    EXPECT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    const std::string log = ReadFile(standalone.log_path());
    EXPECT_NE(log.find("SIGTERM received"), std::string::npos) << log;
    EXPECT_NE(log.find("mooncake_client stopped"), std::string::npos) << log;
    // Its segment was unmounted: the object whose only replica lived there
    // is gone (at once, not after client_ttl).
    EXPECT_TRUE(WaitFor([&] { return !(*real)->IsExist("on_standalone").value_or(true); },
                        std::chrono::seconds(5)));
    EXPECT_EQ(dummy->IsExist("on_standalone").error(), ErrorCode::RPC_FAIL);
}

}  // namespace
}  // namespace mooncake
