#include "client/offload/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace mooncake::offload {
namespace {

constexpr uint32_t kPolyReversed = 0x82F63B78u;

constexpr std::array<uint32_t, 256> MakeTable() {
    std::array<uint32_t, 256> table{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kPolyReversed : c >> 1;
        table[i] = c;
    }
    return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t SoftwareCrc(uint32_t state, const uint8_t* p, size_t size) {
    for (size_t i = 0; i < size; ++i) state = kTable[(state ^ p[i]) & 0xFFu] ^ (state >> 8);
    return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t HardwareCrc(uint32_t state, const uint8_t* p,
                                                       size_t size) {
    uint64_t wide = state;
    while (size >= 8) {
        uint64_t word;
        std::memcpy(&word, p, sizeof(word));
        wide = _mm_crc32_u64(wide, word);
        p += 8;
        size -= 8;
    }
    uint32_t narrow = static_cast<uint32_t>(wide);
    while (size > 0) {
        narrow = _mm_crc32_u8(narrow, *p++);
        --size;
    }
    return narrow;
}

bool HasSse42() {
    static const bool supported = __builtin_cpu_supports("sse4.2");
    return supported;
}
#endif

}  // namespace

uint32_t Crc32c(uint32_t crc, const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t state = ~crc;
#if defined(__x86_64__)
    if (HasSse42()) return ~HardwareCrc(state, p, size);
#endif
    return ~SoftwareCrc(state, p, size);
}

}  // namespace mooncake::offload
