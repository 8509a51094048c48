// The segment descriptor: everything a peer needs to reach an engine's
// registered memory. It is published as JSON to the metadata server (key
// "{prefix}/ram/{name}") or served by the engine's own TCP endpoint in
// P2PHANDSHAKE mode. Descriptors arrive from the network, so parsing is
// strict and bounded.
//
// JSON form (all integers unsigned unless noted):
//   {
//     "name": "localhost:12345",            // segment name, host as configured
//     "instance_id": "xxxxxxxx-xxxx-...",   // fresh per engine start
//     "host_id": "<boot_id>/<netns inode>", // equal on one host + network namespace
//     "pid": 1234,
//     "tcp_endpoint": "127.0.0.1:12345",    // where the TCP server listens
//     "version": 7,                         // bumped on every registration change
//     "removal_epoch": 2,                   // bumped on every unregistration
//     "status_page": {"fd": 5, "inode": 99, "size": 4096},   // optional
//     "ranges": [                           // remotely accessible memory only
//       {"address": 140000000, "length": 4096,
//        "shm": {"fd": 6, "inode": 100, "size": 4096},      // optional
//        "transports": {"rdma": {...}}}                      // optional, opaque
//     ],
//     "transports": {"rdma": {...}}         // opaque per-transport endpoint info
//   }
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

// Upper bounds applied to descriptors received from peers.
inline constexpr size_t kMaxDescriptorBytes = 16u << 20;
inline constexpr size_t kMaxDescriptorRanges = 65536;

// What a process on the same host needs to map a memfd of the owner:
// open /proc/<pid>/fd/<fd>, check the inode, mmap `size` bytes.
struct ShmFileInfo {
    int32_t fd = -1;
    uint64_t inode = 0;
    uint64_t size = 0;

    friend bool operator==(const ShmFileInfo&, const ShmFileInfo&) = default;
};

// One remotely accessible range of the owner's address space.
struct SegmentRange {
    uint64_t address = 0;
    uint64_t length = 0;
    // Present when the range is the start of a memfd mapping of `shm.size`
    // bytes (memory from AllocateSharedMemory).
    std::optional<ShmFileInfo> shm;
    // Per-transport data for this range, e.g. {"rdma": {"rkey": [...]}}.
    // Always a JSON object (possibly empty).
    nlohmann::json transports = nlohmann::json::object();

    // True when [address, address + length) lies inside this range.
    bool Contains(uint64_t begin, uint64_t size) const {
        return begin >= address && size <= length && begin - address <= length - size;
    }
};

struct SegmentDescriptor {
    std::string name;
    UUID instance_id;
    std::string host_id;
    int32_t pid = 0;
    std::string tcp_endpoint;
    uint64_t version = 0;
    uint64_t removal_epoch = 0;
    std::optional<ShmFileInfo> status_page;
    // Sorted by address, non-overlapping.
    std::vector<SegmentRange> ranges;
    // Per-transport endpoint data, keyed by transport name. A JSON object.
    nlohmann::json transports = nlohmann::json::object();

    // The range holding all of [address, address + length), or nullptr.
    // O(log n).
    const SegmentRange* FindRange(uint64_t address, uint64_t length) const;

    nlohmann::json ToJson() const;
    std::string Serialize() const;

    // INVALID_PARAMS for malformed input: missing or mistyped fields,
    // overlapping or unsorted-after-sorting ranges, oversized documents.
    static Result<SegmentDescriptor> FromJson(const nlohmann::json& json);
    static Result<SegmentDescriptor> Parse(std::string_view text);
};

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (as UUID::ToString writes it) back
// to a UUID; INVALID_PARAMS otherwise.
Result<UUID> ParseUuid(std::string_view text);

}  // namespace mooncake
