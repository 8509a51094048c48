// The RDMA transport driven over an in-memory fabric (rdma_fake_fabric.h):
// everything except the NIC runs as in production, so the handshake,
// registration, chunking, flow control, completion accounting, cancellation,
// failure handling and shutdown are checked on machines without RDMA.
//
// The first part drives RdmaTransport objects directly (control messages go
// straight to the peer's handler); the second runs real TransferEngines, so
// the handshake crosses the engine's TCP control channel on loopback.
#include "transfer/rdma/rdma_transport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "mooncake/transfer_engine.h"
#include "rdma_fake_fabric.h"
#include "rdma_test_util.h"
#include "transfer/rdma/endpoint_info.h"
#include "transfer/rdma/handshake.h"
#include "transfer/transfer_engine_impl.h"
#include "transfer/transport_registry.h"
#include "transfer_test_util.h"

namespace mooncake::rdma {
namespace {

using mooncake::testing::FillPattern;
using mooncake::testing::FindPatternMismatch;
using testing::FakeFabric;
using testing::LogCapture;
using testing::MakeFakeDevice;
using testing::ScopedEnv;

constexpr auto kWait = std::chrono::seconds(30);

// Zeroed memory that outlives the transports using it.
class Buffer {
   public:
    explicit Buffer(size_t size) : size_(size), bytes_(std::make_unique<uint8_t[]>(size)) {}
    uint8_t* data() { return bytes_.get(); }
    uint64_t address() const { return reinterpret_cast<uint64_t>(bytes_.get()); }
    size_t size() const { return size_; }

   private:
    size_t size_;
    std::unique_ptr<uint8_t[]> bytes_;
};

// Counts callbacks per task, so that "exactly once" can be checked.
class Outcomes {
   public:
    explicit Outcomes(size_t count) : calls_(count, 0), codes_(count, ErrorCode::INTERNAL_ERROR) {}

    TransferCallback Callback(size_t index) {
        return [this, index](ErrorCode code) {
            std::lock_guard lock(mutex_);
            ++calls_[index];
            codes_[index] = code;
            ++total_;
            done_.notify_all();
        };
    }
    bool WaitAll(std::chrono::milliseconds timeout = kWait) {
        std::unique_lock lock(mutex_);
        return done_.wait_for(lock, timeout, [&] { return total_ >= calls_.size(); });
    }
    int calls(size_t index) const {
        std::lock_guard lock(mutex_);
        return calls_[index];
    }
    ErrorCode code(size_t index) const {
        std::lock_guard lock(mutex_);
        return codes_[index];
    }
    size_t total() const {
        std::lock_guard lock(mutex_);
        return total_;
    }

   private:
    mutable std::mutex mutex_;
    std::condition_variable done_;
    std::vector<int> calls_;
    std::vector<ErrorCode> codes_;
    size_t total_ = 0;
};

// ---------------------------------------------------------------------------
// Transport-level harness

class Node;

// Where the harness finds a node by segment name.
using Directory = std::map<std::string, Node*>;

// Stands in for the engine: control messages go to the peer's handler, as
// JSON text like on the wire.
class HarnessContext : public TransportContext {
   public:
    HarnessContext(std::string name, Directory* directory)
        : name_(std::move(name)), instance_(UUID::Generate()), directory_(directory) {}

    const std::string& segment_name() const override { return name_; }
    const UUID& instance_id() const override { return instance_; }
    const MemoryRegistry& memory() const override { return memory_; }
    Result<nlohmann::json> SendControlMessage(const SegmentDescriptor& peer,
                                              std::string_view transport,
                                              const nlohmann::json& message) override;
    Status RepublishDescriptor() override { return OkStatus(); }

   private:
    std::string name_;
    UUID instance_;
    MemoryRegistry memory_;
    Directory* directory_;
};

class Node {
   public:
    Node(const std::string& name, Directory* directory, FakeFabric& fabric,
         std::vector<DeviceInfo> devices, const RdmaTunables& tunables,
         const std::string& rdma_devices)
        : context_(name, directory), directory_(directory) {
        TransportOptions options;
        options.segment_name = name;
        options.rdma_devices = rdma_devices;
        auto transport =
            RdmaTransport::Create(options, fabric.MakeProvider(std::move(devices)), tunables);
        EXPECT_TRUE(transport.has_value());
        if (transport) {
            transport_ = std::move(*transport);
            EXPECT_TRUE(transport_->Start(&context_));
        }
        (*directory_)[name] = this;
    }
    ~Node() {
        directory_->erase(context_.segment_name());
        if (transport_) transport_->Stop();
    }

    RdmaTransport& transport() { return *transport_; }
    const UUID& instance() const { return context_.instance_id(); }

    Status Register(Buffer& buffer, bool remote) {
        RegisteredRegion region;
        region.address = buffer.address();
        region.length = buffer.size();
        region.remote_accessible = remote;
        nlohmann::json published = nlohmann::json::object();
        MC_RETURN_IF_ERROR(transport_->OnRegisterMemory(region, &published));
        if (remote) {
            SegmentRange range;
            range.address = region.address;
            range.length = region.length;
            range.transports["rdma"] = published;
            ranges_.push_back(range);
        } else {
            EXPECT_TRUE(published.empty()) << "local-only memory published " << published.dump();
        }
        return OkStatus();
    }
    void Unregister(Buffer& buffer) {
        RegisteredRegion region;
        region.address = buffer.address();
        region.length = buffer.size();
        transport_->OnUnregisterMemory(region);
        std::erase_if(ranges_, [&](const SegmentRange& r) { return r.address == region.address; });
    }

