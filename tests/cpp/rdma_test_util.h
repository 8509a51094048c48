// Helpers shared by the RDMA transport tests: environment overrides and a
// capture of what glog wrote.
#pragma once

#include <glog/logging.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mooncake::rdma::testing {

// Sets (or, with nullptr, unsets) an environment variable for a scope.
class ScopedEnv {
   public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value != nullptr) {
            setenv(name, value, 1);
        } else {
            unsetenv(name);
        }
    }
    ~ScopedEnv() {
        if (old_) {
            setenv(name_, old_->c_str(), 1);
        } else {
            unsetenv(name_);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

   private:
    const char* name_;
    std::optional<std::string> old_;
};

// Collects every glog line written while it exists.
class LogCapture : public google::LogSink {
   public:
    LogCapture() { google::AddLogSink(this); }
    ~LogCapture() override { google::RemoveLogSink(this); }

    void send(google::LogSeverity, const char*, const char*, int, const std::tm*,
              const char* message, size_t length) override {
        std::lock_guard lock(mutex_);
        lines_.emplace_back(message, length);
    }

    bool Contains(const std::string& text) const {
        std::lock_guard lock(mutex_);
        for (const std::string& line : lines_) {
            if (line.find(text) != std::string::npos) return true;
        }
        return false;
    }

    std::string All() const {
        std::lock_guard lock(mutex_);
        std::string all;
        for (const std::string& line : lines_) all += line + "\n";
        return all;
    }

   private:
    mutable std::mutex mutex_;
    std::vector<std::string> lines_;
};

}  // namespace mooncake::rdma::testing
