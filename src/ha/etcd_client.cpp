#include "ha/etcd_client.h"

#include <glog/logging.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>

#include "common/mutex.h"
#include "common/net_util.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace mooncake::ha {

namespace {

using SteadyClock = std::chrono::steady_clock;
namespace pb = etcdserverpb;

// An endpoint that fails is given this long before the next one is tried.
constexpr auto kMinAttempt = std::chrono::milliseconds(200);
constexpr auto kRetryPause = std::chrono::milliseconds(50);

bool IsTransportFailure(const grpc::Status& status) {
    switch (status.error_code()) {
        case grpc::StatusCode::UNAVAILABLE:
        case grpc::StatusCode::DEADLINE_EXCEEDED:
        case grpc::StatusCode::CANCELLED:
        case grpc::StatusCode::UNKNOWN:
            return true;
        default:
            return false;
    }
}

EtcdKeyValue FromProto(const mvccpb::KeyValue& kv) {
    return EtcdKeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.lease()};
}

std::chrono::system_clock::time_point SystemDeadline(SteadyClock::time_point deadline) {
    return std::chrono::system_clock::now() +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline -
                                                                           SteadyClock::now());
}

std::string StripPrefix(std::string text, std::string_view prefix) {
    if (text.starts_with(prefix)) text.erase(0, prefix.size());
    return text;
}

}  // namespace

Result<std::vector<std::string>> ParseEtcdEndpoints(const std::string& text) {
    std::string list = StripPrefix(text, "etcd://");
    std::replace(list.begin(), list.end(), ',', ';');
    std::vector<std::string> endpoints;
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(';', start);
        if (end == std::string::npos) end = list.size();
        std::string entry = list.substr(start, end - start);
        start = end + 1;
        entry = StripPrefix(StripPrefix(entry, "http://"), "etcd://");
        if (entry.empty()) continue;
        auto parsed = ParseHostPort(entry);
        if (!parsed || !parsed->port || parsed->host.empty()) {
            LOG(WARNING) << "invalid etcd endpoint '" << entry << "' (want host:port)";
            return Error(ErrorCode::INVALID_PARAMS);
        }
        endpoints.push_back(JoinHostPort(parsed->host, *parsed->port));
    }
    if (endpoints.empty()) return Error(ErrorCode::INVALID_PARAMS);
    return endpoints;
}

struct EtcdClient::Impl {
    struct Endpoint {
        std::shared_ptr<grpc::Channel> channel;
        std::unique_ptr<pb::KV::Stub> kv;
        std::unique_ptr<pb::Lease::Stub> lease;
        std::unique_ptr<pb::Watch::Stub> watch;
    };

    std::vector<std::string> targets;
    std::chrono::milliseconds timeout{};
    mutable Mutex mutex;
    std::vector<std::shared_ptr<Endpoint>> endpoints MC_GUARDED_BY(mutex);
    size_t current MC_GUARDED_BY(mutex) = 0;

    static std::shared_ptr<Endpoint> Open(const std::string& target) {
        grpc::ChannelArguments arguments;
        // See an etcd member that restarts within a second (the default
        // back-off grows to two minutes).
        arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
        arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
        arguments.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 500);
        arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        auto endpoint = std::make_shared<Endpoint>();
        endpoint->channel =
            grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
        endpoint->kv = pb::KV::NewStub(endpoint->channel);
        endpoint->lease = pb::Lease::NewStub(endpoint->channel);
        endpoint->watch = pb::Watch::NewStub(endpoint->channel);
        return endpoint;
    }

    std::pair<size_t, std::shared_ptr<Endpoint>> Pick(size_t offset) const {
        MutexLock lock(mutex);
        const size_t index = (current + offset) % endpoints.size();
        return {index, endpoints[index]};
    }

    // After a transport failure: a channel stuck in TRANSIENT_FAILURE would
    // hide a restarted member for seconds, a new one connects at once.
    void Failed(size_t index, const std::shared_ptr<Endpoint>& used) {
        if (used->channel->GetState(false) != GRPC_CHANNEL_TRANSIENT_FAILURE) return;
        MutexLock lock(mutex);
        if (endpoints[index] == used) endpoints[index] = Open(targets[index]);
    }

    void Succeeded(size_t index) {
        MutexLock lock(mutex);
        current = index;
    }

    // Runs `call(endpoint, context)` on one endpoint after the other until
    // it answers or the deadline passes.
    template <typename Call>
    Status Attempt(const char* what, Call&& call) {
        const auto deadline = SteadyClock::now() + timeout;
        const auto per_endpoint =
            std::max<std::chrono::milliseconds>(kMinAttempt, timeout / targets.size());
        grpc::Status status;
        for (size_t attempt = 0;; ++attempt) {
            auto [index, endpoint] = Pick(attempt);
            grpc::ClientContext context;
            context.set_deadline(
                SystemDeadline(std::min(deadline, SteadyClock::now() + per_endpoint)));
            status = call(*endpoint, context);
            if (status.ok()) {
                Succeeded(index);
                return OkStatus();
            }
            if (!IsTransportFailure(status)) break;
            Failed(index, endpoint);
            if (SteadyClock::now() + kRetryPause >= deadline) break;
            if ((attempt + 1) % targets.size() == 0) std::this_thread::sleep_for(kRetryPause);
        }
        LOG_EVERY_T(WARNING, 1.0) << "etcd " << what << " failed: " << status.error_message()
                                  << " (code " << static_cast<int>(status.error_code()) << ")";
        return Error(ErrorCode::ETCD_OPERATION_ERROR);
    }
};