    // This node as a peer sees it.
    std::shared_ptr<const SegmentDescriptor> Descriptor() {
        auto descriptor = std::make_shared<SegmentDescriptor>();
        descriptor->name = context_.segment_name();
        descriptor->instance_id = context_.instance_id();
        descriptor->ranges = ranges_;
        std::sort(
            descriptor->ranges.begin(), descriptor->ranges.end(),
            [](const SegmentRange& a, const SegmentRange& b) { return a.address < b.address; });
        nlohmann::json endpoint;
        transport_->DescribeEndpoint(&endpoint);
        descriptor->transports["rdma"] = endpoint;
        return descriptor;
    }

   private:
    HarnessContext context_;
    Directory* directory_;
    std::unique_ptr<RdmaTransport> transport_;
    std::vector<SegmentRange> ranges_;
};

Result<nlohmann::json> HarnessContext::SendControlMessage(const SegmentDescriptor& peer,
                                                          std::string_view transport,
                                                          const nlohmann::json& message) {
    auto it = directory_->find(peer.name);
    if (it == directory_->end() || transport != "rdma") return Error(ErrorCode::TRANSFER_FAIL);
    return it->second->transport().HandleControlMessage(name_,
                                                        nlohmann::json::parse(message.dump()));
}

// The handshake `from`'s first device sends to `to`'s device `target_device`
// for queue pairs `queue_pairs`, built by hand so tests can tamper with it.
ConnectRequest MakeConnectRequest(Node& from, Node& to, std::string target_device,
                                  std::vector<QueuePairAddress> queue_pairs) {
    ConnectRequest request;
    request.requester_instance = from.instance();
    request.responder_instance = to.instance();
    request.device = from.transport().endpoints()[0];
    request.target_device = std::move(target_device);
    request.queue_pairs = std::move(queue_pairs);
    return request;
}

TransferTask MakeTask(TransferOpcode opcode, void* local, uint64_t remote, size_t length,
                      const std::shared_ptr<const SegmentDescriptor>& peer,
                      TransferCallback on_done, const std::atomic<bool>* cancelled = nullptr) {
    TransferTask task;
    task.opcode = opcode;
    task.local_address = local;
    task.remote_address = remote;
    task.length = length;
    task.peer = peer;
    task.range = peer->FindRange(remote, length);
    EXPECT_NE(task.range, nullptr);
    task.cancelled = cancelled;
    task.on_done = std::move(on_done);
    return task;
}

RdmaTunables SmallTunables() {
    RdmaTunables tunables;
    tunables.chunk_size = 4096;
    tunables.queue_pairs_per_connection = 2;
    tunables.max_outstanding_per_queue_pair = 4;
    tunables.completion_queue_size = 16;
    tunables.stop_grace = std::chrono::seconds(20);
    return tunables;
}

std::vector<DeviceInfo> TwoIbDevices(uint16_t first_lid) {
    return {MakeFakeDevice("mlx5_0", LinkLayer::kInfiniBand, first_lid),
            MakeFakeDevice("mlx5_1", LinkLayer::kInfiniBand, first_lid + 1)};
}

class RdmaTransportTest : public ::testing::Test {
   protected:
    std::unique_ptr<Node> MakeNode(const std::string& name, uint16_t first_lid,
                                   RdmaTunables tunables = SmallTunables()) {
        return std::make_unique<Node>(name, &directory_, fabric_, TwoIbDevices(first_lid), tunables,
                                      "mlx5_0,mlx5_1");
    }

    // What most tests start from: node a with a local-only buffer and node b
    // with a remotely accessible one, both of `size` bytes. Check
    // HasFailure() after it: a failed registration is reported here.
    struct TwoNodes {
        std::unique_ptr<Node> a, b;
        Buffer local, remote;
    };
    TwoNodes MakeTwoNodes(size_t size, RdmaTunables a_tunables = SmallTunables()) {
        TwoNodes nodes{MakeNode("a:1", 10, a_tunables), MakeNode("b:1", 20), Buffer(size),
                       Buffer(size)};
        EXPECT_TRUE(nodes.a->Register(nodes.local, false));
        EXPECT_TRUE(nodes.b->Register(nodes.remote, true));
        return nodes;
    }

    // Submits one task and waits for its outcome.
    ErrorCode RunOne(Node& from, TransferOpcode opcode, void* local, uint64_t remote, size_t length,
                     const std::shared_ptr<const SegmentDescriptor>& peer) {
        Outcomes outcomes(1);
        std::vector<TransferTask> tasks;
        tasks.push_back(MakeTask(opcode, local, remote, length, peer, outcomes.Callback(0)));
        from.transport().Submit(std::move(tasks));
        EXPECT_TRUE(outcomes.WaitAll());
        EXPECT_EQ(outcomes.calls(0), 1);
        return outcomes.code(0);
    }

    FakeFabric fabric_;
    Directory directory_;
};

TEST_F(RdmaTransportTest, MovesBytesBothWaysAcrossChunksAndDevices) {
    auto a = MakeNode("a:1", 10);
    auto b = MakeNode("b:1", 20);
    constexpr size_t kSize = 1 << 20;
    Buffer source(kSize), sink(kSize), remote(kSize);
    ASSERT_TRUE(a->Register(source, false));
    ASSERT_TRUE(a->Register(sink, false));
    ASSERT_TRUE(b->Register(remote, true));
    FillPattern(source.data(), kSize, 1);
    auto peer = b->Descriptor();

    EXPECT_EQ(RunOne(*a, TransferOpcode::WRITE, source.data(), remote.address(), kSize, peer),
              ErrorCode::OK);
    EXPECT_EQ(FindPatternMismatch(remote.data(), kSize, 1), std::nullopt);
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, sink.data(), remote.address(), kSize, peer),
              ErrorCode::OK);
    EXPECT_EQ(FindPatternMismatch(sink.data(), kSize, 1), std::nullopt);

