// Typed access to the MC_* environment variables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mooncake {

// The variable's value, or nullopt when it is unset.
std::optional<std::string> GetEnv(const char* name);

// "1", "true", "yes", "on" (any case) are true; "0", "false", "no", "off"
// are false; unset or anything else gives `fallback`.
bool GetEnvBool(const char* name, bool fallback);

std::string GetEnvString(const char* name, const std::string& fallback);

// The variable as a decimal integer in [min, max]: nullopt when unset, and
// nullopt with a warning naming the variable when set to anything else.
std::optional<uint64_t> GetEnvInteger(const char* name, uint64_t min, uint64_t max);

}  // namespace mooncake
