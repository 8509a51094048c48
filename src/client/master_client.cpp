#include "client/master_client.h"

#include <glog/logging.h>

#include <algorithm>
#include <limits>
#include <string_view>

#include "client/master_client_call.h"
#include "client/master_failover.h"
#include "client/master_link.h"
#include "common/cluster_auth.h"
#include "common/net_util.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using Body = rpc::MasterRequest::BodyCase;
using SteadyClock = std::chrono::steady_clock;

constexpr uint16_t kDefaultMasterPort = 50051;

// True when `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF): what protobuf demands of proto3 `string` fields.
bool IsUtf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto byte = static_cast<unsigned char>(text[i]);
        size_t extra = 0;
        uint32_t code = 0;
        if (byte < 0x80) {
            ++i;
            continue;
        } else if ((byte & 0xE0) == 0xC0) {
            extra = 1;
            code = byte & 0x1F;
        } else if ((byte & 0xF0) == 0xE0) {
            extra = 2;
            code = byte & 0x0F;
        } else if ((byte & 0xF8) == 0xF0) {
            extra = 3;
            code = byte & 0x07;
        } else {
            return false;
        }
        if (text.size() - i <= extra) return false;
        for (size_t k = 1; k <= extra; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xC0) != 0x80) return false;
            code = (code << 6) | (next & 0x3F);
        }
        constexpr uint32_t kSmallestOfLength[] = {0, 0x80, 0x800, 0x10000};
        if (code < kSmallestOfLength[extra] || code > 0x10FFFF ||
            (code >= 0xD800 && code <= 0xDFFF)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

// Segment names and regexes travel in proto3 `string` fields, which the
// master refuses to parse unless they are UTF-8: it would drop the
// connection and the caller would see RPC_FAIL for what is a bad argument.
// Refuse such text here, before anything is sent.
Status RequireUtf8(const char* what, std::string_view text) {
    if (IsUtf8(text)) return OkStatus();
    LOG(WARNING) << "Refused " << what << " that is not valid UTF-8 (" << text.size()
                 << " bytes): INVALID_PARAMS";
    return Error(ErrorCode::INVALID_PARAMS);
}

Status RequireUtf8(const ReplicateConfig& config) {
    MC_RETURN_IF_ERROR(RequireUtf8("a preferred segment name", config.preferred_segment));
    for (const std::string& name : config.preferred_segments) {
        MC_RETURN_IF_ERROR(RequireUtf8("a preferred segment name", name));
    }
    for (const std::string& name : config.excluded_segments) {
        MC_RETURN_IF_ERROR(RequireUtf8("an excluded segment name", name));
    }
    return OkStatus();
}

// What the replies carry, for MasterClient::CallAndRead / CallForResults
// (master_client_call.h), which have checked the reply's error code.
Result<std::vector<ReplicaDescriptor>> ReplicasOf(const rpc::PutStartResponse& reply) {
    return FromProto(reply.replicas());
}

Result<GetReplicaListResult> ReplicaListOf(const rpc::GetReplicaListResponse& reply) {
    GetReplicaListResult result;
    result.replicas = FromProto(reply.replicas());
    result.lease_ttl_ms = reply.lease_ttl_ms();
    return result;
}

Result<bool> ExistsOf(const rpc::ExistKeyResponse& reply) { return reply.exists(); }

Result<int64_t> CountOf(const rpc::CountResponse& reply) { return reply.count(); }

Result<UUID> TaskIdOf(const rpc::CreateTaskResponse& reply) { return FromProto(reply.task_id()); }

Result<std::vector<TaskAssignment>> TasksFromProto(
    const google::protobuf::RepeatedPtrField<rpc::TaskAssignment>& tasks) {
    std::vector<TaskAssignment> result;
    result.reserve(tasks.size());
    for (const rpc::TaskAssignment& task : tasks) {
        auto converted = FromProto(task);
        // A task this build cannot name is a protocol mismatch, not a task.
        if (!converted) return Error(ErrorCode::RPC_FAIL);
        result.push_back(std::move(*converted));
    }
    return result;
}

}  // namespace

