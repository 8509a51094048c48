// The wire protocol between dummy clients and the standalone client's dummy
// service: the framing of the master's hot path (framed_rpc_protocol.h) with
// its own magic, so that a dummy pointed at a master's port (or the reverse)
// is refused at the handshake, and the messages of proto/real_client.proto.
#pragma once

#include <cstdint>

#include "real_client.pb.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake {

inline constexpr framed_rpc::Protocol kDummyProtocol{
    .magic = {'M', 'C', 'D', 'C'},
    .version = 1,
    // Requests list keys and offsets, never bytes of values.
    .max_request_frame_bytes = 8u << 20,
    // Replica lists of large batches.
    .max_response_frame_bytes = 256u << 20,
    .name = "dummy service",
};

// The port setup_dummy's "host:port" usually names (mooncake_client --port).
inline constexpr uint16_t kDefaultDummyServicePort = 50052;

}  // namespace mooncake
