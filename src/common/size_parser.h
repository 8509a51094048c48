// Human-readable byte sizes as configs and the Python setup dict carry them.
#pragma once

#include <cstdint>
#include <string_view>

#include "mooncake/result.h"

namespace mooncake {

// Parses "16777216", "16MB", "16 MB", "16M", "16MiB", "1.5 GB", "4gb".
// Units are powers of 1024 (KB = KiB). Percentages, negative numbers, unknown
// units and values that overflow 64 bits give INVALID_PARAMS.
Result<uint64_t> ParseSize(std::string_view text);

}  // namespace mooncake