    // An unaligned piece in the middle, into the middle of the sink.
    std::memset(sink.data(), 0, kSize);
    EXPECT_EQ(
        RunOne(*a, TransferOpcode::READ, sink.data() + 333, remote.address() + 5000, 100'000, peer),
        ErrorCode::OK);
    EXPECT_EQ(FindPatternMismatch(sink.data() + 333, 100'000, 1, 5000), std::nullopt);
    EXPECT_EQ(sink.data()[332], 0);
    EXPECT_EQ(sink.data()[333 + 100'000], 0);

    FakeFabric::Stats stats = fabric_.stats();
    // Cut into 4 KiB operations, spread over both of a's devices.
    EXPECT_EQ(stats.largest_request, 4096u);
    EXPECT_EQ(stats.bytes, 2 * kSize + 100'000);
    EXPECT_GT(stats.executed_by_device["mlx5_0"], 100u);
    EXPECT_GT(stats.executed_by_device["mlx5_1"], 100u);
    EXPECT_EQ(stats.queue_overflows, 0u);
    EXPECT_EQ(stats.completion_overflows, 0u);
    // One handshake per device pair, reused afterwards.
    EXPECT_EQ(a->transport().stats().connections_made, 2u);
    EXPECT_EQ(b->transport().stats().connections_accepted, 2u);
    EXPECT_EQ(b->transport().stats().passive_connections, 2u);
}

TEST_F(RdmaTransportTest, PublishesEndpointAndKeysAndDecidesReachability) {
    auto a = MakeNode("a:1", 10);
    auto b = MakeNode("b:1", 20);
    Buffer remote(8192), local_only(8192);
    ASSERT_TRUE(b->Register(remote, true));
    ASSERT_TRUE(b->Register(local_only, false));  // checks nothing is published
    auto peer = b->Descriptor();

    auto endpoint = DecodeEndpoint(peer->transports["rdma"]);
    ASSERT_TRUE(endpoint.has_value());
    ASSERT_EQ(endpoint->size(), 2u);
    EXPECT_EQ((*endpoint)[0].name, "mlx5_0");
    EXPECT_EQ((*endpoint)[0].lid, 20);
    EXPECT_EQ((*endpoint)[1].lid, 21);
    EXPECT_EQ((*endpoint)[0].mtu, 4096u);
    ASSERT_EQ(peer->ranges.size(), 1u);
    auto rkey0 = FindRemoteKey(peer->ranges[0].transports, "mlx5_0");
    auto rkey1 = FindRemoteKey(peer->ranges[0].transports, "mlx5_1");
    ASSERT_TRUE(rkey0 && rkey1);
    EXPECT_NE(*rkey0, *rkey1);

    EXPECT_TRUE(a->transport().CanReach(*peer, peer->ranges[0]));
    // A range without keys, a peer without (or with a broken) RDMA endpoint.
    SegmentRange keyless = peer->ranges[0];
    keyless.transports = nlohmann::json::object();
    EXPECT_FALSE(a->transport().CanReach(*peer, keyless));
    SegmentDescriptor tcp_only = *peer;
    tcp_only.name = "c:1";
    tcp_only.transports = nlohmann::json::object();
    EXPECT_FALSE(a->transport().CanReach(tcp_only, peer->ranges[0]));
    SegmentDescriptor broken = *peer;
    broken.name = "d:1";
    broken.transports["rdma"]["devices"][0]["mtu"] = 9000;
    EXPECT_FALSE(a->transport().CanReach(broken, peer->ranges[0]));
    // Only RoCE on the other side: no compatible device pair.
    Directory elsewhere;
    Node roce("e:1", &elsewhere, fabric_, {MakeFakeDevice("roce0", LinkLayer::kEthernet, 5)},
              SmallTunables(), "roce0");
    Buffer roce_memory(4096);
    ASSERT_TRUE(roce.Register(roce_memory, true));
    auto roce_peer = roce.Descriptor();
    EXPECT_FALSE(a->transport().CanReach(*roce_peer, roce_peer->ranges[0]));
    EXPECT_EQ(fabric_.stats().executed, 0u);
}

TEST_F(RdmaTransportTest, RoceDevicesConnectByGid) {
    const auto roce = [&](const std::string& name, uint16_t address) {
        return std::make_unique<Node>(
            name, &directory_, fabric_,
            std::vector<DeviceInfo>{MakeFakeDevice("rocep1s0", LinkLayer::kEthernet, address)},
            SmallTunables(), "rocep1s0");
    };
    auto a = roce("a:1", 1);
    auto b = roce("b:1", 2);
    Buffer local(65536), remote(65536);
    ASSERT_TRUE(a->Register(local, false));
    ASSERT_TRUE(b->Register(remote, true));
    FillPattern(local.data(), local.size(), 9);
    auto peer = b->Descriptor();
    // The IPv4-mapped RoCE v2 GID was chosen and published.
    EXPECT_EQ(peer->transports["rdma"]["devices"][0]["gid"],
              "0000:0000:0000:0000:0000:ffff:0a00:0002");
    EXPECT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), remote.address(), 65536, peer),
              ErrorCode::OK);
    EXPECT_EQ(FindPatternMismatch(remote.data(), 65536, 9), std::nullopt);
}

TEST_F(RdmaTransportTest, ManySmallTasksStayWithinQueueAndCompletionLimits) {
    // Three peers: a's devices carry three channels of 2 x 4 slots each,
    // more than their 16 completion entries, so the device-wide bound is
    // what keeps the completion queues from overflowing.
    auto a = MakeNode("a:1", 10);
    std::vector<std::unique_ptr<Node>> peers;
    for (int i = 0; i < 3; ++i) {
        peers.push_back(MakeNode("peer:" + std::to_string(i), static_cast<uint16_t>(20 + 2 * i)));
    }
    constexpr size_t kThreads = 3;
    constexpr size_t kTasksPerThread = 150;
    constexpr size_t kTaskSize = 4096 + 512;  // two chunks each
    Buffer local(kThreads * kTasksPerThread * kTaskSize);
    ASSERT_TRUE(a->Register(local, false));
    FillPattern(local.data(), local.size(), 3);
    std::vector<std::unique_ptr<Buffer>> remotes;
    std::vector<std::shared_ptr<const SegmentDescriptor>> descriptors;
    for (auto& peer : peers) {
        remotes.push_back(std::make_unique<Buffer>(local.size()));
        ASSERT_TRUE(peer->Register(*remotes.back(), true));
        descriptors.push_back(peer->Descriptor());
    }

    Outcomes outcomes(kThreads * kTasksPerThread);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            // Submitted in groups of 10 so that Submit calls interleave.
            for (size_t first = 0; first < kTasksPerThread; first += 10) {
                std::vector<TransferTask> tasks;
                for (size_t i = first; i < first + 10; ++i) {
                    const size_t index = t * kTasksPerThread + i;
                    const size_t offset = index * kTaskSize;
                    const size_t peer = index % peers.size();
                    tasks.push_back(MakeTask(TransferOpcode::WRITE, local.data() + offset,
                                             remotes[peer]->address() + offset, kTaskSize,
                                             descriptors[peer], outcomes.Callback(index)));
                }
                a->transport().Submit(std::move(tasks));
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    ASSERT_TRUE(outcomes.WaitAll());
    for (size_t i = 0; i < kThreads * kTasksPerThread; ++i) {
        ASSERT_EQ(outcomes.calls(i), 1) << i;
        ASSERT_EQ(outcomes.code(i), ErrorCode::OK) << i;
        const size_t peer = i % peers.size();
        ASSERT_EQ(
            FindPatternMismatch(remotes[peer]->data() + i * kTaskSize, kTaskSize, 3, i * kTaskSize),
            std::nullopt)
            << i;
    }
    FakeFabric::Stats stats = fabric_.stats();
    EXPECT_EQ(stats.executed, 2 * kThreads * kTasksPerThread);
    EXPECT_EQ(stats.queue_overflows, 0u);
    EXPECT_EQ(stats.completion_overflows, 0u);
    EXPECT_EQ(stats.failed, 0u);
    EXPECT_EQ(a->transport().stats().live_channels, 6u);
}

TEST_F(RdmaTransportTest, UnregisteredLocalMemoryIsRefused) {
    auto [a, b, registered, remote] = MakeTwoNodes(8192);
    ASSERT_FALSE(HasFailure());
    Buffer unregistered(8192);
    auto peer = b->Descriptor();
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, unregistered.data(), remote.address(), 4096, peer),
              ErrorCode::INVALID_PARAMS);
    // Starting inside a registration but running past its end.
    EXPECT_EQ(
        RunOne(*a, TransferOpcode::READ, registered.data() + 4096, remote.address(), 8192, peer),
        ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(fabric_.stats().executed, 0u);
    // Unregistered: gone for RDMA too.
    a->Unregister(registered);
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, registered.data(), remote.address(), 4096, peer),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(a->transport().stats().registered_regions, 0u);
}

TEST_F(RdmaTransportTest, TheNicRefusesMemoryOutsideTheKeysAndTheConnectionIsRebuilt) {
    auto [a, b, local, remote] = MakeTwoNodes(16384);
    ASSERT_FALSE(HasFailure());
    Buffer neighbour(16384);
    ASSERT_TRUE(b->Register(neighbour, false));
    FillPattern(local.data(), local.size(), 5);
    auto peer = b->Descriptor();

    LogCapture log;
    // A forged range: the published keys of `remote`, the address of the
    // local-only `neighbour`. The (fake) NIC checks the key's region.
    auto forged = std::make_shared<SegmentDescriptor>(*peer);
    SegmentRange fake_range = peer->ranges[0];
    fake_range.address = neighbour.address();
    forged->ranges = {fake_range};
    std::sort(forged->ranges.begin(), forged->ranges.end(),
              [](const auto& x, const auto& y) { return x.address < y.address; });
    EXPECT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), neighbour.address(), 8192, forged),
              ErrorCode::TRANSFER_FAIL);
    EXPECT_TRUE(std::all_of(neighbour.data(), neighbour.data() + neighbour.size(),
                            [](uint8_t byte) { return byte == 0; }));
    EXPECT_TRUE(log.Contains("remote access error")) << log.All();
    EXPECT_TRUE(log.Contains("mlx5_")) << log.All();

    // The peer deregisters: its old key stops working.
    b->Unregister(remote);
    EXPECT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), remote.address(), 4096, peer),
              ErrorCode::TRANSFER_FAIL);
    EXPECT_TRUE(std::all_of(remote.data(), remote.data() + remote.size(),
                            [](uint8_t byte) { return byte == 0; }));

    // Registered again under new keys: the broken connections are replaced.
    const uint64_t made_before = a->transport().stats().connections_made;
    ASSERT_TRUE(b->Register(remote, true));
    auto fresh = b->Descriptor();
    EXPECT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), remote.address(), 16384, fresh),
              ErrorCode::OK);
    EXPECT_EQ(FindPatternMismatch(remote.data(), 16384, 5), std::nullopt);
    EXPECT_GT(a->transport().stats().connections_made, made_before);
    EXPECT_EQ(fabric_.stats().queue_overflows, 0u);
}

