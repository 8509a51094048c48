#include "client/offload/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
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

// Long inputs are folded with carry-less multiplication instead: the crc32
// instruction does one 8-byte step per three cycles on some CPUs (AMD Zen
// 1/2: about 6 GB/s, slower than the read it checks), while PCLMULQDQ runs
// in another unit. Four 16-byte lanes each carry the data seen so far; one
// step moves a lane 64 bytes ahead by multiplying its two halves with
// x^k mod P and adds the data found there. At the end one lane is left,
// whose CRC (by the crc32 instruction) equals the CRC of all it stands for.
//
// Bit layout: a 16-byte lane loaded from memory holds the coefficient of
// x^(127-k) in bit k (a reflected CRC takes each byte's low bit first), so
// its low quadword H is the high half: lane = H x^64 + L. Moving it d bits
// ahead gives H x^(64+d) + L x^d; with C = x^e mod P (degree < 32) in the
// same reflected form, a carry-less product of H and C stands for H C x
// (one place off, as reflected products are), hence the constants are taken
// for e - 1. The products have degree < 96 and fit the lane they go to.
constexpr uint32_t kPolyNormal = 0x1EDC6F41u;  // P without its x^32 term

// x^e mod P, as a 64-bit reflected operand (coefficient of x^j in bit 63-j).
uint64_t ReflectedPowerModP(unsigned e) {
    uint64_t r = 1;
    for (unsigned i = 0; i < e; ++i) {
        r <<= 1;
        if (r & (uint64_t{1} << 32)) r ^= (uint64_t{1} << 32) | kPolyNormal;
    }
    uint64_t reflected = 0;
    for (unsigned j = 0; j < 32; ++j) {
        if (r & (uint64_t{1} << j)) reflected |= uint64_t{1} << (63 - j);
    }
    return reflected;
}

struct FoldConstants {
    __m128i by_512, by_384, by_256, by_128;  // [constant for H, constant for L]
};

__attribute__((target("sse4.2,pclmul"))) __m128i FoldPair(unsigned bits) {
    return _mm_set_epi64x(static_cast<long long>(ReflectedPowerModP(bits - 1)),
                          static_cast<long long>(ReflectedPowerModP(64 + bits - 1)));
}

__attribute__((target("sse4.2,pclmul"))) const FoldConstants& Constants() {
    static const FoldConstants constants{FoldPair(512), FoldPair(384), FoldPair(256),
                                         FoldPair(128)};
    return constants;
}

// `lane` moved ahead by the distance `k` was made for.
__attribute__((target("sse4.2,pclmul"))) inline __m128i Fold(__m128i lane, __m128i k) {
    return _mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00), _mm_clmulepi64_si128(lane, k, 0x11));
}

__attribute__((target("sse4.2,pclmul"))) inline __m128i Load(const uint8_t* p) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

constexpr size_t kFoldThreshold = 256;

__attribute__((target("sse4.2,pclmul"))) uint32_t FoldingCrc(uint32_t state, const uint8_t* p,
                                                             size_t size) {
    const FoldConstants& k = Constants();
    // The state so far is the same as these bits at the front of the data.
    __m128i x0 = _mm_xor_si128(Load(p), _mm_cvtsi32_si128(static_cast<int>(state)));
    __m128i x1 = Load(p + 16), x2 = Load(p + 32), x3 = Load(p + 48);
    p += 64;
    size -= 64;
    while (size >= 64) {
        x0 = _mm_xor_si128(Fold(x0, k.by_512), Load(p));
        x1 = _mm_xor_si128(Fold(x1, k.by_512), Load(p + 16));
        x2 = _mm_xor_si128(Fold(x2, k.by_512), Load(p + 32));
        x3 = _mm_xor_si128(Fold(x3, k.by_512), Load(p + 48));
        p += 64;
        size -= 64;
    }
    __m128i x = _mm_xor_si128(_mm_xor_si128(Fold(x0, k.by_384), Fold(x1, k.by_256)),
                              _mm_xor_si128(Fold(x2, k.by_128), x3));
    while (size >= 16) {
        x = _mm_xor_si128(Fold(x, k.by_128), Load(p));
        p += 16;
        size -= 16;
    }
    uint64_t wide = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(x)));
    wide = _mm_crc32_u64(wide, static_cast<uint64_t>(_mm_extract_epi64(x, 1)));
    return HardwareCrcSerial(static_cast<uint32_t>(wide), p, size);
}

bool HasPclmul() {
    static const bool supported = __builtin_cpu_supports("pclmul");
    return supported;
}

__attribute__((target("sse4.2"))) uint32_t HardwareCrc(uint32_t state, const uint8_t* p,
                                                       size_t size) {
    if (size >= kFoldThreshold && HasPclmul()) return FoldingCrc(state, p, size);
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
