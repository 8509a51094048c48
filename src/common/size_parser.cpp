#include "common/size_parser.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace mooncake {

namespace {

std::string_view Trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

// Multiplier for a unit suffix such as "MB", "m", "GiB"; 0 if unknown.
uint64_t UnitMultiplier(std::string_view unit) {
    std::string lower;
    for (char c : unit)
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (lower.empty() || lower == "b") return 1;
    const char prefix = lower[0];
    const std::string_view rest = std::string_view(lower).substr(1);
    if (!(rest.empty() || rest == "b" || rest == "ib")) return 0;
    switch (prefix) {
        case 'k':
            return 1ULL << 10;
        case 'm':
            return 1ULL << 20;
        case 'g':
            return 1ULL << 30;
        case 't':
            return 1ULL << 40;
        case 'p':
            return 1ULL << 50;
        default:
            return 0;
    }
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
    text = Trim(text);
    size_t number_end = 0;
    bool seen_digit = false;
    bool seen_dot = false;
    while (number_end < text.size()) {
        const char c = text[number_end];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            seen_digit = true;
        } else if (c == '.' && !seen_dot) {
            seen_dot = true;
        } else {
            break;
        }
        ++number_end;
    }
    if (!seen_digit) return Error(ErrorCode::INVALID_PARAMS);
    const std::string number(text.substr(0, number_end));
    const uint64_t multiplier = UnitMultiplier(Trim(text.substr(number_end)));
    if (multiplier == 0) return Error(ErrorCode::INVALID_PARAMS);

    if (!seen_dot) {
        uint64_t value = 0;
        for (char c : number) {
            const uint64_t digit = static_cast<uint64_t>(c - '0');
            if (value > (UINT64_MAX - digit) / 10) return Error(ErrorCode::INVALID_PARAMS);
            value = value * 10 + digit;
        }
        if (value != 0 && multiplier > UINT64_MAX / value) return Error(ErrorCode::INVALID_PARAMS);
        return value * multiplier;
    }
    // strtold, not stold: a number too large for a long double must be an
    // error code, not a std::out_of_range thrown at the caller. Overflow
    // gives HUGE_VALL, refused below; underflow gives ~0, which is right.
    const long double value =
        std::strtold(number.c_str(), nullptr) * static_cast<long double>(multiplier);
    if (!std::isfinite(value) || value > 18446744073709551615.0L) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // roundl, not llround: values at or above 2^63 do not fit a long long.
    return static_cast<uint64_t>(std::roundl(value));
}

}  // namespace mooncake