EtcdClient::EtcdClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdClient::~EtcdClient() = default;

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(const std::string& endpoints,
                                                       std::chrono::milliseconds call_timeout) {
    auto targets = ParseEtcdEndpoints(endpoints);
    if (!targets) return Error(targets.error());
    if (call_timeout <= std::chrono::milliseconds::zero()) return Error(ErrorCode::INVALID_PARAMS);
    auto impl = std::make_unique<Impl>();
    impl->targets = std::move(*targets);
    impl->timeout = call_timeout;
    {
        MutexLock lock(impl->mutex);  // not shared yet; the analysis wants it anyway
        for (const std::string& target : impl->targets) {
            impl->endpoints.push_back(Impl::Open(target));
        }
    }
    return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(impl)));
}

std::string EtcdClient::CurrentEndpoint() const { return impl_->targets[impl_->Pick(0).first]; }

Result<std::optional<EtcdKeyValue>> EtcdClient::Get(const std::string& key) {
    pb::RangeRequest request;
    request.set_key(key);
    pb::RangeResponse response;
    MC_RETURN_IF_ERROR(impl_->Attempt("get", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
        return e.kv->Range(&c, request, &response);
    }));
    if (response.kvs_size() == 0) return std::optional<EtcdKeyValue>();
    return std::optional<EtcdKeyValue>(FromProto(response.kvs(0)));
}

Status EtcdClient::Put(const std::string& key, const std::string& value, int64_t lease) {
    pb::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    request.set_lease(lease);
    pb::PutResponse response;
    return impl_->Attempt("put", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
        return e.kv->Put(&c, request, &response);
    });
}

Status EtcdClient::Delete(const std::string& key) {
    pb::DeleteRangeRequest request;
    request.set_key(key);
    pb::DeleteRangeResponse response;
    return impl_->Attempt("delete", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
        return e.kv->DeleteRange(&c, request, &response);
    });
}

Result<bool> EtcdClient::CreateIfAbsent(const std::string& key, const std::string& value,
                                        int64_t lease, EtcdKeyValue* current) {
    pb::TxnRequest request;
    // create_revision == 0 <=> the key does not exist.
    pb::Compare* compare = request.add_compare();
    compare->set_key(key);
    compare->set_target(pb::Compare::CREATE);
    compare->set_result(pb::Compare::EQUAL);
    compare->set_create_revision(0);
    pb::PutRequest* put = request.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    put->set_lease(lease);
    request.add_success()->mutable_request_range()->set_key(key);
    request.add_failure()->mutable_request_range()->set_key(key);
    pb::TxnResponse response;
    MC_RETURN_IF_ERROR(impl_->Attempt("txn", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
        return e.kv->Txn(&c, request, &response);
    }));
    // The range is the last operation of either branch.
    const int last = response.responses_size() - 1;
    if (last < 0 || !response.responses(last).has_response_range()) {
        return Error(ErrorCode::ETCD_OPERATION_ERROR);
    }
    const pb::RangeResponse& range = response.responses(last).response_range();
    if (range.kvs_size() == 0) return Error(ErrorCode::ETCD_TRANSACTION_FAIL);
    if (current != nullptr) *current = FromProto(range.kvs(0));
    return response.succeeded();
}

