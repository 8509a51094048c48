#include "transfer/transfer_engine_impl.h"

#include <glog/logging.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "common/env.h"
#include "common/logging.h"
#include "common/net_util.h"
#include "transfer/host_identity.h"
#include "transfer/local_engine_directory.h"
#include "transfer/transport_registry.h"

namespace mooncake {

namespace {

constexpr const char* kP2PHandshake = "P2PHANDSHAKE";
constexpr int kDefaultIoTimeoutSec = 10;
// Parallel TCP connections per large transfer (MC_TCP_STREAMS). Even on two
// cores four beat one: each connection's request round trips overlap the
// others' bytes.
constexpr int kDefaultTcpStreams = 4;
// A failed refresh is not repeated for the same descriptor within this
// window: a batch of failures to a dead peer costs one lookup.
constexpr auto kRefreshBackoff = std::chrono::seconds(1);

// An integer environment variable within [low, high], or `fallback`.
int BoundedIntFromEnv(const char* name, int low, int high, int fallback) {
    return static_cast<int>(GetEnvInteger(name, low, high).value_or(fallback));
}

bool SameView(const SegmentDescriptor& a, const SegmentDescriptor& b) {
    return a.instance_id == b.instance_id && a.version == b.version &&
           a.removal_epoch == b.removal_epoch;
}

// Removes `key` from `map` and returns what it held, or null when absent.
// The caller holds the map's lock; the entry is released outside it.
template <typename Map>
typename Map::mapped_type TakeEntry(Map& map, const typename Map::key_type& key) {
    auto it = map.find(key);
    if (it == map.end()) return nullptr;
    auto value = std::move(it->second);
    map.erase(it);
    return value;
}

}  // namespace

// ---------------------------------------------------------------------------
// Life cycle

TransferEngineImpl::TransferEngineImpl(ConstructionTag)
    : instance_id_(UUID::Generate()), memory_(std::make_shared<MemoryRegistry>()) {}

Result<std::unique_ptr<TransferEngineImpl>> TransferEngineImpl::Create(
    const TransferEngineConfig& config) {
    InitLoggingOnce("mooncake");
    auto engine = std::make_unique<TransferEngineImpl>(ConstructionTag());
    MC_RETURN_IF_ERROR(engine->Start(config));
    return engine;
}

Status TransferEngineImpl::Start(const TransferEngineConfig& config) {
    auto host_port = ResolveLocalAddress(config.local_hostname);
    if (!host_port) return Error(host_port.error());
    MC_RETURN_IF_ERROR(OpenMetadata(config));
    MC_RETURN_IF_ERROR(ReadTransportSettings(config));
    MC_RETURN_IF_ERROR(CreateBaseTransports());
    MC_RETURN_IF_ERROR(CreateStatusPage());
    MC_RETURN_IF_ERROR(StartServer(config, *host_port));
    if (protocol_ == "rdma") MC_RETURN_IF_ERROR(StartRdma(config));
    MC_RETURN_IF_ERROR(Announce());
    LogStarted();
    return OkStatus();
}

Result<HostPort> TransferEngineImpl::ResolveLocalAddress(const std::string& local_hostname) {
    auto host_port = ParseHostPort(local_hostname);
    if (!host_port) {
        LOG(ERROR) << "Transfer engine: bad local_hostname '" << local_hostname
                   << "' (want host or host:port)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto bind_address = BindAddressFor(host_port->host);
    if (!bind_address) {
        LOG(ERROR) << "Transfer engine: cannot resolve local_hostname '" << host_port->host << "'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    bind_address_ = *bind_address;
    return host_port;
}

Status TransferEngineImpl::OpenMetadata(const TransferEngineConfig& config) {
    if (config.metadata_server != kP2PHandshake) {
        auto metadata = CreateMetadataStore(config.metadata_server);
        if (!metadata) return Error(metadata.error());
        metadata_ = std::move(*metadata);
    }
    // The reference's layout (interfaces.md §9.2): mooncake/ram/<segment>
    // and mooncake/rpc_meta/<segment>; MC_METADATA_CLUSTER_ID=<id> makes the
    // prefix mooncake/<id>. MC_STORE_CLUSTER_ID (compat.md) replaces the
    // whole prefix; an explicit EngineConfig::cluster_id wins over both.
    const std::string metadata_cluster = GetEnvString("MC_METADATA_CLUSTER_ID", "");
    if (!config.cluster_id.empty()) {
        cluster_id_ = config.cluster_id;
    } else if (!metadata_cluster.empty()) {
        cluster_id_ = "mooncake/" + metadata_cluster;
    } else {
        cluster_id_ = GetEnvString("MC_STORE_CLUSTER_ID", "mooncake");
    }
    if (cluster_id_.empty()) cluster_id_ = "mooncake";
    return OkStatus();
}

Status TransferEngineImpl::ReadTransportSettings(const TransferEngineConfig& config) {
    protocol_ = config.protocol;
    if (protocol_ != "tcp" && protocol_ != "rdma") {
        LOG(ERROR) << "Transfer engine: unknown protocol '" << protocol_ << "' (want tcp or rdma)";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (protocol_ == "rdma" && GetEnvBool("MC_FORCE_TCP", false)) {
        LOG(INFO) << "MC_FORCE_TCP is set: using tcp instead of rdma";
        protocol_ = "tcp";
    }
    use_memcpy_ = GetEnvBool("MC_STORE_MEMCPY", true);
    // MC_STORE_SHM=0 sends same-host transfers over the network transports
    // (tests of the TCP path with peers on one host, debugging).
    use_shm_ = GetEnvBool("MC_STORE_SHM", true);
    // MC_TRANSFER_TIMEOUT: seconds a TCP transfer may go without progress.
    io_timeout_ms_ = 1000 * BoundedIntFromEnv("MC_TRANSFER_TIMEOUT", 1, 3600, kDefaultIoTimeoutSec);
    return OkStatus();
}

Status TransferEngineImpl::CreateBaseTransports() {
    // MC_CLUSTER_SECRET(_FILE): peers must prove the cluster secret.
    auto key = auth::LoadClusterKey();
    if (!key) return Error(key.error());
    cluster_key_ = std::move(*key);

    memcpy_ = std::make_unique<MemcpyTransport>();
    shm_ = std::make_unique<ShmTransport>();
    TcpTransportOptions tcp_options;
    tcp_options.cluster_key = cluster_key_;
    tcp_options.io_timeout_ms = io_timeout_ms_;
    tcp_options.streams_per_peer =
        static_cast<size_t>(BoundedIntFromEnv("MC_TCP_STREAMS", 1, 64, kDefaultTcpStreams));
    tcp_options.worker_threads = std::max<size_t>(8, 2 * tcp_options.streams_per_peer);
    tcp_ = std::make_unique<TcpTransport>(tcp_options);
    return OkStatus();
}

Status TransferEngineImpl::CreateStatusPage() {
    auto page = ShmRegion::Create(sizeof(SegmentStatusPage), "mooncake-status");
    if (!page) return Error(page.error());
    status_page_region_ = std::move(*page);
    status_page_ = std::construct_at(static_cast<SegmentStatusPage*>(status_page_region_->data()));
    status_page_->instance_hi.store(instance_id_.hi);
    status_page_->instance_lo.store(instance_id_.lo);
    status_page_->removal_epoch.store(0);
    status_page_->alive.store(1);
    status_page_->magic.store(SegmentStatusPage::kMagic, std::memory_order_release);
    return OkStatus();
}

Status TransferEngineImpl::StartServer(const TransferEngineConfig& config,
                                       const HostPort& host_port) {
    PortRange auto_ports;
    if (config.auto_port_first != 0 && config.auto_port_last >= config.auto_port_first) {
        auto_ports = {config.auto_port_first, config.auto_port_last};
    }
    // A name kept as given is only a name: the engine listens on a free port
    // (the descriptor says which) unless MC_LEGACY_RPC_PORT_BINDING asks for
    // the one in local_hostname, as the reference's engine does.
    std::optional<uint16_t> port = host_port.port;
    if (metadata_ && config.name_as_given && !GetEnv("MC_LEGACY_RPC_PORT_BINDING")) {
        port = std::nullopt;
    }
    auto server = TcpServer::Start(bind_address_, port, this, io_timeout_ms_, auto_ports);
    if (!server) return Error(server.error());
    server_ = std::move(*server);
    // P2P peers dial the name, so it always carries the port.
    segment_name_ = metadata_ && config.name_as_given
                        ? config.local_hostname
                        : JoinHostPort(host_port.host, server_->port());
    return OkStatus();
}

Status TransferEngineImpl::StartRdma(const TransferEngineConfig& config) {
    TransportOptions options;
    options.segment_name = segment_name_;
    options.bind_address = bind_address_;
    options.rdma_devices = config.rdma_devices;
    auto rdma = CreateTransport("rdma", options);
    if (!rdma) {
        LOG(ERROR) << "Transfer engine: protocol rdma requested but the RDMA transport is "
                      "unavailable here (no libibverbs build or no usable device); set "
                      "protocol=tcp or MC_FORCE_TCP=true";
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    rdma_ = std::move(*rdma);
    auto started = rdma_->Start(this);
    if (!started) {
        LOG(ERROR) << "Transfer engine: the RDMA transport failed to start";
        rdma_.reset();
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    return OkStatus();
}

Status TransferEngineImpl::Announce() {
    LocalEngineDirectory::Add(instance_id_, memory_);
    if (auto published = Publish(); !published) {
        LOG(ERROR) << "Transfer engine: cannot publish the segment descriptor to "
                   << metadata_->url();
        return published;
    }
    published_.store(true);
    if (metadata_) PublishRpcMeta();
    ready_.store(true, std::memory_order_release);
    return OkStatus();
}

void TransferEngineImpl::LogStarted() const {
    std::string transports = use_memcpy_ ? "memcpy, " : "";
    transports += use_shm_ ? "shm, tcp" : "tcp";
    if (rdma_) transports += ", rdma";
    LOG(INFO) << "Transfer engine " << segment_name_ << " (instance " << instance_id_.ToString()
              << ") listening on " << JoinHostPort(bind_address_, server_->port()) << ", metadata "
              << (metadata_ ? metadata_->url() + " key " + MetadataKey(segment_name_)
                            : std::string(kP2PHandshake))
              << ", protocol " << protocol_ << ", transports: " << transports;
}

TransferEngineImpl::~TransferEngineImpl() {
    stopping_.store(true);
    LocalEngineDirectory::Remove(instance_id_);
    if (status_page_ != nullptr) status_page_->alive.store(0, std::memory_order_release);
    if (metadata_ && published_.load()) {
        if (!metadata_->Delete(MetadataKey(segment_name_))) {
            LOG(WARNING) << "Transfer engine " << segment_name_
                         << ": could not delete its descriptor from " << metadata_->url();
        }
        (void)metadata_->Delete(RpcMetaKey(segment_name_));
    }
    if (server_) server_->Stop();
    for (Transport* transport : AllTransports()) transport->Stop();
    // Let transports release what they hold for the remaining registrations
    // (e.g. RDMA memory regions) before the memory goes away.
    for (const RegisteredRegion& region : memory_->All()) {
        for (Transport* transport : AllTransports()) transport->OnUnregisterMemory(region);
    }
    rdma_.reset();
    tcp_.reset();
    shared_regions_.clear();
    if (!segment_name_.empty()) LOG(INFO) << "Transfer engine " << segment_name_ << " stopped";
}

std::vector<Transport*> TransferEngineImpl::AllTransports() const {
    std::vector<Transport*> all;
    for (Transport* transport :
         {static_cast<Transport*>(memcpy_.get()), static_cast<Transport*>(shm_.get()),
          static_cast<Transport*>(tcp_.get()), rdma_.get()}) {
        if (transport != nullptr) all.push_back(transport);
    }
    return all;
}

uint64_t TransferEngineImpl::RoutedRequests(std::string_view transport) const {
    constexpr std::string_view kKinds[] = {"memcpy", "shm", "tcp", "rdma"};
    for (size_t i = 0; i < std::size(kKinds); ++i) {
        if (kKinds[i] == transport) return routed_[i].load(std::memory_order_relaxed);
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Descriptor

std::string TransferEngineImpl::MetadataKey(const std::string& segment_name) const {
    return cluster_id_ + "/ram/" + segment_name;
}

std::string TransferEngineImpl::RpcMetaKey(const std::string& segment_name) const {
    return cluster_id_ + "/rpc_meta/" + segment_name;
}

void TransferEngineImpl::PublishRpcMeta() {
    // Informational for tools of the reference (this engine finds peers by
    // their descriptor): where the engine's TCP endpoint listens. The
    // reference's metadata servers refuse to overwrite an rpc_meta key, so
    // a stale one (a crashed process of the same name) is deleted first.
    nlohmann::json meta = {{"ip_or_host_name", bind_address_}, {"rpc_port", server_->port()}};
    (void)metadata_->Delete(RpcMetaKey(segment_name_));
    if (!metadata_->Put(RpcMetaKey(segment_name_), meta.dump())) {
        LOG(WARNING) << "Transfer engine " << segment_name_ << ": could not publish "
                     << RpcMetaKey(segment_name_) << " to " << metadata_->url();
    }
}

SegmentDescriptor TransferEngineImpl::BuildDescriptor() const {
    SegmentDescriptor desc;
    desc.name = segment_name_;
    desc.instance_id = instance_id_;
    desc.host_id = LocalHostIdentity();
    desc.pid = static_cast<int32_t>(getpid());
    desc.tcp_endpoint = JoinHostPort(bind_address_, server_->port());
    desc.version = version_.load();
    desc.removal_epoch = removal_epoch_.load();
    desc.status_page = status_page_region_->file_info();
    desc.ranges = memory_->RemoteRanges();
    for (Transport* transport : AllTransports()) {
        nlohmann::json endpoint;
        transport->DescribeEndpoint(&endpoint);
        if (!endpoint.is_null()) desc.transports[std::string(transport->name())] = endpoint;
    }
    return desc;
}

Status TransferEngineImpl::Publish() {
    // Callers serialise through registration_mutex_ (or run before the
    // engine is shared), so the last PUT carries the latest state.
    auto desc = std::make_shared<const SegmentDescriptor>(BuildDescriptor());
    auto text = std::make_shared<const std::string>(desc->Serialize());
    {
        MutexLock lock(descriptor_mutex_);
        descriptor_json_ = text;
        own_descriptor_ = desc;
    }
    if (metadata_) return metadata_->Put(MetadataKey(segment_name_), *text);
    return OkStatus();
}

Status TransferEngineImpl::RepublishDescriptor() {
    MutexLock lock(registration_mutex_);
    return Publish();
}

std::string TransferEngineImpl::DescriptorJson() {
    MutexLock lock(descriptor_mutex_);
    return descriptor_json_ ? *descriptor_json_ : std::string();
}

Result<std::shared_ptr<const SegmentDescriptor>> TransferEngineImpl::FetchDescriptor(
    const std::string& segment_name) {
    if (segment_name == segment_name_) {
        MutexLock lock(descriptor_mutex_);
        return own_descriptor_;
    }
    Result<std::string> text = Error(ErrorCode::SEGMENT_NOT_FOUND);
    if (metadata_) {
        text = metadata_->Get(MetadataKey(segment_name));
    } else {
        auto host_port = ParseHostPort(segment_name);
        if (!host_port || !host_port->port) {
            LOG(WARNING) << "Segment name '" << segment_name << "' is not host:port";
            return Error(ErrorCode::SEGMENT_NOT_FOUND);
        }
        auto address = ResolveIPv4(host_port->host);
        if (!address) {
            LOG(WARNING) << "Cannot resolve the host of segment '" << segment_name << "'";
            return Error(ErrorCode::SEGMENT_NOT_FOUND);
        }
        text = tcp_->FetchDescriptor(JoinHostPort(*address, *host_port->port));
    }
    if (!text) {
        VLOG(1) << "Segment " << segment_name << " not found: " << ErrorCodeName(text.error());
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    auto parsed = SegmentDescriptor::Parse(*text);
    if (!parsed) {
        LOG(WARNING) << "Segment " << segment_name << ": malformed descriptor";
        return Error(ErrorCode::SEGMENT_NOT_FOUND);
    }
    return std::make_shared<const SegmentDescriptor>(std::move(*parsed));
}

std::shared_ptr<const SegmentDescriptor> TransferEngineImpl::Refresh(
    Peer& peer, const std::shared_ptr<const SegmentDescriptor>& used) {
    MutexLock lock(peer.refresh_mutex);
    auto current = peer.Current();
    // Someone else refreshed since `used` was taken.
    if (current != used) return SameView(*current, *used) ? nullptr : current;
    const auto now = std::chrono::steady_clock::now();
    if (peer.unchanged_after_refresh.lock() == used && now - peer.last_refresh < kRefreshBackoff) {
        return nullptr;
    }
    peer.last_refresh = now;
    auto fetched = FetchDescriptor(peer.name);
    if (!fetched || SameView(**fetched, *used)) {
        peer.unchanged_after_refresh = used;
        return nullptr;
    }
    if ((*fetched)->instance_id != used->instance_id) {
        LOG(INFO) << "Segment " << peer.name << " restarted (instance "
                  << used->instance_id.ToString() << " -> " << (*fetched)->instance_id.ToString()
                  << ")";
    }
    peer.Replace(*fetched);
    for (Transport* transport : AllTransports()) transport->ForgetPeer(*used);
    return *fetched;
}

Result<nlohmann::json> TransferEngineImpl::SendControlMessage(const SegmentDescriptor& peer,
                                                              std::string_view transport,
                                                              const nlohmann::json& message) {
    return tcp_->SendControl(peer.tcp_endpoint, transport, segment_name_, message);
}

Result<nlohmann::json> TransferEngineImpl::HandleTransportControl(const std::string& transport,
                                                                  const std::string& from,
                                                                  const nlohmann::json& body) {
    if (!ready_.load(std::memory_order_acquire)) {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    if (transport == kNotifyChannel) return HandleNotify(from, body);
    for (Transport* candidate : AllTransports()) {
        if (candidate->name() == transport) return candidate->HandleControlMessage(from, body);
    }
    return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
}

// ---------------------------------------------------------------------------
// Peers

Result<SegmentHandle> TransferEngineImpl::OpenSegment(const std::string& segment_name) {
    if (segment_name.empty()) return Error(ErrorCode::INVALID_PARAMS);
    {
        MutexLock lock(peers_mutex_);
        auto it = handle_by_name_.find(segment_name);
        if (it != handle_by_name_.end()) return it->second;
    }
    auto descriptor = FetchDescriptor(segment_name);
    if (!descriptor) {
        LOG(WARNING) << "OpenSegment(" << segment_name << "): segment not found";
        return Error(descriptor.error());
    }
    auto peer = std::make_shared<Peer>();
    peer->name = segment_name;
    peer->Replace(std::move(*descriptor));
    MutexLock lock(peers_mutex_);
    auto [it, inserted] = handle_by_name_.emplace(segment_name, next_handle_);
    if (inserted) peers_.emplace(next_handle_++, std::move(peer));
    return it->second;
}

Status TransferEngineImpl::CloseSegment(SegmentHandle handle) {
    std::shared_ptr<Peer> peer;
    {
        MutexLock lock(peers_mutex_);
        peer = TakeEntry(peers_, handle);
        if (peer != nullptr) handle_by_name_.erase(peer->name);
    }
    if (peer == nullptr) return Error(ErrorCode::INVALID_PARAMS);
    auto descriptor = peer->Current();
    for (Transport* transport : AllTransports()) transport->ForgetPeer(*descriptor);
    return OkStatus();
}

std::shared_ptr<const SegmentDescriptor> TransferEngineImpl::PeerDescriptor(
    SegmentHandle handle) const {
    auto peer = FindPeer(handle);
    return peer == nullptr ? nullptr : peer->Current();
}

std::shared_ptr<TransferEngineImpl::Peer> TransferEngineImpl::FindPeer(SegmentHandle handle) const {
    MutexLock lock(peers_mutex_);
    auto it = peers_.find(handle);
    return it == peers_.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------
// Transfers

Transport* TransferEngineImpl::Route(const SegmentDescriptor& peer, const SegmentRange& range) {
    if (peer.host_id == LocalHostIdentity()) {
        if (use_memcpy_ && peer.pid == getpid() && memcpy_->CanReach(peer, range)) {
            return memcpy_.get();
        }
        if (use_shm_ && range.shm && shm_->CanReach(peer, range)) return shm_.get();
    }
    if (rdma_ && rdma_->CanReach(peer, range)) return rdma_.get();
    if (tcp_->CanReach(peer, range)) return tcp_.get();
    return nullptr;
}

Result<TransferEngineImpl::PreparedTask> TransferEngineImpl::Prepare(
    const TransferRequest& request, const std::shared_ptr<TransferBatch>& batch, size_t index,
    bool is_retry) {
    if (request.local_address == nullptr || request.length == 0 ||
        request.remote_address + request.length < request.remote_address) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (request.opcode != TransferOpcode::READ && request.opcode != TransferOpcode::WRITE) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::shared_ptr<Peer> peer = FindPeer(request.segment);
    if (peer == nullptr) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    auto descriptor = peer->Current();
    const SegmentRange* range = descriptor->FindRange(request.remote_address, request.length);
    if (range == nullptr && !is_retry) {
        // The peer may have registered the range after we fetched its
        // descriptor.
        if (auto fresh = Refresh(*peer, descriptor)) {
            descriptor = std::move(fresh);
            range = descriptor->FindRange(request.remote_address, request.length);
        }
    }
    if (range == nullptr) {
        LOG(WARNING) << (request.opcode == TransferOpcode::READ ? "READ" : "WRITE") << " of "
                     << request.length << " bytes at 0x" << std::hex << request.remote_address
                     << std::dec << " refused: outside the registered memory of " << peer->name;
        return Error(ErrorCode::INVALID_PARAMS);
    }
    Transport* transport = Route(*descriptor, *range);
    if (transport == nullptr) return Error(ErrorCode::TRANSFER_FAIL);
    const size_t kind = transport == memcpy_.get() ? 0
                        : transport == shm_.get()  ? 1
                        : transport == tcp_.get()  ? 2
                                                   : 3;
    routed_[kind].fetch_add(1, std::memory_order_relaxed);

    PreparedTask prepared;
    prepared.transport = transport;
    TransferTask& task = prepared.task;
    task.opcode = request.opcode;
    task.local_address = request.local_address;
    task.remote_address = request.remote_address;
    task.length = request.length;
    task.range = range;
    task.cancelled = batch->cancelled_flag();
    task.may_run_on_caller = batch->caller_waits();
    task.on_done = [this, batch, index, request, peer, used = descriptor,
                    is_retry](ErrorCode code) {
        OnTaskDone(batch, index, request, peer, used, is_retry, code);
    };
    task.peer = std::move(descriptor);
    return prepared;
}

void TransferEngineImpl::OnTaskDone(const std::shared_ptr<TransferBatch>& batch, size_t index,
                                    const TransferRequest& request,
                                    const std::shared_ptr<Peer>& peer,
                                    const std::shared_ptr<const SegmentDescriptor>& used,
                                    bool is_retry, ErrorCode code) {
    // A peer that stopped answering would not answer a refresh either.
    const bool unresponsive = code == ErrorCode::RPC_TIMEOUT;
    if (unresponsive) code = ErrorCode::TRANSFER_FAIL;
    if (!unresponsive && code == ErrorCode::TRANSFER_FAIL && !is_retry && !stopping_.load() &&
        !batch->cancelled_flag()->load()) {
        // The peer may have restarted or changed its memory: with a newer
        // descriptor the request is tried once more.
        if (Refresh(*peer, used) != nullptr) {
            auto prepared = Prepare(request, batch, index, /*is_retry=*/true);
            if (prepared) {
                std::vector<TransferTask> single;
                single.push_back(std::move(prepared->task));
                prepared->transport->Submit(std::move(single));
                return;
            }
            code = prepared.error();
        }
    }
    batch->Complete(index, code, request.length);
}

void TransferEngineImpl::SubmitRequests(const std::shared_ptr<TransferBatch>& batch, size_t first,
                                        const std::vector<TransferRequest>& requests) {
    // Group by transport so each gets one Submit (TCP pipelines a group).
    std::vector<std::pair<Transport*, std::vector<TransferTask>>> groups;
    for (size_t i = 0; i < requests.size(); ++i) {
        auto prepared = Prepare(requests[i], batch, first + i, /*is_retry=*/false);
        if (!prepared) {
            batch->Complete(first + i, prepared.error(), 0);
            continue;
        }
        auto group = std::find_if(groups.begin(), groups.end(),
                                  [&](const auto& g) { return g.first == prepared->transport; });
        if (group == groups.end()) {
            groups.emplace_back(prepared->transport, std::vector<TransferTask>());
            group = std::prev(groups.end());
        }
        group->second.push_back(std::move(prepared->task));
    }
    for (auto& [transport, tasks] : groups) transport->Submit(std::move(tasks));
}

std::shared_ptr<TransferBatch> TransferEngineImpl::FindBatch(BatchId id) const {
    MutexLock lock(batches_mutex_);
    auto it = batches_.find(id);
    return it == batches_.end() ? nullptr : it->second;
}

Result<BatchId> TransferEngineImpl::AllocateBatch(size_t capacity) {
    if (capacity == 0 || capacity > kMaxBatchCapacity) return Error(ErrorCode::INVALID_PARAMS);
    auto batch = std::make_shared<TransferBatch>(capacity, /*caller_waits=*/false);
    MutexLock lock(batches_mutex_);
    const BatchId id = next_batch_++;
    batches_.emplace(id, std::move(batch));
    return id;
}

Status TransferEngineImpl::SubmitTransfer(BatchId id,
                                          const std::vector<TransferRequest>& requests) {
    auto batch = FindBatch(id);
    if (batch == nullptr) return Error(ErrorCode::INVALID_PARAMS);
    if (requests.empty()) return OkStatus();
    auto first = batch->Reserve(requests.size());
    if (!first) {
        LOG(WARNING) << "SubmitTransfer: " << requests.size() << " requests exceed the capacity "
                     << batch->capacity() << " of batch " << id;
        return Error(first.error());
    }
    SubmitRequests(batch, *first, requests);
    return OkStatus();
}

Result<TransferStatus> TransferEngineImpl::GetTransferStatus(BatchId id, size_t request_index) {
    auto batch = FindBatch(id);
    if (batch == nullptr || request_index >= batch->submitted()) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return batch->StatusOf(request_index);
}

Status TransferEngineImpl::WaitBatch(BatchId id, std::chrono::milliseconds timeout) {
    auto batch = FindBatch(id);
    if (batch == nullptr) return Error(ErrorCode::INVALID_PARAMS);
    if (!batch->WaitUntil(std::chrono::steady_clock::now() + timeout)) {
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    const ErrorCode error = batch->FirstError();
    if (error != ErrorCode::OK) return Error(error);
    return OkStatus();
}

void TransferEngineImpl::Drain(TransferBatch& batch) {
    batch.Cancel();
    // Requests already on the wire end within the I/O timeout; returning
    // earlier would let them write into memory the caller may free.
    const auto limit = std::chrono::milliseconds(2 * io_timeout_ms_ + 1000);
    if (!batch.WaitUntil(std::chrono::steady_clock::now() + limit)) {
        LOG(ERROR) << "Transfers still running after cancellation";
    }
}

Status TransferEngineImpl::FreeBatch(BatchId id) {
    std::shared_ptr<TransferBatch> batch;
    {
        MutexLock lock(batches_mutex_);
        batch = TakeEntry(batches_, id);
    }
    if (batch == nullptr) return Error(ErrorCode::INVALID_PARAMS);
    if (!batch->idle()) Drain(*batch);
    return OkStatus();
}

Status TransferEngineImpl::TransferSync(const std::vector<TransferRequest>& requests,
                                        std::vector<ErrorCode>* per_request,
                                        std::chrono::milliseconds timeout) {
    if (per_request != nullptr) per_request->assign(requests.size(), ErrorCode::OK);
    if (requests.empty()) return OkStatus();
    if (requests.size() > kMaxBatchCapacity) return Error(ErrorCode::INVALID_PARAMS);
    auto batch = std::make_shared<TransferBatch>(requests.size(), /*caller_waits=*/true);
    (void)batch->Reserve(requests.size());
    SubmitRequests(batch, 0, requests);
    bool timed_out = false;
    if (!batch->WaitUntil(std::chrono::steady_clock::now() + timeout)) {
        timed_out = true;
        LOG(WARNING) << "TransferSync of " << requests.size() << " requests timed out after "
                     << timeout.count() << " ms";
        Drain(*batch);
    }
    ErrorCode first_error = ErrorCode::OK;
    for (size_t i = 0; i < requests.size(); ++i) {
        const TransferStatus status = batch->StatusOf(i);
        ErrorCode code = status.error;
        if (status.state == TransferState::PENDING) code = ErrorCode::TRANSFER_FAIL;
        if (status.state == TransferState::COMPLETED) code = ErrorCode::OK;
        if (per_request != nullptr) (*per_request)[i] = code;
        if (first_error == ErrorCode::OK) first_error = code;
    }
    if (timed_out && first_error == ErrorCode::OK) first_error = ErrorCode::TRANSFER_FAIL;
    if (first_error != ErrorCode::OK) return Error(first_error);
    return OkStatus();
}

}  // namespace mooncake
