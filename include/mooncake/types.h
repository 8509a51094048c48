// Value types shared by the master, the client library and the bindings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace mooncake {

// Longest key the store accepts, in bytes. Longer keys get INVALID_KEY.
inline constexpr size_t kMaxKeyLength = 4096;

// A 128-bit identifier for clients, segments and tasks. Python sees it as
// the tuple (hi, lo); the nil UUID (0, 0) means "none".
struct UUID {
    uint64_t hi = 0;
    uint64_t lo = 0;

    bool IsNil() const { return hi == 0 && lo == 0; }
    friend bool operator==(const UUID&, const UUID&) = default;
    friend auto operator<=>(const UUID&, const UUID&) = default;

    // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
    std::string ToString() const;
    // A random version-4 UUID.
    static UUID Generate();
};

struct UUIDHash {
    size_t operator()(const UUID& id) const noexcept {
        return std::hash<uint64_t>()(id.hi * 0x9e3779b97f4a7c15ULL ^ id.lo);
    }
};

enum class ReplicaStatus : uint8_t {
    UNDEFINED = 0,
    INITIALIZED = 1,
    PROCESSING = 2,
    COMPLETE = 3,
    REMOVED = 4,
    FAILED = 5,
};

// Where the bytes of an in-memory replica live: `size` bytes at virtual
// address `buffer_address` of the segment owner named `transport_endpoint`
// ("host:port", the owner's segment name).
struct MemoryDescriptor {
    std::string transport_endpoint;
    uint64_t buffer_address = 0;
    uint64_t size = 0;
};

struct DiskDescriptor {
    std::string file_path;
    uint64_t object_size = 0;
};

struct ReplicaDescriptor {
    ReplicaStatus status = ReplicaStatus::UNDEFINED;
    std::variant<MemoryDescriptor, DiskDescriptor> location;

    bool is_memory_replica() const { return std::holds_alternative<MemoryDescriptor>(location); }
    bool is_disk_replica() const { return std::holds_alternative<DiskDescriptor>(location); }
    const MemoryDescriptor& memory() const { return std::get<MemoryDescriptor>(location); }
    const DiskDescriptor& disk() const { return std::get<DiskDescriptor>(location); }
};

struct ReplicateConfig {
    size_t replica_num = 1;
    bool with_soft_pin = false;
    // Segment name ("host:port") that should hold the first replica.
    std::string preferred_segment;
    // Keep all parts of a multi-buffer put on the segment of this host.
    bool prefer_alloc_in_same_node = false;
    // Segment names ("host:port") that must get no replica: the client
    // fills this with peers it just failed to reach, so that a put fails
    // over to live segments instead of waiting for the master to notice.
    std::vector<std::string> excluded_segments;
};

// A range of memory a client contributes to the pool. `base` is the virtual
// address in the owner's process; replicas are addressed as base + offset.
struct SegmentInfo {
    UUID id;
    std::string name;  // "host:port", also the transfer-engine endpoint
    uint64_t base = 0;
    uint64_t size = 0;
};

// What the master asks of a client in its ping reply.
enum class ClientStatus : uint8_t {
    OK = 0,
    // The master does not know this client (it restarted, or expired the
    // client): mount the segments again.
    NEED_REMOUNT = 1,
};

enum class TaskType : uint8_t {
    REPLICA_COPY = 0,
    REPLICA_MOVE = 1,
};

enum class TaskStatus : uint8_t {
    PENDING = 0,
    PROCESSING = 1,
    SUCCESS = 2,  // exposed to Python as both COMPLETED and SUCCESS
    FAILED = 3,
};

// A copy or move task as the master hands it to the client that runs it.
struct TaskAssignment {
    UUID id;
    TaskType type = TaskType::REPLICA_COPY;
    std::string key;
    std::string source;                // move: segment that loses the replica
    std::vector<std::string> targets;  // copy: one or more; move: one
};

// A task as query_task reports it.
struct TaskInfo {
    UUID id;
    TaskType type = TaskType::REPLICA_COPY;
    TaskStatus status = TaskStatus::PENDING;
    int64_t created_at_ms_epoch = 0;
    int64_t last_updated_at_ms_epoch = 0;
    UUID assigned_client;
    std::string message;
    std::string key;
    std::string source;
    std::vector<std::string> targets;
    uint32_t attempts = 0;
};

}  // namespace mooncake
