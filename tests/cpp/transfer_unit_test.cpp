// Unit tests of the transfer engine's building blocks (no processes, no
// sockets): descriptors, the memory registry, the wire format, batches,
// metadata server URLs.
#include <gtest/gtest.h>

#include <thread>

#include "transfer/memory_registry.h"
#include "transfer/metadata_client.h"
#include "transfer/segment_descriptor.h"
#include "transfer/tcp_server.h"
#include "transfer/transfer_batch.h"
#include "transfer/wire_protocol.h"

namespace mooncake {
namespace {

SegmentDescriptor SampleDescriptor() {
    SegmentDescriptor desc;
    desc.name = "localhost:12345";
    desc.instance_id = UUID::Generate();
    desc.host_id = "boot/4026531840";
    desc.pid = 4242;
    desc.tcp_endpoint = "127.0.0.1:12345";
    desc.version = 3;
    desc.removal_epoch = 1;
    desc.status_page = ShmFileInfo{5, 77, 4096};
    SegmentRange a;
    a.address = 0x10000;
    a.length = 0x1000;
    a.shm = ShmFileInfo{6, 78, 0x1000};
    SegmentRange b;
    b.address = 0x20000;
    b.length = 0x800;
    b.transports = {{"rdma", {{"rkey", {1, 2}}}}};
    desc.ranges = {a, b};
    desc.transports = {{"rdma", {{"gid", "fe80::1"}}}};
    return desc;
}

TEST(SegmentDescriptorTest, JsonRoundTripKeepsEveryField) {
    const SegmentDescriptor original = SampleDescriptor();
    auto parsed = SegmentDescriptor::Parse(original.Serialize());
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->name, original.name);
    EXPECT_EQ(parsed->instance_id, original.instance_id);
    EXPECT_EQ(parsed->host_id, original.host_id);
    EXPECT_EQ(parsed->pid, 4242);
    EXPECT_EQ(parsed->tcp_endpoint, original.tcp_endpoint);
    EXPECT_EQ(parsed->version, 3u);
    EXPECT_EQ(parsed->removal_epoch, 1u);
    ASSERT_TRUE(parsed->status_page.has_value());
    EXPECT_EQ(*parsed->status_page, *original.status_page);
    ASSERT_EQ(parsed->ranges.size(), 2u);
    EXPECT_EQ(parsed->ranges[0].shm, original.ranges[0].shm);
    EXPECT_FALSE(parsed->ranges[1].shm.has_value());
    EXPECT_EQ(parsed->ranges[1].transports["rdma"]["rkey"][1], 2);
    EXPECT_EQ(parsed->transports["rdma"]["gid"], "fe80::1");
}

TEST(SegmentDescriptorTest, FindRangeChecksBothEnds) {
    const SegmentDescriptor desc = SampleDescriptor();
    EXPECT_NE(desc.FindRange(0x10000, 0x1000), nullptr);
    EXPECT_NE(desc.FindRange(0x10fff, 1), nullptr);
    EXPECT_EQ(desc.FindRange(0x10fff, 2), nullptr);  // one byte past the end
    EXPECT_EQ(desc.FindRange(0xffff, 2), nullptr);   // starts before
    EXPECT_EQ(desc.FindRange(0x18000, 1), nullptr);  // in the gap
    EXPECT_EQ(desc.FindRange(0x20000, 0x801), nullptr);
    EXPECT_EQ(desc.FindRange(0x20010, UINT64_MAX), nullptr);  // would wrap
    EXPECT_EQ(desc.FindRange(0x20000, 0x800)->address, 0x20000u);
}

TEST(SegmentDescriptorTest, RejectsMalformedInput) {
    EXPECT_FALSE(SegmentDescriptor::Parse("not json").has_value());
    EXPECT_FALSE(SegmentDescriptor::Parse("[]").has_value());
    EXPECT_FALSE(SegmentDescriptor::Parse("{}").has_value());

    auto mutate = [](auto change) {
        nlohmann::json json = SampleDescriptor().ToJson();
        change(json);
        return SegmentDescriptor::Parse(json.dump()).has_value();
    };
    EXPECT_TRUE(mutate([](nlohmann::json&) {}));
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["pid"] = "12"; }));
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["instance_id"] = "zzz"; }));
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["version"] = -1; }));
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j.erase("ranges"); }));
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["ranges"][0]["length"] = 0; }));
    // Wrapping past 2^64.
    EXPECT_FALSE(mutate([](nlohmann::json& j) {
        j["ranges"][1]["address"] = UINT64_MAX - 4;
        j["ranges"][1]["length"] = 16;
    }));
    // Overlapping ranges.
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["ranges"][1]["address"] = 0x10800; }));
    // A shm file smaller than its range.
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["ranges"][0]["shm"]["size"] = 16; }));
    EXPECT_FALSE(mutate([](nlohmann::json& j) { j["transports"] = 5; }));
    EXPECT_FALSE(SegmentDescriptor::Parse(std::string(kMaxDescriptorBytes + 1, ' ')).has_value());
}

