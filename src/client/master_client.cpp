#include "client/master_client.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <string_view>

#include "client/master_failover.h"
#include "common/cluster_auth.h"
#include "common/env.h"
#include "common/net_util.h"
#include "master.grpc.pb.h"
#include "rpc/framed_rpc_client.h"
#include "rpc/framed_rpc_protocol.h"
#include "rpc/grpc_auth.h"
#include "rpc/master_methods.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using Body = rpc::MasterRequest::BodyCase;
using SteadyClock = std::chrono::steady_clock;

constexpr uint16_t kDefaultMasterPort = 50051;
// After the hot path failed, calls use gRPC for this long before trying again.
constexpr auto kHotPathRetryInterval = std::chrono::milliseconds(500);
// A gRPC channel stuck in TRANSIENT_FAILURE is replaced at most this often.
constexpr auto kChannelRebuildInterval = std::chrono::milliseconds(500);

// Calls that change nothing (or only extend a lease) may be sent again when
// the connection broke after the request was written.
bool IsIdempotent(Body body) { return EffectOf(body) == MethodEffect::kReads; }

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

std::chrono::system_clock::time_point ToSystemDeadline(SteadyClock::time_point deadline) {
    return std::chrono::system_clock::now() +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline -
                                                                           SteadyClock::now());
}

Result<MasterServiceInfo> ServiceInfoFromProto(const rpc::GetServiceInfoResponse& reply) {
    if (reply.error_code() != 0) return Error(ErrorCodeFromInt(reply.error_code()));
    MasterServiceInfo info;
    info.version = reply.version();
    info.master_instance_id = FromProto(reply.master_instance_id());
    if (reply.hot_rpc_port() > 65535) return Error(ErrorCode::RPC_FAIL);
    info.hot_rpc_port = static_cast<uint16_t>(reply.hot_rpc_port());
    info.default_kv_lease_ttl_ms = reply.default_kv_lease_ttl_ms();
    info.client_ttl_sec = reply.client_ttl_sec();
    info.cluster_id = reply.cluster_id();
    info.replicates_commits = reply.replicates_commits();
    return info;
}

std::vector<Status> StatusesFromWire(const google::protobuf::RepeatedField<int32_t>& codes) {
    std::vector<Status> statuses;
    statuses.reserve(codes.size());
    for (int32_t code : codes) statuses.push_back(StatusFromWire(code));
    return statuses;
}

Result<GetReplicaListResult> ReplicaListFromProto(const rpc::GetReplicaListResponse& reply) {
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    GetReplicaListResult result;
    result.replicas = FromProto(reply.replicas());
    result.lease_ttl_ms = reply.lease_ttl_ms();
    return result;
}

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

// ---- transport ----------------------------------------------------------------------

class MasterClientImpl {
   public:
    MasterClientImpl(std::string host, uint16_t port, MasterClientOptions options,
                     auth::ClusterKeyPtr key)
        : host_(std::move(host)),
          grpc_target_(JoinHostPort(host_, port)),
          options_(options),
          key_(key),
          pipeline_put_end_(options.pipeline_put_end || GetEnvBool("MC_PIPELINE_PUT_END", false)),
          pool_(options.hot_path_connections, framed_rpc::kMasterProtocol, std::move(key)) {}

    Status Init();

    // Sends `request` (its request id is assigned here) and fills `response`
    // with the matching body. RPC_FAIL when the master could not be reached
    // before the deadline; the master's error when it answered with one
    // instead of a body.
    Status Call(rpc::MasterRequest* request, rpc::MasterResponse* response);

    // Sends a completing call (PutEnd, BatchPutEnd) without waiting for the
    // answer, when the hot path is up, the master does not replicate commits
    // before answering (then the answer is the durability promise) and the
    // pool allows it (HotRpcPool::Lease::SendDeferred). The answer is read by
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
    std::mutex grpc_mutex_;
    std::shared_ptr<const GrpcLink> grpc_;          // guarded by grpc_mutex_
    SteadyClock::time_point grpc_link_created_at_;  // guarded by grpc_mutex_
    std::atomic<uint64_t> next_request_id_{1};