TEST_F(RdmaTransportTest, InjectedErrorsFailOnlyTheirTasks) {
    auto [a, b, local, remote] = MakeTwoNodes(4096);
    ASSERT_FALSE(HasFailure());
    auto peer = b->Descriptor();
    fabric_.FailNext(1);
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 4096, peer),
              ErrorCode::TRANSFER_FAIL);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 4096, peer),
                  ErrorCode::OK);
    }
}

TEST_F(RdmaTransportTest, CancelledWorkIsNeverPosted) {
    RdmaTunables tunables = SmallTunables();
    tunables.queue_pairs_per_connection = 1;
    tunables.max_outstanding_per_queue_pair = 1;
    Node a("a:1", &directory_, fabric_, {MakeFakeDevice("mlx5_0", LinkLayer::kInfiniBand, 10)},
           tunables, "mlx5_0");
    Node b("b:1", &directory_, fabric_, {MakeFakeDevice("mlx5_0", LinkLayer::kInfiniBand, 20)},
           tunables, "mlx5_0");
    Buffer local(65536), remote(65536);
    ASSERT_TRUE(a.Register(local, false));
    ASSERT_TRUE(b.Register(remote, true));
    FillPattern(local.data(), local.size(), 8);
    auto peer = b.Descriptor();

    // Already cancelled when submitted.
    std::atomic<bool> given_up{true};
    Outcomes early(1);
    std::vector<TransferTask> first;
    first.push_back(MakeTask(TransferOpcode::WRITE, local.data(), remote.address(), 4096, peer,
                             early.Callback(0), &given_up));
    a.transport().Submit(std::move(first));
    ASSERT_TRUE(early.WaitAll());
    EXPECT_EQ(early.code(0), ErrorCode::TRANSFER_FAIL);

    // One request in flight holds the only slot; the second task waits
    // behind it and is cancelled before the slot frees up.
    fabric_.Pause();
    std::atomic<bool> cancelled{false};
    Outcomes outcomes(2);
    std::vector<TransferTask> tasks;
    tasks.push_back(MakeTask(TransferOpcode::WRITE, local.data(), remote.address(), 4096, peer,
                             outcomes.Callback(0)));
    tasks.push_back(MakeTask(TransferOpcode::WRITE, local.data() + 4096, remote.address() + 4096,
                             60000, peer, outcomes.Callback(1), &cancelled));
    a.transport().Submit(std::move(tasks));
    EXPECT_EQ(fabric_.stats().queued, 1u);
    cancelled = true;
    fabric_.Resume();
    ASSERT_TRUE(outcomes.WaitAll());
    EXPECT_EQ(outcomes.code(0), ErrorCode::OK);
    EXPECT_EQ(outcomes.code(1), ErrorCode::TRANSFER_FAIL);
    EXPECT_EQ(FindPatternMismatch(remote.data(), 4096, 8), std::nullopt);
    EXPECT_TRUE(std::all_of(remote.data() + 4096, remote.data() + remote.size(),
                            [](uint8_t byte) { return byte == 0; }));
    EXPECT_EQ(fabric_.stats().executed, 1u);
}

