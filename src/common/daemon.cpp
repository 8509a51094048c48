#include "common/daemon.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>

namespace mooncake {

int FailStartup(std::string_view program, std::string reason) {
    std::replace(reason.begin(), reason.end(), '\n', ' ');
    std::replace(reason.begin(), reason.end(), '\r', ' ');
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
                 reason.c_str());
    std::fflush(stderr);
    return 1;
}

StopSignals::StopSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

int StopSignals::Wait(std::chrono::seconds timeout) {
    timespec wait{};
    wait.tv_sec = static_cast<time_t>(timeout.count());
    const int signal_number = sigtimedwait(&signals_, nullptr, &wait);
    return signal_number > 0 ? signal_number : 0;
}

const char* StopSignals::Name(int signal_number) {
    switch (signal_number) {
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        default:
            return "a signal";
    }
}

}  // namespace mooncake