    std::mutex info_mutex_;
    UUID master_instance_id_;
    std::atomic<bool> replicates_commits_{true};  // until the master said otherwise

    HotRpcPool pool_;
    std::atomic<bool> hot_healthy_{false};
    std::atomic<bool> logged_down_once_{false};
    std::atomic<int64_t> hot_retry_at_ns_{0};
};

std::shared_ptr<const MasterClientImpl::GrpcLink> MasterClientImpl::NewGrpcLink() const {
    grpc::ChannelArguments arguments;
    // Find a restarted master within a second, not after gRPC's default
    // back-off of up to two minutes. GRPC_ARG_MIN_RECONNECT_BACKOFF_MS keeps
    // its default: gRPC also uses it as the connect timeout, and a loaded
    // machine needs more than a few ms for a TCP + HTTP/2 handshake.
    arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // A refused connection makes gRPC resolve the name again before the next
    // attempt, and by default it resolves at most once every few seconds:
    // that alone would hide a restarted master for that long.
    arguments.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 500);
    // Each MasterClient keeps its own connection (several stores may live in
    // one process and be closed independently).
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    arguments.SetMaxReceiveMessageSize(static_cast<int>(framed_rpc::kMaxResponseFrameBytes));
    arguments.SetMaxSendMessageSize(static_cast<int>(framed_rpc::kMaxRequestFrameBytes));
    auto link = std::make_shared<GrpcLink>();
    link->channel =
        grpc::CreateCustomChannel(grpc_target_, grpc::InsecureChannelCredentials(), arguments);
    link->stub = rpc::MasterService::NewStub(link->channel);
    return link;
}

std::shared_ptr<const MasterClientImpl::GrpcLink> MasterClientImpl::CurrentGrpcLink() {
    std::lock_guard<std::mutex> lock(grpc_mutex_);
    return grpc_;
}

void MasterClientImpl::ReplaceGrpcLinkIfStuck(const std::shared_ptr<const GrpcLink>& used) {
    if (used->channel->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_TRANSIENT_FAILURE) {
        return;
    }
    std::lock_guard<std::mutex> lock(grpc_mutex_);
    // Another call replaced it already, or did so a moment ago.
    if (grpc_ != used || SteadyClock::now() - grpc_link_created_at_ < kChannelRebuildInterval) {
        return;
    }
    grpc_ = NewGrpcLink();
    grpc_link_created_at_ = SteadyClock::now();
    VLOG(1) << "gRPC channel to master " << grpc_target_ << " replaced (transient failure)";
}

