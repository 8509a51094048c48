#include "transfer/wire_protocol.h"

#include <endian.h>

#include <cstring>

namespace mooncake::wire {

namespace {

void Put32(uint8_t* out, uint32_t value) {
    value = htole32(value);
    std::memcpy(out, &value, sizeof(value));
}

void Put64(uint8_t* out, uint64_t value) {
    value = htole64(value);
    std::memcpy(out, &value, sizeof(value));
}

uint32_t Get32(const uint8_t* in) {
    uint32_t value;
    std::memcpy(&value, in, sizeof(value));
    return le32toh(value);
}

uint64_t Get64(const uint8_t* in) {
    uint64_t value;
    std::memcpy(&value, in, sizeof(value));
    return le64toh(value);
}

}  // namespace

// Request layout: magic(4) opcode(1) reserved(3) instance_hi(8)
// instance_lo(8) address(8) length(8) request_id(8).
void Encode(const RequestHeader& header, uint8_t* out) {
    std::memset(out, 0, kRequestHeaderSize);
    Put32(out, header.magic);
    out[4] = static_cast<uint8_t>(header.opcode);
    Put64(out + 8, header.instance.hi);
    Put64(out + 16, header.instance.lo);
    Put64(out + 24, header.address);
    Put64(out + 32, header.length);
    Put64(out + 40, header.request_id);
}

bool Decode(const uint8_t* in, RequestHeader* header) {
    header->magic = Get32(in);
    if (header->magic != kRequestMagic) return false;
    header->opcode = static_cast<Opcode>(in[4]);
    header->instance.hi = Get64(in + 8);
    header->instance.lo = Get64(in + 16);
    header->address = Get64(in + 24);
    header->length = Get64(in + 32);
    header->request_id = Get64(in + 40);
    return true;
}

// Response layout: magic(4) status(4) error(4) reserved(4) length(8)
// request_id(8).
void Encode(const ResponseHeader& header, uint8_t* out) {
    std::memset(out, 0, kResponseHeaderSize);
    Put32(out, header.magic);
    Put32(out + 4, static_cast<uint32_t>(header.status));
    Put32(out + 8, static_cast<uint32_t>(ToInt(header.error)));
    Put64(out + 16, header.length);
    Put64(out + 24, header.request_id);
}

bool Decode(const uint8_t* in, ResponseHeader* header) {
    header->magic = Get32(in);
    if (header->magic != kResponseMagic) return false;
    header->status = static_cast<ReplyStatus>(static_cast<int32_t>(Get32(in + 4)));
    header->error = ErrorCodeFromInt(static_cast<int32_t>(Get32(in + 8)));
    header->length = Get64(in + 16);
    header->request_id = Get64(in + 24);
    return true;
}

const char* OpcodeName(Opcode opcode) {
    switch (opcode) {
        case Opcode::kRead:
            return "READ";
        case Opcode::kWrite:
            return "WRITE";
        case Opcode::kGetDescriptor:
            return "GET_DESCRIPTOR";
        case Opcode::kTransportControl:
            return "TRANSPORT_CONTROL";
    }
    return "UNKNOWN";
}

}  // namespace mooncake::wire