TEST(SegmentDescriptorTest, UuidTextRoundTrip) {
    const UUID id = UUID::Generate();
    auto parsed = ParseUuid(id.ToString());
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, id);
    EXPECT_FALSE(ParseUuid("").has_value());
    EXPECT_FALSE(ParseUuid("0123456789abcdef0123456789abcdef0123").has_value());
    EXPECT_FALSE(ParseUuid("0123456g-89ab-cdef-0123-456789abcdef").has_value());
}

TEST(MemoryRegistryTest, RejectsOverlapsAndFindsContainingRange) {
    MemoryRegistry registry;
    RegisteredRegion a{0x1000, 0x1000, true};
    RegisteredRegion b{0x3000, 0x1000, false};
    ASSERT_TRUE(registry.Add(a).has_value());
    ASSERT_TRUE(registry.Add(b).has_value());
    // Overlaps on either side, containing, contained, and empty.
    EXPECT_EQ(registry.Add({0x1800, 0x1000, true}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(registry.Add({0x0800, 0x1000, true}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(registry.Add({0x0000, 0x10000, true}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(registry.Add({0x3100, 0x10, true}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(registry.Add({0x5000, 0, true}).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(registry.Add({UINT64_MAX - 1, 4, true}).error(), ErrorCode::INVALID_PARAMS);
    // Adjacent is fine.
    EXPECT_TRUE(registry.Add({0x2000, 0x1000, true}).has_value());
    EXPECT_EQ(registry.size(), 3u);

    EXPECT_TRUE(registry.Contains(0x1000, 0x1000));
    EXPECT_FALSE(registry.Contains(0x1000, 0x1001));  // spans two registrations
    EXPECT_TRUE(registry.IsRemotelyAccessible(0x1ff0, 0x10));
    EXPECT_FALSE(registry.IsRemotelyAccessible(0x3000, 0x10));  // local only
    EXPECT_TRUE(registry.Contains(0x3000, 0x10));
    EXPECT_FALSE(registry.Contains(0x4000, 1));
    EXPECT_FALSE(registry.Contains(0x0fff, 1));

    auto remote = registry.RemoteRanges();
    ASSERT_EQ(remote.size(), 2u);
    EXPECT_EQ(remote[0].address, 0x1000u);
    EXPECT_EQ(remote[1].address, 0x2000u);

    EXPECT_EQ(registry.Remove(0x1800).error(), ErrorCode::INVALID_PARAMS);  // not a start
    EXPECT_TRUE(registry.Remove(0x1000).has_value());
    EXPECT_FALSE(registry.Contains(0x1000, 1));
}

TEST(WireProtocolTest, HeadersRoundTripAndRejectForeignMagic) {
    wire::RequestHeader request;
    request.opcode = wire::Opcode::kWrite;
    request.instance = UUID::Generate();
    request.address = 0x123456789abcdefULL;
    request.length = 65537;
    request.request_id = 99;
    uint8_t bytes[wire::kRequestHeaderSize];
    wire::Encode(request, bytes);
    wire::RequestHeader decoded;
    ASSERT_TRUE(wire::Decode(bytes, &decoded));
    EXPECT_EQ(decoded.opcode, wire::Opcode::kWrite);
    EXPECT_EQ(decoded.instance, request.instance);
    EXPECT_EQ(decoded.address, request.address);
    EXPECT_EQ(decoded.length, request.length);
    EXPECT_EQ(decoded.request_id, 99u);
    bytes[0] ^= 0xFF;
    EXPECT_FALSE(wire::Decode(bytes, &decoded));

    wire::ResponseHeader response;
    response.status = wire::ReplyStatus::kHandlerError;
    response.error = ErrorCode::INVALID_PARAMS;
    response.length = 12;
    response.request_id = 7;
    uint8_t reply[wire::kResponseHeaderSize];
    wire::Encode(response, reply);
    wire::ResponseHeader back;
    ASSERT_TRUE(wire::Decode(reply, &back));
    EXPECT_EQ(back.status, wire::ReplyStatus::kHandlerError);
    EXPECT_EQ(back.error, ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(back.length, 12u);
    EXPECT_EQ(back.request_id, 7u);
}

TEST(TransferBatchTest, TracksSlotsAndFirstError) {
    TransferBatch batch(4, /*caller_waits=*/false);
    auto first = batch.Reserve(3);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, 0u);
    EXPECT_EQ(batch.Reserve(2).error(), ErrorCode::INVALID_PARAMS);  // 3 + 2 > 4
    EXPECT_EQ(batch.submitted(), 3u);
    EXPECT_FALSE(batch.WaitUntil(std::chrono::steady_clock::now() + std::chrono::milliseconds(1)));

    batch.Complete(0, ErrorCode::OK, 10);
    batch.Complete(2, ErrorCode::INVALID_PARAMS, 10);
    EXPECT_EQ(batch.StatusOf(1).state, TransferState::PENDING);
    std::thread completer([&] { batch.Complete(1, ErrorCode::TRANSFER_FAIL, 10); });
    EXPECT_TRUE(batch.WaitUntil(std::chrono::steady_clock::now() + std::chrono::seconds(60)));
    completer.join();
    EXPECT_EQ(batch.StatusOf(0).state, TransferState::COMPLETED);
    EXPECT_EQ(batch.StatusOf(0).transferred_bytes, 10u);
    EXPECT_EQ(batch.StatusOf(2).state, TransferState::FAILED);
    EXPECT_EQ(batch.StatusOf(2).transferred_bytes, 0u);
    EXPECT_EQ(batch.FirstError(), ErrorCode::TRANSFER_FAIL);  // index 1 comes first
}

TEST(MetadataStoreTest, PicksTheBackendByScheme) {
    for (const char* good : {"http://127.0.0.1:8080/metadata", "etcd://127.0.0.1:2379",
                             "etcd://127.0.0.1:2379;localhost:2380", "etcd://h1:1,h2:2"}) {
        EXPECT_TRUE(IsMetadataServerUrl(good)) << good;
        auto store = CreateMetadataStore(good);  // etcd connects lazily
        ASSERT_TRUE(store.has_value()) << good;
        EXPECT_EQ((*store)->url(), good);
    }
    for (const char* bad : {"", "P2PHANDSHAKE", "etcd://", "http://", "redis://127.0.0.1:6379",
                            "127.0.0.1:2379", "etcd://no-port", "etcd://127.0.0.1:2379;bad"}) {
        auto store = CreateMetadataStore(bad);
        ASSERT_FALSE(store.has_value()) << bad;
        EXPECT_EQ(store.error(), ErrorCode::INVALID_PARAMS) << bad;
    }
}

// A handler the server never reaches: Start fails before any connection.
class UnusedHandler : public TcpRequestHandler {
   public:
    const UUID& instance_id() const override { return id_; }
    const MemoryRegistry& memory() const override { return memory_; }
    std::string DescriptorJson() override { return "{}"; }
    Result<nlohmann::json> HandleTransportControl(const std::string&, const std::string&,
                                                  const nlohmann::json&) override {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }

   private:
    UUID id_ = UUID::Generate();
    MemoryRegistry memory_;
};

TEST(TcpServerTest, EveryAutomaticPortTakenIsAnInternalError) {
    // Two neighbouring ports, both held here.
    std::vector<UniqueFd> held;
    uint16_t first = 0;
    for (uint16_t port = 20000; port < 30000 && held.size() < 2; port += 2) {
        held.clear();
        for (uint16_t candidate : {port, static_cast<uint16_t>(port + 1)}) {
            auto listener = net::ListenTcp("127.0.0.1", candidate);
            if (!listener) break;
            held.push_back(std::move(*listener));
        }
        first = port;
    }
    ASSERT_EQ(held.size(), 2u);
    UnusedHandler handler;
    auto taken = TcpServer::Start("127.0.0.1", std::nullopt, &handler, 1000,
                                  PortRange{first, static_cast<uint16_t>(first + 1)});
    ASSERT_FALSE(taken.has_value());
    EXPECT_EQ(taken.error(), ErrorCode::INTERNAL_ERROR);
    // The port asked for, taken: the caller's mistake.
    auto named = TcpServer::Start("127.0.0.1", first, &handler, 1000);
    ASSERT_FALSE(named.has_value());
    EXPECT_EQ(named.error(), ErrorCode::INVALID_PARAMS);
    held.clear();
    auto free = TcpServer::Start("127.0.0.1", std::nullopt, &handler, 1000,
                                 PortRange{first, static_cast<uint16_t>(first + 1)});
    EXPECT_TRUE(free.has_value());
}

}  // namespace
}  // namespace mooncake