Status MasterClientImpl::Init() {
    {
        std::lock_guard<std::mutex> lock(grpc_mutex_);
        grpc_ = NewGrpcLink();
        grpc_link_created_at_ = SteadyClock::now();
    }

    const auto deadline = SteadyClock::now() + options_.rpc_timeout;
    auto info = FetchServiceInfoOverGrpc(deadline, /*wait_for_ready=*/true);
    if (!info) {
        LOG(WARNING) << "master " << grpc_target_
                     << " is not reachable: " << ErrorCodeName(info.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    {
        std::lock_guard<std::mutex> lock(info_mutex_);
        master_instance_id_ = info->master_instance_id;
    }
    replicates_commits_.store(info->replicates_commits);
    if (!options_.use_hot_path || info->hot_rpc_port == 0) {
        LOG(INFO) << "connected to master " << grpc_target_ << " (version " << info->version
                  << "), gRPC only";
        return OkStatus();
    }
    auto addresses = ResolveHotRpcHost(host_);
    if (!addresses) {
        LOG(WARNING) << "cannot resolve master host " << host_ << "; using gRPC only";
        return OkStatus();
    }
    pool_.SetTarget(std::move(*addresses), info->hot_rpc_port);
    // Open the first connection now so that a master whose hot port is not
    // reachable (firewall) is noticed at once and logged once.
    auto lease = pool_.Checkout(deadline, deadline);
    if (lease) {
        hot_healthy_.store(true);
        LOG(INFO) << "connected to master " << grpc_target_ << " (version " << info->version
                  << "), hot path on port " << info->hot_rpc_port;
    } else {
        MarkHotPathDown("cannot open the hot path");
    }
    return OkStatus();
}

void MasterClientImpl::RememberServiceInfo(const MasterServiceInfo& info) {
    {
        std::lock_guard<std::mutex> lock(info_mutex_);
        if (info.master_instance_id != master_instance_id_) {
            if (!master_instance_id_.IsNil()) {
                LOG(INFO) << "master " << grpc_target_ << " restarted (instance "
                          << master_instance_id_.ToString() << " -> "
                          << info.master_instance_id.ToString() << ")";
            }
            master_instance_id_ = info.master_instance_id;
        }
    }
    replicates_commits_.store(info.replicates_commits);
    if (options_.use_hot_path) pool_.SetPort(info.hot_rpc_port);
}

bool MasterClientImpl::CallPipelined(rpc::MasterRequest* request, std::string what,
                                     AnswerCheck check) {
    if (!pipeline_put_end_ || replicates_commits_.load() || !HotPathDue() || !hot_healthy_.load() ||
        pool_.port() == 0) {
        return false;
    }
    const auto deadline = SteadyClock::now() + options_.rpc_timeout;
    auto lease = pool_.Checkout(deadline, SteadyClock::now() + options_.rpc_timeout / 2);
    if (!lease) return false;
    NoteFirstUse(**lease);
    const uint64_t request_id = next_request_id_.fetch_add(1, std::memory_order_relaxed);
    request->set_request_id(request_id);
    const auto expected_body = static_cast<int>(request->body_case());
    auto on_answer = [request_id, expected_body, check, what = std::move(what)](
                         Status status, std::string_view payload) {
        rpc::MasterResponse response;
        if (status && (!response.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
                       response.request_id() != request_id)) {
            status = Error(ErrorCode::RPC_FAIL);
        } else if (status && response.body_case() == rpc::MasterResponse::kError) {
            status = Error(ErrorCodeFromInt(response.error().error_code()));
        } else if (status && static_cast<int>(response.body_case()) != expected_body) {
            status = Error(ErrorCode::RPC_FAIL);
        } else if (status) {
            status = check(response);
        }
        if (!status) {
            // The put returned already; its object may not exist.
            LOG(WARNING) << what
                         << " failed after the put returned: " << ErrorCodeName(status.error())
                         << " (the object is not stored unless the master got it)";
        }
    };
    return lease->SendDeferred(*request, std::move(on_answer), deadline).has_value();
}

bool MasterClientImpl::HotPathDue() const {
    if (!options_.use_hot_path) return false;
    return SteadyClock::now().time_since_epoch().count() >= hot_retry_at_ns_.load();
}

void MasterClientImpl::MarkHotPathDown(const char* why) {
    hot_retry_at_ns_.store((SteadyClock::now() + kHotPathRetryInterval).time_since_epoch().count());
    pool_.DropIdle();
    // Logged on the transition only, not for every call while it lasts.
    if (hot_healthy_.exchange(false) || !logged_down_once_.exchange(true)) {
        LOG(WARNING) << "hot path to master " << grpc_target_ << " unavailable (" << why
                     << "); using gRPC and retrying every " << kHotPathRetryInterval.count()
                     << " ms";
    }
}

Status MasterClientImpl::Call(rpc::MasterRequest* request, rpc::MasterResponse* response) {
    const auto deadline = SteadyClock::now() + options_.rpc_timeout;
    request->set_request_id(next_request_id_.fetch_add(1, std::memory_order_relaxed));
    const auto expected_body = static_cast<int>(request->body_case());

    Status status;
    bool answered = false;
    if (HotPathDue() && pool_.port() != 0) {
        HotOutcome outcome = CallHot(*request, response, deadline, &status);
        if (outcome == HotOutcome::kFailedAfterSend && IsIdempotent(request->body_case()) &&
            SteadyClock::now() < deadline) {
            // The connection broke under us; asking again is harmless.
            outcome = CallHot(*request, response, deadline, &status);
        }
        if (outcome == HotOutcome::kDone) {
            answered = true;
        } else if (outcome == HotOutcome::kFailedAfterSend) {
            // The master may or may not have acted on it: do not repeat a
            // call that changes state.
            return Error(ErrorCode::RPC_FAIL);
        }
    }
    if (!answered) {
        // Behind this thread's pipelined calls, as on the hot path.
        (void)pool_.AwaitOwnDeferred(deadline);
        status = CallGrpc(*request, response, deadline);
    }
    if (!status) return status;
    if (response->body_case() == rpc::MasterResponse::kError) {
        return Error(ErrorCodeFromInt(response->error().error_code()));
    }
    if (static_cast<int>(response->body_case()) != expected_body) {
        LOG_EVERY_T(WARNING, 10.0) << "master answered with the wrong kind of response";
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

void MasterClientImpl::NoteFirstUse(FramedRpcConnection& connection) {
    if (!connection.TakeFirstUse()) return;
    // A new connection tells which master instance answers.
    std::lock_guard<std::mutex> lock(info_mutex_);
    if (connection.master_instance_id() != master_instance_id_) {
        LOG(INFO) << "master " << grpc_target_ << " restarted (instance "
                  << master_instance_id_.ToString() << " -> "
                  << connection.master_instance_id().ToString() << ")";
        master_instance_id_ = connection.master_instance_id();
    }
}

MasterClientImpl::HotOutcome MasterClientImpl::CallHot(const rpc::MasterRequest& request,
                                                       rpc::MasterResponse* response,
                                                       SteadyClock::time_point deadline,
                                                       Status* status) {
    // Opening may take at most half the call's time, so that a hot port that
    // swallows SYNs leaves time for the gRPC fallback.
    auto open_deadline = SteadyClock::now() + options_.rpc_timeout / 2;
    auto lease = pool_.Checkout(deadline, open_deadline);
    if (!lease && SteadyClock::now() >= deadline) {
        // Every connection was busy for the whole call: the hot path is
        // saturated, not down.
        *status = Error(ErrorCode::RPC_FAIL);
        return HotOutcome::kDone;
    }
    if (!lease) {
        // The master may have restarted on another hot port: ask it.
        auto info = FetchServiceInfoOverGrpc(deadline);
        if (info) {
            RememberServiceInfo(*info);
            if (info->hot_rpc_port != 0) {
                open_deadline = SteadyClock::now() + options_.rpc_timeout / 2;
                lease = pool_.Checkout(deadline, open_deadline);
            }
        }
        if (!lease) {
            MarkHotPathDown("cannot connect to its hot port");
            return HotOutcome::kUnavailable;
        }
    }
    NoteFirstUse(**lease);
    *status = (*lease)->Call(request, response, deadline);
    if (*status) {
        if (!hot_healthy_.exchange(true)) {
            LOG(INFO) << "hot path to master " << grpc_target_ << " is up (port " << pool_.port()
                      << ")";
        }
        return HotOutcome::kDone;
    }
    if (!(*lease)->broken()) return HotOutcome::kDone;  // refused locally, e.g. too large
    LOG_EVERY_T(WARNING, 1.0) << "hot-path call to master " << grpc_target_
                              << " failed; the connection was dropped";
    // Its siblings are likely stale too (master restart): check them on use.
    return HotOutcome::kFailedAfterSend;
}

Status MasterClientImpl::CallGrpc(const rpc::MasterRequest& request, rpc::MasterResponse* response,
                                  SteadyClock::time_point deadline) {
    grpc::ClientContext context;
    context.set_deadline(ToSystemDeadline(deadline));
    const std::string token = Authorize(&context);
    response->Clear();
    response->set_request_id(request.request_id());
    grpc::Status status;
    const std::shared_ptr<const GrpcLink> link = CurrentGrpcLink();
    auto* stub = link->stub.get();
    switch (request.body_case()) {
#define MOONCAKE_GRPC_CALL(Method, Case, field, Request, Response, Effect)             \
    case Body::k##Case:                                                                \
        status = stub->Method(&context, request.field(), response->mutable_##field()); \
        break;
        MOONCAKE_MASTER_METHODS(MOONCAKE_GRPC_CALL)
#undef MOONCAKE_GRPC_CALL
        case Body::BODY_NOT_SET:
            return Error(ErrorCode::INVALID_PARAMS);
    }
    if (!status.ok()) {
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE) ReplaceGrpcLinkIfStuck(link);
        LogGrpcFailure(status);
        return Error(ErrorCode::RPC_FAIL);
    }
    if (!MasterProved(context, token)) return Error(ErrorCode::RPC_FAIL);
    return OkStatus();
}

std::string MasterClientImpl::Authorize(grpc::ClientContext* context) const {
    return auth::AttachGrpcToken(key_.get(), context);
}

bool MasterClientImpl::MasterProved(const grpc::ClientContext& context,
                                    const std::string& token) const {
    if (auth::ServerProvedKey(key_.get(), context, token)) return true;
    LOG_EVERY_T(ERROR, 1.0) << "master " << grpc_target_
                            << " did not prove the cluster secret in its reply (it has none "
                               "configured, or another one): refusing its answer";
    return false;
}

void MasterClientImpl::LogGrpcFailure(const grpc::Status& status) const {
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        LOG_EVERY_T(ERROR, 1.0) << "master " << grpc_target_
                                << " refused our cluster authentication: " << status.error_message()
                                << (key_ == nullptr ? " (set MC_CLUSTER_SECRET_FILE or "
                                                      "MC_CLUSTER_SECRET, docs/authentication.md)"
                                                    : "");
        return;
    }
    LOG_EVERY_T(WARNING, 1.0) << "gRPC call to master " << grpc_target_
                              << " failed: " << status.error_message() << " (code "
                              << static_cast<int>(status.error_code()) << ")";
}

Result<MasterServiceInfo> MasterClientImpl::FetchServiceInfoOverGrpc(
    SteadyClock::time_point deadline, bool wait_for_ready) {
    grpc::ClientContext context;
    context.set_deadline(ToSystemDeadline(deadline));
    context.set_wait_for_ready(wait_for_ready);
    const std::string token = Authorize(&context);
    rpc::GetServiceInfoResponse reply;
    const std::shared_ptr<const GrpcLink> link = CurrentGrpcLink();
    const grpc::Status status = link->stub->GetServiceInfo(&context, {}, &reply);
    if (!status.ok()) {
        if (status.error_code() == grpc::StatusCode::UNAVAILABLE) ReplaceGrpcLinkIfStuck(link);
        if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) LogGrpcFailure(status);
        return Error(ErrorCode::RPC_FAIL);
    }
    if (!MasterProved(context, token)) return Error(ErrorCode::RPC_FAIL);
    return ServiceInfoFromProto(reply);
}

// ---- MasterClient ---------------------------------------------------------------------

MasterClient::MasterClient(std::shared_ptr<MasterClientImpl> impl) : impl_(std::move(impl)) {}

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
    auto impl = std::make_shared<MasterClientImpl>(
        parsed->host, parsed->port.value_or(kDefaultMasterPort), options, std::move(*key));
    MC_RETURN_IF_ERROR(impl->Init());
    return std::unique_ptr<MasterClient>(new MasterClient(std::move(impl)));
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
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.mount_segment().error_code());
}

