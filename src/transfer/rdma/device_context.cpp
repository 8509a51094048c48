#include "transfer/rdma/device_context.h"

#include <glog/logging.h>

#include <algorithm>

#include "transfer/rdma/device_pairing.h"

namespace mooncake::rdma {

namespace {

constexpr size_t kCompletionBatch = 64;
// Empty polls before the polling thread sleeps while work is outstanding:
// a few hundred microseconds of spinning keeps small transfers fast.
constexpr int kBusyPollRounds = 2048;
constexpr auto kWaitSlice = std::chrono::milliseconds(20);
// After Stop flushed the queue pairs, how long the flush may take.
constexpr auto kFlushWait = std::chrono::seconds(5);

const char* OperationName(TransferOpcode opcode) {
    return opcode == TransferOpcode::READ ? "READ" : "WRITE";
}

DeviceEndpoint EndpointOf(const Device& device) {
    const PortInfo& port = device.port();
    DeviceEndpoint endpoint;
    endpoint.name = device.name();
    endpoint.port = port.port_num;
    endpoint.lid = port.lid;
    endpoint.mtu = IsValidMtu(port.active_mtu) ? port.active_mtu : 1024;
    endpoint.link_layer = port.link_layer;
    for (const GidEntry& entry : port.gids) {
        if (entry.index == device.gid_index()) endpoint.gid = entry.gid;
    }
    return endpoint;
}

}  // namespace

Result<std::unique_ptr<DeviceContext>> DeviceContext::Open(VerbsProvider& provider,
                                                           const SelectedDevice& selected,
                                                           const RdmaTunables& tunables) {
    DeviceOpenOptions options;
    options.name = selected.name;
    options.port_num = selected.port_num;
    options.gid_index = selected.gid_index;
    options.completion_queue_size = tunables.completion_queue_size;
    auto device = provider.OpenDevice(options);
    if (!device) {
        LOG(ERROR) << "RDMA: cannot open device " << selected.name << " port "
                   << static_cast<int>(selected.port_num) << ": " << ErrorCodeName(device.error());
        return Error(device.error());
    }
    DeviceEndpoint endpoint = EndpointOf(**device);
    auto context = std::make_unique<DeviceContext>(ConstructionTag(), std::move(*device),
                                                   std::move(endpoint), tunables);
    context->poller_ = std::thread(&DeviceContext::PollLoop, context.get());
    const DeviceEndpoint& ready = context->endpoint_;
    LOG(INFO) << "RDMA device " << ready.name << " port " << static_cast<int>(ready.port) << " ("
              << LinkLayerName(ready.link_layer) << ", lid " << ready.lid << ", gid "
              << ready.gid.ToString() << " index " << selected.gid_index << ", mtu " << ready.mtu
              << ") ready: " << context->capacity_ << " completion entries, queue pairs of "
              << context->queue_pair_depth_ << ", chunks of " << context->chunk_size_ << " bytes";
    return context;
}

DeviceContext::DeviceContext(ConstructionTag, std::unique_ptr<Device> device,
                             DeviceEndpoint endpoint, const RdmaTunables& tunables)
    : device_(std::move(device)),
      endpoint_(std::move(endpoint)),
      chunk_size_(device_->port().max_message_size > 0
                      ? std::min(tunables.chunk_size, device_->port().max_message_size)
                      : tunables.chunk_size),
      queue_pair_depth_(std::max<uint32_t>(
          1, std::min(tunables.max_outstanding_per_queue_pair, device_->max_queue_pair_depth()))),
      capacity_(std::max<uint32_t>(1, device_->completion_queue_size())),
      stop_grace_(tunables.stop_grace),
      psn_random_(std::random_device()()) {}

DeviceContext::~DeviceContext() { Stop(std::chrono::steady_clock::now() + stop_grace_); }

// ---------------------------------------------------------------------------
// Connections

Result<std::shared_ptr<Channel>> DeviceContext::CreateChannel(const std::string& peer_name,
                                                              const UUID& peer_instance,
                                                              const std::string& remote_device,
                                                              uint32_t queue_pairs) {
    if (queue_pairs == 0 || queue_pairs > kMaxHandshakeQueuePairs) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto channel =
        std::make_shared<Channel>(peer_name, peer_instance, endpoint_.name, remote_device);
    for (uint32_t i = 0; i < queue_pairs; ++i) {
        auto queue_pair = device_->CreateQueuePair(queue_pair_depth_);
        if (!queue_pair) {
            LOG(WARNING) << "RDMA device " << endpoint_.name << ": cannot create a queue pair for "
                         << peer_name;
            return Error(queue_pair.error());
        }
        if (auto init = (*queue_pair)->ToInit(); !init) return Error(init.error());
        uint32_t psn = 0;
        {
            MutexLock lock(mutex_);
            psn = psn_random_() & kMaxPacketSequenceNumber;
        }
        channel->local_addresses_.push_back({(*queue_pair)->qp_num(), psn});
        Channel::Lane lane{std::move(*queue_pair), QueuePairState(queue_pair_depth_), {}, {}};
        lane.state.Advance(QueuePairPhase::kInit);
        channel->lanes_.push_back(std::move(lane));
    }
    return channel;
}

Status DeviceContext::ConnectChannel(const std::shared_ptr<Channel>& channel,
                                     const DeviceEndpoint& remote,
                                     const std::vector<QueuePairAddress>& remote_queue_pairs) {
    if (channel->lanes_.size() != remote_queue_pairs.size() || !CanConnect(endpoint_, remote)) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    // Not yet visible to the polling thread: no lock needed.
    for (size_t i = 0; i < remote_queue_pairs.size(); ++i) {
        Channel::Lane& lane = channel->lanes_[i];
        const RemotePath path = MakeRemotePath(endpoint_, remote, remote_queue_pairs[i].qp_num,
                                               remote_queue_pairs[i].psn);
        if (auto ready = lane.queue_pair->ToReadyToReceive(path); !ready) {
            return Error(ready.error());
        }
        lane.state.Advance(QueuePairPhase::kReadyToReceive);
        if (auto ready = lane.queue_pair->ToReadyToSend(channel->local_addresses_[i].psn); !ready) {
            return Error(ready.error());
        }
        lane.state.Advance(QueuePairPhase::kReadyToSend);
    }
    MutexLock lock(mutex_);
    if (stopping_) return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    channels_[channel.get()] = channel;
    for (size_t i = 0; i < channel->lanes_.size(); ++i) {
        by_qp_num_[channel->lanes_[i].queue_pair->qp_num()] = {channel.get(), i};
    }
    channel->connected_ = true;
    return OkStatus();
}

Result<std::vector<std::unique_ptr<QueuePair>>> DeviceContext::AcceptQueuePairs(
    const DeviceEndpoint& remote, const std::vector<QueuePairAddress>& remote_queue_pairs,
    std::vector<QueuePairAddress>* local) {
    if (remote_queue_pairs.empty() || remote_queue_pairs.size() > kMaxHandshakeQueuePairs ||
        !CanConnect(endpoint_, remote)) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::vector<std::unique_ptr<QueuePair>> accepted;
    local->clear();
    for (const QueuePairAddress& address : remote_queue_pairs) {
        // Only the requester posts; this side answers in hardware.
        auto queue_pair = device_->CreateQueuePair(1);
        if (!queue_pair) return Error(queue_pair.error());
        uint32_t psn = 0;
        {
            MutexLock lock(mutex_);
            psn = psn_random_() & kMaxPacketSequenceNumber;
        }
        const RemotePath path = MakeRemotePath(endpoint_, remote, address.qp_num, address.psn);
        MC_RETURN_IF_ERROR((*queue_pair)->ToInit());
        MC_RETURN_IF_ERROR((*queue_pair)->ToReadyToReceive(path));
        MC_RETURN_IF_ERROR((*queue_pair)->ToReadyToSend(psn));
        local->push_back({(*queue_pair)->qp_num(), psn});
        accepted.push_back(std::move(*queue_pair));
    }
    return accepted;
}

// ---------------------------------------------------------------------------
// Work

void DeviceContext::Enqueue(const std::shared_ptr<Channel>& channel,
                            std::vector<PendingWork> work) {
    FinishedTasks finished;
    {
        MutexLock lock(mutex_);
        if (stopping_ || !channel->connected_ || channel->retired_ || channel->broken()) {
            VLOG(1) << "RDMA device " << endpoint_.name << ": work for " << channel->peer_name()
                    << " refused (channel " << (stopping_ ? "stopping" : "unusable") << ")";
            for (PendingWork& item : work) {
                if (item.task->BytesDone(item.remaining, false)) {
                    finished.push_back(std::move(item.task));
                }
            }
        } else {
            for (PendingWork& item : work) channel->pending_.push_back(std::move(item));
            PumpLocked(channel, &finished);
            if (outstanding_.load() == 0) idle_.NotifyAll();
        }
    }
    RunCallbacks(finished);
}

void DeviceContext::PumpLocked(const std::shared_ptr<Channel>& channel, FinishedTasks* finished) {
    Channel& ch = *channel;
    if (!ch.connected_ || ch.released_) return;
    const size_t lane_count = ch.lanes_.size();
    while (!ch.pending_.empty()) {
        if (ch.broken()) break;
        PendingWork& work = ch.pending_.front();
        if (work.task->cancelled()) {
            // Given up on before it was posted: fail it without touching memory.
            if (work.task->BytesDone(work.remaining, false)) {
                finished->push_back(work.task);
            }
            ch.pending_.pop_front();
            continue;
        }
        if (outstanding_.load() >= capacity_) {
            if (!ch.starved_) {
                ch.starved_ = true;
                starved_.push_back(channel);
            }
            break;
        }
        size_t lane_index = lane_count;
        for (size_t k = 0; k < lane_count; ++k) {
            const size_t candidate = (ch.next_lane_ + k) % lane_count;
            if (ch.lanes_[candidate].state.available() > 0) {
                lane_index = candidate;
                break;
            }
        }
        // Every queue pair is full: their completions pump this channel again.
        if (lane_index == lane_count) break;
        ch.next_lane_ = (lane_index + 1) % lane_count;

        Channel::Lane& lane = ch.lanes_[lane_index];
        WorkRequest request;
        request.wr_id = next_wr_id_++;
        request.opcode = work.opcode;
        request.local_address = work.local_address;
        request.length = static_cast<uint32_t>(std::min<uint64_t>(work.remaining, chunk_size_));
        request.lkey = work.lkey;
        request.remote_address = work.remote_address;
        request.rkey = work.rkey;
        lane.state.Acquire(1);
        lane.in_flight.push_back({request.wr_id, work.opcode, request.length, work.task});
        lane.to_post.push_back(request);
        ++ch.outstanding_;
        outstanding_.fetch_add(1, std::memory_order_relaxed);

        work.local_address += request.length;
        work.remote_address += request.length;
        work.remaining -= request.length;
        if (work.remaining == 0) ch.pending_.pop_front();
    }

    for (size_t i = 0; i < lane_count; ++i) {
        Channel::Lane& lane = ch.lanes_[i];
        if (lane.to_post.empty()) continue;
        size_t posted = 0;
        if (auto status = lane.queue_pair->Post(lane.to_post, &posted); !status) {
            // The refused requests are the newest entries of in_flight.
            const size_t refused = lane.to_post.size() - std::min(posted, lane.to_post.size());
            for (size_t r = 0; r < refused; ++r) {
                Channel::InFlight entry = std::move(lane.in_flight.back());
                lane.in_flight.pop_back();
                lane.state.Release(1);
                --ch.outstanding_;
                outstanding_.fetch_sub(1, std::memory_order_relaxed);
                if (entry.task->BytesDone(entry.length, false)) {
                    finished->push_back(std::move(entry.task));
                }
            }
            MarkBrokenLocked(ch, i, "posting work requests failed");
        }
        lane.to_post.clear();
    }
    if (ch.broken()) FailPendingLocked(ch, finished);
}

void DeviceContext::PumpStarvedLocked(FinishedTasks* finished) {
    while (!starved_.empty() && outstanding_.load() < capacity_) {
        std::shared_ptr<Channel> channel = std::move(starved_.front());
        starved_.pop_front();
        channel->starved_ = false;
        if (channel->released_) continue;
        PumpLocked(channel, finished);
        if (channel->starved_) break;  // the device filled up again
    }
}

void DeviceContext::FailPendingLocked(Channel& channel, FinishedTasks* finished) {
    for (PendingWork& work : channel.pending_) {
        if (work.task->BytesDone(work.remaining, false)) {
            finished->push_back(std::move(work.task));
        }
    }
    channel.pending_.clear();
}

void DeviceContext::MarkBrokenLocked(Channel& channel, size_t lane, const char* why) {
    channel.lanes_[lane].state.Advance(QueuePairPhase::kError);
    if (!channel.broken_.exchange(true, std::memory_order_acq_rel)) {
        LOG(WARNING) << "RDMA connection to " << channel.peer_name() << " ("
                     << channel.local_device() << " -> " << channel.remote_device()
                     << ") is broken: " << why << "; it will be reconnected";
    }
}

void DeviceContext::ReleaseIfIdleLocked(Channel& channel) {
    if (channel.released_ || !channel.connected_) return;
    if (!channel.retired_ && !channel.broken()) return;
    if (channel.outstanding_ > 0 || !channel.pending_.empty()) return;
    for (Channel::Lane& lane : channel.lanes_) {
        by_qp_num_.erase(lane.queue_pair->qp_num());
        lane.queue_pair.reset();
    }
    channel.released_ = true;
    channel.connected_ = false;
    // May drop the last reference: `channel` must not be used afterwards.
    channels_.erase(&channel);
}

std::shared_ptr<Channel> DeviceContext::FindChannelLocked(Channel* channel) const {
    auto it = channels_.find(channel);
    return it == channels_.end() ? nullptr : it->second;
}

void DeviceContext::Retire(const std::shared_ptr<Channel>& channel) {
    FinishedTasks finished;
    {
        MutexLock lock(mutex_);
        channel->retired_ = true;
        FailPendingLocked(*channel, &finished);
        ReleaseIfIdleLocked(*channel);
    }
    RunCallbacks(finished);
}

size_t DeviceContext::live_channels() const {
    MutexLock lock(mutex_);
    return channels_.size();
}

void DeviceContext::RunCallbacks(FinishedTasks& finished) {
    for (const std::shared_ptr<TaskCompletion>& task : finished) task->Finish();
    finished.clear();
}

// ---------------------------------------------------------------------------
// Completions

void DeviceContext::HandleCompletionLocked(const WorkCompletion& completion,
                                           std::vector<Channel*>* touched,
                                           FinishedTasks* finished) {
    auto owner = by_qp_num_.find(completion.qp_num);
    if (owner == by_qp_num_.end()) {
        LOG_EVERY_N(WARNING, 100) << "RDMA device " << endpoint_.name
                                  << ": completion for unknown queue pair " << completion.qp_num;
        return;
    }
    Channel& channel = *owner->second.first;
    Channel::Lane& lane = channel.lanes_[owner->second.second];
    auto entry_it = lane.in_flight.begin();
    if (entry_it == lane.in_flight.end() || entry_it->wr_id != completion.wr_id) {
        entry_it =
            std::find_if(lane.in_flight.begin(), lane.in_flight.end(),
                         [&](const Channel::InFlight& e) { return e.wr_id == completion.wr_id; });
        if (entry_it == lane.in_flight.end()) {
            LOG(ERROR) << "RDMA device " << endpoint_.name << ": completion for unknown request "
                       << completion.wr_id << " on queue pair " << completion.qp_num;
            return;
        }
    }
    Channel::InFlight entry = std::move(*entry_it);
    lane.in_flight.erase(entry_it);
    lane.state.Release(1);
    --channel.outstanding_;
    outstanding_.fetch_sub(1, std::memory_order_relaxed);

    if (!completion.success) {
        lane.state.Advance(QueuePairPhase::kError);
        channel.broken_.store(true, std::memory_order_release);
        if (!channel.error_logged_ && !stopping_) {
            channel.error_logged_ = true;
            LOG(WARNING) << "RDMA " << OperationName(entry.opcode) << " to " << channel.peer_name()
                         << " (" << channel.local_device() << " -> " << channel.remote_device()
                         << ", qp " << completion.qp_num << ") failed: " << completion.status_text
                         << " (vendor error 0x" << std::hex << completion.vendor_error << std::dec
                         << "); the connection will be re-established";
        } else {
            VLOG(1) << "RDMA " << OperationName(entry.opcode) << " to " << channel.peer_name()
                    << " failed: " << completion.status_text;
        }
    }
    if (entry.task->BytesDone(entry.length, completion.success)) {
        finished->push_back(std::move(entry.task));
    }
    if (std::find(touched->begin(), touched->end(), &channel) == touched->end()) {
        touched->push_back(&channel);
    }
}

void DeviceContext::PollLoop() {
    std::vector<WorkCompletion> completions(kCompletionBatch);
    int idle_rounds = 0;
    while (!stop_polling_.load(std::memory_order_acquire)) {
        const size_t count = device_->PollCompletions(completions);
        if (count == 0) {
            if (outstanding_.load(std::memory_order_relaxed) > 0 &&
                ++idle_rounds < kBusyPollRounds) {
                continue;
            }
            idle_rounds = 0;
            device_->WaitForCompletions(kWaitSlice);
            continue;
        }
        idle_rounds = 0;
        FinishedTasks finished;
        std::vector<Channel*> touched;
        {
            MutexLock lock(mutex_);
            for (size_t i = 0; i < count; ++i) {
                HandleCompletionLocked(completions[i], &touched, &finished);
            }
            for (Channel* raw : touched) {
                std::shared_ptr<Channel> channel = FindChannelLocked(raw);
                if (channel == nullptr) continue;
                if (channel->broken()) {
                    FailPendingLocked(*channel, &finished);
                } else {
                    PumpLocked(channel, &finished);
                }
                ReleaseIfIdleLocked(*channel);
            }
            PumpStarvedLocked(&finished);
            if (outstanding_.load() == 0) idle_.NotifyAll();
        }
        RunCallbacks(finished);
    }
}

// ---------------------------------------------------------------------------
// Stop

void DeviceContext::Stop(std::chrono::steady_clock::time_point deadline) {
    FinishedTasks finished;
    {
        MutexLock lock(mutex_);
        if (stopped_ || stopping_) return;
        stopping_ = true;
        for (auto& [raw, channel] : channels_) {
            channel->retired_ = true;
            FailPendingLocked(*channel, &finished);
        }
        starved_.clear();
    }
    RunCallbacks(finished);

    {
        MutexLock lock(mutex_);
        while (outstanding_.load() != 0 && idle_.WaitUntil(lock, deadline)) {
        }
        if (outstanding_.load() != 0) {
            LOG(WARNING) << "RDMA device " << endpoint_.name << ": " << outstanding_.load()
                         << " requests still outstanding at stop; flushing the queue pairs";
            for (auto& [raw, channel] : channels_) {
                for (Channel::Lane& lane : channel->lanes_) {
                    if (lane.queue_pair != nullptr) (void)lane.queue_pair->ToError();
                    lane.state.Advance(QueuePairPhase::kError);
                }
            }
            const auto flush_deadline = std::chrono::steady_clock::now() + kFlushWait;
            while (outstanding_.load() != 0 && idle_.WaitUntil(lock, flush_deadline)) {
            }
            if (outstanding_.load() != 0) {
                LOG(ERROR) << "RDMA device " << endpoint_.name << ": " << outstanding_.load()
                           << " requests never completed; failing them";
            }
        }
    }

    stop_polling_.store(true, std::memory_order_release);
    if (poller_.joinable()) poller_.join();

    {
        MutexLock lock(mutex_);
        std::vector<std::shared_ptr<Channel>> remaining;
        for (auto& [raw, channel] : channels_) remaining.push_back(channel);
        for (const std::shared_ptr<Channel>& channel : remaining) {
            for (Channel::Lane& lane : channel->lanes_) {
                for (Channel::InFlight& entry : lane.in_flight) {
                    if (entry.task->BytesDone(entry.length, false)) finished.push_back(entry.task);
                }
                lane.in_flight.clear();
                (void)lane.state.Release(lane.state.outstanding());
            }
            channel->outstanding_ = 0;
            channel->retired_ = true;
            ReleaseIfIdleLocked(*channel);
        }
        outstanding_.store(0);
        stopped_ = true;
    }
    RunCallbacks(finished);
}

}  // namespace mooncake::rdma
