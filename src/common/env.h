// Typed access to the MC_* environment variables.
#pragma once

#include <optional>
#include <string>

namespace mooncake {

// The variable's value, or nullopt when it is unset.
std::optional<std::string> GetEnv(const char* name);

// "1", "true", "yes", "on" (any case) are true; "0", "false", "no", "off"
// are false; unset or anything else gives `fallback`.
bool GetEnvBool(const char* name, bool fallback);

std::string GetEnvString(const char* name, const std::string& fallback);

}  // namespace mooncake