Status MasterClient::ReMountSegments(const UUID& client_id,
                                     const std::vector<SegmentInfo>& segments) {
    rpc::MasterRequest request;
    auto* body = request.mutable_remount_segment();
    ToProto(client_id, body->mutable_client_id());
    for (const SegmentInfo& segment : segments) ToProto(segment, body->add_segments());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.remount_segment().error_code());
}

Status MasterClient::UnmountSegment(const UUID& client_id, const UUID& segment_id) {
    rpc::MasterRequest request;
    auto* body = request.mutable_unmount_segment();
    ToProto(client_id, body->mutable_client_id());
    ToProto(segment_id, body->mutable_segment_id());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.unmount_segment().error_code());
}

Status MasterClient::UnregisterClient(const UUID& client_id) {
    rpc::MasterRequest request;
    auto* body = request.mutable_unmount_segment();
    ToProto(client_id, body->mutable_client_id());
    body->set_unregister_client(true);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(impl_->Call(&request, &response));
    return StatusFromWire(response.unmount_segment().error_code());
}

Result<std::vector<std::string>> MasterClient::GetAllSegments() {
    rpc::MasterRequest request;
    request.mutable_get_all_segments();
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.get_all_segments();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return std::vector<std::string>(reply.segment_names().begin(), reply.segment_names().end());
}