// ---- MasterClient ---------------------------------------------------------------------

MasterClient::MasterClient(std::shared_ptr<MasterLink> link) : direct_link_(std::move(link)) {}

MasterClient::~MasterClient() = default;

Result<std::unique_ptr<MasterClient>> MasterClient::Connect(const std::string& master_address,
                                                            const MasterClientOptions& options) {
    if (ha::IsEtcdMasterAddress(master_address)) return ConnectHa(master_address, options);
    auto parsed = ParseHostPort(master_address);
    if (!parsed) {
        LOG(WARNING) << "invalid master address '" << master_address << "' (want host:port)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (options.rpc_timeout <= std::chrono::milliseconds::zero()) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // MC_CLUSTER_SECRET(_FILE): authenticate to the master.
    auto key = auth::LoadClusterKey();
    if (!key) return Error(key.error());
    auto link = std::make_shared<MasterLink>(
        parsed->host, parsed->port.value_or(kDefaultMasterPort), options, std::move(*key));
    MC_RETURN_IF_ERROR(link->Init());
    return std::unique_ptr<MasterClient>(new MasterClient(std::move(link)));
}

bool MasterClient::UsingHotPath() const { return Link()->UsingHotPath(); }

Result<MasterServiceInfo> MasterClient::GetServiceInfo() {
    rpc::MasterRequest request;
    request.mutable_get_service_info();
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    auto info = ServiceInfoFromProto(response.get_service_info());
    if (info) Link()->RememberServiceInfo(*info);
    return info;
}

Status MasterClient::MountSegment(const UUID& client_id, const SegmentInfo& segment) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a segment name", segment.name));
    auto* body = request.mutable_mount_segment();
    ToProto(client_id, body->mutable_client_id());
    ToProto(segment, body->mutable_segment());
    return CallForStatus(&request, &rpc::MasterResponse::mount_segment);
}

Status MasterClient::ReMountSegments(const UUID& client_id,
                                     const std::vector<SegmentInfo>& segments) {
    rpc::MasterRequest request;
    auto* body = request.mutable_remount_segment();
    ToProto(client_id, body->mutable_client_id());
    for (const SegmentInfo& segment : segments) ToProto(segment, body->add_segments());
    return CallForStatus(&request, &rpc::MasterResponse::remount_segment);
}

Status MasterClient::UnmountSegment(const UUID& client_id, const UUID& segment_id,
                                    uint32_t grace_period_seconds) {
    rpc::MasterRequest request;
    auto* body = request.mutable_unmount_segment();
    ToProto(client_id, body->mutable_client_id());
    ToProto(segment_id, body->mutable_segment_id());
    body->set_grace_period_seconds(grace_period_seconds);
    return CallForStatus(&request, &rpc::MasterResponse::unmount_segment);
}

Status MasterClient::UnregisterClient(const UUID& client_id) {
    rpc::MasterRequest request;
    auto* body = request.mutable_unmount_segment();
    ToProto(client_id, body->mutable_client_id());
    body->set_unregister_client(true);
    return CallForStatus(&request, &rpc::MasterResponse::unmount_segment);
}

Result<std::vector<std::string>> MasterClient::GetAllSegments() {
    rpc::MasterRequest request;
    request.mutable_get_all_segments();
    return CallAndRead(&request, &rpc::MasterResponse::get_all_segments,
                       [](const auto& reply) -> Result<std::vector<std::string>> {
                           return std::vector<std::string>(reply.segment_names().begin(),
                                                           reply.segment_names().end());
                       });
}

Result<SegmentUsage> MasterClient::QuerySegment(const std::string& name) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a segment name", name));
    request.mutable_query_segment()->set_name(name);
    return CallAndRead(&request, &rpc::MasterResponse::query_segment,
                       [](const auto& reply) -> Result<SegmentUsage> {
                           return SegmentUsage{reply.used(), reply.capacity()};
                       });
}

