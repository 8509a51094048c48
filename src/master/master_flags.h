// mooncake_master's command-line flags (names and defaults of docs/compat
// "mooncake_master flags", plus enable_hot_rpc / hot_rpc_port) and the JSON
// config file named by --config_path.
//
// The config file is a JSON object whose keys are flag names and whose values
// have the flag's type (numbers, booleans, strings). Flags given on the
// command line win over the file. Unknown keys, wrong types and values out of
// range are errors: the master refuses to start rather than guess.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "master/master_server.h"

namespace mooncake {

// Names of every flag the config file may set.
const std::vector<std::string>& MasterFlagNames();

// Applies the JSON config file at `path` to the flags that were not set on
// the command line. The error is one line naming the file and the problem.
std::expected<void, std::string> ApplyMasterConfigFile(const std::string& path);

// Applies --config_path (when given), then checks every flag and builds the
// options. The error is one line, e.g. "eviction_ratio must be within [0, 1]
// (got 1.5)". Call after gflags::ParseCommandLineFlags.
std::expected<MasterServerOptions, std::string> LoadMasterServerOptions();

}  // namespace mooncake
