#include "rpc/rpc_convert.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace mooncake {

void ToProto(const UUID& id, rpc::Uuid* out) {
    out->set_hi(id.hi);
    out->set_lo(id.lo);
}

UUID FromProto(const rpc::Uuid& id) { return UUID{id.hi(), id.lo()}; }

void ToProto(const ReplicateConfig& config, rpc::ReplicateConfig* out) {
    // A count beyond 32 bits cannot be honoured anyway; saturate rather than
    // wrap around to a small number.
    const size_t limit = std::numeric_limits<uint32_t>::max();
    out->set_replica_num(static_cast<uint32_t>(std::min(config.replica_num, limit)));
    out->set_with_soft_pin(config.soft_pinned());
    out->set_preferred_segment(config.preferred_segment);
    out->set_prefer_alloc_in_same_node(config.prefer_alloc_in_same_node);
    for (const std::string& name : config.excluded_segments) out->add_excluded_segments(name);
    for (const std::string& name : config.preferred_segments) out->add_preferred_segments(name);
    out->set_with_hard_pin(config.with_hard_pin);
    out->set_soft_pin_ttl_ms(config.soft_pin_ttl_ms);
    out->set_upsert(config.upsert);
    out->set_clear_soft_pin(config.soft_pin_action == SoftPinAction::DISABLE);
}

ReplicateConfig FromProto(const rpc::ReplicateConfig& config) {
    ReplicateConfig result;
    result.replica_num = config.replica_num();
    result.with_soft_pin = config.with_soft_pin();
    result.preferred_segment = config.preferred_segment();
    result.prefer_alloc_in_same_node = config.prefer_alloc_in_same_node();
    result.excluded_segments.assign(config.excluded_segments().begin(),
                                    config.excluded_segments().end());
    result.preferred_segments.assign(config.preferred_segments().begin(),
                                     config.preferred_segments().end());
    result.with_hard_pin = config.with_hard_pin();
    result.soft_pin_ttl_ms = config.soft_pin_ttl_ms();
    result.upsert = config.upsert();
    if (config.clear_soft_pin()) result.soft_pin_action = SoftPinAction::DISABLE;
    return result;
}

void ToProto(const ReplicaDescriptor& replica, rpc::ReplicaDescriptor* out) {
    out->set_status(ToProto(replica.status));
    if (replica.is_memory_replica()) {
        const MemoryDescriptor& memory = replica.memory();
        auto* proto = out->mutable_memory();
        proto->set_transport_endpoint(memory.transport_endpoint);
        proto->set_buffer_address(memory.buffer_address);
        proto->set_size(memory.size);
    } else if (replica.is_local_disk_replica()) {
        const LocalDiskDescriptor& disk = replica.local_disk();
        auto* proto = out->mutable_local_disk();
        ToProto(disk.client_id, proto->mutable_client_id());
        proto->set_object_size(disk.object_size);
        proto->set_transport_endpoint(disk.transport_endpoint);
    } else {
        const DiskDescriptor& disk = replica.disk();
        auto* proto = out->mutable_disk();
        proto->set_file_path(disk.file_path);
        proto->set_object_size(disk.object_size);
    }
}

ReplicaDescriptor FromProto(const rpc::ReplicaDescriptor& replica) {
    ReplicaDescriptor result;
    result.status = ReplicaStatusFromProto(replica.status());
    if (replica.has_disk()) {
        result.location = DiskDescriptor{replica.disk().file_path(), replica.disk().object_size()};
    } else if (replica.has_local_disk()) {
        const rpc::LocalDiskDescriptor& disk = replica.local_disk();
        result.location = LocalDiskDescriptor{FromProto(disk.client_id()), disk.object_size(),
                                              disk.transport_endpoint()};
    } else {
        const rpc::MemoryDescriptor& memory = replica.memory();
        result.location =
            MemoryDescriptor{memory.transport_endpoint(), memory.buffer_address(), memory.size()};
    }
    return result;
}

void ToProto(const std::vector<ReplicaDescriptor>& replicas,
             google::protobuf::RepeatedPtrField<rpc::ReplicaDescriptor>* out) {
    out->Reserve(static_cast<int>(replicas.size()));
    for (const ReplicaDescriptor& replica : replicas) ToProto(replica, out->Add());
}

std::vector<ReplicaDescriptor> FromProto(
    const google::protobuf::RepeatedPtrField<rpc::ReplicaDescriptor>& replicas) {
    std::vector<ReplicaDescriptor> result;
    result.reserve(replicas.size());
    for (const rpc::ReplicaDescriptor& replica : replicas) result.push_back(FromProto(replica));
    return result;
}

void ToProto(const SegmentInfo& segment, rpc::Segment* out) {
    ToProto(segment.id, out->mutable_id());
    out->set_name(segment.name);
    out->set_base(segment.base);
    out->set_size(segment.size);
}

SegmentInfo FromProto(const rpc::Segment& segment) {
    SegmentInfo result;
    result.id = FromProto(segment.id());
    result.name = segment.name();
    result.base = segment.base();
    result.size = segment.size();
    return result;
}

void ToProto(const TaskAssignment& task, rpc::TaskAssignment* out) {
    ToProto(task.id, out->mutable_id());
    out->set_type(ToProto(task.type));
    out->set_key(task.key);
    out->set_source(task.source);
    for (const std::string& target : task.targets) out->add_targets(target);
}

