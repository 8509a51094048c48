#include "common/logging.h"

#include <glog/logging.h>

#include <mutex>

namespace mooncake {

void InitLoggingOnce(const char* program_name) {
    static std::once_flag once;
    std::call_once(once, [program_name] {
        if (google::IsGoogleLoggingInitialized()) return;
        FLAGS_logtostderr = true;
        google::InitGoogleLogging(program_name);
    });
}

}  // namespace mooncake
