// One connection to one master: requests go over a pool of hot-path
// connections (rpc/framed_rpc_client.h) when the master offers its hot port,
// and over gRPC otherwise or while the hot path is down. MasterClient holds
// one (a direct address) or follows the HA leader's (master_failover.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "client/master_client.h"
#include "common/cluster_auth.h"
#include "common/mutex.h"
#include "master.grpc.pb.h"
#include "rpc/framed_rpc_client.h"

namespace mooncake {

// Calls that change nothing (or only extend a lease) may be sent again when
// the connection broke after the request was written.
bool IsIdempotent(rpc::MasterRequest::BodyCase body);

Result<MasterServiceInfo> ServiceInfoFromProto(const rpc::GetServiceInfoResponse& reply);

class MasterLink {
   public:
    using SteadyClock = std::chrono::steady_clock;

    MasterLink(std::string host, uint16_t port, MasterClientOptions options,
               auth::ClusterKeyPtr key);

    Status Init();

    // Sends `request` (its request id is assigned here) and fills `response`
    // with the matching body. RPC_FAIL when the master could not be reached
    // before the deadline; the master's error when it answered with one
    // instead of a body.
    Status Call(rpc::MasterRequest* request, rpc::MasterResponse* response);

    // Sends a completing call (PutEnd, BatchPutEnd) without waiting for the
    // answer, when the hot path is up, the master does not replicate commits
    // before answering (then the answer is the durability promise) and the
    // pool allows it (FramedRpcPool::Lease::SendDeferred). The answer is read by
    // the next call on that connection, which this thread's next call is
    // (rpc/framed_rpc_client.h); `check` tells a failure in it, which is logged
    // as `what`. False when nothing was sent: make a plain Call instead.
    using AnswerCheck = Status (*)(const rpc::MasterResponse& response);
    bool CallPipelined(rpc::MasterRequest* request, std::string what, AnswerCheck check);

    bool UsingHotPath() const {
        return options_.use_hot_path && hot_healthy_.load() && pool_.port() != 0;
    }

    void RememberServiceInfo(const MasterServiceInfo& info);

   private:
    enum class HotOutcome {
        kDone,            // *status is the outcome of the call
        kUnavailable,     // nothing was sent: use gRPC
        kFailedAfterSend  // the request may or may not have reached the master
    };

    HotOutcome CallHot(const rpc::MasterRequest& request, rpc::MasterResponse* response,
                       SteadyClock::time_point deadline, Status* status);
    // Notes which master instance a connection's handshake named, once.
    void NoteFirstUse(FramedRpcConnection& connection);
    Status CallGrpc(const rpc::MasterRequest& request, rpc::MasterResponse* response,
                    SteadyClock::time_point deadline);
    // `wait_for_ready`: keep trying to connect until the deadline instead of
    // failing on the first refused attempt (a master that is starting).
    Result<MasterServiceInfo> FetchServiceInfoOverGrpc(SteadyClock::time_point deadline,
                                                       bool wait_for_ready = false);
    void MarkHotPathDown(const char* why);
    bool HotPathDue() const;
    // With a cluster key: adds the per-call token the master's gRPC checks
    // and returns it (empty without a key).
    std::string Authorize(grpc::ClientContext* context) const;
    // After a successful call: true when the master proved the key back (or
    // there is no key).
    bool MasterProved(const grpc::ClientContext& context, const std::string& token) const;
    // RPC_FAIL with the target and gRPC's reason.
    Failure GrpcFailure(const grpc::Status& status) const;
    void LogGrpcFailure(const grpc::Status& status) const;

    // The gRPC channel and its stub. Replaced as a whole (calls in flight
    // keep the one they started on) when the channel is stuck.
    struct GrpcLink {
        std::shared_ptr<grpc::Channel> channel;
        std::unique_ptr<rpc::MasterService::Stub> stub;
    };
    std::shared_ptr<const GrpcLink> NewGrpcLink() const;
    std::shared_ptr<const GrpcLink> CurrentGrpcLink();
    // After a call on `used` failed with UNAVAILABLE. gRPC (1.51) keeps a
    // channel whose connection attempt failed in TRANSIENT_FAILURE until its
    // name is resolved again, 5 to 10 s later whatever the reconnect
    // back-off says, so a master restarted meanwhile would stay unseen that
    // long: a new channel connects at once instead.
    void ReplaceGrpcLinkIfStuck(const std::shared_ptr<const GrpcLink>& used);

    const std::string host_;
    const std::string grpc_target_;
    const MasterClientOptions options_;
    const auth::ClusterKeyPtr key_;  // null: no cluster authentication
    const bool pipeline_put_end_;
    Mutex grpc_mutex_;
    std::shared_ptr<const GrpcLink> grpc_ MC_GUARDED_BY(grpc_mutex_);
    SteadyClock::time_point grpc_link_created_at_ MC_GUARDED_BY(grpc_mutex_);
    std::atomic<uint64_t> next_request_id_{1};

    Mutex info_mutex_;
    UUID master_instance_id_;
    std::atomic<bool> replicates_commits_{true};  // until the master said otherwise

    FramedRpcPool pool_;
    std::atomic<bool> hot_healthy_{false};
    std::atomic<bool> logged_down_once_{false};
    std::atomic<int64_t> hot_retry_at_ns_{0};
};

}  // namespace mooncake
