#include "transfer/rdma/rdma_transport.h"

#include <glog/logging.h>

#include <algorithm>
#include <sstream>

#include "transfer/rdma/chunking.h"
#include "transfer/rdma/device_pairing.h"
#include "transfer/rdma/device_selection.h"
#include "transfer/rdma/handshake.h"
#include "transfer/rdma/ibverbs_loader.h"
#include "transfer/rdma/ibverbs_provider.h"

namespace mooncake {

Result<std::unique_ptr<Transport>> CreateRdmaTransport(const TransportOptions& options) {
    if (std::string why; !rdma::LoadIbverbs(&why)) {
        LOG(ERROR) << "RDMA transport unavailable: " << why;
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    auto provider = rdma::CreateIbverbsProvider();
    auto transport =
        rdma::RdmaTransport::Create(options, std::move(provider), rdma::RdmaTunables::FromEnv());
    if (!transport) return Error(transport.error());
    return std::unique_ptr<Transport>(std::move(*transport));
}

namespace rdma {

namespace {

// Longest requester segment name kept for a passive connection.
constexpr size_t kMaxPeerNameLength = 1024;
// Bound of the per-peer route cache; cleared when reached (peers re-parse).
constexpr size_t kMaxCachedRoutes = 65536;

std::vector<DeviceEndpoint> EndpointsOf(
    const std::vector<std::unique_ptr<DeviceContext>>& devices) {
    std::vector<DeviceEndpoint> endpoints;
    for (const auto& device : devices) endpoints.push_back(device->endpoint());
    return endpoints;
}

uint32_t SmallestChunk(const std::vector<std::unique_ptr<DeviceContext>>& devices,
                       uint32_t fallback) {
    uint32_t chunk = fallback;
    for (const auto& device : devices) chunk = std::min(chunk, device->chunk_size());
    return chunk;
}

std::string RangeText(uint64_t address, uint64_t length) {
    std::ostringstream text;
    text << "[0x" << std::hex << address << ", +" << std::dec << length << ")";
    return text.str();
}

}  // namespace

// ---------------------------------------------------------------------------
// Life cycle

Result<std::unique_ptr<RdmaTransport>> RdmaTransport::Create(
    const TransportOptions& options, std::shared_ptr<VerbsProvider> provider,
    const RdmaTunables& tunables) {
    const DeviceSelectionInput input =
        DeviceSelectionInput::FromEnv(options.rdma_devices, tunables.gid_index);
    const std::vector<DeviceInfo> present = provider->ListDevices();
    std::string why;
    auto selected = SelectDevices(input, present, &why);
    if (!selected) {
        LOG(ERROR) << "RDMA transport unavailable: " << why;
        return Error(selected.error());
    }
    if (!input.configured_devices.empty() && input.auto_discover) {
        LOG(INFO) << "RDMA: rdma_devices is set, so MC_MS_AUTO_DISC is not used";
    }
    std::vector<std::unique_ptr<DeviceContext>> devices;
    for (const SelectedDevice& device : *selected) {
        auto context = DeviceContext::Open(*provider, device, tunables);
        if (!context) {
            LOG(ERROR) << "RDMA transport unavailable: device " << device.name
                       << " could not be opened (see above); fix rdma_devices or use "
                          "protocol=tcp";
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
        }
        devices.push_back(std::move(*context));
    }
    auto transport =
        std::make_unique<RdmaTransport>(ConstructionTag(), std::move(devices), tunables);
    std::string names;
    for (const DeviceEndpoint& endpoint : transport->endpoints_) {
        names += (names.empty() ? "" : ", ") + endpoint.name;
    }
    LOG(INFO) << "RDMA transport for " << options.segment_name << " uses " << names
              << " (chunks of " << transport->chunk_size_ << " bytes, "
              << tunables.queue_pairs_per_connection << " queue pairs per connection)";
    return transport;
}

RdmaTransport::RdmaTransport(ConstructionTag, std::vector<std::unique_ptr<DeviceContext>> devices,
                             const RdmaTunables& tunables)
    : devices_(std::move(devices)),
      endpoints_(EndpointsOf(devices_)),
      endpoint_json_(EncodeEndpoint(endpoints_)),
      tunables_(tunables),
      chunk_size_(SmallestChunk(devices_, tunables.chunk_size)) {}

RdmaTransport::~RdmaTransport() {
    Stop();
    // Deregister what the engine did not (it normally unregisters every
    // region after Stop); queue pairs are gone by now.
    memory_.RemoveAll();
}

Status RdmaTransport::Start(TransportContext* context) {
    context_.store(context);
    return OkStatus();
}

void RdmaTransport::Stop() {
    if (stopping_.exchange(true)) return;
    const auto deadline = std::chrono::steady_clock::now() + tunables_.stop_grace;
    for (const auto& device : devices_) device->Stop(deadline);
    std::unordered_map<std::string, std::shared_ptr<PeerLink>> links;
    {
        MutexLock lock(links_mutex_);
        links.swap(links_);
    }
    links.clear();
    std::list<PassiveConnection> passive;
    {
        MutexLock lock(passive_mutex_);
        passive.swap(passive_);
    }
    passive.clear();  // destroys the queue pairs peers were using
}

RdmaTransport::Stats RdmaTransport::stats() const {
    Stats stats;
    stats.connections_made = connections_made_.load();
    stats.connections_accepted = connections_accepted_.load();
    stats.handshakes_refused = handshakes_refused_.load();
    {
        MutexLock lock(passive_mutex_);
        stats.passive_connections = passive_.size();
    }
    for (const auto& device : devices_) stats.live_channels += device->live_channels();
    stats.registered_regions = memory_.size();
    return stats;
}

std::optional<size_t> RdmaTransport::DeviceIndex(std::string_view name) const {
    for (size_t i = 0; i < endpoints_.size(); ++i) {
        if (endpoints_[i].name == name) return i;
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------
// Memory and endpoint

Status RdmaTransport::OnRegisterMemory(const RegisteredRegion& region, nlohmann::json* published) {
    std::vector<std::unique_ptr<MemoryRegion>> regions;
    for (const auto& device : devices_) {
        auto registered = device->device().RegisterMemory(reinterpret_cast<void*>(region.address),
                                                          region.length, region.remote_accessible);
        if (!registered) {
            LOG(ERROR) << "RDMA: cannot register " << RangeText(region.address, region.length)
                       << " with device " << device->endpoint().name
                       << " (pinned memory limit? check `ulimit -l`)";
            return Error(registered.error());
        }
        regions.push_back(std::move(*registered));
    }
    std::vector<std::pair<std::string, uint32_t>> rkeys;
    for (size_t i = 0; i < regions.size(); ++i) {
        rkeys.emplace_back(endpoints_[i].name, regions[i]->rkey());
    }
    if (auto added = memory_.Add(region.address, region.length, std::move(regions)); !added) {
        LOG(WARNING) << "RDMA: " << RangeText(region.address, region.length)
                     << " overlaps a registered region";
        return added;
    }
    if (region.remote_accessible) *published = EncodeRemoteKeys(rkeys);
    VLOG(1) << "RDMA: registered " << RangeText(region.address, region.length)
            << (region.remote_accessible ? " for remote access" : " for local use");
    return OkStatus();
}

void RdmaTransport::OnUnregisterMemory(const RegisteredRegion& region) {
    auto regions = memory_.Remove(region.address);
    VLOG(1) << "RDMA: deregistered " << RangeText(region.address, region.length) << " from "
            << regions.size() << " devices";
    regions.clear();
}

void RdmaTransport::DescribeEndpoint(nlohmann::json* endpoint) { *endpoint = endpoint_json_; }

// ---------------------------------------------------------------------------
// Peers

std::shared_ptr<const RdmaTransport::PeerRoute> RdmaTransport::RouteFor(
    const SegmentDescriptor& peer) {
    {
        ReaderLock lock(routes_mutex_);
        auto it = routes_.find(peer.name);
        if (it != routes_.end() && it->second->instance == peer.instance_id) return it->second;
    }
    auto route = std::make_shared<PeerRoute>();
    route->instance = peer.instance_id;
    auto entry = peer.transports.find("rdma");
    if (entry != peer.transports.end()) {
        auto remote = DecodeEndpoint(*entry);
        if (remote) {
            route->remote = std::move(*remote);
            route->pairing = PairDevices(endpoints_, route->remote);
            route->usable = std::any_of(route->pairing.begin(), route->pairing.end(),
                                        [](const auto& pair) { return pair.has_value(); });
            if (!route->usable) {
                LOG(WARNING) << "RDMA: no device of " << peer.name
                             << " is compatible with ours (link layer, LID or GID); using "
                                "another transport for it";
            }
        } else {
            LOG(WARNING) << "RDMA: malformed rdma endpoint in the descriptor of " << peer.name
                         << "; using another transport for it";
        }
    }
    WriterLock lock(routes_mutex_);
    if (routes_.size() >= kMaxCachedRoutes) routes_.clear();
    routes_[peer.name] = route;
    return route;
}

bool RdmaTransport::CanReach(const SegmentDescriptor& peer, const SegmentRange& range) {
    if (stopping_.load()) return false;
    auto route = RouteFor(peer);
    if (!route->usable) return false;
    for (size_t i = 0; i < route->pairing.size(); ++i) {
        if (!route->pairing[i]) continue;
        if (FindRemoteKey(range.transports, route->remote[*route->pairing[i]].name)) return true;
    }
    return false;
}

void RdmaTransport::ForgetPeer(const SegmentDescriptor& peer) {
    {
        WriterLock lock(routes_mutex_);
        routes_.erase(peer.name);
    }
    std::shared_ptr<PeerLink> link;
    {
        MutexLock lock(links_mutex_);
        auto it = links_.find(peer.name);
        if (it != links_.end() && it->second->instance == peer.instance_id) {
            link = std::move(it->second);
            links_.erase(it);
        }
    }
    if (link != nullptr) {
        VLOG(1) << "RDMA: closing the connections to " << peer.name;
        RetireLink(*link);
    }
}

void RdmaTransport::RetireLink(PeerLink& link) {
    std::vector<std::pair<size_t, std::shared_ptr<Channel>>> channels;
    {
        MutexLock lock(link.mutex);
        for (size_t i = 0; i < link.channels.size(); ++i) {
            if (link.channels[i] != nullptr) channels.emplace_back(i, std::move(link.channels[i]));
        }
    }
    // Outside the link's lock: retiring fails queued work, whose callbacks
    // may submit again.
    for (auto& [device, channel] : channels) devices_[device]->Retire(channel);
}

Result<std::shared_ptr<Channel>> RdmaTransport::ChannelFor(const SegmentDescriptor& peer,
                                                           const PeerRoute& route, size_t device) {
    std::shared_ptr<PeerLink> link;
    std::shared_ptr<PeerLink> replaced;
    {
        MutexLock lock(links_mutex_);
        std::shared_ptr<PeerLink>& slot = links_[peer.name];
        if (slot == nullptr || slot->instance != peer.instance_id) {
            replaced = std::move(slot);
            slot = std::make_shared<PeerLink>(peer.instance_id, devices_.size());
        }
        link = slot;
    }
    if (replaced != nullptr) RetireLink(*replaced);  // the peer restarted

    std::shared_ptr<Channel> broken;
    auto channel = [&]() -> Result<std::shared_ptr<Channel>> {
        MutexLock lock(link->mutex);  // one handshake per peer at a time
        std::shared_ptr<Channel>& slot = link->channels[device];
        if (slot != nullptr && !slot->broken()) return slot;
        broken = std::move(slot);
        auto fresh = Connect(peer, route, device);
        if (!fresh) return Error(fresh.error());
        slot = std::move(*fresh);
        return slot;
    }();
    if (broken != nullptr) devices_[device]->Retire(broken);
    return channel;
}

Result<std::shared_ptr<Channel>> RdmaTransport::Connect(const SegmentDescriptor& peer,
                                                        const PeerRoute& route, size_t device) {
    TransportContext* context = context_.load();
    if (context == nullptr || stopping_.load()) {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    DeviceContext& local = *devices_[device];
    const DeviceEndpoint& remote = route.remote[*route.pairing[device]];
    auto channel = local.CreateChannel(peer.name, peer.instance_id, remote.name,
                                       tunables_.queue_pairs_per_connection);
    if (!channel) return Error(ErrorCode::TRANSFER_FAIL);

    ConnectRequest request;
    request.requester_instance = context->instance_id();
    request.responder_instance = peer.instance_id;
    request.device = local.endpoint();
    request.target_device = remote.name;
    request.queue_pairs = (*channel)->local_addresses();
    auto answer = context->SendControlMessage(peer, name(), EncodeConnectRequest(request));
    if (!answer) {
        LOG(WARNING) << "RDMA handshake with " << peer.name << " (" << local.endpoint().name
                     << " -> " << remote.name << ") failed: " << ErrorCodeName(answer.error());
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    auto reply = DecodeConnectReply(*answer, request.queue_pairs.size());
    if (!reply || reply->responder_instance != peer.instance_id ||
        reply->device.name != remote.name || !CanConnect(local.endpoint(), reply->device)) {
        LOG(WARNING) << "RDMA handshake with " << peer.name
                     << ": malformed or mismatched reply refused";
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    if (auto connected = local.ConnectChannel(*channel, reply->device, reply->queue_pairs);
        !connected) {
        LOG(WARNING) << "RDMA: cannot connect the queue pairs to " << peer.name << " ("
                     << local.endpoint().name << " -> " << remote.name
                     << "): " << ErrorCodeName(connected.error());
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    connections_made_.fetch_add(1);
    LOG(INFO) << "RDMA: connected to " << peer.name << " (" << local.endpoint().name << " -> "
              << remote.name << ", " << request.queue_pairs.size() << " queue pairs)";
    return std::move(*channel);
}

Result<nlohmann::json> RdmaTransport::HandleControlMessage(const std::string& peer_segment,
                                                           const nlohmann::json& message) {
    TransportContext* context = context_.load();
    if (context == nullptr || stopping_.load()) {
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    const auto refuse = [&](const char* why, ErrorCode code = ErrorCode::INVALID_PARAMS) {
        handshakes_refused_.fetch_add(1);
        LOG_EVERY_N(WARNING, 20) << "RDMA: refused a handshake from '"
                                 << peer_segment.substr(0, 128) << "': " << why;
        return Error(code);
    };
    if (peer_segment.empty() || peer_segment.size() > kMaxPeerNameLength) {
        return refuse("bad sender name");
    }
    auto request = DecodeConnectRequest(message);
    if (!request) return refuse("malformed message");
    if (request->responder_instance != context->instance_id()) {
        return refuse("it is meant for another instance of this segment (stale descriptor)");
    }
    auto device = DeviceIndex(request->target_device);
    if (!device) return refuse("it names a device this engine does not use");
    DeviceContext& local = *devices_[*device];
    if (!CanConnect(local.endpoint(), request->device)) {
        return refuse("its device cannot reach ours (link layer, LID or GID)");
    }

    std::list<PassiveConnection> dropped;  // destroyed outside the lock
    {
        MutexLock lock(passive_mutex_);
        size_t from_requester = 0;
        for (auto it = passive_.begin(); it != passive_.end();) {
            if (it->requester != peer_segment) {
                ++it;
            } else if (it->requester_instance != request->requester_instance) {
                // The requester restarted: its old connections are dead.
                auto next = std::next(it);
                dropped.splice(dropped.end(), passive_, it);
                it = next;
            } else {
                ++from_requester;
                ++it;
            }
        }
        if (from_requester >= kMaxPassiveConnectionsPerPeer) {
            auto oldest = std::find_if(passive_.begin(), passive_.end(),
                                       [&](const auto& c) { return c.requester == peer_segment; });
            dropped.splice(dropped.end(), passive_, oldest);
        }
        if (passive_.size() >= kMaxPassiveConnections) {
            return refuse("too many connections", ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
        }
    }
    dropped.clear();

    std::vector<QueuePairAddress> local_addresses;
    auto queue_pairs =
        local.AcceptQueuePairs(request->device, request->queue_pairs, &local_addresses);
    if (!queue_pairs) {
        LOG(WARNING) << "RDMA: cannot create queue pairs for " << peer_segment << " on "
                     << local.endpoint().name << ": " << ErrorCodeName(queue_pairs.error());
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    {
        MutexLock lock(passive_mutex_);
        if (stopping_.load()) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
        passive_.push_back(
            PassiveConnection{peer_segment, request->requester_instance, std::move(*queue_pairs)});
    }
    connections_accepted_.fetch_add(1);
    VLOG(1) << "RDMA: accepted a connection from " << peer_segment << " (" << request->device.name
            << " -> " << local.endpoint().name << ", " << local_addresses.size() << " queue pairs)";

    ConnectReply reply;
    reply.responder_instance = context->instance_id();
    reply.device = local.endpoint();
    reply.queue_pairs = std::move(local_addresses);
    return EncodeConnectReply(reply);
}

// ---------------------------------------------------------------------------
// Transfers

std::vector<RdmaTransport::Lane> RdmaTransport::LanesFor(const TransferTask& task,
                                                         const PeerRoute& route,
                                                         const std::vector<uint32_t>& lkeys) const {
    std::vector<Lane> lanes;
    for (size_t i = 0; i < route.pairing.size() && i < lkeys.size(); ++i) {
        if (!route.pairing[i]) continue;
        auto rkey = FindRemoteKey(task.range->transports, route.remote[*route.pairing[i]].name);
        if (rkey) lanes.push_back({i, lkeys[i], *rkey});
    }
    return lanes;
}

void RdmaTransport::Prepare(TransferTask& task, std::vector<ChannelBatch>* batches) {
    if (stopping_.load() || (task.cancelled != nullptr && task.cancelled->load())) {
        task.on_done(ErrorCode::TRANSFER_FAIL);
        return;
    }
    if (task.peer == nullptr || task.range == nullptr || task.length == 0 ||
        task.local_address == nullptr) {
        task.on_done(ErrorCode::INVALID_PARAMS);
        return;
    }
    const uint64_t local_address = reinterpret_cast<uint64_t>(task.local_address);
    std::vector<uint32_t> lkeys;
    if (!memory_.FindLocalKeys(local_address, task.length, &lkeys)) {
        LOG_EVERY_N(WARNING, 100) << "RDMA transfer refused: local buffer "
                                  << RangeText(local_address, task.length)
                                  << " is not registered (RegisterLocalMemory it first)";
        task.on_done(ErrorCode::INVALID_PARAMS);
        return;
    }
    auto route = RouteFor(*task.peer);
    std::vector<Lane> lanes;
    if (route->usable) lanes = LanesFor(task, *route, lkeys);
    if (lanes.empty()) {
        LOG_EVERY_N(WARNING, 100) << "RDMA transfer to " << task.peer->name
                                  << " failed: no device pair with a key for "
                                  << RangeText(task.remote_address, task.length);
        task.on_done(ErrorCode::TRANSFER_FAIL);
        return;
    }

    const std::vector<ByteSpan> parts = SplitAcrossLanes(task.length, chunk_size_, lanes.size());
    // Small tasks take turns over the devices; large ones use all of them.
    const size_t first_lane = next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes.size();
    auto completion =
        std::make_shared<TaskCompletion>(task.length, std::move(task.on_done), task.cancelled);
    for (size_t k = 0; k < parts.size(); ++k) {
        const Lane& lane = lanes[(first_lane + k) % lanes.size()];
        auto channel = ChannelFor(*task.peer, *route, lane.device);
        if (!channel) {
            if (completion->BytesDone(parts[k].length, false)) completion->Finish();
            continue;
        }
        PendingWork work;
        work.task = completion;
        work.opcode = task.opcode;
        work.local_address = local_address + parts[k].offset;
        work.lkey = lane.lkey;
        work.remote_address = task.remote_address + parts[k].offset;
        work.rkey = lane.rkey;
        work.remaining = parts[k].length;
        auto batch = std::find_if(batches->begin(), batches->end(),
                                  [&](const ChannelBatch& b) { return b.channel == *channel; });
        if (batch == batches->end()) {
            batches->push_back({lane.device, *channel, {}});
            batch = std::prev(batches->end());
        }
        batch->work.push_back(std::move(work));
    }
}

void RdmaTransport::Submit(std::vector<TransferTask> tasks) {
    // Grouped by channel so that each is locked and posted to once per call.
    std::vector<ChannelBatch> batches;
    for (TransferTask& task : tasks) Prepare(task, &batches);
    for (ChannelBatch& batch : batches) {
        devices_[batch.device]->Enqueue(batch.channel, std::move(batch.work));
    }
}

}  // namespace rdma
}  // namespace mooncake