Result<SegmentUsage> MasterClient::QuerySegment(const std::string& name) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a segment name", name));
    request.mutable_query_segment()->set_name(name);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.query_segment();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return SegmentUsage{reply.used(), reply.capacity()};
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
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.put_start();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return FromProto(reply.replicas());
}

namespace {

template <typename Body>
void FillKeyRequest(const UUID& client_id, const std::string& key, Body* body) {
    ToProto(client_id, body->mutable_client_id());
    body->set_key(key);
}

void FillKeys(const std::vector<std::string>& keys, rpc::BatchKeysRequest* body) {
    body->mutable_keys()->Reserve(static_cast<int>(keys.size()));
    for (const std::string& key : keys) body->add_keys(key);
}

}  // namespace

Status MasterClient::PutEnd(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_put_end());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.put_end().error_code());
}

Status MasterClient::PutEndPipelined(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_put_end());
    if (!follower_) {
        const auto check = [](const rpc::MasterResponse& response) {
            return StatusFromWire(response.put_end().error_code());
        };
        if (impl_->CallPipelined(&request, "PutEnd of '" + key + "'", check)) return OkStatus();
    }
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.put_end().error_code());
}

Status MasterClient::PutRevoke(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_put_revoke());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.put_revoke().error_code());
}

Result<std::vector<Result<std::vector<ReplicaDescriptor>>>> MasterClient::BatchPutStart(
    const UUID& client_id, const std::vector<std::string>& keys,
    const std::vector<uint64_t>& value_sizes, const ReplicateConfig& config) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8(config));
    auto* body = request.mutable_batch_put_start();
    ToProto(client_id, body->mutable_client_id());
    body->mutable_keys()->Reserve(static_cast<int>(keys.size()));
    for (const std::string& key : keys) body->add_keys(key);
    body->mutable_value_sizes()->Add(value_sizes.begin(), value_sizes.end());
    ToProto(config, body->mutable_config());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.batch_put_start();
    if (static_cast<size_t>(reply.results_size()) != keys.size()) {
        return Error(ErrorCode::RPC_FAIL);
    }
    std::vector<Result<std::vector<ReplicaDescriptor>>> results;
    results.reserve(keys.size());
    for (const rpc::PutStartResponse& entry : reply.results()) {
        if (entry.error_code() != 0) {
            results.push_back(Error(ErrorCodeFromInt(entry.error_code())));
        } else {
            results.push_back(FromProto(entry.replicas()));
        }
    }
    return results;
}

