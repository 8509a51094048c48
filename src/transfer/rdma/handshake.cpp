#include "transfer/rdma/handshake.h"

#include "transfer/rdma/device_selection.h"
#include "transfer/segment_descriptor.h"

namespace mooncake::rdma {

namespace {

constexpr char kConnectOp[] = "connect";
constexpr char kAcceptOp[] = "accept";

nlohmann::json EncodeQueuePairs(const std::vector<QueuePairAddress>& queue_pairs) {
    nlohmann::json list = nlohmann::json::array();
    for (const QueuePairAddress& address : queue_pairs) {
        list.push_back({{"qp_num", address.qp_num}, {"psn", address.psn}});
    }
    return list;
}

std::optional<uint32_t> BoundedField(const nlohmann::json& json, const char* key, uint32_t max) {
    auto it = json.find(key);
    if (it == json.end() || !it->is_number_unsigned()) return std::nullopt;
    const uint64_t value = it->get<uint64_t>();
    if (value > max) return std::nullopt;
    return static_cast<uint32_t>(value);
}

Result<std::vector<QueuePairAddress>> DecodeQueuePairs(const nlohmann::json& json) {
    auto list = json.find("qps");
    if (list == json.end() || !list->is_array() || list->empty() ||
        list->size() > kMaxHandshakeQueuePairs) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::vector<QueuePairAddress> queue_pairs;
    for (const nlohmann::json& entry : *list) {
        if (!entry.is_object()) return Error(ErrorCode::INVALID_PARAMS);
        auto qp_num = BoundedField(entry, "qp_num", kMaxQueuePairNumber);
        auto psn = BoundedField(entry, "psn", kMaxPacketSequenceNumber);
        if (!qp_num || *qp_num == 0 || !psn) return Error(ErrorCode::INVALID_PARAMS);
        for (const QueuePairAddress& earlier : queue_pairs) {
            if (earlier.qp_num == *qp_num) return Error(ErrorCode::INVALID_PARAMS);
        }
        queue_pairs.push_back({*qp_num, *psn});
    }
    return queue_pairs;
}

// The common header: op and version must match.
bool HasHeader(const nlohmann::json& json, const char* op) {
    if (!json.is_object()) return false;
    auto op_field = json.find("op");
    if (op_field == json.end() || !op_field->is_string() || *op_field != op) return false;
    auto version = BoundedField(json, "version", 0xffffffffu);
    return version && *version == kHandshakeVersion;
}

Result<UUID> DecodeInstance(const nlohmann::json& json, const char* key) {
    auto it = json.find(key);
    if (it == json.end() || !it->is_string()) return Error(ErrorCode::INVALID_PARAMS);
    auto id = ParseUuid(it->get_ref<const std::string&>());
    if (!id || id->IsNil()) return Error(ErrorCode::INVALID_PARAMS);
    return *id;
}

Result<DeviceEndpoint> DecodeDevice(const nlohmann::json& json) {
    auto it = json.find("device");
    if (it == json.end()) return Error(ErrorCode::INVALID_PARAMS);
    return DecodeDeviceEndpoint(*it);
}

}  // namespace

nlohmann::json EncodeConnectRequest(const ConnectRequest& request) {
    return nlohmann::json{{"op", kConnectOp},
                          {"version", kHandshakeVersion},
                          {"requester_instance", request.requester_instance.ToString()},
                          {"responder_instance", request.responder_instance.ToString()},
                          {"device", EncodeDeviceEndpoint(request.device)},
                          {"target_device", request.target_device},
                          {"qps", EncodeQueuePairs(request.queue_pairs)}};
}

nlohmann::json EncodeConnectReply(const ConnectReply& reply) {
    return nlohmann::json{{"op", kAcceptOp},
                          {"version", kHandshakeVersion},
                          {"responder_instance", reply.responder_instance.ToString()},
                          {"device", EncodeDeviceEndpoint(reply.device)},
                          {"qps", EncodeQueuePairs(reply.queue_pairs)}};
}

Result<ConnectRequest> DecodeConnectRequest(const nlohmann::json& json) {
    if (!HasHeader(json, kConnectOp)) return Error(ErrorCode::INVALID_PARAMS);
    ConnectRequest request;
    auto requester = DecodeInstance(json, "requester_instance");
    auto responder = DecodeInstance(json, "responder_instance");
    auto device = DecodeDevice(json);
    auto queue_pairs = DecodeQueuePairs(json);
    auto target = json.find("target_device");
    if (!requester || !responder || !device || !queue_pairs || target == json.end() ||
        !target->is_string() || !IsValidDeviceName(target->get_ref<const std::string&>())) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    request.requester_instance = *requester;
    request.responder_instance = *responder;
    request.device = std::move(*device);
    request.target_device = target->get<std::string>();
    request.queue_pairs = std::move(*queue_pairs);
    return request;
}

Result<ConnectReply> DecodeConnectReply(const nlohmann::json& json, size_t expected_queue_pairs) {
    if (!HasHeader(json, kAcceptOp)) return Error(ErrorCode::INVALID_PARAMS);
    auto responder = DecodeInstance(json, "responder_instance");
    auto device = DecodeDevice(json);
    auto queue_pairs = DecodeQueuePairs(json);
    if (!responder || !device || !queue_pairs || queue_pairs->size() != expected_queue_pairs) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    ConnectReply reply;
    reply.responder_instance = *responder;
    reply.device = std::move(*device);
    reply.queue_pairs = std::move(*queue_pairs);
    return reply;
}

}  // namespace mooncake::rdma
