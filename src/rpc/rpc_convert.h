// Conversions between the protobuf messages of proto/master.proto and the
// value types of include/mooncake/types.h and src/rpc/master_types.h.
//
// Both the master's adapters and MasterClient use these, so a field added to
// one side is added in one place. Enum values read from the wire are checked:
// proto3 enums are open, so a peer may send any number.
#pragma once

#include <google/protobuf/repeated_field.h>

#include <string>
#include <utility>
#include <vector>

#include "master.pb.h"
#include "mooncake/result.h"
#include "mooncake/types.h"
#include "rpc/master_types.h"

namespace mooncake {

void ToProto(const UUID& id, rpc::Uuid* out);
UUID FromProto(const rpc::Uuid& id);

void ToProto(const ReplicateConfig& config, rpc::ReplicateConfig* out);
ReplicateConfig FromProto(const rpc::ReplicateConfig& config);

void ToProto(const ReplicaDescriptor& replica, rpc::ReplicaDescriptor* out);
ReplicaDescriptor FromProto(const rpc::ReplicaDescriptor& replica);

void ToProto(const std::vector<ReplicaDescriptor>& replicas,
             google::protobuf::RepeatedPtrField<rpc::ReplicaDescriptor>* out);
std::vector<ReplicaDescriptor> FromProto(
    const google::protobuf::RepeatedPtrField<rpc::ReplicaDescriptor>& replicas);

void ToProto(const SegmentInfo& segment, rpc::Segment* out);
SegmentInfo FromProto(const rpc::Segment& segment);

void ToProto(const TaskAssignment& task, rpc::TaskAssignment* out);
// INVALID_PARAMS for an unknown task type.
Result<TaskAssignment> FromProto(const rpc::TaskAssignment& task);

void ToProto(const TaskInfo& task, rpc::TaskInfo* out);
// INVALID_PARAMS for an unknown task type or status.
Result<TaskInfo> FromProto(const rpc::TaskInfo& task);

rpc::ReplicaStatus ToProto(ReplicaStatus status);
// Numbers this build does not know become UNDEFINED.
ReplicaStatus ReplicaStatusFromProto(int value);

rpc::TaskType ToProto(TaskType type);
Result<TaskType> TaskTypeFromProto(int value);

rpc::TaskStatus ToProto(TaskStatus status);
Result<TaskStatus> TaskStatusFromProto(int value);

rpc::ClientStatus ToProto(ClientStatus status);
Result<ClientStatus> ClientStatusFromProto(int value);

// The wire form of a status: 0 or the negative error code.
inline int32_t CodeToWire(ErrorCode code) { return ToInt(code); }
inline Status StatusFromWire(int32_t code) {
    if (code == 0) return OkStatus();
    return Error(ErrorCodeFromInt(code));
}

}  // namespace mooncake