Result<std::vector<ReplicaDescriptor>> MasterClient::PutStart(const UUID& client_id,
                                                              const std::string& key,
                                                              uint64_t value_size,
                                                              const ReplicateConfig& config) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8(config));
    auto* body = request.mutable_put_start();
    ToProto(client_id, body->mutable_client_id());
    body->set_key(key);
    body->set_value_size(value_size);
    ToProto(config, body->mutable_config());
    return CallAndRead(&request, &rpc::MasterResponse::put_start, ReplicasOf);
}

namespace {

void FillKeyRequest(const UUID& client_id, const std::string& key, rpc::KeyRequest* body) {
    ToProto(client_id, body->mutable_client_id());
    body->set_key(key);
}

}  // namespace

Status MasterClient::CallWithKey(rpc::KeyRequest* (rpc::MasterRequest::*body)(),
                                 ReplyOf<rpc::StatusResponse> reply, const UUID& client_id,
                                 const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, (request.*body)());
    return CallForStatus(&request, reply);
}

Status MasterClient::PutEnd(const UUID& client_id, const std::string& key) {
    return CallWithKey(&rpc::MasterRequest::mutable_put_end, &rpc::MasterResponse::put_end,
                       client_id, key);
}

Status MasterClient::PutEndPipelined(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_put_end());
    if (!follower_) {
        const auto check = [](const rpc::MasterResponse& response) {
            return StatusFromWire(response.put_end().error_code());
        };
        if (direct_link_->CallPipelined(&request, "PutEnd of '" + key + "'", check))
            return OkStatus();
    }
    return CallForStatus(&request, &rpc::MasterResponse::put_end);
}

Status MasterClient::PutRevoke(const UUID& client_id, const std::string& key) {
    return CallWithKey(&rpc::MasterRequest::mutable_put_revoke, &rpc::MasterResponse::put_revoke,
                       client_id, key);
}

Result<std::vector<Result<std::vector<ReplicaDescriptor>>>> MasterClient::BatchPutStart(
    const UUID& client_id, const std::vector<std::string>& keys,
    const std::vector<uint64_t>& value_sizes, const ReplicateConfig& config) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8(config));
    auto* body = request.mutable_batch_put_start();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    body->mutable_value_sizes()->Add(value_sizes.begin(), value_sizes.end());
    ToProto(config, body->mutable_config());
    return CallForResults<std::vector<ReplicaDescriptor>>(
        &request, &rpc::MasterResponse::batch_put_start, keys.size(), ReplicasOf);
}

Result<std::vector<Status>> MasterClient::BatchPutEnd(const UUID& client_id,
                                                      const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    auto* body = request.mutable_batch_put_end();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    return CallForStatuses(&request, &rpc::MasterResponse::batch_put_end, keys.size());
}

Result<std::vector<Status>> MasterClient::BatchPutEndPipelined(
    const UUID& client_id, const std::vector<std::string>& keys) {
    if (!follower_) {
        rpc::MasterRequest request;
        auto* body = request.mutable_batch_put_end();
        ToProto(client_id, body->mutable_client_id());
        FillKeys(keys, body);
        const auto check = [](const rpc::MasterResponse& response) -> Status {
            for (int32_t code : response.batch_put_end().error_codes()) {
                MC_RETURN_IF_ERROR(StatusFromWire(code));
            }
            return OkStatus();
        };
        const std::string what = "BatchPutEnd of " + std::to_string(keys.size()) + " keys from '" +
                                 (keys.empty() ? "" : keys.front()) + "'";
        if (direct_link_->CallPipelined(&request, what, check)) {
            return std::vector<Status>(keys.size(), OkStatus());
        }
    }
    return BatchPutEnd(client_id, keys);
}

