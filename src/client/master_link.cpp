#include "client/master_link.h"

#include <glog/logging.h>

#include <algorithm>
#include <limits>

#include "common/env.h"
#include "common/net_util.h"
#include "rpc/framed_rpc_protocol.h"
#include "rpc/grpc_auth.h"
#include "rpc/master_methods.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using Body = rpc::MasterRequest::BodyCase;
using SteadyClock = std::chrono::steady_clock;

// After the hot path failed, calls use gRPC for this long before trying again.
constexpr auto kHotPathRetryInterval = std::chrono::milliseconds(500);
// A gRPC channel stuck in TRANSIENT_FAILURE is replaced at most this often.
constexpr auto kChannelRebuildInterval = std::chrono::milliseconds(500);

std::chrono::system_clock::time_point ToSystemDeadline(SteadyClock::time_point deadline) {
    return std::chrono::system_clock::now() +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline -
                                                                           SteadyClock::now());
}

}  // namespace

MasterLink::MasterLink(std::string host, uint16_t port, MasterClientOptions options,
                       auth::ClusterKeyPtr key)
    : host_(std::move(host)),
      grpc_target_(JoinHostPort(host_, port)),
      options_(options),
      key_(key),
      pipeline_put_end_(options.pipeline_put_end || GetEnvBool("MC_PIPELINE_PUT_END", false)),
      pool_(options.hot_path_connections, framed_rpc::kMasterProtocol, std::move(key)) {}

bool IsIdempotent(rpc::MasterRequest::BodyCase body) {
    return EffectOf(body) == MethodEffect::kReads;
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

std::shared_ptr<const MasterLink::GrpcLink> MasterLink::NewGrpcLink() const {
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

std::shared_ptr<const MasterLink::GrpcLink> MasterLink::CurrentGrpcLink() {
    MutexLock lock(grpc_mutex_);
    return grpc_;
}

void MasterLink::ReplaceGrpcLinkIfStuck(const std::shared_ptr<const GrpcLink>& used) {
    if (used->channel->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_TRANSIENT_FAILURE) {
        return;
    }
    MutexLock lock(grpc_mutex_);
    // Another call replaced it already, or did so a moment ago.
    if (grpc_ != used || SteadyClock::now() - grpc_link_created_at_ < kChannelRebuildInterval) {
        return;
    }
    grpc_ = NewGrpcLink();
    grpc_link_created_at_ = SteadyClock::now();
    VLOG(1) << "gRPC channel to master " << grpc_target_ << " replaced (transient failure)";
}

Status MasterLink::Init() {
    {
        MutexLock lock(grpc_mutex_);
        grpc_ = NewGrpcLink();
        grpc_link_created_at_ = SteadyClock::now();
    }

    const auto deadline = SteadyClock::now() + options_.rpc_timeout;
    auto info = FetchServiceInfoOverGrpc(deadline, /*wait_for_ready=*/true);
    if (!info) {
        return Error(info.error().WithContext("master " + grpc_target_ + " is not reachable"));
    }
    {
        MutexLock lock(info_mutex_);
        master_instance_id_ = info->master_instance_id;
    }
    replicates_commits_.store(info->replicates_commits);
    if (!options_.use_hot_path || info->hot_rpc_port == 0) {
        LOG(INFO) << "connected to master " << grpc_target_ << " (version " << info->version
                  << "), gRPC only";
        return OkStatus();
    }
    auto addresses = ResolveFramedRpcHost(host_);
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

void MasterLink::RememberServiceInfo(const MasterServiceInfo& info) {
    {
        MutexLock lock(info_mutex_);
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

bool MasterLink::CallPipelined(rpc::MasterRequest* request, std::string what, AnswerCheck check) {
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

bool MasterLink::HotPathDue() const {
    if (!options_.use_hot_path) return false;
    return SteadyClock::now().time_since_epoch().count() >= hot_retry_at_ns_.load();
}

void MasterLink::MarkHotPathDown(const char* why) {
    hot_retry_at_ns_.store((SteadyClock::now() + kHotPathRetryInterval).time_since_epoch().count());
    pool_.DropIdle();
    // Logged on the transition only, not for every call while it lasts.
    if (hot_healthy_.exchange(false) || !logged_down_once_.exchange(true)) {
        LOG(WARNING) << "hot path to master " << grpc_target_ << " unavailable (" << why
                     << "); using gRPC and retrying every " << kHotPathRetryInterval.count()
                     << " ms";
    }
}

Status MasterLink::Call(rpc::MasterRequest* request, rpc::MasterResponse* response) {
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

void MasterLink::NoteFirstUse(FramedRpcConnection& connection) {
    if (!connection.TakeFirstUse()) return;
    // A new connection tells which master instance answers.
    MutexLock lock(info_mutex_);
    if (connection.master_instance_id() != master_instance_id_) {
        LOG(INFO) << "master " << grpc_target_ << " restarted (instance "
                  << master_instance_id_.ToString() << " -> "
                  << connection.master_instance_id().ToString() << ")";
        master_instance_id_ = connection.master_instance_id();
    }
}

MasterLink::HotOutcome MasterLink::CallHot(const rpc::MasterRequest& request,
                                           rpc::MasterResponse* response,
                                           SteadyClock::time_point deadline, Status* status) {
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

Status MasterLink::CallGrpc(const rpc::MasterRequest& request, rpc::MasterResponse* response,
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
        return Error(GrpcFailure(status));
    }
    if (!MasterProved(context, token)) return Error(ErrorCode::RPC_FAIL);
    return OkStatus();
}

std::string MasterLink::Authorize(grpc::ClientContext* context) const {
    return auth::AttachGrpcToken(key_.get(), context);
}

bool MasterLink::MasterProved(const grpc::ClientContext& context, const std::string& token) const {
    if (auth::ServerProvedKey(key_.get(), context, token)) return true;
    LOG_EVERY_T(ERROR, 1.0) << "master " << grpc_target_
                            << " did not prove the cluster secret in its reply (it has none "
                               "configured, or another one): refusing its answer";
    return false;
}

Failure MasterLink::GrpcFailure(const grpc::Status& status) const {
    return Failure(ErrorCode::RPC_FAIL, "gRPC call to master " + grpc_target_ +
                                            " failed: " + status.error_message() + " (gRPC code " +
                                            std::to_string(static_cast<int>(status.error_code())) +
                                            ")");
}

void MasterLink::LogGrpcFailure(const grpc::Status& status) const {
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

Result<MasterServiceInfo> MasterLink::FetchServiceInfoOverGrpc(SteadyClock::time_point deadline,
                                                               bool wait_for_ready) {
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
        return Error(GrpcFailure(status));
    }
    if (!MasterProved(context, token)) return Error(ErrorCode::RPC_FAIL);
    return ServiceInfoFromProto(reply);
}

}  // namespace mooncake
