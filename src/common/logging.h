// glog set-up for libraries that may be loaded into a host process (Python)
// which has, or has not, set glog up already.
#pragma once

namespace mooncake {

// Initialises glog to log to stderr unless the process already did.
// Safe to call from any thread, any number of times.
void InitLoggingOnce(const char* program_name);

}  // namespace mooncake
