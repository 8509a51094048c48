#include "common/env.h"

#include <glog/logging.h>

#include <algorithm>
#include <cctype>
#include <charconv>
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

std::optional<uint64_t> GetEnvInteger(const char* name, uint64_t min, uint64_t max) {
    std::optional<std::string> text = GetEnv(name);
    if (!text) return std::nullopt;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size() || value < min || value > max) {
        LOG(WARNING) << "Ignoring " << name << "='" << *text << "' (want " << min << ".." << max
                     << ")";
        return std::nullopt;
    }
    return value;
}

}  // namespace mooncake
