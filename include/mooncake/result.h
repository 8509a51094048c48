// Result<T>: a value or a Failure, in the style of absl::StatusOr.
#pragma once

#include <expected>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include "mooncake/error_code.h"

namespace mooncake {

// Why a call failed: one of the public error codes, and what the failing
// site knew about it ("key is empty", "master 10.0.0.1:50051: connection
// refused"). The code is the contract (Python sees only the code); the
// message is for people: the site that fails says why once, and whoever
// finally reports the failure logs it once instead of every layer logging.
//
// A Failure converts to its ErrorCode, so code written against codes
// (comparisons, switches, ToInt) keeps working unchanged.
class Failure {
   public:
    Failure(ErrorCode code) : code_(code) {}  // NOLINT: implicit by design
    Failure(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

    ErrorCode code() const { return code_; }
    // "" when the failing site gave no reason.
    const std::string& message() const { return message_; }
    operator ErrorCode() const { return code_; }  // NOLINT: implicit by design

    // The same failure with `context` in front of the message
    // ("put 'k': " + "size mismatch"); the code stays.
    Failure WithContext(std::string_view context) const&;
    Failure WithContext(std::string_view context) &&;

    // "INVALID_PARAMS (-600): key is empty", or just "INVALID_PARAMS (-600)".
    std::string ToString() const;

    friend bool operator==(const Failure& failure, ErrorCode code) { return failure.code_ == code; }
    // Failures are equal when their codes are: the message is for people.
    friend bool operator==(const Failure& a, const Failure& b) { return a.code_ == b.code_; }

   private:
    ErrorCode code_;
    std::string message_;
};

std::ostream& operator<<(std::ostream& out, const Failure& failure);

// std::expected that the compiler will not let a caller drop unread: a
// result is handled or explicitly discarded with `(void)`.
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Failure> {
   public:
    using std::expected<T, Failure>::expected;
    Result() = default;
    Result(const std::expected<T, Failure>& other) : std::expected<T, Failure>(other) {}
    Result(std::expected<T, Failure>&& other) : std::expected<T, Failure>(std::move(other)) {}

    // Equal values, or failures with equal codes (std::expected's own
    // comparison cannot see through the derived type).
    friend bool operator==(const Result& a, const Result& b) {
        return static_cast<const std::expected<T, Failure>&>(a) ==
               static_cast<const std::expected<T, Failure>&>(b);
    }
};

// A result without a value: success or a Failure.
using Status = Result<void>;

inline std::unexpected<Failure> Error(ErrorCode code) { return std::unexpected<Failure>(code); }
inline std::unexpected<Failure> Error(ErrorCode code, std::string message) {
    return std::unexpected<Failure>(Failure(code, std::move(message)));
}
inline std::unexpected<Failure> Error(Failure failure) {
    return std::unexpected<Failure>(std::move(failure));
}

inline Status OkStatus() { return {}; }

// The code of a result: OK on success.
template <typename T>
ErrorCode CodeOf(const Result<T>& result) {
    return result.has_value() ? ErrorCode::OK : result.error().code();
}

}  // namespace mooncake

#define MC_RESULT_CONCAT_INNER_(a, b) a##b
#define MC_RESULT_CONCAT_(a, b) MC_RESULT_CONCAT_INNER_(a, b)

// Returns the failure of `expr` (a Result or Status) from the enclosing
// function, which must itself return a Result or Status.
#define MC_RETURN_IF_ERROR(expr)                                     \
    do {                                                             \
        auto mc_status_ = (expr);                                    \
        if (!mc_status_.has_value()) {                               \
            return ::mooncake::Error(std::move(mc_status_).error()); \
        }                                                            \
    } while (0)

// `lhs = value of expr`, or returns its failure: MC_ASSIGN_OR_RETURN(auto
// replicas, GetReplicas(key));
#define MC_ASSIGN_OR_RETURN(lhs, expr) \
    MC_ASSIGN_OR_RETURN_IMPL_(MC_RESULT_CONCAT_(mc_result_, __LINE__), lhs, expr)
#define MC_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr)                              \
    auto result = (expr);                                                         \
    if (!result.has_value()) return ::mooncake::Error(std::move(result).error()); \
    lhs = std::move(result).value()
