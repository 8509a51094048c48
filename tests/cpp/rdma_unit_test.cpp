// Unit tests of the RDMA transport's logic, which needs no NIC: device
// selection, GIDs, the published endpoint and rkeys, the handshake codec
// (including hostile input), device pairing, chunking, queue pair
// bookkeeping, tunables and completion accounting.
#include <gtest/gtest.h>

#include <limits>

#include "rdma_test_util.h"
#include "transfer/rdma/chunking.h"
#include "transfer/rdma/device_pairing.h"
#include "transfer/rdma/device_selection.h"
#include "transfer/rdma/endpoint_info.h"
#include "transfer/rdma/gid.h"
#include "transfer/rdma/handshake.h"
#include "transfer/rdma/memory_table.h"
#include "transfer/rdma/queue_pair_state.h"
#include "transfer/rdma/task_completion.h"
#include "transfer/rdma/tunables.h"

namespace mooncake::rdma {
namespace {

using testing::ScopedEnv;

Gid GidWithLastByte(uint8_t last, bool ipv4_mapped = false) {
    Gid gid;
    if (ipv4_mapped) {
        gid.bytes[10] = 0xff;
        gid.bytes[11] = 0xff;
    } else {
        gid.bytes[0] = 0xfe;
        gid.bytes[1] = 0x80;
    }
    gid.bytes[15] = last;
    return gid;
}

PortInfo IbPort(uint8_t number, bool active, uint16_t lid) {
    PortInfo port;
    port.port_num = number;
    port.active = active;
    port.link_layer = LinkLayer::kInfiniBand;
    port.lid = lid;
    port.active_mtu = 4096;
    port.gids.push_back({0, GidWithLastByte(static_cast<uint8_t>(lid)), GidType::kInfiniBand});
    return port;
}

DeviceInfo IbDevice(const std::string& name, bool active = true, uint16_t lid = 7) {
    DeviceInfo device;
    device.name = name;
    device.ports.push_back(IbPort(1, active, lid));
    return device;
}

DeviceInfo RoceDevice(const std::string& name, std::vector<GidEntry> gids) {
    DeviceInfo device;
    device.name = name;
    PortInfo port;
    port.port_num = 1;
    port.active = true;
    port.link_layer = LinkLayer::kEthernet;
    port.active_mtu = 1024;
    port.gids = std::move(gids);
    device.ports.push_back(port);
    return device;
}

DeviceSelectionInput Input(std::string devices, bool auto_discover = false,
                           std::string filters = "") {
    DeviceSelectionInput input;
    input.configured_devices = std::move(devices);
    input.auto_discover = auto_discover;
    input.discovery_filters = std::move(filters);
    return input;
}

std::vector<std::string> Names(const std::vector<SelectedDevice>& selected) {
    std::vector<std::string> names;
    for (const SelectedDevice& device : selected) names.push_back(device.name);
    return names;
}

// ---------------------------------------------------------------------------
// GIDs

TEST(RdmaGidTest, FormatsAndParsesTheSysfsForm) {
    Gid gid = GidWithLastByte(0x01);
    gid.bytes[8] = 0x02;
    gid.bytes[9] = 0x0c;
    gid.bytes[10] = 0xc9;
    const std::string text = gid.ToString();
    EXPECT_EQ(text, "fe80:0000:0000:0000:020c:c900:0000:0001");
    auto parsed = Gid::Parse(text);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, gid);
    // Upper case is accepted, the output is lower case.
    auto upper = Gid::Parse("FE80:0000:0000:0000:020C:C900:0000:0001");
    ASSERT_TRUE(upper.has_value());
    EXPECT_EQ(*upper, gid);
    EXPECT_FALSE(gid.IsZero());
    EXPECT_TRUE(Gid().IsZero());
}

TEST(RdmaGidTest, RefusesAnythingElse) {
    for (const char* text :
         {"", "fe80::1", "fe80:0000:0000:0000:020c:c900:0000:000",
          "fe80:0000:0000:0000:020c:c900:0000:00012", "fe80-0000:0000:0000:020c:c900:0000:0001",
          "fe80:0000:0000:0000:020c:c900:0000:000g",
          "fe800000:0000:0000:020c:c900:0000:0001:", " fe80:0000:0000:0000:020c:c900:0000:001"}) {
        EXPECT_FALSE(Gid::Parse(text).has_value()) << text;
    }
}

TEST(RdmaGidTest, RecognisesIPv4MappedGids) {
    EXPECT_TRUE(GidWithLastByte(5, /*ipv4_mapped=*/true).IsIPv4Mapped());
    EXPECT_FALSE(GidWithLastByte(5).IsIPv4Mapped());
    EXPECT_FALSE(Gid().IsIPv4Mapped());
}

// ---------------------------------------------------------------------------
// Device selection

TEST(RdmaDeviceSelectionTest, ParsesNameLists) {
    auto names = ParseDeviceNameList(" mlx5_0, mlx5_1,,mlx5_0 ,\tbnxt_re.2 ");
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(*names, (std::vector<std::string>{"mlx5_0", "mlx5_1", "bnxt_re.2"}));
    EXPECT_TRUE(ParseDeviceNameList("").value().empty());
    EXPECT_TRUE(ParseDeviceNameList(" , ,").value().empty());
    EXPECT_EQ(ParseDeviceNameList("mlx5_0;mlx5_1").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseDeviceNameList("mlx5 0").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseDeviceNameList("../../etc").error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(ParseDeviceNameList(std::string(65, 'a')).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_TRUE(ParseDeviceNameList(std::string(64, 'a')).has_value());
}

TEST(RdmaDeviceSelectionTest, ExplicitListPicksTheNamedDevicesInOrder) {
    const std::vector<DeviceInfo> present = {
        IbDevice("mlx5_0", true, 1), IbDevice("mlx5_1", true, 2), IbDevice("mlx5_2", true, 3)};
    std::string why;
    auto selected = SelectDevices(Input("mlx5_2, mlx5_0"), present, &why);
    ASSERT_TRUE(selected.has_value()) << why;
    EXPECT_EQ(Names(*selected), (std::vector<std::string>{"mlx5_2", "mlx5_0"}));
    EXPECT_EQ((*selected)[0].port_num, 1);
    EXPECT_EQ((*selected)[0].gid_index, 0u);
}

TEST(RdmaDeviceSelectionTest, PicksTheFirstActivePort) {
    DeviceInfo device;
    device.name = "mlx5_0";
    device.ports.push_back(IbPort(1, /*active=*/false, 1));
    device.ports.push_back(IbPort(2, /*active=*/true, 2));
    std::string why;
    auto selected = SelectDevices(Input("mlx5_0"), {device}, &why);
    ASSERT_TRUE(selected.has_value()) << why;
    EXPECT_EQ((*selected)[0].port_num, 2);
}

TEST(RdmaDeviceSelectionTest, UnknownOrDownNamedDeviceIsAnError) {
    const std::vector<DeviceInfo> present = {IbDevice("mlx5_0"), IbDevice("mlx5_1", false)};
    std::string why;
    auto missing = SelectDevices(Input("mlx5_0,mlx5_9"), present, &why);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    EXPECT_NE(why.find("'mlx5_9'"), std::string::npos) << why;
    EXPECT_NE(why.find("mlx5_0, mlx5_1"), std::string::npos) << why;

    why.clear();
    auto down = SelectDevices(Input("mlx5_1"), present, &why);
    ASSERT_FALSE(down.has_value());
    EXPECT_NE(why.find("no ACTIVE port"), std::string::npos) << why;

    why.clear();
    auto malformed = SelectDevices(Input("mlx5_0;rm -rf"), present, &why);
    ASSERT_FALSE(malformed.has_value());
    EXPECT_NE(why.find("rdma_devices"), std::string::npos) << why;
}

TEST(RdmaDeviceSelectionTest, NothingNamedAndNoDiscoveryIsAnError) {
    std::string why;
    auto none_here = SelectDevices(Input(""), {}, &why);
    ASSERT_FALSE(none_here.has_value());
    EXPECT_EQ(none_here.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    EXPECT_NE(why.find("no RDMA device found"), std::string::npos) << why;
    EXPECT_NE(why.find("protocol=tcp"), std::string::npos) << why;

    why.clear();
    auto unnamed = SelectDevices(Input(""), {IbDevice("mlx5_0")}, &why);
    ASSERT_FALSE(unnamed.has_value());
    EXPECT_NE(why.find("MC_MS_AUTO_DISC=1"), std::string::npos) << why;
    EXPECT_NE(why.find("mlx5_0"), std::string::npos) << why;
}

TEST(RdmaDeviceSelectionTest, AutoDiscoveryTakesEveryActiveDevice) {
    const std::vector<DeviceInfo> present = {IbDevice("mlx5_0"), IbDevice("mlx5_1", false),
                                             IbDevice("mlx5_2")};
    std::string why;
    auto selected = SelectDevices(Input("", true), present, &why);
    ASSERT_TRUE(selected.has_value()) << why;
    EXPECT_EQ(Names(*selected), (std::vector<std::string>{"mlx5_0", "mlx5_2"}));
}

TEST(RdmaDeviceSelectionTest, AutoDiscoveryHonoursTheFilterWhitelist) {
    const std::vector<DeviceInfo> present = {IbDevice("mlx5_0"), IbDevice("mlx5_1"),
                                             IbDevice("mlx5_2")};
    std::string why;
    auto selected = SelectDevices(Input("", true, "mlx5_2, mlx5_0, mlx5_7"), present, &why);
    ASSERT_TRUE(selected.has_value()) << why;
    // Discovery order, whitelisted ones only; unknown filter names are harmless.
    EXPECT_EQ(Names(*selected), (std::vector<std::string>{"mlx5_0", "mlx5_2"}));

    why.clear();
    auto nothing = SelectDevices(Input("", true, "mlx5_7"), present, &why);
    ASSERT_FALSE(nothing.has_value());
    EXPECT_NE(why.find("MC_MS_FILTERS=mlx5_7"), std::string::npos) << why;

    why.clear();
    auto bad_filter = SelectDevices(Input("", true, "mlx5_0|mlx5_1"), present, &why);
    ASSERT_FALSE(bad_filter.has_value());
    EXPECT_NE(why.find("MC_MS_FILTERS"), std::string::npos) << why;
}

TEST(RdmaDeviceSelectionTest, AutoDiscoveryWithoutDevicesIsAnError) {
    std::string why;
    auto none = SelectDevices(Input("", true), {}, &why);
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error(), ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    EXPECT_NE(why.find("no RDMA device on this host"), std::string::npos) << why;

    why.clear();
    auto all_down = SelectDevices(Input("", true), {IbDevice("mlx5_0", false)}, &why);
    ASSERT_FALSE(all_down.has_value());
    EXPECT_NE(why.find("mlx5_0: no ACTIVE port"), std::string::npos) << why;
}

TEST(RdmaDeviceSelectionTest, ExplicitListWinsOverDiscovery) {
    const std::vector<DeviceInfo> present = {IbDevice("mlx5_0"), IbDevice("mlx5_1")};
    std::string why;
    auto selected = SelectDevices(Input("mlx5_1", true, "mlx5_0"), present, &why);
    ASSERT_TRUE(selected.has_value()) << why;
    EXPECT_EQ(Names(*selected), (std::vector<std::string>{"mlx5_1"}));
}

TEST(RdmaDeviceSelectionTest, ReadsDiscoverySettingsFromTheEnvironment) {
    {
        ScopedEnv discover("MC_MS_AUTO_DISC", "1");
        ScopedEnv filters("MC_MS_FILTERS", "mlx5_3,mlx5_4");
        const DeviceSelectionInput input = DeviceSelectionInput::FromEnv("mlx5_0", 5);
        EXPECT_TRUE(input.auto_discover);
        EXPECT_EQ(input.discovery_filters, "mlx5_3,mlx5_4");
        EXPECT_EQ(input.configured_devices, "mlx5_0");
        EXPECT_EQ(input.gid_index, 5u);
    }
    {
        ScopedEnv discover("MC_MS_AUTO_DISC", nullptr);
        ScopedEnv filters("MC_MS_FILTERS", nullptr);
        const DeviceSelectionInput input = DeviceSelectionInput::FromEnv("", std::nullopt);
        EXPECT_FALSE(input.auto_discover);
        EXPECT_TRUE(input.discovery_filters.empty());
    }
    {
        ScopedEnv discover("MC_MS_AUTO_DISC", "0");
        EXPECT_FALSE(DeviceSelectionInput::FromEnv("", std::nullopt).auto_discover);
    }
}

TEST(RdmaDeviceSelectionTest, ChoosesGidIndexes) {
    std::string why;
    // InfiniBand: index 0.
    EXPECT_EQ(ChooseGidIndex(IbPort(1, true, 3), std::nullopt, &why).value(), 0u);

    // RoCE: the IPv4-mapped RoCE v2 entry beats the others.
    const DeviceInfo roce =
        RoceDevice("rocep1s0", {{0, GidWithLastByte(1), GidType::kRoceV1},
                                {1, GidWithLastByte(1), GidType::kRoceV2},
                                {2, GidWithLastByte(9, true), GidType::kRoceV1},
                                {3, GidWithLastByte(9, true), GidType::kRoceV2}});
    EXPECT_EQ(ChooseGidIndex(roce.ports[0], std::nullopt, &why).value(), 3u);
    // Without it, any RoCE v2 entry, then anything.
    const DeviceInfo v2_only = RoceDevice("r", {{0, GidWithLastByte(1), GidType::kRoceV1},
                                                {1, GidWithLastByte(1), GidType::kRoceV2}});
    EXPECT_EQ(ChooseGidIndex(v2_only.ports[0], std::nullopt, &why).value(), 1u);
    const DeviceInfo v1_only = RoceDevice("r", {{4, GidWithLastByte(1), GidType::kUnknown}});
    EXPECT_EQ(ChooseGidIndex(v1_only.ports[0], std::nullopt, &why).value(), 4u);

    // MC_GID_INDEX is honoured when the port has it, refused otherwise.
    EXPECT_EQ(ChooseGidIndex(roce.ports[0], 1u, &why).value(), 1u);
    auto absent = ChooseGidIndex(roce.ports[0], 7u, &why);
    ASSERT_FALSE(absent.has_value());
    EXPECT_NE(why.find("MC_GID_INDEX=7"), std::string::npos) << why;

    // A RoCE port without any GID cannot be used.
    const DeviceInfo bare = RoceDevice("r", {});
    why.clear();
    EXPECT_FALSE(ChooseGidIndex(bare.ports[0], std::nullopt, &why).has_value());
    EXPECT_NE(why.find("without a GID"), std::string::npos) << why;
    // ... and discovery skips it with the reason.
    why.clear();
    auto skipped = SelectDevices(Input("", true), {bare}, &why);
    ASSERT_FALSE(skipped.has_value());
    EXPECT_NE(why.find("without a GID"), std::string::npos) << why;
}

// ---------------------------------------------------------------------------
// Endpoint and rkeys

DeviceEndpoint SampleEndpoint(const std::string& name = "mlx5_0") {
    DeviceEndpoint endpoint;
    endpoint.name = name;
    endpoint.port = 1;
    endpoint.lid = 12;
    endpoint.gid = GidWithLastByte(12);
    endpoint.mtu = 4096;
    endpoint.link_layer = LinkLayer::kInfiniBand;
    return endpoint;
}

TEST(RdmaEndpointTest, RoundTrips) {
    DeviceEndpoint roce = SampleEndpoint("rocep1s0");
    roce.link_layer = LinkLayer::kEthernet;
    roce.lid = 0;
    roce.mtu = 1024;
    const std::vector<DeviceEndpoint> devices = {SampleEndpoint(), roce};
    const nlohmann::json json = EncodeEndpoint(devices);
    EXPECT_EQ(json["devices"][1]["link_layer"], "ethernet");
    EXPECT_EQ(json["devices"][0]["gid"], GidWithLastByte(12).ToString());
    // Through text, as peers see it.
    auto decoded = DecodeEndpoint(nlohmann::json::parse(json.dump()));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, devices);
}

TEST(RdmaEndpointTest, RefusesMalformedEntries) {
    const nlohmann::json good = EncodeDeviceEndpoint(SampleEndpoint());
    ASSERT_TRUE(DecodeDeviceEndpoint(good).has_value());
    auto with = [&](const char* key, nlohmann::json value) {
        nlohmann::json changed = good;
        if (value.is_discarded()) {
            changed.erase(key);
        } else {
            changed[key] = std::move(value);
        }
        return DecodeDeviceEndpoint(changed);
    };
    const nlohmann::json missing = nlohmann::json(nlohmann::json::value_t::discarded);
    for (const char* key : {"name", "port", "lid", "gid", "mtu", "link_layer"}) {
        EXPECT_FALSE(with(key, missing).has_value()) << "without " << key;
    }
    EXPECT_FALSE(with("name", "").has_value());
    EXPECT_FALSE(with("name", "a/b").has_value());
    EXPECT_FALSE(with("name", 5).has_value());
    EXPECT_FALSE(with("port", 0).has_value());
    EXPECT_FALSE(with("port", 256).has_value());
    EXPECT_FALSE(with("port", -1).has_value());
    EXPECT_FALSE(with("port", "1").has_value());
    EXPECT_FALSE(with("lid", 65536).has_value());
    EXPECT_FALSE(with("lid", 1.5).has_value());
    EXPECT_FALSE(with("gid", "fe80::1").has_value());
    EXPECT_FALSE(with("mtu", 1500).has_value());
    EXPECT_FALSE(with("mtu", 0).has_value());
    EXPECT_FALSE(with("link_layer", "iwarp").has_value());
    EXPECT_FALSE(DecodeDeviceEndpoint(nlohmann::json::array()).has_value());
    EXPECT_FALSE(DecodeDeviceEndpoint(nullptr).has_value());
}

TEST(RdmaEndpointTest, RefusesMalformedLists) {
    EXPECT_FALSE(DecodeEndpoint(nlohmann::json::object()).has_value());
    EXPECT_FALSE(DecodeEndpoint({{"devices", nlohmann::json::array()}}).has_value());
    EXPECT_FALSE(DecodeEndpoint({{"devices", "mlx5_0"}}).has_value());
    EXPECT_FALSE(DecodeEndpoint(nlohmann::json::array()).has_value());
    // The same device twice.
    EXPECT_FALSE(DecodeEndpoint(EncodeEndpoint({SampleEndpoint(), SampleEndpoint()})).has_value());
    // Too many devices.
    std::vector<DeviceEndpoint> many;
    for (size_t i = 0; i <= kMaxEndpointDevices; ++i) {
        many.push_back(SampleEndpoint("dev" + std::to_string(i)));
    }
    EXPECT_FALSE(DecodeEndpoint(EncodeEndpoint(many)).has_value());
    many.pop_back();
    EXPECT_TRUE(DecodeEndpoint(EncodeEndpoint(many)).has_value());
    // One bad entry spoils the list.
    nlohmann::json list = EncodeEndpoint({SampleEndpoint("a"), SampleEndpoint("b")});
    list["devices"][1]["mtu"] = 3;
    EXPECT_FALSE(DecodeEndpoint(list).has_value());
}

TEST(RdmaEndpointTest, FindsRemoteKeysPerDevice) {
    const nlohmann::json published = EncodeRemoteKeys({{"mlx5_0", 17}, {"mlx5_1", 0xffffffffu}});
    const nlohmann::json range_transports = {{"rdma", published}};
    EXPECT_EQ(FindRemoteKey(range_transports, "mlx5_0"), 17u);
    EXPECT_EQ(FindRemoteKey(range_transports, "mlx5_1"), 0xffffffffu);
    EXPECT_FALSE(FindRemoteKey(range_transports, "mlx5_2").has_value());
    EXPECT_FALSE(FindRemoteKey(nlohmann::json::object(), "mlx5_0").has_value());
    EXPECT_FALSE(FindRemoteKey({{"rdma", {{"rkey", {1, 2}}}}}, "mlx5_0").has_value());
    EXPECT_FALSE(FindRemoteKey({{"rdma", {{"rkey", {{"mlx5_0", "17"}}}}}}, "mlx5_0").has_value());
    EXPECT_FALSE(FindRemoteKey({{"rdma", {{"rkey", {{"mlx5_0", -17}}}}}}, "mlx5_0").has_value());
    EXPECT_FALSE(
        FindRemoteKey({{"rdma", {{"rkey", {{"mlx5_0", 1ull << 32}}}}}}, "mlx5_0").has_value());
    EXPECT_FALSE(FindRemoteKey({{"rdma", "x"}}, "mlx5_0").has_value());
}

// ---------------------------------------------------------------------------
// Handshake

ConnectRequest SampleRequest() {
    ConnectRequest request;
    request.requester_instance = UUID::Generate();
    request.responder_instance = UUID::Generate();
    request.device = SampleEndpoint("mlx5_3");
    request.target_device = "mlx5_0";
    request.queue_pairs = {{0x123, 7}, {0xffffff, 0}, {1, 0xffffff}};
    return request;
}

TEST(RdmaHandshakeTest, RequestAndReplyRoundTrip) {
    const ConnectRequest request = SampleRequest();
    auto decoded =
        DecodeConnectRequest(nlohmann::json::parse(EncodeConnectRequest(request).dump()));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->requester_instance, request.requester_instance);
    EXPECT_EQ(decoded->responder_instance, request.responder_instance);
    EXPECT_EQ(decoded->device, request.device);
    EXPECT_EQ(decoded->target_device, request.target_device);
    EXPECT_EQ(decoded->queue_pairs, request.queue_pairs);

    ConnectReply reply;
    reply.responder_instance = UUID::Generate();
    reply.device = SampleEndpoint("mlx5_0");
    reply.queue_pairs = {{5, 6}, {7, 8}, {9, 10}};
    auto reply_decoded = DecodeConnectReply(EncodeConnectReply(reply), 3);
    ASSERT_TRUE(reply_decoded.has_value());
    EXPECT_EQ(reply_decoded->responder_instance, reply.responder_instance);
    EXPECT_EQ(reply_decoded->device, reply.device);
    EXPECT_EQ(reply_decoded->queue_pairs, reply.queue_pairs);
    // A reply must answer with as many queue pairs as were offered.
    EXPECT_FALSE(DecodeConnectReply(EncodeConnectReply(reply), 2).has_value());
    // A request is not a reply and the other way round.
    EXPECT_FALSE(DecodeConnectReply(EncodeConnectRequest(request), 3).has_value());
    EXPECT_FALSE(DecodeConnectRequest(EncodeConnectReply(reply)).has_value());
}

TEST(RdmaHandshakeTest, RefusesMalformedAndHostileRequests) {
    const nlohmann::json good = EncodeConnectRequest(SampleRequest());
    ASSERT_TRUE(DecodeConnectRequest(good).has_value());
    std::vector<std::pair<std::string, nlohmann::json>> bad;
    auto variant = [&](std::string label, auto change) {
        nlohmann::json copy = good;
        change(copy);
        bad.emplace_back(std::move(label), std::move(copy));
    };
    for (const char* key : {"op", "version", "requester_instance", "responder_instance", "device",
                            "target_device", "qps"}) {
        variant(std::string("without ") + key, [&](nlohmann::json& j) { j.erase(key); });
    }
    variant("op accept", [](auto& j) { j["op"] = "accept"; });
    variant("op number", [](auto& j) { j["op"] = 1; });
    variant("version 2", [](auto& j) { j["version"] = 2; });
    variant("version string", [](auto& j) { j["version"] = "1"; });
    variant("nil uuid",
            [](auto& j) { j["requester_instance"] = "00000000-0000-0000-0000-000000000000"; });
    variant("bad uuid", [](auto& j) { j["responder_instance"] = "not-a-uuid"; });
    variant("uuid number", [](auto& j) { j["responder_instance"] = 12; });
    variant("target with slash", [](auto& j) { j["target_device"] = "../mlx5_0"; });
    variant("target empty", [](auto& j) { j["target_device"] = ""; });
    variant("device not object", [](auto& j) { j["device"] = "mlx5_3"; });
    variant("device bad mtu", [](auto& j) { j["device"]["mtu"] = 9000; });
    variant("qps not array", [](auto& j) { j["qps"] = nlohmann::json::object(); });
    variant("qps empty", [](auto& j) { j["qps"] = nlohmann::json::array(); });
    variant("qp_num zero", [](auto& j) { j["qps"][0]["qp_num"] = 0; });
    variant("qp_num 25 bits", [](auto& j) { j["qps"][0]["qp_num"] = 0x1000000; });
    variant("qp_num negative", [](auto& j) { j["qps"][0]["qp_num"] = -5; });
    variant("qp_num float", [](auto& j) { j["qps"][0]["qp_num"] = 5.5; });
    variant("qp_num string", [](auto& j) { j["qps"][0]["qp_num"] = "5"; });
    variant("qp_num huge",
            [](auto& j) { j["qps"][0]["qp_num"] = std::numeric_limits<uint64_t>::max(); });
    variant("psn 25 bits", [](auto& j) { j["qps"][1]["psn"] = 0x1000000; });
    variant("psn missing", [](auto& j) { j["qps"][1].erase("psn"); });
    variant("qp not object", [](auto& j) { j["qps"][2] = 5; });
    variant("repeated qp_num", [](auto& j) { j["qps"][1]["qp_num"] = j["qps"][0]["qp_num"]; });
    variant("too many qps", [](auto& j) {
        j["qps"] = nlohmann::json::array();
        for (uint32_t i = 1; i <= kMaxHandshakeQueuePairs + 1; ++i) {
            j["qps"].push_back({{"qp_num", i}, {"psn", 0}});
        }
    });
    for (const auto& [label, json] : bad) {
        auto decoded = DecodeConnectRequest(json);
        ASSERT_FALSE(decoded.has_value()) << label;
        EXPECT_EQ(decoded.error(), ErrorCode::INVALID_PARAMS) << label;
    }
    for (const nlohmann::json& other :
         {nlohmann::json(nullptr), nlohmann::json::array(), nlohmann::json("connect"),
          nlohmann::json(42), nlohmann::json::object()}) {
        EXPECT_FALSE(DecodeConnectRequest(other).has_value()) << other.dump();
    }
    // The most queue pairs allowed still decode.
    nlohmann::json most = good;
    most["qps"] = nlohmann::json::array();
    for (uint32_t i = 1; i <= kMaxHandshakeQueuePairs; ++i) {
        most["qps"].push_back({{"qp_num", i}, {"psn", i}});
    }
    EXPECT_TRUE(DecodeConnectRequest(most).has_value());
    // Unknown extra fields are ignored (newer peers may add some).
    nlohmann::json extended = good;
    extended["future"] = {{"x", 1}};
    EXPECT_TRUE(DecodeConnectRequest(extended).has_value());
}

// ---------------------------------------------------------------------------
// Device pairing

TEST(RdmaDevicePairingTest, PairsCompatibleDevicesAndSpreadsThem) {
    DeviceEndpoint ib0 = SampleEndpoint("ib0");
    DeviceEndpoint ib1 = SampleEndpoint("ib1");
    DeviceEndpoint roce = SampleEndpoint("roce0");
    roce.link_layer = LinkLayer::kEthernet;
    roce.lid = 0;
    DeviceEndpoint ib_no_lid = SampleEndpoint("ib2");
    ib_no_lid.lid = 0;
    DeviceEndpoint roce_no_gid = roce;
    roce_no_gid.gid = Gid();

    EXPECT_TRUE(CanConnect(ib0, ib1));
    EXPECT_FALSE(CanConnect(ib0, roce));
    EXPECT_FALSE(CanConnect(ib0, ib_no_lid));
    EXPECT_TRUE(CanConnect(roce, roce));
    EXPECT_FALSE(CanConnect(roce, roce_no_gid));

    auto spread = PairDevices({ib0, ib1}, {ib0, ib1});
    ASSERT_EQ(spread.size(), 2u);
    EXPECT_EQ(spread[0], 0u);
    EXPECT_EQ(spread[1], 1u);
    auto shared = PairDevices({ib0, ib1}, {roce, ib1});
    EXPECT_EQ(shared[0], 1u);
    EXPECT_EQ(shared[1], 1u);
    auto mixed = PairDevices({roce, ib0}, {ib1});
    EXPECT_FALSE(mixed[0].has_value());
    EXPECT_EQ(mixed[1], 0u);
    auto none = PairDevices({roce}, {ib0, ib1});
    EXPECT_FALSE(none[0].has_value());
}

TEST(RdmaDevicePairingTest, BuildsRemotePaths) {
    DeviceEndpoint local = SampleEndpoint("a");
    DeviceEndpoint remote = SampleEndpoint("b");
    remote.mtu = 2048;
    remote.lid = 99;
    RemotePath ib = MakeRemotePath(local, remote, 0x55, 0x66);
    EXPECT_EQ(ib.qp_num, 0x55u);
    EXPECT_EQ(ib.psn, 0x66u);
    EXPECT_EQ(ib.lid, 99);
    EXPECT_EQ(ib.path_mtu, 2048u);
    EXPECT_FALSE(ib.use_global_route);

    local.link_layer = remote.link_layer = LinkLayer::kEthernet;
    RemotePath roce = MakeRemotePath(local, remote, 1, 2);
    EXPECT_TRUE(roce.use_global_route);
    EXPECT_EQ(roce.gid, remote.gid);
}

// ---------------------------------------------------------------------------
// Chunking

TEST(RdmaChunkingTest, CountsChunks) {
    EXPECT_EQ(ChunkCount(0, 4096), 0u);
    EXPECT_EQ(ChunkCount(1, 4096), 1u);
    EXPECT_EQ(ChunkCount(4096, 4096), 1u);
    EXPECT_EQ(ChunkCount(4097, 4096), 2u);
    EXPECT_EQ(ChunkCount(std::numeric_limits<uint64_t>::max(), 1u << 26),
              (std::numeric_limits<uint64_t>::max() >> 26) + 1);
}

// Checks every promise of SplitAcrossLanes for one input.
void ExpectValidSplit(uint64_t length, uint64_t chunk, size_t lanes) {
    SCOPED_TRACE("length " + std::to_string(length) + " chunk " + std::to_string(chunk) +
                 " lanes " + std::to_string(lanes));
    const std::vector<ByteSpan> parts = SplitAcrossLanes(length, chunk, lanes);
    const uint64_t chunks = ChunkCount(length, chunk);
    ASSERT_EQ(parts.size(), std::min<uint64_t>(lanes, chunks));
    uint64_t next = 0;
    uint64_t total_chunks = 0;
    uint64_t smallest = std::numeric_limits<uint64_t>::max();
    uint64_t largest = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
        ASSERT_EQ(parts[i].offset, next);
        ASSERT_GT(parts[i].length, 0u);
        if (i + 1 < parts.size()) {
            ASSERT_EQ(parts[i].length % chunk, 0u);
        }
        const uint64_t part_chunks = ChunkCount(parts[i].length, chunk);
        total_chunks += part_chunks;
        smallest = std::min(smallest, part_chunks);
        largest = std::max(largest, part_chunks);
        next += parts[i].length;
    }
    EXPECT_EQ(next, length);
    EXPECT_EQ(total_chunks, chunks);
    if (!parts.empty()) {
        EXPECT_LE(largest - smallest, 1u);
    }
}

TEST(RdmaChunkingTest, SplitsAcrossLanesOnChunkBoundaries) {
    for (uint64_t chunk : {1u, 3u, 4096u}) {
        for (uint64_t length = 1; length <= 40; ++length) {
            for (size_t lanes = 1; lanes <= 5; ++lanes) {
                ExpectValidSplit(length * chunk - (length % 2), chunk, lanes);
            }
        }
    }
    ExpectValidSplit(1, 4096, 8);
    ExpectValidSplit(64ull << 30, 1u << 20, 8);
    ExpectValidSplit((64ull << 30) + 5, 256u << 10, 3);
    // Close to 2^64: nothing overflows.
    ExpectValidSplit(std::numeric_limits<uint64_t>::max() - 7, 64u << 20, 4);
    EXPECT_TRUE(SplitAcrossLanes(0, 4096, 4).empty());
    EXPECT_TRUE(SplitAcrossLanes(4096, 4096, 0).empty());
}

TEST(RdmaChunkingTest, ExampleSplit) {
    // 10 chunks over 3 lanes: 4 + 3 + 3, the last one trimmed.
    const auto parts = SplitAcrossLanes(10 * 100 - 30, 100, 3);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0], (ByteSpan{0, 400}));
    EXPECT_EQ(parts[1], (ByteSpan{400, 300}));
    EXPECT_EQ(parts[2], (ByteSpan{700, 270}));
}