Result<TaskAssignment> FromProto(const rpc::TaskAssignment& task) {
    auto type = TaskTypeFromProto(task.type());
    if (!type) return Error(type.error());
    TaskAssignment result;
    result.id = FromProto(task.id());
    result.type = *type;
    result.key = task.key();
    result.source = task.source();
    result.targets.assign(task.targets().begin(), task.targets().end());
    return result;
}

void ToProto(const TaskInfo& task, rpc::TaskInfo* out) {
    ToProto(task.id, out->mutable_id());
    out->set_type(ToProto(task.type));
    out->set_status(ToProto(task.status));
    out->set_created_at_ms_epoch(task.created_at_ms_epoch);
    out->set_last_updated_at_ms_epoch(task.last_updated_at_ms_epoch);
    ToProto(task.assigned_client, out->mutable_assigned_client());
    out->set_message(task.message);
    out->set_key(task.key);
    out->set_source(task.source);
    for (const std::string& target : task.targets) out->add_targets(target);
    out->set_attempts(task.attempts);
}

Result<TaskInfo> FromProto(const rpc::TaskInfo& task) {
    auto type = TaskTypeFromProto(task.type());
    if (!type) return Error(type.error());
    auto status = TaskStatusFromProto(task.status());
    if (!status) return Error(status.error());
    TaskInfo result;
    result.id = FromProto(task.id());
    result.type = *type;
    result.status = *status;
    result.created_at_ms_epoch = task.created_at_ms_epoch();
    result.last_updated_at_ms_epoch = task.last_updated_at_ms_epoch();
    result.assigned_client = FromProto(task.assigned_client());
    result.message = task.message();
    result.key = task.key();
    result.source = task.source();
    result.targets.assign(task.targets().begin(), task.targets().end());
    result.attempts = task.attempts();
    return result;
}

// ---- enums ----------------------------------------------------------------------
// One table per enum, read both ways, so that the two directions cannot
// disagree. Every value of the enum is in its table (the round-trip test in
// master_server_unit_test.cpp walks them all).

namespace {

template <typename Native, typename Wire>
struct EnumPair {
    Native native;
    Wire wire;
};

template <typename Native, typename Wire, size_t N>
Wire WireOf(const EnumPair<Native, Wire> (&table)[N], Native native, Wire fallback) {
    const auto* found = std::ranges::find(table, native, &EnumPair<Native, Wire>::native);
    return found == std::end(table) ? fallback : found->wire;
}

// INVALID_PARAMS for a number the table does not know (a newer peer's).
template <typename Native, typename Wire, size_t N>
Result<Native> NativeOf(const EnumPair<Native, Wire> (&table)[N], int wire) {
    const auto* found = std::ranges::find(table, wire, [](const EnumPair<Native, Wire>& pair) {
        return static_cast<int>(pair.wire);
    });
    if (found == std::end(table)) return Error(ErrorCode::INVALID_PARAMS);
    return found->native;
}

constexpr EnumPair<ReplicaStatus, rpc::ReplicaStatus> kReplicaStatuses[] = {
    {ReplicaStatus::UNDEFINED, rpc::REPLICA_UNDEFINED},
    {ReplicaStatus::INITIALIZED, rpc::REPLICA_INITIALIZED},
    {ReplicaStatus::PROCESSING, rpc::REPLICA_PROCESSING},
    {ReplicaStatus::COMPLETE, rpc::REPLICA_COMPLETE},
    {ReplicaStatus::REMOVED, rpc::REPLICA_REMOVED},
    {ReplicaStatus::FAILED, rpc::REPLICA_FAILED},
};
constexpr EnumPair<TaskType, rpc::TaskType> kTaskTypes[] = {
    {TaskType::REPLICA_COPY, rpc::TASK_REPLICA_COPY},
    {TaskType::REPLICA_MOVE, rpc::TASK_REPLICA_MOVE},
};
constexpr EnumPair<TaskStatus, rpc::TaskStatus> kTaskStatuses[] = {
    {TaskStatus::PENDING, rpc::TASK_PENDING},
    {TaskStatus::PROCESSING, rpc::TASK_PROCESSING},
    {TaskStatus::SUCCESS, rpc::TASK_SUCCESS},
    {TaskStatus::FAILED, rpc::TASK_FAILED},
};
constexpr EnumPair<ClientStatus, rpc::ClientStatus> kClientStatuses[] = {
    {ClientStatus::OK, rpc::CLIENT_OK},
    {ClientStatus::NEED_REMOUNT, rpc::CLIENT_NEED_REMOUNT},
};

}  // namespace

rpc::ReplicaStatus ToProto(ReplicaStatus status) {
    return WireOf(kReplicaStatuses, status, rpc::REPLICA_UNDEFINED);
}

ReplicaStatus ReplicaStatusFromProto(int value) {
    return NativeOf(kReplicaStatuses, value).value_or(ReplicaStatus::UNDEFINED);
}

rpc::TaskType ToProto(TaskType type) { return WireOf(kTaskTypes, type, rpc::TASK_REPLICA_COPY); }

Result<TaskType> TaskTypeFromProto(int value) { return NativeOf(kTaskTypes, value); }

rpc::TaskStatus ToProto(TaskStatus status) {
    return WireOf(kTaskStatuses, status, rpc::TASK_FAILED);
}

Result<TaskStatus> TaskStatusFromProto(int value) { return NativeOf(kTaskStatuses, value); }

rpc::ClientStatus ToProto(ClientStatus status) {
    return WireOf(kClientStatuses, status, rpc::CLIENT_OK);
}

Result<ClientStatus> ClientStatusFromProto(int value) { return NativeOf(kClientStatuses, value); }

}  // namespace mooncake
