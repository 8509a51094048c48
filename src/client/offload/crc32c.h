// CRC32C (Castagnoli), the checksum stored with every offloaded object.
//
// Why CRC32C: it catches every burst error up to 32 bits and every odd
// number of flipped bits, and x86-64 computes it in hardware: the crc32
// instruction (SSE4.2) for short inputs, carry-less multiplication
// (PCLMULQDQ) folding 64 bytes a step for long ones, about 10 GB/s on this
// project's AMD Zen development VM, where the crc32 instruction alone gives
// 6. Without SSE4.2 a table-driven version is used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mooncake::offload {

// Extends `crc` (0 for a fresh checksum) over `size` bytes at `data`:
// Crc32c(Crc32c(0, a, n), b, m) == Crc32c(0, a ++ b, n + m).
uint32_t Crc32c(uint32_t crc, const void* data, size_t size);

// The same checksum by table lookups only, whatever the CPU: the reference
// the unit tests hold the hardware version to.
uint32_t Crc32cPortable(uint32_t crc, const void* data, size_t size);

}  // namespace mooncake::offload
