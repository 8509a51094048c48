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
__attribute__((target("sse4.2"))) uint32_t HardwareCrcSerial(uint32_t state, const uint8_t* p,
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

// One crc32 instruction has a latency of three cycles but can start every
// cycle, so three independent streams over neighbouring blocks run about
// three times as fast as one. The blocks' states are then joined: feeding
// a state through kBlock zero bytes is linear in the state, so it is a
// table lookup per state byte (kShiftBlock).
constexpr size_t kBlock = 8192;

struct ShiftTable {
    uint32_t byte[4][256];
};

__attribute__((target("sse4.2"))) ShiftTable MakeShiftTable() {
    static const uint8_t zeros[kBlock] = {};
    uint32_t basis[32];
    for (int bit = 0; bit < 32; ++bit) {
        basis[bit] = HardwareCrcSerial(uint32_t{1} << bit, zeros, kBlock);
    }
    ShiftTable table{};
    for (int k = 0; k < 4; ++k) {
        for (uint32_t v = 0; v < 256; ++v) {
            uint32_t out = 0;
            for (int b = 0; b < 8; ++b) {
                if (v & (1u << b)) out ^= basis[8 * k + b];
            }
            table.byte[k][v] = out;
        }
    }
    return table;
}

// The state after kBlock more bytes of zeros.
inline uint32_t ShiftOverBlock(const ShiftTable& t, uint32_t state) {
    return t.byte[0][state & 0xFF] ^ t.byte[1][(state >> 8) & 0xFF] ^
           t.byte[2][(state >> 16) & 0xFF] ^ t.byte[3][state >> 24];
}

__attribute__((target("sse4.2"))) uint32_t HardwareCrc(uint32_t state, const uint8_t* p,
                                                       size_t size) {
    if (size >= 3 * kBlock) {
        static const ShiftTable shift = MakeShiftTable();
        while (size >= 3 * kBlock) {
            uint64_t a = state, b = 0, c = 0;
            const uint8_t* pa = p;
            const uint8_t* pb = p + kBlock;
            const uint8_t* pc = p + 2 * kBlock;
            for (size_t i = 0; i < kBlock; i += 8) {
                uint64_t wa, wb, wc;
                std::memcpy(&wa, pa + i, 8);
                std::memcpy(&wb, pb + i, 8);
                std::memcpy(&wc, pc + i, 8);
                a = _mm_crc32_u64(a, wa);
                b = _mm_crc32_u64(b, wb);
                c = _mm_crc32_u64(c, wc);
            }
            // update(s, A B C) = shift(shift(update(s, A)) ^ update(0, B)) ^ update(0, C)
            state = ShiftOverBlock(shift, ShiftOverBlock(shift, static_cast<uint32_t>(a)) ^
                                              static_cast<uint32_t>(b)) ^
                    static_cast<uint32_t>(c);
            p += 3 * kBlock;
            size -= 3 * kBlock;
        }
    }
    return HardwareCrcSerial(state, p, size);
}

bool HasSse42() {
    static const bool supported = __builtin_cpu_supports("sse4.2");
    return supported;
}
#endif

}  // namespace

uint32_t Crc32cPortable(uint32_t crc, const void* data, size_t size) {
    return ~SoftwareCrc(~crc, static_cast<const uint8_t*>(data), size);
}

uint32_t Crc32c(uint32_t crc, const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t state = ~crc;
#if defined(__x86_64__)
    if (HasSse42()) return ~HardwareCrc(state, p, size);
#endif
    return ~SoftwareCrc(state, p, size);
}

}  // namespace mooncake::offload