Result<std::vector<Status>> MasterClient::BatchPutEnd(const UUID& client_id,
                                                      const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    auto* body = request.mutable_batch_put_end();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& codes = response.batch_put_end().error_codes();
    if (static_cast<size_t>(codes.size()) != keys.size()) return Error(ErrorCode::RPC_FAIL);
    return StatusesFromWire(codes);
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
        if (impl_->CallPipelined(&request, what, check)) {
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
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& codes = response.batch_put_revoke().error_codes();
    if (static_cast<size_t>(codes.size()) != keys.size()) return Error(ErrorCode::RPC_FAIL);
    return StatusesFromWire(codes);
}

Result<GetReplicaListResult> MasterClient::GetReplicaList(const std::string& key) {
    rpc::MasterRequest request;
    request.mutable_get_replica_list()->set_key(key);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return ReplicaListFromProto(response.get_replica_list());
}

Result<std::vector<Result<GetReplicaListResult>>> MasterClient::BatchGetReplicaList(
    const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    FillKeys(keys, request.mutable_batch_get_replica_list());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.batch_get_replica_list();
    if (static_cast<size_t>(reply.results_size()) != keys.size()) {
        return Error(ErrorCode::RPC_FAIL);
    }
    std::vector<Result<GetReplicaListResult>> results;
    results.reserve(keys.size());
    for (const rpc::GetReplicaListResponse& entry : reply.results()) {
        results.push_back(ReplicaListFromProto(entry));
    }
    return results;
}

Result<std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>>>
MasterClient::GetReplicaListByRegex(const std::string& regex) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a regex", regex));
    request.mutable_get_replica_list_by_regex()->set_regex(regex);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.get_replica_list_by_regex();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    std::vector<std::pair<std::string, std::vector<ReplicaDescriptor>>> objects;
    objects.reserve(reply.objects_size());
    for (const rpc::KeyReplicas& object : reply.objects()) {
        objects.emplace_back(object.key(), FromProto(object.replicas()));
    }
    return objects;
}

