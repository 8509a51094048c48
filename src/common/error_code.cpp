#include "mooncake/error_code.h"

namespace mooncake {

namespace {

struct NamedCode {
    ErrorCode code;
    std::string_view name;
};

constexpr NamedCode kNamedCodes[] = {
#define MOONCAKE_NAMED_CODE(name, value) {ErrorCode::name, #name},
    MOONCAKE_ERROR_CODES(MOONCAKE_NAMED_CODE)
#undef MOONCAKE_NAMED_CODE
};

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
    for (const NamedCode& entry : kNamedCodes) {
        if (entry.code == code) return entry.name;
    }
    return "UNKNOWN_ERROR";
}

ErrorCode ErrorCodeFromInt(int32_t value) {
    for (const NamedCode& entry : kNamedCodes) {
        if (ToInt(entry.code) == value) return entry.code;
    }
    return ErrorCode::INTERNAL_ERROR;
}

}  // namespace mooncake