// ---------------------------------------------------------------------------
// Queue pair bookkeeping

TEST(RdmaQueuePairStateTest, FollowsTheVerbsStateMachine) {
    QueuePairState state(4);
    EXPECT_EQ(state.phase(), QueuePairPhase::kReset);
    EXPECT_FALSE(state.Advance(QueuePairPhase::kReadyToReceive));
    EXPECT_FALSE(state.Advance(QueuePairPhase::kReadyToSend));
    EXPECT_EQ(state.phase(), QueuePairPhase::kReset);
    EXPECT_TRUE(state.Advance(QueuePairPhase::kInit));
    EXPECT_FALSE(state.Advance(QueuePairPhase::kInit));
    EXPECT_FALSE(state.Advance(QueuePairPhase::kReadyToSend));
    EXPECT_TRUE(state.Advance(QueuePairPhase::kReadyToReceive));
    EXPECT_FALSE(state.Advance(QueuePairPhase::kReset));
    EXPECT_TRUE(state.Advance(QueuePairPhase::kReadyToSend));
    EXPECT_FALSE(state.Advance(QueuePairPhase::kInit));
    EXPECT_EQ(state.phase(), QueuePairPhase::kReadyToSend);
    EXPECT_TRUE(state.Advance(QueuePairPhase::kError));
    EXPECT_FALSE(state.Advance(QueuePairPhase::kReadyToSend));
    EXPECT_EQ(QueuePairPhaseName(state.phase()), "ERROR");

    QueuePairState early(4);
    EXPECT_TRUE(early.Advance(QueuePairPhase::kError));  // from any phase
}

