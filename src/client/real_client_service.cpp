#include "client/real_client_service.h"

#include <glog/logging.h>

#include <optional>
#include <utility>
#include <vector>

#include "client/client_config_util.h"
#include "client/dummy_rpc_protocol.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

using SteadyClock = std::chrono::steady_clock;

// At most ten lines a second per call site about misbehaving dummies.
constexpr double kPeerLogInterval = 0.1;

// The wire code of a result (Status included): 0 or the negative code.
template <typename T>
int32_t WireCode(const Result<T>& result) {
    return CodeToWire(CodeOf(result));
}

// The size of an object from its replica list.
Result<uint64_t> SizeFromReplicas(const std::vector<ReplicaDescriptor>& replicas) {
    for (const ReplicaDescriptor& replica : replicas) {
        if (replica.is_memory_replica()) return replica.memory().size;
        if (replica.is_disk_replica()) return replica.disk().object_size;
        if (replica.is_local_disk_replica()) return replica.local_disk().object_size;
    }
    return Error(ErrorCode::INVALID_REPLICA);
}

std::vector<std::string> KeysOf(const google::protobuf::RepeatedPtrField<std::string>& keys) {
    return std::vector<std::string>(keys.begin(), keys.end());
}

}  // namespace

// Serves the requests of one dummy connection, on its thread.
class RealClientService::ConnectionHandler final : public FramedRpcServer::FrameHandler {
   public:
    ConnectionHandler(RealClientService& service, std::string peer)
        : service_(service), client_(service.client_), peer_(std::move(peer)) {}

    bool Handle(std::string_view payload, std::string* response_frame) override {
        if (!request_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
            return false;
        }
        response_.Clear();
        response_.set_request_id(request_.request_id());
        Serve(request_, &response_);
        if (!framed_rpc::EncodeFrame(response_, kDummyProtocol.max_response_frame_bytes,
                                     response_frame)) {
            LOG(WARNING) << "dummy service: response to " << peer_ << " exceeds "
                         << kDummyProtocol.max_response_frame_bytes
                         << " bytes; answering BUFFER_OVERFLOW";
            response_.Clear();
            response_.set_request_id(request_.request_id());
            response_.set_error_code(CodeToWire(ErrorCode::BUFFER_OVERFLOW));
            framed_rpc::EncodeFrame(response_, kDummyProtocol.max_response_frame_bytes,
                                    response_frame);
        }
        return true;
    }

    uint32_t last_request_kind() const override {
        return static_cast<uint32_t>(request_.body_case());
    }

   private:
    // Checks the session and takes a request slot, then Dispatch.
    void Serve(const dummy_rpc::Request& request, dummy_rpc::Response* response);
    void Dispatch(const dummy_rpc::Request& request, dummy_rpc::Response* response);
    // remove, remove_by_regex, remove_all.
    void ServeRemoval(const dummy_rpc::Request& request, dummy_rpc::Response* response);
    // Copy and move tasks: create, query.
    void ServeTask(const dummy_rpc::Request& request, dummy_rpc::Response* response);
    void ServeAttach(const dummy_rpc::AttachRequest& attach, dummy_rpc::Response* response);
    void ServePut(const dummy_rpc::PutRequest& put, dummy_rpc::Response* response);
    void ServeGetInto(const dummy_rpc::GetIntoRequest& get, dummy_rpc::Response* response);
    void ServeGetSize(const dummy_rpc::KeysRequest& request, dummy_rpc::Response* response);
    void ServeIsExist(const dummy_rpc::KeysRequest& request, dummy_rpc::Response* response);
    void ServeReplicaDesc(const dummy_rpc::KeysRequest& request, dummy_rpc::Response* response);