Result<bool> MasterClient::ExistKey(const std::string& key) {
    rpc::MasterRequest request;
    request.mutable_exist_key()->set_key(key);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.exist_key();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return reply.exists();
}

Result<std::vector<Result<bool>>> MasterClient::BatchExistKey(
    const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    FillKeys(keys, request.mutable_batch_exist_key());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.batch_exist_key();
    if (static_cast<size_t>(reply.results_size()) != keys.size()) {
        return Error(ErrorCode::RPC_FAIL);
    }
    std::vector<Result<bool>> results;
    results.reserve(keys.size());
    for (const rpc::ExistKeyResponse& entry : reply.results()) {
        if (entry.error_code() != 0) {
            results.push_back(Error(ErrorCodeFromInt(entry.error_code())));
        } else {
            results.push_back(entry.exists());
        }
    }
    return results;
}

Status MasterClient::Remove(const std::string& key, bool force) {
    rpc::MasterRequest request;
    request.mutable_remove()->set_key(key);
    request.mutable_remove()->set_force(force);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.remove().error_code());
}

Result<int64_t> MasterClient::RemoveByRegex(const std::string& regex, bool force) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a regex", regex));
    request.mutable_remove_by_regex()->set_regex(regex);
    request.mutable_remove_by_regex()->set_force(force);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.remove_by_regex();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return reply.count();
}

Result<int64_t> MasterClient::RemoveAll(bool force) {
    rpc::MasterRequest request;
    request.mutable_remove_all()->set_force(force);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.remove_all();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return reply.count();
}

Result<std::vector<std::string>> MasterClient::BatchReplicaClear(
    const UUID& client_id, const std::vector<std::string>& keys, const std::string& segment_name) {
    rpc::MasterRequest request;
    MC_RETURN_IF_ERROR(RequireUtf8("a segment name", segment_name));
    auto* body = request.mutable_batch_replica_clear();
    ToProto(client_id, body->mutable_client_id());
    for (const std::string& key : keys) body->add_keys(key);
    body->set_segment_name(segment_name);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.batch_replica_clear();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return std::vector<std::string>(reply.cleared_keys().begin(), reply.cleared_keys().end());
}

Result<PingResult> MasterClient::Ping(const UUID& client_id) {
    rpc::MasterRequest request;
    ToProto(client_id, request.mutable_ping()->mutable_client_id());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.ping();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    auto status = ClientStatusFromProto(reply.client_status());
    if (!status) return Error(ErrorCode::RPC_FAIL);
    auto tasks = TasksFromProto(reply.tasks());
    if (!tasks) return Error(tasks.error());
    return PingResult{*status, std::move(*tasks)};
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
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.create_copy_task();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return FromProto(reply.task_id());
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
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.create_move_task();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return FromProto(reply.task_id());
}

