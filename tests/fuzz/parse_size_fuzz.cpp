// ParseSize (src/common/size_parser.h): sizes from config files, flags, env
// variables and the Python setup dict.
//
// Input: the text itself. Besides "no crash, no exception", the target
// derives a number from the first bytes and checks that the integer and the
// decimal spelling of it, with every unit, parse to the same value.
#include <array>
#include <cstdint>
#include <string>

#include "common/size_parser.h"
#include "fuzz_support.h"

namespace mooncake::fuzz {

namespace {

struct Unit {
    const char* suffix;
    unsigned shift;
};

constexpr std::array<Unit, 10> kUnits = {{{"", 0},
                                          {"B", 0},
                                          {"K", 10},
                                          {"kb", 10},
                                          {" MiB", 20},
                                          {"MB", 20},
                                          {"g", 30},
                                          {"GiB", 30},
                                          {"T", 40},
                                          {" pb", 50}}};

void CheckSpellingsAgree(uint64_t number, const Unit& unit) {
    const bool fits = number <= (UINT64_MAX >> unit.shift);
    const uint64_t expected = number << unit.shift;
    const std::string digits = std::to_string(number);
    for (const std::string& text : {digits + unit.suffix, digits + ".0" + unit.suffix,
                                    " " + digits + "." + unit.suffix + " "}) {
        auto parsed = ParseSize(text);
        if (fits) {
            FUZZ_CHECK(parsed.has_value());
            FUZZ_CHECK(*parsed == expected);
        } else {
            FUZZ_CHECK(!parsed.has_value());
            FUZZ_CHECK(parsed.error() == ErrorCode::INVALID_PARAMS);
        }
    }
}

}  // namespace

int FuzzParseSize(const uint8_t* data, size_t size) {
    QuietLogsOnce();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = ParseSize(text);
    if (!parsed) FUZZ_CHECK(parsed.error() == ErrorCode::INVALID_PARAMS);

    // Plain digits mean bytes.
    if (!text.empty() && text.size() <= 19 &&
        text.find_first_not_of("0123456789") == std::string_view::npos) {
        FUZZ_CHECK(parsed.has_value());
        FUZZ_CHECK(*parsed == std::stoull(std::string(text)));
    }

    Input input(data, size);
    const uint64_t number = input.U64() >> (input.U8() % 64);
    CheckSpellingsAgree(number, kUnits[input.U8() % kUnits.size()]);
    return 0;
}

}  // namespace mooncake::fuzz

MOONCAKE_FUZZ_ENTRY(FuzzParseSize)
