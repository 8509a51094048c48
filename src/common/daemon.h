// What the long-running binaries (mooncake_master, mooncake_client) share at
// start-up and shutdown: one-line start-up failures and a wait for SIGTERM or
// SIGINT.
#pragma once

#include <signal.h>

#include <chrono>
#include <string>
#include <string_view>

namespace mooncake {

// Prints "<program>: <reason>" as exactly one line on stderr, so that
// systemd's journal and scripts show the reason at a glance, and returns
// the exit status for main() (1).
int FailStartup(std::string_view program, std::string reason);

// Termination signals are taken by sigtimedwait() in the thread that waits;
// construct this first in main(), before any library starts a thread that
// would inherit an unblocked mask. Also ignores SIGPIPE: a peer closing a
// socket must not kill a server.
class StopSignals {
   public:
    StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    // The signal received, or 0 when `timeout` passed (or a wait was
    // interrupted) first.
    int Wait(std::chrono::seconds timeout);

    // "SIGTERM", "SIGINT" or "a signal".
    static const char* Name(int signal_number);

   private:
    sigset_t signals_;
};

}  // namespace mooncake
