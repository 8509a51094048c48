#include "common/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace mooncake {

std::optional<std::string> GetEnv(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
}

bool GetEnvBool(const char* name, bool fallback) {
    std::optional<std::string> value = GetEnv(name);
    if (!value) return fallback;
    std::string lower = *value;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
    return fallback;
}

std::string GetEnvString(const char* name, const std::string& fallback) {
    return GetEnv(name).value_or(fallback);
}

}  // namespace mooncake