Status EtcdClient::DeleteIfCreatedAt(const std::string& key, int64_t create_revision) {
    pb::TxnRequest request;
    pb::Compare* compare = request.add_compare();
    compare->set_key(key);
    compare->set_target(pb::Compare::CREATE);
    compare->set_result(pb::Compare::EQUAL);
    compare->set_create_revision(create_revision);
    request.add_success()->mutable_request_delete_range()->set_key(key);
    pb::TxnResponse response;
    return impl_->Attempt("txn", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
        return e.kv->Txn(&c, request, &response);
    });
}

Result<int64_t> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
    pb::LeaseGrantRequest request;
    request.set_ttl(ttl_seconds);
    pb::LeaseGrantResponse response;
    MC_RETURN_IF_ERROR(
        impl_->Attempt("lease grant", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
            return e.lease->LeaseGrant(&c, request, &response);
        }));
    if (!response.error().empty() || response.id() == 0) {
        LOG(WARNING) << "etcd lease grant refused: " << response.error();
        return Error(ErrorCode::ETCD_OPERATION_ERROR);
    }
    return response.id();
}

Result<int64_t> EtcdClient::LeaseKeepAlive(int64_t lease) {
    int64_t ttl = 0;
    MC_RETURN_IF_ERROR(impl_->Attempt("lease keep-alive", [&](Impl::Endpoint& e,
                                                              grpc::ClientContext& c) {
        // One request, one answer, on a stream of its own: simpler than a
        // long-lived stream and cheap at one round trip a second.
        auto stream = e.lease->LeaseKeepAlive(&c);
        pb::LeaseKeepAliveRequest request;
        request.set_id(lease);
        pb::LeaseKeepAliveResponse response;
        if (stream->Write(request) && stream->Read(&response)) {
            ttl = response.ttl();
            c.TryCancel();
            stream->Finish();
            return grpc::Status::OK;
        }
        c.TryCancel();
        grpc::Status status = stream->Finish();
        return status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream closed") : status;
    }));
    return std::max<int64_t>(ttl, 0);
}

Status EtcdClient::LeaseRevoke(int64_t lease) {
    pb::LeaseRevokeRequest request;
    request.set_id(lease);
    pb::LeaseRevokeResponse response;
    Status status = impl_->Attempt("lease revoke", [&](Impl::Endpoint& e, grpc::ClientContext& c) {
        grpc::Status s = e.lease->LeaseRevoke(&c, request, &response);
        // A lease that is gone already is what revoking wants.
        return s.error_code() == grpc::StatusCode::NOT_FOUND ? grpc::Status::OK : s;
    });
    return status;
}

Result<std::vector<EtcdEvent>> EtcdClient::WaitForEvents(const std::string& key,
                                                         int64_t from_revision,
                                                         std::chrono::milliseconds wait) {
    auto [index, endpoint] = impl_->Pick(0);
    grpc::ClientContext context;
    context.set_deadline(SystemDeadline(SteadyClock::now() + wait));
    auto stream = endpoint->watch->Watch(&context);
    pb::WatchRequest request;
    pb::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(key);
    create->set_start_revision(from_revision);
    std::vector<EtcdEvent> events;
    bool created = false;
    bool failed = false;
    if (stream->Write(request)) {
        pb::WatchResponse response;
        while (events.empty() && stream->Read(&response)) {
            if (response.created()) created = true;
            if (response.canceled() || response.compact_revision() != 0) {
                failed = true;  // compacted: the caller reads the key again
                break;
            }
            for (const mvccpb::Event& event : response.events()) {
                events.push_back(EtcdEvent{event.type() == mvccpb::Event::DELETE
                                               ? EtcdEvent::Type::kDelete
                                               : EtcdEvent::Type::kPut,
                                           FromProto(event.kv())});
            }
        }
    }
    context.TryCancel();
    grpc::Status status = stream->Finish();
    if (!events.empty()) return events;
    if (failed || !created) {
        // No answer at all: this endpoint is down, use the next one.
        if (!created) {
            impl_->Failed(index, endpoint);
            MutexLock lock(impl_->mutex);
            impl_->current = (index + 1) % impl_->endpoints.size();
        }
        return Error(ErrorCode::ETCD_OPERATION_ERROR);
    }
    (void)status;  // DEADLINE_EXCEEDED: the wait ended without a change
    return events;
}

}  // namespace mooncake::ha
