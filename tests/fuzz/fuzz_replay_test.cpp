// Runs every fuzz target, built with the project's compiler (no libFuzzer),
// over its seed corpus and a fixed number of deterministic generated inputs:
// random bytes and mutations of the seeds. CI gets the targets' invariant
// checks on every build; the clang libFuzzer binaries
// (MOONCAKE_BUILD_FUZZERS) explore further. See tests/fuzz/README.md.
//
// MOONCAKE_FUZZ_REPLAY_SCALE (a number, default 1) multiplies the generated
// input counts for a longer local run.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"

namespace mooncake::fuzz {
namespace {

struct Target {
    const char* name;  // also the corpus directory under tests/fuzz/corpus
    TargetFunction function;
    size_t generated_inputs;
};

const Target kTargets[] = {
    {"master_hot_path", &FuzzMasterHotPath, 250'000},
    {"wire_protocol", &FuzzWireProtocol, 400'000},
    {"segment_descriptor", &FuzzSegmentDescriptor, 300'000},
    {"metadata_store", &FuzzMetadataStore, 300'000},
    {"parse_size", &FuzzParseSize, 400'000},
    {"parse_host_port", &FuzzParseHostPort, 400'000},
};

// gtest prints the parameter in test listings: the name, not raw bytes.
void PrintTo(const Target& target, std::ostream* out) { *out << target.name; }

struct CheckFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void ThrowCheckFailure(const char* file, int line, const char* condition) {
    throw CheckFailure(std::string(file) + ":" + std::to_string(line) + ": " + condition);
}

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> LoadCorpus(const std::string& target) {
    std::vector<Bytes> seeds;
    const std::filesystem::path dir = std::filesystem::path(MOONCAKE_FUZZ_CORPUS_DIR) / target;
    if (!std::filesystem::is_directory(dir)) return seeds;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());  // same order on every machine
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return seeds;
}

double Scale() {
    const char* text = std::getenv("MOONCAKE_FUZZ_REPLAY_SCALE");
    if (text == nullptr) return 1.0;
    const double scale = std::atof(text);
    return scale > 0 ? scale : 1.0;
}

// Small, deterministic stand-in for libFuzzer's mutators.
class Generator {
   public:
    Generator(const std::vector<Bytes>& seeds, uint64_t seed) : seeds_(seeds), rng_(seed) {}

    Bytes Next() {
        if (seeds_.empty() || Below(4) == 0) return RandomBytes();
        Bytes input = seeds_[Below(seeds_.size())];
        const size_t mutations = 1 + Below(4);
        for (size_t i = 0; i < mutations; ++i) Mutate(&input);
        return input;
    }

   private:
    size_t Below(size_t bound) { return bound == 0 ? 0 : rng_() % bound; }

    Bytes RandomBytes() {
        // Mostly short, sometimes a few KiB.
        const size_t size = Below(8) == 0 ? Below(4096) : Below(96);
        Bytes bytes(size);
        for (auto& byte : bytes) byte = static_cast<uint8_t>(rng_());
        return bytes;
    }

    void Mutate(Bytes* input) {
        static constexpr std::array<uint32_t, 10> kInteresting = {
            0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff};
        Bytes& bytes = *input;
        switch (Below(8)) {
            case 0:  // flip a bit
                if (!bytes.empty()) bytes[Below(bytes.size())] ^= 1u << Below(8);
                break;
            case 1:  // an interesting byte
                if (!bytes.empty()) bytes[Below(bytes.size())] = kInteresting[Below(5)] & 0xff;
                break;
            case 2:  // an interesting little-endian u32
                if (bytes.size() >= 4) {
                    const uint32_t value = kInteresting[Below(kInteresting.size())];
                    const size_t at = Below(bytes.size() - 3);
                    for (int i = 0; i < 4; ++i) bytes[at + i] = (value >> (8 * i)) & 0xff;
                }
                break;
            case 3:  // insert random bytes
                bytes.insert(bytes.begin() + Below(bytes.size() + 1), 1 + Below(8),
                             static_cast<uint8_t>(rng_()));
                break;
            case 4:  // erase a run
                if (!bytes.empty()) {
                    const size_t at = Below(bytes.size());
                    const size_t count = std::min(bytes.size() - at, 1 + Below(16));
                    bytes.erase(bytes.begin() + at, bytes.begin() + at + count);
                }
                break;
            case 5:  // truncate
                bytes.resize(Below(bytes.size() + 1));
                break;
            case 6: {  // duplicate a chunk in place
                if (bytes.empty()) break;
                const size_t at = Below(bytes.size());
                const size_t count = std::min(bytes.size() - at, 1 + Below(64));
                Bytes chunk(bytes.begin() + at, bytes.begin() + at + count);
                bytes.insert(bytes.begin() + Below(bytes.size() + 1), chunk.begin(), chunk.end());
                break;
            }
            default: {  // splice with another seed
                const Bytes& other = seeds_[Below(seeds_.size())];
                const size_t keep = Below(bytes.size() + 1);
                const size_t from = Below(other.size() + 1);
                bytes.resize(keep);
                bytes.insert(bytes.end(), other.begin() + from, other.end());
                break;
            }
        }
    }

    const std::vector<Bytes>& seeds_;
    std::mt19937_64 rng_;
};

// A seed that is the same with every standard library.
uint64_t Fnv1a(std::string_view text) {
    uint64_t hash = 14695981039346656037ull;
    for (char c : text) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    return hash;
}

std::string Hex(const Bytes& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < bytes.size() && i < 64; ++i) {
        out += kDigits[bytes[i] >> 4];
        out += kDigits[bytes[i] & 15];
    }
    if (bytes.size() > 64) out += "...";
    return out;
}

class FuzzReplayTest : public ::testing::TestWithParam<Target> {
   protected:
    void SetUp() override { SetFailureHandler(&ThrowCheckFailure); }
    void TearDown() override { SetFailureHandler(nullptr); }

    // Runs one input; false (and a test failure naming the input, which is
    // also saved for replay with the libFuzzer binary) when it broke an
    // invariant or threw.
    bool RunOne(const Target& target, const Bytes& input, const std::string& label) {
        std::string problem;
        try {
            target.function(input.data(), input.size());
            return true;
        } catch (const CheckFailure& failure) {
            problem = failure.what();
        } catch (const std::exception& error) {
            problem = std::string("uncaught exception: ") + error.what();
        }
        const std::string saved =
            ::testing::TempDir() + "fuzz-" + target.name + "-" + label + ".bin";
        std::ofstream(saved, std::ios::binary)
            .write(reinterpret_cast<const char*>(input.data()),
                   static_cast<std::streamsize>(input.size()));
        ADD_FAILURE() << target.name << " " << label << " (" << input.size() << " bytes, saved to "
                      << saved << ", hex " << Hex(input) << "): " << problem;
        return false;
    }
};

TEST_P(FuzzReplayTest, CorpusAndGeneratedInputsKeepInvariants) {
    const Target& target = GetParam();
    const std::vector<Bytes> seeds = LoadCorpus(target.name);
    ASSERT_GE(seeds.size(), 3u) << "seed corpus missing: " << MOONCAKE_FUZZ_CORPUS_DIR << "/"
                                << target.name;

    const auto start = std::chrono::steady_clock::now();
    size_t failures = 0;
    for (size_t i = 0; i < seeds.size(); ++i) {
        if (!RunOne(target, seeds[i], "seed" + std::to_string(i))) ++failures;
    }
    const size_t generated =
        static_cast<size_t>(static_cast<double>(target.generated_inputs) * Scale());
    Generator generator(seeds, Fnv1a(target.name));
    for (size_t i = 0; i < generated && failures < 5; ++i) {
        if (!RunOne(target, generator.Next(), "generated" + std::to_string(i))) ++failures;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("fuzz_replay %s: %zu seeds + %zu generated inputs in %.1f s\n", target.name,
                seeds.size(), generated, seconds);
    RecordProperty("inputs", static_cast<int>(seeds.size() + generated));
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplayTest, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
}  // namespace mooncake::fuzz
