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

// An SSD-offload (LOCAL_DISK) replica: a file on the disk of client
// `client_id`, read through that client's offload endpoint
// `transport_endpoint` ("host:port"). docs/ssd_offload.md.
struct LocalDiskDescriptor {
    UUID client_id;
    uint64_t object_size = 0;
    std::string transport_endpoint;
};

struct ReplicaDescriptor {
    ReplicaStatus status = ReplicaStatus::UNDEFINED;
    std::variant<MemoryDescriptor, DiskDescriptor, LocalDiskDescriptor> location;

    bool is_memory_replica() const { return std::holds_alternative<MemoryDescriptor>(location); }
    // The legacy shared-filesystem kind only, as in the reference: a
    // LOCAL_DISK replica is not a "disk replica".
    bool is_disk_replica() const { return std::holds_alternative<DiskDescriptor>(location); }
    bool is_local_disk_replica() const {
        return std::holds_alternative<LocalDiskDescriptor>(location);
    }
    const MemoryDescriptor& memory() const { return std::get<MemoryDescriptor>(location); }
    const DiskDescriptor& disk() const { return std::get<DiskDescriptor>(location); }
    const LocalDiskDescriptor& local_disk() const {
        return std::get<LocalDiskDescriptor>(location);
    }
};

// What a put does to the object's soft pin (the reference's newer API; the
// older with_soft_pin = true means ENABLE).
enum class SoftPinAction : uint8_t {
    PRESERVE = 0,  // a new object is not soft-pinned
    ENABLE = 1,    // soft-pin it (for soft_pin_ttl_ms, or the master's default)
    DISABLE = 2,   // not soft-pinned, whatever with_soft_pin says
};

// What an object holds, as the putter tags it (ReplicateConfig::data_type).
enum class ObjectDataType : uint8_t {
    UNKNOWN = 0,
    KVCACHE = 1,
    TENSOR = 2,
    WEIGHT = 3,
    SAMPLE = 4,
    ACTIVATION = 5,
    GRADIENT = 6,
    OPTIMIZER_STATE = 7,
    METADATA = 8,
    GENERAL = 9,
};

// Longest soft pin a put may ask for (the reference's --max_kv_soft_pin_ttl
// default): one day.
inline constexpr uint64_t kMaxSoftPinTtlMs = 86'400'000;

struct ReplicateConfig {
    size_t replica_num = 1;
    bool with_soft_pin = false;
    SoftPinAction soft_pin_action = SoftPinAction::PRESERVE;
    // Soft pin length; 0: the master's --default_kv_soft_pin_ttl. Only with
    // soft_pin_action ENABLE (or with_soft_pin), at most kMaxSoftPinTtlMs.
    uint64_t soft_pin_ttl_ms = 0;
    // Never evicted (only removed).
    bool with_hard_pin = false;
    // Segment name ("host:port") that should hold the first replica. A hint:
    // an unknown or full segment places the replica elsewhere.
    std::string preferred_segment;
    // Candidates for the replicas, tried in order; used only when
    // preferred_segment is empty. Hints, like preferred_segment.
    std::vector<std::string> preferred_segments;
    // The reference's metadata groups: accepted (one entry per key) and not
    // used by this master.
    std::vector<std::string> group_ids;
    // The reference's object tag: accepted and not used by this master.
    ObjectDataType data_type = ObjectDataType::UNKNOWN;
    // Keep all parts of a multi-buffer put on the segment of this host.
    bool prefer_alloc_in_same_node = false;
    // Segment names ("host:port") that must get no replica: the client
    // fills this with peers it just failed to reach, so that a put fails
    // over to live segments instead of waiting for the master to notice.
    std::vector<std::string> excluded_segments;
    // Replace an existing value instead of keeping it (the upsert family):
    // same size and unread is rewritten in place, otherwise new space is
    // allocated and the old freed once its readers are done
    // (docs/python_api.md, "Upsert").
    bool upsert = false;
    // The reference's NVMe-oF and distributed-FS replicas. This build has
    // neither tier: a put asking for such a replica is INVALID_PARAMS
    // rather than stored with fewer copies than asked.
    size_t nof_replica_num = 0;
    size_t dfs_replica_num = 0;
    std::vector<std::string> preferred_nof_segments;

    // The soft pin the master applies: ENABLE, or with_soft_pin unless DISABLE.
    bool soft_pinned() const {
        return soft_pin_action == SoftPinAction::ENABLE ||
               (with_soft_pin && soft_pin_action != SoftPinAction::DISABLE);
    }
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