    // The ranges of `item` as addresses of this process; INVALID_PARAMS when
    // one lies outside the dummy's memory or there are none.
    Status Translate(const dummy_rpc::DataItem& item, std::vector<void*>* addresses,
                     std::vector<size_t>* lengths) const;
    // The items of a put or get_into whose ranges Translate: their keys,
    // buffers and lengths, and their positions among the items. Each other
    // item's refusal goes into codes[i].
    template <typename Pointer>
    struct TranslatedItems {
        std::vector<std::string> keys;
        std::vector<std::vector<Pointer>> buffers;
        std::vector<std::vector<size_t>> sizes;
        std::vector<size_t> positions;
    };
    template <typename Pointer>
    TranslatedItems<Pointer> TranslateItems(
        const google::protobuf::RepeatedPtrField<dummy_rpc::DataItem>& items,
        std::vector<int32_t>& codes) const {
        TranslatedItems<Pointer> translated;
        std::vector<void*> addresses;
        std::vector<size_t> lengths;
        for (int i = 0; i < items.size(); ++i) {
            Status valid = Translate(items[i], &addresses, &lengths);
            if (!valid.has_value()) {
                codes[i] = WireCode(valid);
                continue;
            }
            translated.keys.push_back(items[i].key());
            translated.buffers.emplace_back(addresses.begin(), addresses.end());
            translated.sizes.push_back(lengths);
            translated.positions.push_back(static_cast<size_t>(i));
        }
        return translated;
    }

    RealClientService& service_;
    Client& client_;
    const std::string peer_;
    std::shared_ptr<DummySession> session_;  // set by the connection's attach
    // Reused from request to request.
    dummy_rpc::Request request_;
    dummy_rpc::Response response_;
};

void RealClientService::ConnectionHandler::Serve(const dummy_rpc::Request& request,
                                                 dummy_rpc::Response* response) {
    const SteadyClock::time_point received = SteadyClock::now();
    if (request.body_case() == dummy_rpc::Request::kAttach) {
        ServeAttach(request.attach(), response);
        return;
    }
    if (request.body_case() == dummy_rpc::Request::BODY_NOT_SET) {
        response->set_error_code(CodeToWire(ErrorCode::INVALID_PARAMS));
        return;
    }
    if (session_ == nullptr) {
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << "dummy service: request from " << peer_ << " before its attach; refused";
        response->set_error_code(CodeToWire(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS));
        return;
    }
    std::optional<SteadyClock::time_point> deadline;
    if (request.timeout_ms() > 0) {
        deadline = received + std::chrono::milliseconds(request.timeout_ms());
    }
    if (!service_.AcquireSlot(deadline)) {
        LOG_EVERY_T(WARNING, kPeerLogInterval)
            << "dummy service: a request of " << peer_ << " waited " << request.timeout_ms()
            << " ms for one of the " << service_.options_.threads
            << " request slots and was dropped (raise --threads?)";
        response->set_error_code(CodeToWire(ErrorCode::RPC_FAIL));
        return;
    }
    // Given back however the request ends.
    struct SlotRelease {
        RealClientService& service;
        ~SlotRelease() { service.ReleaseSlot(); }
    } release{service_};
    Dispatch(request, response);
}

void RealClientService::ConnectionHandler::Dispatch(const dummy_rpc::Request& request,
                                                    dummy_rpc::Response* response) {
    switch (request.body_case()) {
        case dummy_rpc::Request::kPut:
            ServePut(request.put(), response);
            break;
        case dummy_rpc::Request::kGetInto:
            ServeGetInto(request.get_into(), response);
            break;
        case dummy_rpc::Request::kGetSize:
            ServeGetSize(request.get_size(), response);
            break;
        case dummy_rpc::Request::kIsExist:
            ServeIsExist(request.is_exist(), response);
            break;
        case dummy_rpc::Request::kGetReplicaDesc:
            ServeReplicaDesc(request.get_replica_desc(), response);
            break;
        case dummy_rpc::Request::kRemove:
        case dummy_rpc::Request::kRemoveByRegex:
        case dummy_rpc::Request::kRemoveAll:
            ServeRemoval(request, response);
            break;
        case dummy_rpc::Request::kCreateCopyTask:
        case dummy_rpc::Request::kCreateMoveTask:
        case dummy_rpc::Request::kQueryTask:
            ServeTask(request, response);
            break;
        default:
            response->set_error_code(CodeToWire(ErrorCode::INVALID_PARAMS));
            break;
    }
}

