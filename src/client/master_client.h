// The client side of the master's control plane.
//
// Calls go over the master's hot-path socket when it is reachable (framed
// MasterRequest/MasterResponse envelopes on a few long-lived TCP connections,
// one round trip per call, no gRPC machinery in the way) and over gRPC unary
// calls otherwise. Every call has a deadline: a master that is down or
// restarting yields RPC_FAIL, never a hang. Connections are re-established
// transparently on the next call.
//
// Method results mirror MasterService (src/master/master_service.h): the
// master's error codes come back unchanged, transport failures are RPC_FAIL.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mooncake/result.h"
#include "mooncake/types.h"
#include "rpc/master_types.h"

namespace mooncake {

struct MasterClientOptions {
    // Deadline of one call (connect included).
    std::chrono::milliseconds rpc_timeout{std::chrono::seconds(5)};
    // Use the hot-path socket when the master advertises one.
    bool use_hot_path = true;
    // Hot-path connections open at most; callers beyond that wait for one to
    // come back (each call holds one for a single round trip).
    size_t hot_path_connections = 8;
    // Let PutEnd / BatchPutEnd return once sent (MasterClient::PutEndPipelined;
    // docs/performance.md). Off by default: a put then returns before the
    // master has accepted it, so another process may briefly miss it and a
    // refused PutEnd is only logged. MC_PIPELINE_PUT_END=1 in the environment
    // turns it on as well.
    bool pipeline_put_end = false;
    // With an "etcd://" master address: how long a call may wait for a new
    // leader after the current one failed (docs/ha.md).
    std::chrono::milliseconds failover_timeout{std::chrono::seconds(15)};
};

// What GetServiceInfo reports about the master.
struct MasterServiceInfo {
    std::string version;
    UUID master_instance_id;
    uint16_t hot_rpc_port = 0;
    uint64_t default_kv_lease_ttl_ms = 0;
    int64_t client_ttl_sec = 0;
    std::string cluster_id;
    // The master answers completing calls only once replicated (HA,
    // snapshots): PutEnd must not be pipelined.
    bool replicates_commits = false;
};

class MasterLink;
template <typename Link>
class LeaderFollower;
namespace rpc {
class KeyRequest;
class MasterRequest;
class MasterResponse;
class StatusResponse;
}  // namespace rpc

class MasterClient {
   public:
    // `master_address` is "host:port" of the gRPC service, or
    // "etcd://h1:2379;h2:2379" to follow the leader of an HA group recorded
    // in etcd (cluster MC_STORE_CLUSTER_ID, default "mooncake_cluster").
    // Fails with RPC_FAIL when the master cannot be reached within the deadline.
    static Result<std::unique_ptr<MasterClient>> Connect(const std::string& master_address,
                                                         const MasterClientOptions& options = {});
    ~MasterClient();
    MasterClient(const MasterClient&) = delete;
    MasterClient& operator=(const MasterClient&) = delete;

    Result<MasterServiceInfo> GetServiceInfo();

    Status MountSegment(const UUID& client_id, const SegmentInfo& segment);
    Status ReMountSegments(const UUID& client_id, const std::vector<SegmentInfo>& segments);
    // grace_period_seconds > 0: the master keeps the segment readable and
    // places nothing new there; a second call with 0 unmounts it.
    Status UnmountSegment(const UUID& client_id, const UUID& segment_id,
                          uint32_t grace_period_seconds = 0);
    // On a clean close: the master unmounts the client's segments and
    // forgets the client at once.
    Status UnregisterClient(const UUID& client_id);
    Result<std::vector<std::string>> GetAllSegments();
    Result<SegmentUsage> QuerySegment(const std::string& name);

    Result<std::vector<ReplicaDescriptor>> PutStart(const UUID& client_id, const std::string& key,
                                                    uint64_t value_size,
                                                    const ReplicateConfig& config);
    Status PutEnd(const UUID& client_id, const std::string& key);
    // PutEnd without waiting for the master's answer where that is safe
    // (MasterLink::CallPipelined): OK once sent, a later failure is
    // logged. Elsewhere (gRPC only, HA, snapshots) a plain PutEnd.
    Status PutEndPipelined(const UUID& client_id, const std::string& key);
    Status PutRevoke(const UUID& client_id, const std::string& key);
    // The batch calls return one entry per key, in order, or RPC_FAIL for the
    // whole batch when the call itself failed.
    Result<std::vector<Result<std::vector<ReplicaDescriptor>>>> BatchPutStart(
        const UUID& client_id, const std::vector<std::string>& keys,
        const std::vector<uint64_t>& value_sizes, const ReplicateConfig& config);
    Result<std::vector<Status>> BatchPutEnd(const UUID& client_id,
                                            const std::vector<std::string>& keys);
    Result<std::vector<Status>> BatchPutEndPipelined(const UUID& client_id,
                                                     const std::vector<std::string>& keys);
    Result<std::vector<Status>> BatchPutRevoke(const UUID& client_id,
                                               const std::vector<std::string>& keys);

    // Put credits (master_client_credits.cpp; MasterService::GrantPutCredits
    // and BatchPutCommit).
    Result<PutCreditGrant> GrantPutCredits(const UUID& client_id, uint64_t value_size, size_t count,
                                           size_t replica_num,
                                           const std::vector<uint64_t>& release);
    Result<std::vector<Status>> BatchPutCommit(const UUID& client_id,
                                               const std::vector<std::string>& keys,
                                               const std::vector<uint64_t>& credit_ids,
                                               const ReplicateConfig& config);

