// Shared by the fuzz targets: an input cursor, invariant checks, and the
// names of the targets.
//
// Each target is a plain function `int Fuzz<Name>(const uint8_t*, size_t)`.
// Built as a libFuzzer binary (MOONCAKE_BUILD_FUZZERS, clang), its source
// also defines LLVMFuzzerTestOneInput through MOONCAKE_FUZZ_ENTRY; built
// into fuzz_replay_test (g++, always), the same functions are called on the
// seed corpus and on generated inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mooncake::fuzz {

using TargetFunction = int (*)(const uint8_t* data, size_t size);

int FuzzMasterHotPath(const uint8_t* data, size_t size);
int FuzzWireProtocol(const uint8_t* data, size_t size);
int FuzzSegmentDescriptor(const uint8_t* data, size_t size);
int FuzzMetadataStore(const uint8_t* data, size_t size);
int FuzzParseSize(const uint8_t* data, size_t size);
int FuzzParseHostPort(const uint8_t* data, size_t size);

// Silences glog below FATAL once per process: rejected input is logged by
// the product code, and millions of warnings would only slow the run.
void QuietLogsOnce();

// Called when an invariant does not hold. The default prints the condition
// and aborts (what libFuzzer wants); the replay test installs a handler that
// throws CheckFailure so it can name the input and carry on.
using FailureHandler = void (*)(const char* file, int line, const char* condition);
void SetFailureHandler(FailureHandler handler);
[[noreturn]] void ReportFailure(const char* file, int line, const char* condition);

// Reads fixed-width values and byte strings off the front of the input;
// past the end it yields zeros and empty strings, never reading out of
// bounds.
class Input {
   public:
    Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    size_t remaining() const { return size_ - offset_; }
    bool empty() const { return remaining() == 0; }

    uint8_t U8() {
        if (empty()) return 0;
        return data_[offset_++];
    }
    uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
    uint32_t U32() { return static_cast<uint32_t>(U16()) | (static_cast<uint32_t>(U16()) << 16); }
    uint64_t U64() { return static_cast<uint64_t>(U32()) | (static_cast<uint64_t>(U32()) << 32); }
    bool Bool() { return (U8() & 1) != 0; }

    // Exactly `count` bytes when that many remain, else what is left.
    std::string_view Bytes(size_t count) {
        count = count < remaining() ? count : remaining();
        std::string_view out(reinterpret_cast<const char*>(data_ + offset_), count);
        offset_ += count;
        return out;
    }
    // A string whose length is the next byte (so several fit in one input).
    std::string ShortString() { return std::string(Bytes(U8())); }
    std::string_view Rest() { return Bytes(remaining()); }
    const uint8_t* cursor() const { return data_ + offset_; }
    void Skip(size_t count) { offset_ += count < remaining() ? count : remaining(); }

   private:
    const uint8_t* data_;
    size_t size_;
    size_t offset_ = 0;
};

}  // namespace mooncake::fuzz

#define FUZZ_CHECK(condition)                                                              \
    do {                                                                                   \
        if (!(condition)) ::mooncake::fuzz::ReportFailure(__FILE__, __LINE__, #condition); \
    } while (0)

// Defines the libFuzzer entry point for one target when this source is built
// as its own fuzzer binary.
#ifdef MOONCAKE_LIBFUZZER
#define MOONCAKE_FUZZ_ENTRY(function)                                         \
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
        return ::mooncake::fuzz::function(data, size);                        \
    }
#else
#define MOONCAKE_FUZZ_ENTRY(function)
#endif