void RealClientService::ConnectionHandler::ServeRemoval(const dummy_rpc::Request& request,
                                                        dummy_rpc::Response* response) {
    if (request.body_case() == dummy_rpc::Request::kRemove) {
        response->set_error_code(
            WireCode(client_.Remove(request.remove().key(), request.remove().force())));
        return;
    }
    auto removed = request.body_case() == dummy_rpc::Request::kRemoveByRegex
                       ? client_.RemoveByRegex(request.remove_by_regex().regex(),
                                               request.remove_by_regex().force())
                       : client_.RemoveAll(request.remove_all().force());
    if (removed.has_value()) {
        response->set_count(*removed);
    } else {
        response->set_error_code(CodeToWire(removed.error()));
    }
}

void RealClientService::ConnectionHandler::ServeTask(const dummy_rpc::Request& request,
                                                     dummy_rpc::Response* response) {
    if (request.body_case() == dummy_rpc::Request::kQueryTask) {
        auto task = client_.QueryTask(FromProto(request.query_task().task_id()));
        if (task.has_value()) {
            ToProto(*task, response->mutable_task());
        } else {
            response->set_error_code(CodeToWire(task.error()));
        }
        return;
    }
    Result<UUID> created = Error(ErrorCode::INVALID_PARAMS);
    if (request.body_case() == dummy_rpc::Request::kCreateCopyTask) {
        const auto& copy = request.create_copy_task();
        created = client_.CreateCopyTask(
            copy.key(), std::vector<std::string>(copy.targets().begin(), copy.targets().end()));
    } else {
        const auto& move = request.create_move_task();
        created = client_.CreateMoveTask(move.key(), move.source(), move.target());
    }
    if (created.has_value()) {
        ToProto(*created, response->mutable_task_id());
    } else {
        response->set_error_code(CodeToWire(created.error()));
    }
}

void RealClientService::ConnectionHandler::ServeAttach(const dummy_rpc::AttachRequest& attach,
                                                       dummy_rpc::Response* response) {
    auto session = service_.Attach(attach, peer_);
    if (!session.has_value()) {
        response->set_error_code(CodeToWire(session.error()));
        return;
    }
    session_ = std::move(*session);
    response->mutable_attach()->set_segment_name(client_.GetHostname());
}

Status RealClientService::ConnectionHandler::Translate(const dummy_rpc::DataItem& item,
                                                       std::vector<void*>* addresses,
                                                       std::vector<size_t>* lengths) const {
    if (item.ranges_size() == 0) return Error(ErrorCode::INVALID_PARAMS);
    addresses->clear();
    lengths->clear();
    for (const dummy_rpc::ShmRange& range : item.ranges()) {
        auto address = session_->Translate(range.offset(), range.length());
        if (!address.has_value()) {
            LOG_EVERY_T(WARNING, kPeerLogInterval)
                << "dummy service: " << peer_ << " named bytes [" << range.offset() << ", +"
                << range.length() << ") outside its " << session_->shm().size
                << "-byte shared memory";
            return Error(address.error());
        }
        addresses->push_back(*address);
        lengths->push_back(static_cast<size_t>(range.length()));
    }
    return OkStatus();
}

void RealClientService::ConnectionHandler::ServePut(const dummy_rpc::PutRequest& put,
                                                    dummy_rpc::Response* response) {
    const ReplicateConfig config = put.has_config() ? FromProto(put.config()) : ReplicateConfig{};
    const size_t count = static_cast<size_t>(put.items_size());
    std::vector<int32_t> codes(count, 0);
    const auto [keys, buffers, sizes, positions] = TranslateItems<const void*>(put.items(), codes);
    if (positions.size() == 1 && buffers[0].size() == 1) {
        codes[positions[0]] =
            WireCode(client_.PutFrom(keys[0], buffers[0][0], sizes[0][0], config));
    } else if (!positions.empty()) {
        std::vector<Status> results =
            client_.BatchPutFromMultiBuffers(keys, buffers, sizes, config);
        for (size_t k = 0; k < positions.size(); ++k) {
            codes[positions[k]] =
                k < results.size() ? WireCode(results[k]) : CodeToWire(ErrorCode::INTERNAL_ERROR);
        }
    }
    auto* statuses = response->mutable_statuses();
    for (int32_t code : codes) statuses->add_error_codes(code);
}