TEST_F(RdmaTransportTest, StopWaitsForPostedWork) {
    constexpr size_t kTasks = 40;
    auto [a, b, local, remote] = MakeTwoNodes(kTasks * 8192);
    ASSERT_FALSE(HasFailure());
    FillPattern(local.data(), local.size(), 4);
    auto peer = b->Descriptor();
    // Connect first so that the paused fabric only holds data requests.
    ASSERT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), remote.address(), 8192, peer),
              ErrorCode::OK);
    ASSERT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), remote.address(), 8192, peer),
              ErrorCode::OK);

    fabric_.Pause();
    Outcomes outcomes(kTasks);
    std::vector<TransferTask> tasks;
    for (size_t i = 0; i < kTasks; ++i) {
        tasks.push_back(MakeTask(TransferOpcode::WRITE, local.data() + i * 8192,
                                 remote.address() + i * 8192, 8192, peer, outcomes.Callback(i)));
    }
    a->transport().Submit(std::move(tasks));
    const size_t posted = fabric_.stats().queued;
    EXPECT_GT(posted, 0u);
    std::thread resumer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        fabric_.Resume();
    });
    a->transport().Stop();
    // Every callback ran before Stop returned; the posted ones succeeded,
    // the ones still queued were failed.
    EXPECT_EQ(outcomes.total(), kTasks);
    size_t ok = 0;
    for (size_t i = 0; i < kTasks; ++i) {
        EXPECT_EQ(outcomes.calls(i), 1) << i;
        if (outcomes.code(i) == ErrorCode::OK) {
            ++ok;
            EXPECT_EQ(FindPatternMismatch(remote.data() + i * 8192, 8192, 4, i * 8192),
                      std::nullopt);
        }
    }
    // A task succeeds only if both of its chunks were posted.
    EXPECT_GE(ok, 1u);
    EXPECT_LE(ok, posted / 2);
    resumer.join();
    EXPECT_EQ(a->transport().stats().live_channels, 0u);
    // Work after Stop fails at once.
    EXPECT_EQ(RunOne(*a, TransferOpcode::WRITE, local.data(), remote.address(), 8192, peer),
              ErrorCode::TRANSFER_FAIL);
}

TEST_F(RdmaTransportTest, StopFlushesWorkThatNeverCompletes) {
    RdmaTunables tunables = SmallTunables();
    tunables.stop_grace = std::chrono::milliseconds(100);
    auto [a, b, local, remote] = MakeTwoNodes(65536, tunables);
    ASSERT_FALSE(HasFailure());
    auto peer = b->Descriptor();
    ASSERT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 65536, peer),
              ErrorCode::OK);

    fabric_.Pause();
    FillPattern(remote.data(), remote.size(), 6);
    std::memset(local.data(), 0, local.size());
    Outcomes outcomes(4);
    std::vector<TransferTask> tasks;
    for (size_t i = 0; i < 4; ++i) {
        tasks.push_back(MakeTask(TransferOpcode::READ, local.data() + i * 16384,
                                 remote.address() + i * 16384, 16384, peer, outcomes.Callback(i)));
    }
    a->transport().Submit(std::move(tasks));
    LogCapture log;
    a->transport().Stop();
    EXPECT_EQ(outcomes.total(), 4u);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(outcomes.calls(i), 1);
        EXPECT_EQ(outcomes.code(i), ErrorCode::TRANSFER_FAIL);
    }
    EXPECT_TRUE(log.Contains("flushing the queue pairs")) << log.All();
    EXPECT_TRUE(std::all_of(local.data(), local.data() + local.size(),
                            [](uint8_t byte) { return byte == 0; }));
    fabric_.Resume();
}