TEST(RdmaQueuePairStateTest, BoundsOutstandingWork) {
    QueuePairState state(3);
    EXPECT_EQ(state.available(), 0u);
    EXPECT_FALSE(state.Acquire(1));  // not in RTS yet
    state.Advance(QueuePairPhase::kInit);
    state.Advance(QueuePairPhase::kReadyToReceive);
    EXPECT_FALSE(state.Acquire(1));
    state.Advance(QueuePairPhase::kReadyToSend);
    EXPECT_EQ(state.available(), 3u);
    EXPECT_TRUE(state.Acquire(2));
    EXPECT_FALSE(state.Acquire(2));
    EXPECT_EQ(state.outstanding(), 2u);
    EXPECT_TRUE(state.Acquire(1));
    EXPECT_EQ(state.available(), 0u);
    EXPECT_FALSE(state.Acquire(1));
    EXPECT_TRUE(state.Release(1));
    EXPECT_EQ(state.available(), 1u);
    // After an error nothing new goes out, but what was out still completes.
    state.Advance(QueuePairPhase::kError);
    EXPECT_EQ(state.available(), 0u);
    EXPECT_FALSE(state.Acquire(1));
    EXPECT_FALSE(state.Release(3));
    EXPECT_TRUE(state.Release(2));
    EXPECT_EQ(state.outstanding(), 0u);
    EXPECT_FALSE(state.Release(1));
}

