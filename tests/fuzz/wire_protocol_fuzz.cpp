// The transfer engine's TCP wire protocol (src/transfer/wire_protocol.h) and
// the check its server makes before touching memory
// (MemoryRegistry::IsRemotelyAccessible).
//
// Input: a 48-byte request header, a 32-byte response header, then a few
// registered regions and probes. Checked:
//  - a header decodes only with its magic, and re-encodes to the same bytes
//    (reserved bytes aside; error codes this build does not know decode as
//    INTERNAL_ERROR);
//  - encode then decode of arbitrary field values is the identity;
//  - the registry accepts only non-empty, non-wrapping, non-overlapping
//    regions and says "accessible" exactly when a linear scan of the
//    remotely accessible regions holds the whole probed range.
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.h"
#include "transfer/memory_registry.h"
#include "transfer/wire_protocol.h"

namespace mooncake::fuzz {

namespace {

// Little-endian, as the wire is.
uint32_t LoadLe32(const uint8_t* p) {
    return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Fills `bytes` from the input (zero-padded when it runs out) and decodes
// them into `header`; checks that they decode exactly when they start with
// `magic`. Returns whether they decoded.
template <typename Header, size_t kSize>
bool DecodeFromInput(Input& input, uint32_t magic, std::array<uint8_t, kSize>& bytes,
                     Header* header) {
    const std::string_view raw = input.Bytes(bytes.size());
    if (!raw.empty()) std::memcpy(bytes.data(), raw.data(), raw.size());
    const bool decoded = wire::Decode(bytes.data(), header);
    FUZZ_CHECK(decoded == (LoadLe32(bytes.data()) == magic));
    return decoded;
}

void CheckRequestHeader(Input& input) {
    std::array<uint8_t, wire::kRequestHeaderSize> bytes{};
    wire::RequestHeader header;
    if (!DecodeFromInput(input, wire::kRequestMagic, bytes, &header)) return;
    FUZZ_CHECK(wire::OpcodeName(header.opcode) != nullptr);

    std::array<uint8_t, wire::kRequestHeaderSize> again{};
    wire::Encode(header, again.data());
    std::array<uint8_t, wire::kRequestHeaderSize> expected = bytes;
    std::memset(expected.data() + 5, 0, 3);  // reserved
    FUZZ_CHECK(again == expected);
}

void CheckResponseHeader(Input& input) {
    std::array<uint8_t, wire::kResponseHeaderSize> bytes{};
    wire::ResponseHeader header;
    if (!DecodeFromInput(input, wire::kResponseMagic, bytes, &header)) return;

    std::array<uint8_t, wire::kResponseHeaderSize> again{};
    wire::Encode(header, again.data());
    std::array<uint8_t, wire::kResponseHeaderSize> expected = bytes;
    std::memset(expected.data() + 12, 0, 4);  // reserved
    const int32_t raw_error = static_cast<int32_t>(LoadLe32(bytes.data() + 8));
    if (ToInt(ErrorCodeFromInt(raw_error)) == raw_error) {
        FUZZ_CHECK(again == expected);
    } else {
        FUZZ_CHECK(header.error == ErrorCode::INTERNAL_ERROR);
    }
}

// `header` encoded and decoded again; checks that it decodes.
template <size_t kSize, typename Header>
Header ReEncoded(const Header& header) {
    std::array<uint8_t, kSize> bytes{};
    wire::Encode(header, bytes.data());
    Header decoded;
    FUZZ_CHECK(wire::Decode(bytes.data(), &decoded));
    return decoded;
}

void CheckRoundTrip(Input& input) {
    wire::RequestHeader request;
    request.opcode = static_cast<wire::Opcode>(input.U8());
    request.instance = UUID{input.U64(), input.U64()};
    request.address = input.U64();
    request.length = input.U64();
    request.request_id = input.U64();
    const wire::RequestHeader decoded = ReEncoded<wire::kRequestHeaderSize>(request);
    FUZZ_CHECK(decoded.opcode == request.opcode && decoded.instance == request.instance &&
               decoded.address == request.address && decoded.length == request.length &&
               decoded.request_id == request.request_id);

    wire::ResponseHeader response;
    response.status = static_cast<wire::ReplyStatus>(static_cast<int32_t>(input.U32()));
    response.error = ErrorCodeFromInt(-static_cast<int32_t>(input.U16() % 1200));
    response.length = input.U64();
    response.request_id = input.U64();
    const wire::ResponseHeader response_decoded = ReEncoded<wire::kResponseHeaderSize>(response);
    FUZZ_CHECK(response_decoded.status == response.status &&
               response_decoded.error == response.error &&
               response_decoded.length == response.length &&
               response_decoded.request_id == response.request_id);
}

// Addresses cluster in a small window so that regions and probes collide,
// with an occasional value near the top of the address space.
uint64_t Address(Input& input) {
    const uint8_t kind = input.U8();
    if (kind % 8 == 0) return UINT64_MAX - input.U16();
    return input.U16();
}

void CheckRegistry(Input& input) {
    MemoryRegistry registry;
    std::vector<RegisteredRegion> model;
    const size_t regions = input.U8() % 16;
    for (size_t i = 0; i < regions; ++i) {
        RegisteredRegion region;
        region.address = Address(input);
        region.length = input.U8() % 4 == 0 ? input.U64() : input.U16();
        region.remote_accessible = input.Bool();
        const bool valid = region.length > 0 && region.address + region.length >= region.address;
        bool overlaps = false;
        for (const RegisteredRegion& other : model) {
            // Both end at most at 2^64 - 1 when valid.
            if (valid && region.address < other.address + other.length &&
                other.address < region.address + region.length) {
                overlaps = true;
            }
        }
        const bool accepted = registry.Add(region).has_value();
        FUZZ_CHECK(accepted == (valid && !overlaps));
        if (accepted) model.push_back(region);
    }
    FUZZ_CHECK(registry.size() == model.size());
    while (input.remaining() >= 3) {
        const uint64_t address = Address(input);
        // The server refuses empty READ/WRITE before it asks the registry.
        uint64_t length = input.U8() % 4 == 0 ? input.U64() : input.U16();
        if (length == 0) length = 1;
        bool expected = false;
        for (const RegisteredRegion& region : model) {
            if (region.remote_accessible && region.Contains(address, length)) expected = true;
        }
        FUZZ_CHECK(registry.IsRemotelyAccessible(address, length) == expected);
        if (expected) {
            // The server then reads or writes [address, address + length):
            // that must not wrap.
            FUZZ_CHECK(address + length >= address);
        }
    }
}

}  // namespace

int FuzzWireProtocol(const uint8_t* data, size_t size) {
    QuietLogsOnce();
    Input input(data, size);
    CheckRequestHeader(input);
    CheckResponseHeader(input);
    CheckRoundTrip(input);
    CheckRegistry(input);
    return 0;
}

}  // namespace mooncake::fuzz

MOONCAKE_FUZZ_ENTRY(FuzzWireProtocol)