Result<std::vector<Status>> MasterClient::BatchPutRevoke(const UUID& client_id,
                                                         const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    auto* body = request.mutable_batch_put_revoke();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    return CallForStatuses(&request, &rpc::MasterResponse::batch_put_revoke, keys.size());
}

Result<GetReplicaListResult> MasterClient::GetReplicaList(const std::string& key) {
    rpc::MasterRequest request;
    request.mutable_get_replica_list()->set_key(key);
    return CallAndRead(&request, &rpc::MasterResponse::get_replica_list, ReplicaListOf);
}

Result<std::vector<Result<GetReplicaListResult>>> MasterClient::BatchGetReplicaList(
    const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    FillKeys(keys, request.mutable_batch_get_replica_list());
    return CallForResults<GetReplicaListResult>(
        &request, &rpc::MasterResponse::batch_get_replica_list, keys.size(), ReplicaListOf);
}

Result<std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>>
MasterClient::GetReplicaListByRegex(const std::string& regex) {
    using Objects = std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>;
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a regex", regex));
    request.mutable_get_replica_list_by_regex()->set_regex(regex);
    return CallAndRead(&request, &rpc::MasterResponse::get_replica_list_by_regex,
                       [](const auto& reply) -> Result<Objects> {
                           Objects objects;
                           objects.reserve(reply.objects_size());
                           for (const rpc::KeyReplicas& object : reply.objects()) {
                               objects.emplace_back(object.key(), FromProto(object.replicas()));
                           }
                           return objects;
                       });
}

Result<bool> MasterClient::ExistKey(const std::string& key) {
    rpc::MasterRequest request;
    request.mutable_exist_key()->set_key(key);
    return CallAndRead(&request, &rpc::MasterResponse::exist_key, ExistsOf);
}

Result<std::vector<Result<bool>>> MasterClient::BatchExistKey(
    const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    FillKeys(keys, request.mutable_batch_exist_key());
    return CallForResults<bool>(&request, &rpc::MasterResponse::batch_exist_key, keys.size(),
                                ExistsOf);
}

Status MasterClient::Remove(const std::string& key, bool force) {
    rpc::MasterRequest request;
    request.mutable_remove()->set_key(key);
    request.mutable_remove()->set_force(force);
    return CallForStatus(&request, &rpc::MasterResponse::remove);
}

Result<int64_t> MasterClient::RemoveByRegex(const std::string& regex, bool force) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a regex", regex));
    request.mutable_remove_by_regex()->set_regex(regex);
    request.mutable_remove_by_regex()->set_force(force);
    return CallAndRead(&request, &rpc::MasterResponse::remove_by_regex, CountOf);
}

Result<int64_t> MasterClient::RemoveAll(bool force) {
    rpc::MasterRequest request;
    request.mutable_remove_all()->set_force(force);
    return CallAndRead(&request, &rpc::MasterResponse::remove_all, CountOf);
}

Result<std::vector<std::string>> MasterClient::BatchReplicaClear(
    const UUID& client_id, const std::vector<std::string>& keys, const std::string& segment_name) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a segment name", segment_name));
    auto* body = request.mutable_batch_replica_clear();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    body->set_segment_name(segment_name);
    return CallAndRead(&request, &rpc::MasterResponse::batch_replica_clear,
                       [](const auto& reply) -> Result<std::vector<std::string>> {
                           return std::vector<std::string>(reply.cleared_keys().begin(),
                                                           reply.cleared_keys().end());
                       });
}

Result<PingResult> MasterClient::Ping(const UUID& client_id) {
    rpc::MasterRequest request;
    ToProto(client_id, request.mutable_ping()->mutable_client_id());
    return CallAndRead(&request, &rpc::MasterResponse::ping,
                       [](const auto& reply) -> Result<PingResult> {
                           auto status = ClientStatusFromProto(reply.client_status());
                           if (!status) return Error(ErrorCode::RPC_FAIL);
                           auto tasks = TasksFromProto(reply.tasks());
                           if (!tasks) return Error(tasks.error());
                           return PingResult{*status, std::move(*tasks)};
                       });
}

