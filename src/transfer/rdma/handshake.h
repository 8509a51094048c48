// The queue-pair handshake, carried by the engine's TCP control channel
// (TransportContext::SendControlMessage -> Transport::HandleControlMessage).
//
// The requester creates its queue pairs on one of its devices and sends
//   {"op": "connect", "version": 1,
//    "requester_instance": "<uuid>", "responder_instance": "<uuid>",
//    "device": {<requester DeviceEndpoint>}, "target_device": "mlx5_1",
//    "qps": [{"qp_num": 1234, "psn": 99}, ...]}
// The responder creates as many queue pairs on `target_device`, connects them
// to the requester's (INIT -> RTR -> RTS) and answers
//   {"op": "accept", "version": 1, "responder_instance": "<uuid>",
//    "device": {<responder DeviceEndpoint>}, "qps": [...]}
// after which the requester connects its side. `responder_instance` lets a
// restarted peer refuse a requester that still has its old descriptor.
//
// Messages come from the network: every field is checked (types, ranges,
// counts, names) before anything is created.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mooncake/result.h"
#include "mooncake/types.h"
#include "transfer/rdma/endpoint_info.h"

namespace mooncake::rdma {

inline constexpr uint32_t kHandshakeVersion = 1;
// Queue pairs one handshake may ask for.
inline constexpr size_t kMaxHandshakeQueuePairs = 16;
// QP numbers and PSNs are 24-bit.
inline constexpr uint32_t kMaxQueuePairNumber = 0xffffff;
inline constexpr uint32_t kMaxPacketSequenceNumber = 0xffffff;

struct QueuePairAddress {
    uint32_t qp_num = 0;
    uint32_t psn = 0;

    friend bool operator==(const QueuePairAddress&, const QueuePairAddress&) = default;
};

struct ConnectRequest {
    UUID requester_instance;
    UUID responder_instance;
    DeviceEndpoint device;  // the requester's
    std::string target_device;
    std::vector<QueuePairAddress> queue_pairs;
};

struct ConnectReply {
    UUID responder_instance;
    DeviceEndpoint device;  // the responder's
    std::vector<QueuePairAddress> queue_pairs;
};

nlohmann::json EncodeConnectRequest(const ConnectRequest& request);
nlohmann::json EncodeConnectReply(const ConnectReply& reply);

// INVALID_PARAMS for a malformed or hostile message (wrong op or version,
// missing or mistyped fields, nil UUIDs, numbers out of range, 0 or more than
// kMaxHandshakeQueuePairs queue pairs, repeated QP numbers).
Result<ConnectRequest> DecodeConnectRequest(const nlohmann::json& json);
// As above; the reply must also carry exactly `expected_queue_pairs`.
Result<ConnectReply> DecodeConnectReply(const nlohmann::json& json, size_t expected_queue_pairs);

}  // namespace mooncake::rdma