Result<TaskInfo> MasterClient::QueryTask(const UUID& task_id) {
    rpc::MasterRequest request;
    ToProto(task_id, request.mutable_query_task()->mutable_task_id());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.query_task();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    auto task = FromProto(reply.task());
    if (!task) return Error(ErrorCode::RPC_FAIL);
    return task;
}

Result<std::vector<TaskAssignment>> MasterClient::FetchTasks(const UUID& client_id,
                                                             size_t max_tasks) {
    rpc::MasterRequest request;
    auto* body = request.mutable_fetch_tasks();
    ToProto(client_id, body->mutable_client_id());
    body->set_max_tasks(
        static_cast<uint32_t>(std::min<size_t>(max_tasks, std::numeric_limits<uint32_t>::max())));
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.fetch_tasks();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return TasksFromProto(reply.tasks());
}

Status MasterClient::MarkTaskComplete(const UUID& client_id, const UUID& task_id, TaskStatus status,
                                      const std::string& message) {
    rpc::MasterRequest request;
    auto* body = request.mutable_mark_task_complete();
    ToProto(client_id, body->mutable_client_id());
    ToProto(task_id, body->mutable_task_id());
    body->set_status(ToProto(status));
    body->set_message(message);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.mark_task_complete().error_code());
}

Result<CopyStartResult> MasterClient::CopyStart(const UUID& client_id, const std::string& key,
                                                const std::vector<std::string>& targets) {
    rpc::MasterRequest request;
    auto* body = request.mutable_copy_start();
    ToProto(client_id, body->mutable_client_id());
    body->set_key(key);
    for (const std::string& target : targets) body->add_targets(target);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.copy_start();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return CopyStartResult{FromProto(reply.source()), FromProto(reply.targets())};
}

Status MasterClient::CopyEnd(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_copy_end());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.copy_end().error_code());
}

Status MasterClient::CopyRevoke(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_copy_revoke());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.copy_revoke().error_code());
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
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.move_start();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    return MoveStartResult{FromProto(reply.source()), FromProto(reply.target())};
}

Status MasterClient::MoveEnd(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_move_end());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.move_end().error_code());
}

Status MasterClient::MoveRevoke(const UUID& client_id, const std::string& key) {
    rpc::MasterRequest request;
    FillKeyRequest(client_id, key, request.mutable_move_revoke());
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    return StatusFromWire(response.move_revoke().error_code());
}

// ---- HA: following the leader (docs/ha.md) ----------------------------------------------

MasterClient::MasterClient(std::unique_ptr<LeaderFollower<MasterClientImpl>> follower,
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
                       const std::string& address) -> Result<std::shared_ptr<MasterClientImpl>> {
        auto parsed = ParseHostPort(address);
        if (!parsed || !parsed->port) {
            LOG(WARNING) << "etcd names an invalid leader address '" << address << "'";
            return Error(ErrorCode::RPC_FAIL);
        }
        auto impl = std::make_shared<MasterClientImpl>(parsed->host, *parsed->port, options, key);
        MC_RETURN_IF_ERROR(impl->Init());
        return impl;
    };
    auto follower = std::make_unique<LeaderFollower<MasterClientImpl>>(std::move(*resolver),
                                                                       std::move(connect));
    MC_RETURN_IF_ERROR(follower->Init(SteadyClock::now() + options.rpc_timeout));
    return std::unique_ptr<MasterClient>(new MasterClient(std::move(follower), options));
}

std::shared_ptr<MasterClientImpl> MasterClient::Link() const {
    return follower_ ? follower_->Current() : impl_;
}

Status MasterClient::Call(rpc::MasterRequest* request, rpc::MasterResponse* response) {
    std::shared_ptr<MasterClientImpl> link = Link();
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