TEST_F(RdmaTransportTest, ForgetPeerDestroysItsQueuePairs) {
    auto [a, b, local, remote] = MakeTwoNodes(65536);
    ASSERT_FALSE(HasFailure());
    auto peer = b->Descriptor();
    ASSERT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 65536, peer),
              ErrorCode::OK);
    EXPECT_EQ(a->transport().stats().live_channels, 2u);
    // 2 channels of 2 queue pairs on a, as many passive ones on b.
    EXPECT_EQ(fabric_.stats().live_queue_pairs, 8u);

    a->transport().ForgetPeer(*peer);
    EXPECT_EQ(a->transport().stats().live_channels, 0u);
    EXPECT_EQ(fabric_.stats().live_queue_pairs, 4u);

    // The next transfer connects again.
    ASSERT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 65536, peer),
              ErrorCode::OK);
    EXPECT_EQ(a->transport().stats().connections_made, 4u);
    EXPECT_EQ(a->transport().stats().live_channels, 2u);
}

TEST_F(RdmaTransportTest, RefusesHostileHandshakesWithoutCreatingAnything) {
    auto a = MakeNode("a:1", 10);
    auto b = MakeNode("b:1", 20);
    ConnectRequest request = MakeConnectRequest(*a, *b, "mlx5_0", {{0x500, 1}, {0x501, 2}});
    const nlohmann::json good = EncodeConnectRequest(request);

    std::vector<std::pair<std::string, nlohmann::json>> hostile;
    hostile.emplace_back("garbage", nlohmann::json("connect please"));
    hostile.emplace_back("empty object", nlohmann::json::object());
    {
        nlohmann::json stale = good;
        stale["responder_instance"] = UUID::Generate().ToString();
        hostile.emplace_back("stale instance", stale);
    }
    {
        nlohmann::json unknown = good;
        unknown["target_device"] = "mlx5_9";
        hostile.emplace_back("unknown device", unknown);
    }
    {
        nlohmann::json roce = good;
        roce["device"]["link_layer"] = "ethernet";
        hostile.emplace_back("other link layer", roce);
    }
    {
        nlohmann::json no_lid = good;
        no_lid["device"]["lid"] = 0;
        hostile.emplace_back("IB without LID", no_lid);
    }
    {
        nlohmann::json many = good;
        many["qps"] = nlohmann::json::array();
        for (uint32_t i = 1; i <= 17; ++i) many["qps"].push_back({{"qp_num", i}, {"psn", 0}});
        hostile.emplace_back("17 queue pairs", many);
    }
    const size_t queue_pairs_before = fabric_.stats().live_queue_pairs;
    for (const auto& [label, message] : hostile) {
        auto answer = b->transport().HandleControlMessage("a:1", message);
        ASSERT_FALSE(answer.has_value()) << label;
        EXPECT_EQ(answer.error(), ErrorCode::INVALID_PARAMS) << label;
    }
    EXPECT_FALSE(b->transport().HandleControlMessage("", good).has_value());
    EXPECT_FALSE(b->transport().HandleControlMessage(std::string(2000, 'x'), good).has_value());
    EXPECT_EQ(b->transport().stats().passive_connections, 0u);
    EXPECT_EQ(b->transport().stats().handshakes_refused, hostile.size() + 2);
    EXPECT_EQ(fabric_.stats().live_queue_pairs, queue_pairs_before);

    // The well-formed one is answered with as many connected queue pairs.
    auto answer = b->transport().HandleControlMessage("a:1", good);
    ASSERT_TRUE(answer.has_value());
    auto reply = DecodeConnectReply(*answer, 2);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->responder_instance, b->instance());
    EXPECT_EQ(reply->device.name, "mlx5_0");
    EXPECT_EQ(b->transport().stats().passive_connections, 1u);
    EXPECT_EQ(fabric_.stats().live_queue_pairs, queue_pairs_before + 2);
}

TEST_F(RdmaTransportTest, BoundsPassiveConnectionsPerPeer) {
    auto a = MakeNode("a:1", 10);
    auto b = MakeNode("b:1", 20);
    ConnectRequest request = MakeConnectRequest(*a, *b, "mlx5_1", {{0x700, 1}});
    for (size_t i = 0; i < kMaxPassiveConnectionsPerPeer + 6; ++i) {
        ASSERT_TRUE(b->transport().HandleControlMessage("a:1", EncodeConnectRequest(request)));
    }
    EXPECT_EQ(b->transport().stats().passive_connections, kMaxPassiveConnectionsPerPeer);
    EXPECT_EQ(fabric_.stats().live_queue_pairs, kMaxPassiveConnectionsPerPeer);
    // Another requester is counted on its own.
    ASSERT_TRUE(b->transport().HandleControlMessage("c:1", EncodeConnectRequest(request)));
    EXPECT_EQ(b->transport().stats().passive_connections, kMaxPassiveConnectionsPerPeer + 1);
    // A restarted requester (new instance) replaces all its old connections.
    request.requester_instance = UUID::Generate();
    ASSERT_TRUE(b->transport().HandleControlMessage("a:1", EncodeConnectRequest(request)));
    EXPECT_EQ(b->transport().stats().passive_connections, 2u);
    EXPECT_EQ(fabric_.stats().live_queue_pairs, 2u);
}

