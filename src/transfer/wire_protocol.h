// The engine's TCP protocol (data and control on one port).
//
// A connection carries requests, each answered by one response, in order;
// a client may pipeline several requests before reading the responses.
//
//   request  = RequestHeader (48 bytes) [payload]
//   response = ResponseHeader (32 bytes) [payload]
//
// All integers are little-endian.
//   READ               length = bytes wanted; response payload = the bytes
//   WRITE              payload = `length` bytes for [address, address + length)
//   GET_DESCRIPTOR     no payload; response payload = descriptor JSON
//   TRANSPORT_CONTROL  payload = JSON {"transport", "from", "body"};
//                      response payload = the handler's JSON reply
//
// READ and WRITE carry the instance id the client believes the server has:
// a restarted server answers STALE_INSTANCE instead of touching memory that
// now means something else. Every field is bounded by the server; a request
// outside the server's own registered, remotely accessible ranges is
// answered REFUSED and no byte is read or written.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mooncake/error_code.h"
#include "mooncake/types.h"

namespace mooncake::wire {

inline constexpr uint32_t kRequestMagic = 0x5154434D;   // "MCTQ"
inline constexpr uint32_t kResponseMagic = 0x5254434D;  // "MCTR"
inline constexpr size_t kRequestHeaderSize = 48;
inline constexpr size_t kResponseHeaderSize = 32;

// Largest READ/WRITE the server accepts in one request; the client splits
// bigger transfers into chunks well below it.
inline constexpr uint64_t kMaxDataLength = 64ull << 20;
// Largest control request payload, and largest control response a client
// accepts.
inline constexpr uint64_t kMaxControlRequestLength = 1ull << 20;
inline constexpr uint64_t kMaxControlResponseLength = 16ull << 20;

enum class Opcode : uint8_t {
    kRead = 1,
    kWrite = 2,
    kGetDescriptor = 3,
    kTransportControl = 4,
};

enum class ReplyStatus : int32_t {
    kOk = 0,
    // Malformed request; the server closes the connection after replying.
    kBadRequest = 1,
    // Outside the server's registered, remotely accessible memory.
    kRefused = 2,
    // The request names another instance: the server restarted.
    kStaleInstance = 3,
    // Control message for a transport the server does not have.
    kUnsupported = 4,
    // The control handler failed; ResponseHeader::error holds its code.
    kHandlerError = 5,
};

struct RequestHeader {
    uint32_t magic = kRequestMagic;
    Opcode opcode = Opcode::kRead;
    UUID instance;
    uint64_t address = 0;
    uint64_t length = 0;
    uint64_t request_id = 0;
};

struct ResponseHeader {
    uint32_t magic = kResponseMagic;
    ReplyStatus status = ReplyStatus::kOk;
    ErrorCode error = ErrorCode::OK;
    uint64_t length = 0;
    uint64_t request_id = 0;
};

void Encode(const RequestHeader& header, uint8_t* out);   // kRequestHeaderSize bytes
void Encode(const ResponseHeader& header, uint8_t* out);  // kResponseHeaderSize bytes

// False when the magic does not match (not our protocol: drop the
// connection). Other fields are returned as received: the caller validates.
bool Decode(const uint8_t* in, RequestHeader* header);
bool Decode(const uint8_t* in, ResponseHeader* header);

const char* OpcodeName(Opcode opcode);

}  // namespace mooncake::wire
