// The command-line start-up the long-running binaries (mooncake_master,
// mooncake_client) share. Header-only on purpose: mooncake_common, which the
// shared client library links, must not link gflags; the binaries that
// include this link it already.
#pragma once

#include <gflags/gflags.h>
#include <glog/logging.h>

#include <string>
#include <string_view>

#include "common/daemon.h"

namespace mooncake {

// Sets what --version and --help print, logs to stderr unless the command
// line says otherwise, parses the flags (removing them from argc/argv) and
// starts glog. Returns 0, or main()'s exit status after FailStartup's line
// when a positional argument is left: none of the binaries takes one.
inline int ParseDaemonCommandLine(std::string_view program, const char* version, const char* usage,
                                  int* argc, char*** argv) {
    gflags::SetVersionString(version);
    gflags::SetUsageMessage(usage);
    FLAGS_logtostderr = true;
    gflags::ParseCommandLineFlags(argc, argv, true);
    if (*argc > 1) {
        return FailStartup(program, std::string("unexpected argument '") + (*argv)[1] + "'");
    }
    google::InitGoogleLogging((*argv)[0]);
    return 0;
}

}  // namespace mooncake