TEST_F(RdmaTransportTest, RestartedPeerGetsFreshConnections) {
    auto [a, b, local, remote] = MakeTwoNodes(8192);
    ASSERT_FALSE(HasFailure());
    auto old_peer = b->Descriptor();
    ASSERT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 8192, old_peer),
              ErrorCode::OK);

    b.reset();  // its queue pairs go away with it
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 8192, old_peer),
              ErrorCode::TRANSFER_FAIL);
    b = MakeNode("b:1", 20);
    ASSERT_TRUE(b->Register(remote, true));
    FillPattern(remote.data(), remote.size(), 12);
    auto new_peer = b->Descriptor();
    ASSERT_NE(new_peer->instance_id, old_peer->instance_id);
    // The old descriptor is refused by the new instance, the new one works.
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 8192, old_peer),
              ErrorCode::TRANSFER_FAIL);
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 8192, new_peer),
              ErrorCode::OK);
    EXPECT_EQ(FindPatternMismatch(local.data(), 8192, 12), std::nullopt);
}

TEST_F(RdmaTransportTest, EveryCallbackRunsExactlyOnceUnderFaults) {
    constexpr size_t kThreads = 4;
    constexpr size_t kTasksPerThread = 100;
    constexpr size_t kSlot = 64 << 10;
    auto [a, b, local, remote] = MakeTwoNodes(kThreads * kTasksPerThread * kSlot / 8);
    ASSERT_FALSE(HasFailure());
    auto peer = b->Descriptor();
    Outcomes outcomes(kThreads * kTasksPerThread);
    std::atomic<bool> running{true};
    std::thread chaos([&] {
        std::mt19937 random(7);
        while (running.load()) {
            fabric_.FailNext(random() % 3);
            if (random() % 4 == 0) {
                fabric_.Pause();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                fabric_.Resume();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 random(static_cast<uint32_t>(t));
            for (size_t i = 0; i < kTasksPerThread; ++i) {
                const size_t index = t * kTasksPerThread + i;
                const size_t slot = index % (local.size() / (kSlot / 8));
                const size_t length = 1 + random() % (kSlot / 8);
                std::vector<TransferTask> tasks;
                tasks.push_back(MakeTask(
                    random() % 2 ? TransferOpcode::READ : TransferOpcode::WRITE,
                    local.data() + slot * (kSlot / 8), remote.address() + slot * (kSlot / 8),
                    length, peer, outcomes.Callback(index)));
                a->transport().Submit(std::move(tasks));
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    ASSERT_TRUE(outcomes.WaitAll());
    running = false;
    chaos.join();
    size_t failed = 0;
    for (size_t i = 0; i < kThreads * kTasksPerThread; ++i) {
        ASSERT_EQ(outcomes.calls(i), 1) << i;
        failed += outcomes.code(i) != ErrorCode::OK;
    }
    // Whatever failed, the transport recovers.
    fabric_.FailNext(0);
    EXPECT_EQ(RunOne(*a, TransferOpcode::READ, local.data(), remote.address(), 4096, peer),
              ErrorCode::OK);
    FakeFabric::Stats stats = fabric_.stats();
    EXPECT_EQ(stats.queue_overflows, 0u);
    EXPECT_EQ(stats.completion_overflows, 0u);
    RecordProperty("failed_tasks", static_cast<int>(failed));
}

// ---------------------------------------------------------------------------
// Engine level: real TransferEngines, handshake over their TCP control
// channel, bytes over the fake fabric.

class RdmaEngineOverFabricTest : public ::testing::Test {
   protected:
    void SetUp() override {
        // Replace the "rdma" factory: every engine gets two fake IB devices
        // with addresses of its own, and its transport is remembered.
        RegisterTransportFactory(
            "rdma", [this](const TransportOptions& options) -> Result<std::unique_ptr<Transport>> {
                uint16_t lid;
                {
                    std::lock_guard lock(mutex_);
                    lid = next_lid_;
                    next_lid_ += 2;
                }
                RdmaTunables tunables = SmallTunables();
                tunables.chunk_size = 64 << 10;
                tunables.max_outstanding_per_queue_pair = 16;
                tunables.completion_queue_size = 64;
                auto transport = RdmaTransport::Create(
                    options, fabric_.MakeProvider(TwoIbDevices(lid)), tunables);
                if (!transport) return Error(transport.error());
                std::lock_guard lock(mutex_);
                transports_[options.segment_name] = transport->get();
                return std::unique_ptr<Transport>(std::move(*transport));
            });
    }
    void TearDown() override {
        // Later tests of this binary get the real factory back.
        RegisterTransportFactory("rdma", &CreateRdmaTransport);
    }

    std::unique_ptr<TransferEngine> MakeEngine(const std::string& hostname = "127.0.0.1") {
        TransferEngineConfig config;
        config.local_hostname = hostname;
        config.protocol = "rdma";
        config.rdma_devices = "mlx5_0,mlx5_1";
        auto engine = TransferEngine::Create(config);
        EXPECT_TRUE(engine.has_value());
        return engine ? std::move(*engine) : nullptr;
    }
    RdmaTransport* TransportOf(const TransferEngine& engine) {
        std::lock_guard lock(mutex_);
        return transports_[engine.segment_name()];
    }

    // Same process, so without this memcpy would carry everything.
    ScopedEnv no_memcpy_{"MC_STORE_MEMCPY", "0"};
    ScopedEnv no_force_tcp_{"MC_FORCE_TCP", nullptr};
    FakeFabric fabric_;
    std::mutex mutex_;
    uint16_t next_lid_ = 100;
    std::map<std::string, RdmaTransport*> transports_;
};

TEST_F(RdmaEngineOverFabricTest, EnginesMoveBytesOverRdma) {
    auto a = MakeEngine();
    auto b = MakeEngine();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->protocol(), "rdma");
    constexpr size_t kSize = 4 << 20;
    Buffer local(kSize), back(kSize), remote(kSize);
    ASSERT_TRUE(a->RegisterLocalMemory(local.data(), kSize, /*remote_accessible=*/false));
    ASSERT_TRUE(a->RegisterLocalMemory(back.data(), kSize, false));
    ASSERT_TRUE(b->RegisterLocalMemory(remote.data(), kSize, true));
    FillPattern(local.data(), kSize, 21);
    auto handle = a->OpenSegment(b->segment_name());
    ASSERT_TRUE(handle.has_value());

    ASSERT_TRUE(
        a->TransferSync({{TransferOpcode::WRITE, local.data(), *handle, remote.address(), kSize}}));
    EXPECT_EQ(FindPatternMismatch(remote.data(), kSize, 21), std::nullopt);
    // Many requests in one batch, read back piecewise.
    std::vector<TransferRequest> reads;
    for (size_t offset = 0; offset < kSize; offset += 256 << 10) {
        reads.push_back({TransferOpcode::READ, back.data() + offset, *handle,
                         remote.address() + offset, 256 << 10});
    }
    std::vector<ErrorCode> codes;
    ASSERT_TRUE(a->TransferSync(reads, &codes));
    EXPECT_EQ(FindPatternMismatch(back.data(), kSize, 21), std::nullopt);

    FakeFabric::Stats stats = fabric_.stats();
    EXPECT_EQ(stats.bytes, 2 * kSize);  // every byte went over "RDMA"
    EXPECT_GT(stats.executed_by_device["mlx5_0"], 0u);
    EXPECT_GT(stats.executed_by_device["mlx5_1"], 0u);
    EXPECT_EQ(stats.queue_overflows, 0u);
    EXPECT_EQ(TransportOf(*a)->stats().connections_made, 2u);
    EXPECT_EQ(TransportOf(*b)->stats().connections_accepted, 2u);
}

TEST_F(RdmaEngineOverFabricTest, UnregisteredPeerMemoryIsRefused) {
    auto a = MakeEngine();
    auto b = MakeEngine();
    ASSERT_TRUE(a && b);
    Buffer local(65536), remote(65536);
    ASSERT_TRUE(a->RegisterLocalMemory(local.data(), local.size(), false));
    ASSERT_TRUE(b->RegisterLocalMemory(remote.data(), remote.size(), true));
    FillPattern(local.data(), local.size(), 2);
    auto handle = a->OpenSegment(b->segment_name());
    ASSERT_TRUE(handle.has_value());
    ASSERT_TRUE(
        a->TransferSync({{TransferOpcode::WRITE, local.data(), *handle, remote.address(), 4096}}));
    ASSERT_TRUE(b->UnregisterLocalMemory(remote.data()));
    std::memset(remote.data(), 0, remote.size());
    // a still has the old descriptor: the NIC refuses the stale key, the
    // engine refreshes the descriptor and finds the range gone.
    auto refused =
        a->TransferSync({{TransferOpcode::WRITE, local.data(), *handle, remote.address(), 65536}});
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(std::all_of(remote.data(), remote.data() + remote.size(),
                            [](uint8_t byte) { return byte == 0; }));
}

TEST_F(RdmaEngineOverFabricTest, PeerRestartIsFollowed) {
    auto a = MakeEngine();
    auto b = MakeEngine();
    ASSERT_TRUE(a && b);
    const std::string b_name = b->segment_name();
    Buffer local(65536), remote(65536);
    ASSERT_TRUE(a->RegisterLocalMemory(local.data(), local.size(), false));
    ASSERT_TRUE(b->RegisterLocalMemory(remote.data(), remote.size(), true));
    auto handle = a->OpenSegment(b_name);
    ASSERT_TRUE(handle.has_value());
    ASSERT_TRUE(
        a->TransferSync({{TransferOpcode::READ, local.data(), *handle, remote.address(), 65536}}));

    b.reset();
    b = MakeEngine(b_name);  // same name and port, new instance
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->RegisterLocalMemory(remote.data(), remote.size(), true));
    FillPattern(remote.data(), remote.size(), 30);
    // The first attempt hits the old instance's state; the engine refetches
    // the descriptor and the transport connects to the new instance.
    ASSERT_TRUE(
        a->TransferSync({{TransferOpcode::READ, local.data(), *handle, remote.address(), 65536}}));
    EXPECT_EQ(FindPatternMismatch(local.data(), 65536, 30), std::nullopt);
    EXPECT_GE(TransportOf(*b)->stats().connections_accepted, 1u);
}

TEST_F(RdmaEngineOverFabricTest, HostileControlMessagesOverTcpAreRefused) {
    auto b = MakeEngine();
    ASSERT_TRUE(b);
    // A plain TCP engine talks to b's control channel like any peer could.
    TransferEngineConfig config;
    config.local_hostname = "127.0.0.1";
    auto sender = TransferEngineImpl::Create(config);
    ASSERT_TRUE(sender.has_value());
    SegmentDescriptor target;
    target.name = b->segment_name();
    target.tcp_endpoint = b->segment_name();
    for (const nlohmann::json& message :
         {nlohmann::json("hello"), nlohmann::json{{"op", "connect"}, {"version", 1}},
          nlohmann::json{{"op", "connect"}, {"version", 99}}, nlohmann::json::array({1, 2, 3})}) {
        auto answer = (*sender)->SendControlMessage(target, "rdma", message);
        ASSERT_FALSE(answer.has_value()) << message.dump();
        EXPECT_EQ(answer.error(), ErrorCode::INVALID_PARAMS) << message.dump();
    }
    EXPECT_EQ(TransportOf(*b)->stats().handshakes_refused, 4u);
    EXPECT_EQ(TransportOf(*b)->stats().passive_connections, 0u);
    EXPECT_EQ(fabric_.stats().live_queue_pairs, 0u);
}

}  // namespace
}  // namespace mooncake::rdma
