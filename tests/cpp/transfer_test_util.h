// Helpers shared by the transfer-engine tests and their peer process
// (transfer_test_peer): deterministic byte patterns, hashes, and a child
// process driven through its stdin/stdout.
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace mooncake::testing {

// Byte `i` of pattern `seed`: any offset can be checked on its own.
inline uint8_t PatternByte(uint64_t seed, uint64_t i) {
    uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ULL + seed * 0xD1B54A32D192ED03ULL;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    return static_cast<uint8_t>(x >> (8 * (i & 7)));
}

// Fills `length` bytes with pattern `seed` starting at pattern offset
// `first`.
inline void FillPattern(void* data, size_t length, uint64_t seed, uint64_t first = 0) {
    auto* bytes = static_cast<uint8_t*>(data);
    for (size_t i = 0; i < length; ++i) bytes[i] = PatternByte(seed, first + i);
}

// Index of the first byte that differs from the pattern, or nullopt.
inline std::optional<size_t> FindPatternMismatch(const void* data, size_t length, uint64_t seed,
                                                 uint64_t first = 0) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < length; ++i) {
        if (bytes[i] != PatternByte(seed, first + i)) return i;
    }
    return std::nullopt;
}

// FNV-1a over 8-byte words (and the tail bytes): fast enough for 64 MiB.
inline uint64_t HashBytes(const void* data, size_t length) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    uint64_t hash = 0xcbf29ce484222325ULL;
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        std::memcpy(&word, bytes + i, 8);
        hash = (hash ^ word) * 0x100000001b3ULL;
    }
    for (; i < length; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
    return hash;
}

// The directory holding the running executable.
inline std::string ExecutableDir() {
    char path[PATH_MAX] = {};
    const ssize_t length = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (length <= 0) return ".";
    std::string text(path, static_cast<size_t>(length));
    return text.substr(0, text.rfind('/'));
}

inline std::vector<std::string> SplitWords(const std::string& line) {
    std::istringstream stream(line);
    std::vector<std::string> words;
    for (std::string word; stream >> word;) words.push_back(word);
    return words;
}

// A child process whose stdin and stdout are pipes to us; stderr is shared
// (its logs show up in the test output). Killed and reaped on destruction.
class ChildProcess {
   public:
    ChildProcess() = default;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() { Kill(); }

    // `argv[0]` is the program path. `env` entries ("NAME=value") are added
    // to ours. False when it cannot be started.
    bool Start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
        int to_child[2];
        int from_child[2];
        if (pipe2(to_child, O_CLOEXEC) != 0) return false;
        if (pipe2(from_child, O_CLOEXEC) != 0) {
            close(to_child[0]);
            close(to_child[1]);
            return false;
        }
        // Everything the child needs is prepared before fork: after it, only
        // async-signal-safe calls are allowed.
        std::vector<std::string> environment;
        for (char** entry = environ; *entry != nullptr; ++entry) {
            const std::string text(*entry);
            const std::string name = text.substr(0, text.find('='));
            bool overridden = false;
            for (const std::string& extra : env) {
                overridden |= extra.substr(0, extra.find('=')) == name;
            }
            if (!overridden) environment.push_back(text);
        }
        environment.insert(environment.end(), env.begin(), env.end());
        std::vector<char*> envp;
        for (std::string& entry : environment) envp.push_back(entry.data());
        envp.push_back(nullptr);
        std::vector<std::string> arguments = argv;
        std::vector<char*> args;
        for (std::string& arg : arguments) args.push_back(arg.data());
        args.push_back(nullptr);

        pid_ = fork();
        if (pid_ < 0) return false;
        if (pid_ == 0) {
            dup2(to_child[0], STDIN_FILENO);
            dup2(from_child[1], STDOUT_FILENO);
            execvpe(args[0], args.data(), envp.data());
            _exit(127);
        }
        close(to_child[0]);
        close(from_child[1]);
        stdin_fd_ = to_child[1];
        stdout_fd_ = from_child[0];
        return true;
    }

    pid_t pid() const { return pid_; }

    // The next line from the child's stdout, without the newline; nullopt
    // on EOF or when `timeout` passes.
    std::optional<std::string> ReadLine(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const size_t newline = buffer_.find('\n');
            if (newline != std::string::npos) {
                std::string line = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || stdout_fd_ < 0) return std::nullopt;
            pollfd waiter{stdout_fd_, POLLIN, 0};
            if (poll(&waiter, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[4096];
            const ssize_t got = read(stdout_fd_, chunk, sizeof(chunk));
            if (got <= 0) return std::nullopt;
            buffer_.append(chunk, static_cast<size_t>(got));
        }
    }

    bool WriteLine(const std::string& line) {
        const std::string text = line + "\n";
        return stdin_fd_ >= 0 &&
               write(stdin_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    }

    // Sends a command line and returns the reply line.
    std::optional<std::string> Ask(const std::string& command,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
        if (!WriteLine(command)) return std::nullopt;
        return ReadLine(timeout);
    }

    // Waits for the exit status (as from waitpid) up to `timeout`.
    std::optional<int> Wait(std::chrono::milliseconds timeout) {
        if (pid_ <= 0) return exit_status_;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int status = 0;
            const pid_t done = waitpid(pid_, &status, WNOHANG);
            if (done == pid_) {
                pid_ = -1;
                exit_status_ = status;
                CloseFds();
                return status;
            }
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            usleep(10'000);
        }
    }

    void Kill() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            int status = 0;
            waitpid(pid_, &status, 0);
            pid_ = -1;
            exit_status_ = status;
        }
        CloseFds();
    }

    // SIGKILL without reaping (the process becomes a zombie until Wait/Kill).
    void KillNoWait() {
        if (pid_ > 0) kill(pid_, SIGKILL);
    }

   private:
    void CloseFds() {
        if (stdin_fd_ >= 0) close(stdin_fd_);
        if (stdout_fd_ >= 0) close(stdout_fd_);
        stdin_fd_ = stdout_fd_ = -1;
    }

    pid_t pid_ = -1;
    std::optional<int> exit_status_;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::string buffer_;
};

}  // namespace mooncake::testing