// ---------------------------------------------------------------------------
// Tunables

TEST(RdmaTunablesTest, ReadsTheEnvironmentAndIgnoresNonsense) {
    {
        ScopedEnv slice("MC_SLICE_SIZE", "1 MB");
        ScopedEnv qps("MC_NUM_QP_PER_EP", "4");
        ScopedEnv wr("MC_MAX_WR", "64");
        ScopedEnv cqe("MC_MAX_CQE_PER_CTX", "1024");
        ScopedEnv gid("MC_GID_INDEX", "3");
        const RdmaTunables tunables = RdmaTunables::FromEnv();
        EXPECT_EQ(tunables.chunk_size, 1u << 20);
        EXPECT_EQ(tunables.queue_pairs_per_connection, 4u);
        EXPECT_EQ(tunables.max_outstanding_per_queue_pair, 64u);
        EXPECT_EQ(tunables.completion_queue_size, 1024u);
        EXPECT_EQ(tunables.gid_index, 3u);
    }
    {
        const RdmaTunables defaults;
        ScopedEnv slice("MC_SLICE_SIZE", "1");  // below the minimum
        ScopedEnv qps("MC_NUM_QP_PER_EP", "17");
        ScopedEnv wr("MC_MAX_WR", "-1");
        ScopedEnv cqe("MC_MAX_CQE_PER_CTX", "many");
        ScopedEnv gid("MC_GID_INDEX", "");
        const RdmaTunables tunables = RdmaTunables::FromEnv();
        EXPECT_EQ(tunables.chunk_size, defaults.chunk_size);
        EXPECT_EQ(tunables.queue_pairs_per_connection, defaults.queue_pairs_per_connection);
        EXPECT_EQ(tunables.max_outstanding_per_queue_pair, defaults.max_outstanding_per_queue_pair);
        EXPECT_EQ(tunables.completion_queue_size, defaults.completion_queue_size);
        EXPECT_FALSE(tunables.gid_index.has_value());
    }
}

