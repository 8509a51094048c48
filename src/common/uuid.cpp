#include <cstdio>
#include <random>

#include "mooncake/types.h"

namespace mooncake {

namespace {

std::mt19937_64& ThreadRandomEngine() {
    thread_local std::mt19937_64 engine([] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }());
    return engine;
}

}  // namespace

UUID UUID::Generate() {
    std::mt19937_64& engine = ThreadRandomEngine();
    UUID id{engine(), engine()};
    // Version 4, variant 1 (RFC 4122), so the text form reads as a UUID.
    id.hi = (id.hi & ~0xF000ULL) | 0x4000ULL;
    id.lo = (id.lo & ~(0xC000000000000000ULL)) | 0x8000000000000000ULL;
    return id;
}

std::string UUID::ToString() const {
    char text[37];
    std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xFFFF),
                  static_cast<unsigned>(hi & 0xFFFF), static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
    return text;
}

}  // namespace mooncake
