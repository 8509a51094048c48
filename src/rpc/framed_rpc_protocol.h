// Wire format of the master's hot path, shared by HotRpcServer and the
// MasterClient's hot connections. The same framing (with another magic and
// its own messages) carries the standalone client's dummy service
// (src/client/dummy_rpc_protocol.h): FramedRpcServer and FramedRpcConnection
// take a `Protocol` that says which one they speak.
//
// A connection starts with a handshake so that stray bytes (a port scanner,
// an HTTP client, a gRPC client on the wrong port) are rejected at once:
//
//   client -> server  ClientHello: "MCHP" (4 bytes) + u32 version           = 8 bytes
//   server -> client  ServerHello: "MCHP" + u32 version + i32 status
//                                  + master instance id (u64 hi, u64 lo)    = 28 bytes
//
// status is 0 (OK) or INVALID_VERSION, after which the server closes. Then
// the client sends frames and the server answers each, in order:
//
//   frame = u32 payload length + payload
//
// where the payload is a serialized MasterRequest (client -> server) or
// MasterResponse (server -> client) whose request_id echoes the request's.
// All integers are little-endian. A request frame longer than
// kMaxRequestFrameBytes, or one that does not parse, makes the server log a
// line and close the connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "master.pb.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake::framed_rpc {

inline constexpr std::array<uint8_t, 4> kMagic = {'M', 'C', 'H', 'P'};
inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kClientHelloSize = 8;
inline constexpr size_t kServerHelloSize = 28;
inline constexpr size_t kFrameHeaderSize = 4;
// Requests are small (a batch of keys); this bounds what one peer can make
// the master buffer.
inline constexpr uint32_t kMaxRequestFrameBytes = 8u << 20;
// Responses can list many keys (get by regex); the client trusts the master
// more but still bounds what it allocates.
inline constexpr uint32_t kMaxResponseFrameBytes = 1u << 30;

using Magic = std::array<uint8_t, 4>;

// One protocol spoken over this framing: the handshake magic, the version
// both sides must speak, the frame limits, and the name log lines use.
struct Protocol {
    Magic magic = kMagic;
    uint32_t version = kProtocolVersion;
    uint32_t max_request_frame_bytes = kMaxRequestFrameBytes;
    uint32_t max_response_frame_bytes = kMaxResponseFrameBytes;
    const char* name = "hot path";
};

// The master's hot path.
inline constexpr Protocol kMasterProtocol{};

struct ServerHello {
    uint32_t version = kProtocolVersion;
    ErrorCode status = ErrorCode::OK;
    UUID master_instance_id;
};

std::array<uint8_t, kClientHelloSize> EncodeClientHello(uint32_t version = kProtocolVersion,
                                                        const Magic& magic = kMagic);

// The version the client speaks, or INVALID_PARAMS when the bytes are not a
// hello of this protocol at all.
Result<uint32_t> DecodeClientHello(std::span<const uint8_t, kClientHelloSize> bytes,
                                   const Magic& magic = kMagic);

std::array<uint8_t, kServerHelloSize> EncodeServerHello(const ServerHello& hello,
                                                        const Magic& magic = kMagic);

// INVALID_PARAMS when the bytes are not a server hello of this protocol.
Result<ServerHello> DecodeServerHello(std::span<const uint8_t, kServerHelloSize> bytes,
                                      const Magic& magic = kMagic);

void EncodeFrameLength(uint32_t length, uint8_t* out);
uint32_t DecodeFrameLength(const uint8_t* header);

// Replaces `out` with the frame (header + serialized message). False when the
// message does not fit in `max_payload_bytes` or cannot be serialized.
bool EncodeFrame(const google::protobuf::MessageLite& message, uint32_t max_payload_bytes,
                 std::string* out);

}  // namespace mooncake::framed_rpc
