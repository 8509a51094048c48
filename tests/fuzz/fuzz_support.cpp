#include "fuzz_support.h"

#include <glog/logging.h>
#include <google/protobuf/stubs/logging.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace mooncake::fuzz {

namespace {

void PrintAndAbort(const char* file, int line, const char* condition) {
    std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, condition);
    std::abort();
}

std::atomic<FailureHandler> failure_handler{&PrintAndAbort};

}  // namespace

void QuietLogsOnce() {
    static const bool quiet = [] {
        FLAGS_minloglevel = google::GLOG_FATAL;
        // Protobuf logs every string field with invalid UTF-8 it rejects.
        google::protobuf::SetLogHandler(nullptr);
        return true;
    }();
    (void)quiet;
}

void SetFailureHandler(FailureHandler handler) {
    failure_handler.store(handler != nullptr ? handler : &PrintAndAbort);
}

void ReportFailure(const char* file, int line, const char* condition) {
    failure_handler.load()(file, line, condition);
    std::abort();  // a handler that returns is a bug; stop anyway
}

}  // namespace mooncake::fuzz