Result<UUID> MasterClient::CreateCopyTask(const std::string& key,
                                          const std::vector<std::string>& targets) {
    rpc::MasterRequest request;
    for (const std::string& target : targets) {
        MC_RETURN_IF_ERROR(RequireUtf8("a copy target", target));
    }
    auto* body = request.mutable_create_copy_task();
    body->set_key(key);
    for (const std::string& target : targets) body->add_targets(target);
    return CallAndRead(&request, &rpc::MasterResponse::create_copy_task, TaskIdOf);
}

Result<UUID> MasterClient::CreateMoveTask(const std::string& key, const std::string& source,
                                          const std::string& target) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a move source", source));
    MC_RETURN_IF_ERROR(RequireUtf8("a move target", target));
    auto* body = request.mutable_create_move_task();
    body->set_key(key);
    body->set_source(source);
    body->set_target(target);
    return CallAndRead(&request, &rpc::MasterResponse::create_move_task, TaskIdOf);
}

Result<TaskInfo> MasterClient::QueryTask(const UUID& task_id) {
    rpc::MasterRequest request;
    ToProto(task_id, request.mutable_query_task()->mutable_task_id());
    return CallAndRead(&request, &rpc::MasterResponse::query_task,
                       [](const auto& reply) -> Result<TaskInfo> {
                           auto task = FromProto(reply.task());
                           if (!task) return Error(ErrorCode::RPC_FAIL);
                           return task;
                       });
}

Result<std::vector<TaskAssignment>> MasterClient::FetchTasks(const UUID& client_id,
                                                             size_t max_tasks) {
    rpc::MasterRequest request;
    auto* body = request.mutable_fetch_tasks();
    ToProto(client_id, body->mutable_client_id());
    body->set_max_tasks(
        static_cast<uint32_t>(std::min<size_t>(max_tasks, std::numeric_limits<uint32_t>::max())));
    return CallAndRead(&request, &rpc::MasterResponse::fetch_tasks,
                       [](const auto& reply) { return TasksFromProto(reply.tasks()); });
}

Status MasterClient::MarkTaskComplete(const UUID& client_id, const UUID& task_id, TaskStatus status,
                                      const std::string& message) {
    rpc::MasterRequest request;
    auto* body = request.mutable_mark_task_complete();
    ToProto(client_id, body->mutable_client_id());
    ToProto(task_id, body->mutable_task_id());
    body->set_status(ToProto(status));
    body->set_message(message);
    return CallForStatus(&request, &rpc::MasterResponse::mark_task_complete);
}

Result<CopyStartResult> MasterClient::CopyStart(const UUID& client_id, const std::string& key,
                                                const std::vector<std::string>& targets) {
    rpc::MasterRequest request;
    auto* body = request.mutable_copy_start();
    ToProto(client_id, body->mutable_client_id());
    body->set_key(key);
    for (const std::string& target : targets) body->add_targets(target);
    return CallAndRead(
        &request, &rpc::MasterResponse::copy_start,
        [](const auto& reply) -> Result<CopyStartResult> {
            return CopyStartResult{FromProto(reply.source()), FromProto(reply.targets())};
        });
}

Status MasterClient::CopyEnd(const UUID& client_id, const std::string& key) {
    return CallWithKey(&rpc::MasterRequest::mutable_copy_end, &rpc::MasterResponse::copy_end,
                       client_id, key);
}

Status MasterClient::CopyRevoke(const UUID& client_id, const std::string& key) {
    return CallWithKey(&rpc::MasterRequest::mutable_copy_revoke, &rpc::MasterResponse::copy_revoke,
                       client_id, key);
}

