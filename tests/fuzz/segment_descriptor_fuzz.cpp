// SegmentDescriptor::Parse and ParseUuid (src/transfer/segment_descriptor.h):
// descriptors come from the metadata server or straight from a peer's TCP
// endpoint.
//
// Input: the JSON text. For every accepted descriptor: the documented
// bounds hold, ranges are sorted and disjoint, Serialize() parses back to an
// equal descriptor, and FindRange agrees with a linear scan.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "transfer/segment_descriptor.h"

namespace mooncake::fuzz {

namespace {

bool SameRanges(const SegmentDescriptor& a, const SegmentDescriptor& b) {
    if (a.ranges.size() != b.ranges.size()) return false;
    for (size_t i = 0; i < a.ranges.size(); ++i) {
        const SegmentRange& x = a.ranges[i];
        const SegmentRange& y = b.ranges[i];
        if (x.address != y.address || x.length != y.length || x.shm != y.shm ||
            x.transports != y.transports) {
            return false;
        }
    }
    return true;
}

void CheckFindRange(const SegmentDescriptor& desc, uint64_t address, uint64_t length) {
    const SegmentRange* expected = nullptr;
    for (const SegmentRange& range : desc.ranges) {
        if (range.Contains(address, length)) expected = &range;
    }
    FUZZ_CHECK(desc.FindRange(address, length) == expected);
}

void CheckUuid(std::string_view text) {
    auto id = ParseUuid(text);
    if (!id) {
        FUZZ_CHECK(id.error() == ErrorCode::INVALID_PARAMS);
        return;
    }
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    FUZZ_CHECK(id->ToString() == lower);
}

}  // namespace

int FuzzSegmentDescriptor(const uint8_t* data, size_t size) {
    QuietLogsOnce();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    CheckUuid(text.substr(0, 36));

    auto desc = SegmentDescriptor::Parse(text);
    if (!desc) {
        FUZZ_CHECK(desc.error() == ErrorCode::INVALID_PARAMS);
        return 0;
    }
    FUZZ_CHECK(!desc->name.empty() && desc->name.size() <= 1024);
    FUZZ_CHECK(desc->host_id.size() <= 1024 && desc->tcp_endpoint.size() <= 1024);
    FUZZ_CHECK(desc->ranges.size() <= kMaxDescriptorRanges);
    FUZZ_CHECK(desc->transports.is_object());
    for (size_t i = 0; i < desc->ranges.size(); ++i) {
        const SegmentRange& range = desc->ranges[i];
        FUZZ_CHECK(range.length > 0);
        FUZZ_CHECK(range.address + range.length >= range.address);
        FUZZ_CHECK(range.transports.is_object());
        if (range.shm) FUZZ_CHECK(range.shm->size >= range.length && range.shm->fd >= 0);
        if (i > 0) {
            const SegmentRange& prev = desc->ranges[i - 1];
            FUZZ_CHECK(prev.address + prev.length <= range.address);
        }
    }

    auto again = SegmentDescriptor::Parse(desc->Serialize());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->name == desc->name && again->instance_id == desc->instance_id &&
               again->host_id == desc->host_id && again->pid == desc->pid &&
               again->tcp_endpoint == desc->tcp_endpoint && again->version == desc->version &&
               again->removal_epoch == desc->removal_epoch &&
               again->status_page == desc->status_page && again->transports == desc->transports);
    FUZZ_CHECK(SameRanges(*desc, *again));

    // Probe the edges of every range (bounded: inputs can list many ranges).
    const size_t probed = std::min<size_t>(desc->ranges.size(), 64);
    for (size_t i = 0; i < probed; ++i) {
        const SegmentRange& range = desc->ranges[i];
        CheckFindRange(*desc, range.address, range.length);
        CheckFindRange(*desc, range.address, range.length + 1);
        CheckFindRange(*desc, range.address + range.length - 1, 1);
        CheckFindRange(*desc, range.address + range.length, 1);
        CheckFindRange(*desc, range.address - 1, 2);
        CheckFindRange(*desc, range.address + 1, UINT64_MAX);
    }
    return 0;
}

}  // namespace mooncake::fuzz

MOONCAKE_FUZZ_ENTRY(FuzzSegmentDescriptor)