// ---------------------------------------------------------------------------
// Completion accounting and the local key table

TEST(RdmaTaskCompletionTest, CallsBackOnceWhenEveryByteIsAccountedFor) {
    int calls = 0;
    ErrorCode seen = ErrorCode::INTERNAL_ERROR;
    TaskCompletion task(
        100, [&](ErrorCode code) { ++calls, seen = code; }, nullptr);
    EXPECT_FALSE(task.cancelled());
    EXPECT_FALSE(task.BytesDone(40, true));
    EXPECT_FALSE(task.BytesDone(50, true));
    EXPECT_TRUE(task.BytesDone(10, true));
    task.Finish();
    task.Finish();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(seen, ErrorCode::OK);

    std::atomic<bool> cancelled{false};
    TaskCompletion failing(
        10, [&](ErrorCode code) { ++calls, seen = code; }, &cancelled);
    cancelled = true;
    EXPECT_TRUE(failing.cancelled());
    EXPECT_FALSE(failing.BytesDone(5, false));
    EXPECT_TRUE(failing.BytesDone(5, true));
    failing.Finish();
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(seen, ErrorCode::TRANSFER_FAIL);
}

class KeyOnlyRegion : public MemoryRegion {
   public:
    KeyOnlyRegion(uint32_t key, int* alive) : key_(key), alive_(alive) { ++*alive_; }
    ~KeyOnlyRegion() override { --*alive_; }
    uint32_t lkey() const override { return key_; }
    uint32_t rkey() const override { return key_ + 1; }

