// Result<T>: a value or an ErrorCode, in the style of absl::StatusOr.
#pragma once

#include <expected>

#include "mooncake/error_code.h"

namespace mooncake {

template <typename T>
using Result = std::expected<T, ErrorCode>;

// A result without a value: success or an error code.
using Status = std::expected<void, ErrorCode>;

inline std::unexpected<ErrorCode> Error(ErrorCode code) { return std::unexpected<ErrorCode>(code); }

inline Status OkStatus() { return {}; }

// The code of a result: OK on success.
template <typename T>
ErrorCode CodeOf(const Result<T>& result) {
    return result.has_value() ? ErrorCode::OK : result.error();
}

}  // namespace mooncake

// Returns the error of `expr` (a Result or Status) from the enclosing
// function, which must itself return a Result or Status.
#define MC_RETURN_IF_ERROR(expr)                                                   \
    do {                                                                           \
        auto mc_status_ = (expr);                                                  \
        if (!mc_status_.has_value()) return ::mooncake::Error(mc_status_.error()); \
    } while (0)
