#include "transfer/rdma/gid.h"

#include "common/hex_digit.h"

namespace mooncake::rdma {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr size_t kTextLength = 39;  // 8 groups of 4 digits, 7 colons

}  // namespace

bool Gid::IsZero() const {
    for (uint8_t byte : bytes) {
        if (byte != 0) return false;
    }
    return true;
}

bool Gid::IsIPv4Mapped() const {
    for (size_t i = 0; i < 10; ++i) {
        if (bytes[i] != 0) return false;
    }
    return bytes[10] == 0xff && bytes[11] == 0xff;
}

std::string Gid::ToString() const {
    std::string text;
    text.reserve(kTextLength);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i > 0 && i % 2 == 0) text.push_back(':');
        text.push_back(kHexDigits[bytes[i] >> 4]);
        text.push_back(kHexDigits[bytes[i] & 0xf]);
    }
    return text;
}

std::optional<Gid> Gid::Parse(std::string_view text) {
    if (text.size() != kTextLength) return std::nullopt;
    Gid gid;
    size_t nibble = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (i % 5 == 4) {
            if (text[i] != ':') return std::nullopt;
            continue;
        }
        const int value = HexDigitValue(text[i]);
        if (value < 0) return std::nullopt;
        uint8_t& byte = gid.bytes[nibble / 2];
        byte = static_cast<uint8_t>(nibble % 2 == 0 ? value << 4 : byte | value);
        ++nibble;
    }
    return gid;
}

}  // namespace mooncake::rdma