void RealClientService::ConnectionHandler::ServeGetInto(const dummy_rpc::GetIntoRequest& get,
                                                        dummy_rpc::Response* response) {
    const size_t count = static_cast<size_t>(get.items_size());
    std::vector<int32_t> codes(count, 0);
    std::vector<uint64_t> read(count, 0);
    const auto [keys, buffers, sizes, positions] = TranslateItems<void*>(get.items(), codes);
    std::vector<Result<size_t>> results;
    if (positions.size() == 1 && buffers[0].size() == 1) {
        results.push_back(client_.GetInto(keys[0], buffers[0][0], sizes[0][0]));
    } else if (!positions.empty()) {
        results = client_.BatchGetIntoMultiBuffers(keys, buffers, sizes);
    }
    for (size_t k = 0; k < positions.size(); ++k) {
        if (k >= results.size()) {
            codes[positions[k]] = CodeToWire(ErrorCode::INTERNAL_ERROR);
        } else if (results[k].has_value()) {
            read[positions[k]] = *results[k];
        } else {
            codes[positions[k]] = CodeToWire(results[k].error());
            // Too small a destination: say how large it must be.
            if (get.report_sizes() && results[k].error() == ErrorCode::INVALID_PARAMS) {
                read[positions[k]] = client_.GetSize(keys[k]).value_or(0);
            }
        }
    }
    auto* sizes_out = response->mutable_sizes();
    for (size_t i = 0; i < count; ++i) {
        sizes_out->add_error_codes(codes[i]);
        sizes_out->add_sizes(read[i]);
    }
}

void RealClientService::ConnectionHandler::ServeGetSize(const dummy_rpc::KeysRequest& request,
                                                        dummy_rpc::Response* response) {
    const std::vector<std::string> keys = KeysOf(request.keys());
    auto* out = response->mutable_sizes();
    if (keys.size() == 1) {
        auto size = client_.GetSize(keys[0]);
        out->add_error_codes(WireCode(size));
        out->add_sizes(size.has_value() ? *size : 0);
        return;
    }
    // One master round trip for the whole batch.
    const auto found = client_.BatchGetReplicaDesc(keys);
    for (const std::string& key : keys) {
        Result<uint64_t> size = Error(ErrorCode::OBJECT_NOT_FOUND);
        if (Status valid = ValidateKey(key); !valid.has_value()) {
            size = Error(valid.error());
        } else if (auto it = found.find(key); it != found.end()) {
            size = SizeFromReplicas(it->second);
        }
        out->add_error_codes(WireCode(size));
        out->add_sizes(size.has_value() ? *size : 0);
    }
}

void RealClientService::ConnectionHandler::ServeIsExist(const dummy_rpc::KeysRequest& request,
                                                        dummy_rpc::Response* response) {
    const std::vector<std::string> keys = KeysOf(request.keys());
    std::vector<Result<bool>> results;
    if (keys.size() == 1) {
        results.push_back(client_.IsExist(keys[0]));
    } else if (!keys.empty()) {
        results = client_.BatchIsExist(keys);
    }
    auto* out = response->mutable_exists();
    for (size_t i = 0; i < keys.size(); ++i) {
        const Result<bool> result =
            i < results.size() ? results[i] : Result<bool>(Error(ErrorCode::INTERNAL_ERROR));
        out->add_error_codes(WireCode(result));
        out->add_exists(result.has_value() && *result);
    }
}

void RealClientService::ConnectionHandler::ServeReplicaDesc(const dummy_rpc::KeysRequest& request,
                                                            dummy_rpc::Response* response) {
    const std::vector<std::string> keys = KeysOf(request.keys());
    auto* out = response->mutable_replicas();
    if (keys.size() == 1) {
        auto replicas = client_.GetReplicaDesc(keys[0]);
        dummy_rpc::ReplicaList* list = out->add_lists();
        list->set_error_code(WireCode(replicas));
        if (replicas.has_value()) ToProto(*replicas, list->mutable_replicas());
        return;
    }
    const auto found = client_.BatchGetReplicaDesc(keys);
    for (const std::string& key : keys) {
        dummy_rpc::ReplicaList* list = out->add_lists();
        if (Status valid = ValidateKey(key); !valid.has_value()) {
            list->set_error_code(WireCode(valid));
        } else if (auto it = found.find(key); it != found.end()) {
            ToProto(it->second, list->mutable_replicas());
        } else {
            list->set_error_code(CodeToWire(ErrorCode::OBJECT_NOT_FOUND));
        }
    }
}

