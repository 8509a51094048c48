#include "rpc/framed_rpc_protocol.h"

#include <algorithm>
#include <cstring>

namespace mooncake::framed_rpc {

namespace {

void PutU32(uint32_t value, uint8_t* out) {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

void PutU64(uint64_t value, uint8_t* out) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint32_t GetU32(const uint8_t* in) {
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(in[i]) << (8 * i);
    return value;
}

uint64_t GetU64(const uint8_t* in) {
    uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
    return value;
}

bool HasMagic(const uint8_t* bytes, const Magic& magic) {
    return std::equal(magic.begin(), magic.end(), bytes);
}

}  // namespace

std::array<uint8_t, kClientHelloSize> EncodeClientHello(uint32_t version, const Magic& magic) {
    std::array<uint8_t, kClientHelloSize> bytes{};
    std::copy(magic.begin(), magic.end(), bytes.begin());
    PutU32(version, bytes.data() + 4);
    return bytes;
}

Result<uint32_t> DecodeClientHello(std::span<const uint8_t, kClientHelloSize> bytes,
                                   const Magic& magic) {
    if (!HasMagic(bytes.data(), magic)) return Error(ErrorCode::INVALID_PARAMS);
    return GetU32(bytes.data() + 4);
}

std::array<uint8_t, kServerHelloSize> EncodeServerHello(const ServerHello& hello,
                                                        const Magic& magic) {
    std::array<uint8_t, kServerHelloSize> bytes{};
    std::copy(magic.begin(), magic.end(), bytes.begin());
    PutU32(hello.version, bytes.data() + 4);
    PutU32(static_cast<uint32_t>(ToInt(hello.status)), bytes.data() + 8);
    PutU64(hello.master_instance_id.hi, bytes.data() + 12);
    PutU64(hello.master_instance_id.lo, bytes.data() + 20);
    return bytes;
}

Result<ServerHello> DecodeServerHello(std::span<const uint8_t, kServerHelloSize> bytes,
                                      const Magic& magic) {
    if (!HasMagic(bytes.data(), magic)) return Error(ErrorCode::INVALID_PARAMS);
    ServerHello hello;
    hello.version = GetU32(bytes.data() + 4);
    hello.status = ErrorCodeFromInt(static_cast<int32_t>(GetU32(bytes.data() + 8)));
    hello.master_instance_id.hi = GetU64(bytes.data() + 12);
    hello.master_instance_id.lo = GetU64(bytes.data() + 20);
    return hello;
}

void EncodeFrameLength(uint32_t length, uint8_t* out) { PutU32(length, out); }

uint32_t DecodeFrameLength(const uint8_t* header) { return GetU32(header); }

bool EncodeFrame(const google::protobuf::MessageLite& message, uint32_t max_payload_bytes,
                 std::string* out) {
    const size_t payload_size = message.ByteSizeLong();
    if (payload_size > max_payload_bytes) return false;
    out->resize(kFrameHeaderSize + payload_size);
    auto* data = reinterpret_cast<uint8_t*>(out->data());
    EncodeFrameLength(static_cast<uint32_t>(payload_size), data);
    return message.SerializeWithCachedSizesToArray(data + kFrameHeaderSize) ==
           data + kFrameHeaderSize + payload_size;
}

}  // namespace mooncake::framed_rpc