    Result<GetReplicaListResult> GetReplicaList(const std::string& key);
    Result<std::vector<Result<GetReplicaListResult>>> BatchGetReplicaList(
        const std::vector<std::string>& keys);
    Result<std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>>
    GetReplicaListByRegex(const std::string& regex);
    Result<bool> ExistKey(const std::string& key);
    Result<std::vector<Result<bool>>> BatchExistKey(const std::vector<std::string>& keys);

    // `force`: remove even while readers hold leases.
    Status Remove(const std::string& key, bool force = false);
    Result<int64_t> RemoveByRegex(const std::string& regex, bool force = false);
    Result<int64_t> RemoveAll(bool force = false);
    // Keys cleared (MasterService::BatchReplicaClear).
    Result<std::vector<std::string>> BatchReplicaClear(const UUID& client_id,
                                                       const std::vector<std::string>& keys,
                                                       const std::string& segment_name);

    Result<PingResult> Ping(const UUID& client_id);

    // SSD offload (master_client_offload.cpp; MasterService has the meaning).
    Status MountLocalDisk(const UUID& client_id, const std::string& endpoint, bool offloading,
                          uint64_t capacity_bytes);
    Status UnmountLocalDisk(const UUID& client_id);
    Result<OffloadWork> OffloadHeartbeat(const UUID& client_id, size_t max_items);
    Status NotifyOffloadSuccess(const UUID& client_id, const std::vector<OffloadItem>& items,
                                bool from_rescan);
    Status NotifyDiskEvicted(const UUID& client_id, const std::vector<std::string>& keys);

    Result<UUID> CreateCopyTask(const std::string& key, const std::vector<std::string>& targets);
    Result<UUID> CreateMoveTask(const std::string& key, const std::string& source,
                                const std::string& target);
    Result<TaskInfo> QueryTask(const UUID& task_id);
    Result<std::vector<TaskAssignment>> FetchTasks(const UUID& client_id, size_t max_tasks);
    Status MarkTaskComplete(const UUID& client_id, const UUID& task_id, TaskStatus status,
                            const std::string& message);
    Result<CopyStartResult> CopyStart(const UUID& client_id, const std::string& key,
                                      const std::vector<std::string>& targets);
    Status CopyEnd(const UUID& client_id, const std::string& key);
    Status CopyRevoke(const UUID& client_id, const std::string& key);
    Result<MoveStartResult> MoveStart(const UUID& client_id, const std::string& key,
                                      const std::string& source, const std::string& target);
    Status MoveEnd(const UUID& client_id, const std::string& key);
    Status MoveRevoke(const UUID& client_id, const std::string& key);

    // True while calls go over the hot-path socket (for logs and tests).
    bool UsingHotPath() const;

   private:
    explicit MasterClient(std::shared_ptr<MasterLink> link);
    explicit MasterClient(std::unique_ptr<LeaderFollower<MasterLink>> follower,
                          MasterClientOptions options);
    static Result<std::unique_ptr<MasterClient>> ConnectHa(const std::string& master_address,
                                                           const MasterClientOptions& options);
    std::shared_ptr<MasterLink> Link() const;
    // impl->Call, and with HA a switch to the new leader and a retry when the
    // leader failed (master_client_failover.cpp).
    Status Call(rpc::MasterRequest* request, rpc::MasterResponse* response);

    // The reply a call expects: a MasterResponse accessor such as
    // &rpc::MasterResponse::put_end.
    template <typename Reply>
    using ReplyOf = const Reply& (rpc::MasterResponse::*)() const;
    // Call and the reply's own error code (master_client_call.h).
    template <typename Reply>
    Status CallForStatus(rpc::MasterRequest* request, ReplyOf<Reply> reply);
    // Call, then `read(reply)` once the reply's own error code is OK.
    template <typename Reply, typename Read>
    std::invoke_result_t<Read, const Reply&> CallAndRead(rpc::MasterRequest* request,
                                                         ReplyOf<Reply> reply, Read read);
    // The calls that name one key of a client and expect a status (PutEnd,
    // CopyRevoke, ...): `body` is the request's accessor, such as
    // &rpc::MasterRequest::mutable_put_end.
    Status CallWithKey(rpc::KeyRequest* (rpc::MasterRequest::*body)(),
                       ReplyOf<rpc::StatusResponse> reply, const UUID& client_id,
                       const std::string& key);
    // A batch call answered with one error code per key (`count` keys).
    template <typename Reply>
    Result<std::vector<Status>> CallForStatuses(rpc::MasterRequest* request, ReplyOf<Reply> reply,
                                                size_t count);
    // A batch call answered with one result per key (`count` keys): the
    // entry's error, or `read(entry)` for an OK one.
    template <typename T, typename Reply, typename Read>
    Result<std::vector<Result<T>>> CallForResults(rpc::MasterRequest* request, ReplyOf<Reply> reply,
                                                  size_t count, Read read);

    std::shared_ptr<MasterLink> direct_link_;               // direct address
    std::unique_ptr<LeaderFollower<MasterLink>> follower_;  // "etcd://" address
    MasterClientOptions options_;
};

}  // namespace mooncake