// ---- service ------------------------------------------------------------------------

namespace {

FramedRpcServer::Options FramedOptions(const RealClientService::Options& options,
                                       const UUID& instance_id) {
    FramedRpcServer::Options framed;
    framed.address = options.address;
    framed.port = options.port;
    framed.max_connections = options.max_connections;
    framed.protocol = kDummyProtocol;
    framed.instance_id = instance_id;
    framed.cluster_key = options.cluster_key;
    // The same budget as this process's own calls (MC_RPC_SPIN_US).
    framed.request_spin = net::BriefSpin::ProcessBudget();
    return framed;
}

}  // namespace

RealClientService::RealClientService(Client& client, Options options)
    : client_(client),
      options_(std::move(options)),
      instance_id_(UUID::Generate()),
      server_(
          [this](const std::string& peer) -> std::unique_ptr<FramedRpcServer::FrameHandler> {
              return std::make_unique<ConnectionHandler>(*this, peer);
          },
          FramedOptions(options_, instance_id_)) {}

RealClientService::~RealClientService() { Stop(); }

std::expected<void, std::string> RealClientService::Start() {
    if (options_.threads == 0) return std::unexpected("threads must be at least 1");
    return server_.Start();
}

void RealClientService::Stop() { server_.Stop(); }

size_t RealClientService::session_count() const {
    MutexLock lock(sessions_mutex_);
    size_t live = 0;
    for (const auto& [id, session] : sessions_) {
        if (!session.expired()) ++live;
    }
    return live;
}

Result<std::shared_ptr<DummySession>> RealClientService::Attach(
    const dummy_rpc::AttachRequest& request, const std::string& peer) {
    const UUID id = FromProto(request.session_id());
    const pid_t pid = static_cast<pid_t>(request.pid());
    ShmFileInfo shm;
    shm.fd = request.shm_fd();
    shm.inode = request.shm_inode();
    shm.size = request.shm_size();

    MutexLock lock(sessions_mutex_);
    std::erase_if(sessions_, [](const auto& entry) { return entry.second.expired(); });
    if (auto it = sessions_.find(id); it != sessions_.end()) {
        if (std::shared_ptr<DummySession> live = it->second.lock()) {
            if (!live->Describes(pid, shm)) {
                LOG_EVERY_T(WARNING, kPeerLogInterval)
                    << "dummy service: " << peer << " attached session " << id.ToString()
                    << " with other memory than its first connection; refused";
                return Error(ErrorCode::INVALID_PARAMS);
            }
            return live;
        }
    }
    auto opened = DummySession::Open(client_, id, pid, shm);
    if (!opened.has_value()) {
        LOG(WARNING) << "dummy service: cannot attach dummy process " << pid << " (" << peer
                     << "): " << ErrorCodeName(opened.error());
        return Error(opened.error());
    }
    sessions_[id] = *opened;
    LOG(INFO) << "dummy service: dummy process " << pid << " attached from " << peer << " (session "
              << id.ToString() << ", " << shm.size << " bytes shared)";
    return *opened;
}

bool RealClientService::AcquireSlot(std::optional<std::chrono::steady_clock::time_point> deadline) {
    MutexLock lock(slots_mutex_);
    while (running_ >= options_.threads) {
        if (!deadline.has_value()) {
            slot_freed_.Wait(lock);
        } else if (!slot_freed_.WaitUntil(lock, *deadline) && running_ >= options_.threads) {
            return false;
        }
    }
    ++running_;
    return true;
}

void RealClientService::ReleaseSlot() {
    {
        MutexLock lock(slots_mutex_);
        --running_;
    }
    slot_freed_.NotifyOne();
}

}  // namespace mooncake