   private:
    uint32_t key_;
    int* alive_;
};

TEST(RdmaMemoryTableTest, FindsKeysRefusesOverlapsAndReleases) {
    int alive = 0;
    MemoryRegionTable table;
    auto regions = [&](uint32_t base) {
        std::vector<std::unique_ptr<MemoryRegion>> list;
        list.push_back(std::make_unique<KeyOnlyRegion>(base, &alive));
        list.push_back(std::make_unique<KeyOnlyRegion>(base + 10, &alive));
        return list;
    };
    ASSERT_TRUE(table.Add(1000, 100, regions(1)));
    ASSERT_TRUE(table.Add(1100, 50, regions(2)));
    EXPECT_EQ(table.Add(1050, 10, regions(3)).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(table.Add(990, 11, regions(3)).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(table.Add(1149, 1, regions(3)).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(table.Add(5, 0, regions(3)).error(), ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(alive, 4);  // refused entries were dropped
    EXPECT_EQ(table.size(), 2u);

    std::vector<uint32_t> keys;
    ASSERT_TRUE(table.FindLocalKeys(1000, 100, &keys));
    EXPECT_EQ(keys, (std::vector<uint32_t>{1, 11}));
    ASSERT_TRUE(table.FindLocalKeys(1120, 30, &keys));
    EXPECT_EQ(keys, (std::vector<uint32_t>{2, 12}));
    EXPECT_FALSE(table.FindLocalKeys(1090, 20, &keys));  // spans two registrations
    EXPECT_FALSE(table.FindLocalKeys(999, 2, &keys));
    EXPECT_FALSE(table.FindLocalKeys(1149, 2, &keys));

    EXPECT_TRUE(table.Remove(1234).empty());
    auto removed = table.Remove(1000);
    EXPECT_EQ(removed.size(), 2u);
    removed.clear();
    EXPECT_EQ(alive, 2);
    EXPECT_FALSE(table.FindLocalKeys(1000, 1, &keys));
    table.RemoveAll();
    EXPECT_EQ(alive, 0);
    EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace mooncake::rdma