Result<MoveStartResult> MasterClient::MoveStart(const UUID& client_id, const std::string& key,
                                                const std::string& source,
                                                const std::string& target) {
    rpc::MasterRequest request;
    auto* body = request.mutable_move_start();
    ToProto(client_id, body->mutable_client_id());
    body->set_key(key);
    body->set_source(source);
    body->set_target(target);
    return CallAndRead(
        &request, &rpc::MasterResponse::move_start,
        [](const auto& reply) -> Result<MoveStartResult> {
            return MoveStartResult{FromProto(reply.source()), FromProto(reply.target())};
        });
}

Status MasterClient::MoveEnd(const UUID& client_id, const std::string& key) {
    return CallWithKey(&rpc::MasterRequest::mutable_move_end, &rpc::MasterResponse::move_end,
                       client_id, key);
}

Status MasterClient::MoveRevoke(const UUID& client_id, const std::string& key) {
    return CallWithKey(&rpc::MasterRequest::mutable_move_revoke, &rpc::MasterResponse::move_revoke,
                       client_id, key);
}

// ---- HA: following the leader (docs/ha.md) ----------------------------------------------

MasterClient::MasterClient(std::unique_ptr<LeaderFollower<MasterLink>> follower,
                           MasterClientOptions options)
    : follower_(std::move(follower)), options_(options) {}

Result<std::unique_ptr<MasterClient>> MasterClient::ConnectHa(const std::string& master_address,
                                                              const MasterClientOptions& options) {
    if (options.rpc_timeout <= std::chrono::milliseconds::zero()) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto resolver = ha::LeaderResolver::Create(master_address, ha::ClientClusterId());
    if (!resolver) {
        LOG(WARNING) << "invalid master address '" << master_address
                     << "' (want etcd://host:port[;host:port...])";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // MC_CLUSTER_SECRET(_FILE): authenticate to every leader.
    auto key = auth::LoadClusterKey();
    if (!key) return Error(key.error());
    auto connect = [options, key = std::move(*key)](
                       const std::string& address) -> Result<std::shared_ptr<MasterLink>> {
        auto parsed = ParseHostPort(address);
        if (!parsed || !parsed->port) {
            LOG(WARNING) << "etcd names an invalid leader address '" << address << "'";
            return Error(ErrorCode::RPC_FAIL);
        }
        auto link = std::make_shared<MasterLink>(parsed->host, *parsed->port, options, key);
        MC_RETURN_IF_ERROR(link->Init());
        return link;
    };
    auto follower =
        std::make_unique<LeaderFollower<MasterLink>>(std::move(*resolver), std::move(connect));
    MC_RETURN_IF_ERROR(follower->Init(SteadyClock::now() + options.rpc_timeout));
    return std::unique_ptr<MasterClient>(new MasterClient(std::move(follower), options));
}

std::shared_ptr<MasterLink> MasterClient::Link() const {
    return follower_ ? follower_->Current() : direct_link_;
}

Status MasterClient::Call(rpc::MasterRequest* request, rpc::MasterResponse* response) {
    std::shared_ptr<MasterLink> link = Link();
    Status status = link->Call(request, response);
    if (!follower_) return status;
    const auto leader_lost = [](const Status& s) {
        return !s && (s.error() == ErrorCode::RPC_FAIL ||
                      s.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    };
    const auto deadline = SteadyClock::now() + options_.failover_timeout;
    while (leader_lost(status) && SteadyClock::now() < deadline) {
        // "Not the leader" means nothing was done; a call that failed in
        // transit may have been, so only a new leader (which cannot have
        // seen it unless it was replicated) or a harmless repeat justifies
        // sending it again.
        const bool refused = status.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_MODE;
        auto next = follower_->SwitchFrom(link, deadline);
        if (!next) break;
        if (*next == link && !refused && !IsIdempotent(request->body_case())) break;
        link = *next;
        status = link->Call(request, response);
    }
    if (!status && status.error() == ErrorCode::UNAVAILABLE_IN_CURRENT_MODE) {
        return Error(ErrorCode::RPC_FAIL);
    }
    return status;
}

}  // namespace mooncake
