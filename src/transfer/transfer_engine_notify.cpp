// Notifications between engines and peer introspection for the Python
// TransferEngine: small control messages over the peer's TCP server, queued
// by the receiver until it asks for them.
#include <glog/logging.h>

#include "transfer/transfer_engine_impl.h"

namespace mooncake {

namespace {

// A receiver nobody drains must not grow without bound; the oldest
// notifications go first.
constexpr size_t kMaxQueuedNotifies = 1 << 16;
// Name and message together; larger ones are refused by the sender.
constexpr size_t kMaxNotifyBytes = 64 << 10;

}  // namespace

Result<uint64_t> TransferEngineImpl::FirstBufferAddress(SegmentHandle handle) {
    std::shared_ptr<Peer> peer = FindPeer(handle);
    if (peer == nullptr) return Error(ErrorCode::INVALID_PARAMS);
    // The peer may have registered memory since it was opened: ask it now
    // (Refresh's backoff could answer with a second-old view). Transfers
    // pick the new view up themselves when they need it.
    auto descriptor = peer->Current();
    if (auto fetched = FetchDescriptor(peer->name)) descriptor = std::move(*fetched);
    if (descriptor->ranges.empty()) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    return descriptor->ranges.front().address;
}

Status TransferEngineImpl::SendNotify(SegmentHandle handle, const TransferNotifyMessage& notify) {
    if (notify.name.size() + notify.message.size() > kMaxNotifyBytes) {
        LOG(WARNING) << "Notification of " << notify.name.size() + notify.message.size()
                     << " bytes refused (limit " << kMaxNotifyBytes << ")";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    std::shared_ptr<Peer> peer = FindPeer(handle);
    if (peer == nullptr) return Error(ErrorCode::INVALID_PARAMS);
    nlohmann::json body = {{"name", notify.name}, {"msg", notify.message}};
    auto answer = SendControlMessage(*peer->Current(), kNotifyChannel, body);
    if (!answer) {
        LOG(WARNING) << "Notification to " << peer->name
                     << " failed: " << ErrorCodeName(answer.error());
        return Error(ErrorCode::TRANSFER_FAIL);
    }
    return OkStatus();
}

Result<nlohmann::json> TransferEngineImpl::HandleNotify(const std::string& from,
                                                        const nlohmann::json& body) {
    const auto name = body.find("name");
    const auto msg = body.find("msg");
    if (!body.is_object() || name == body.end() || msg == body.end() || !name->is_string() ||
        !msg->is_string()) {
        LOG_EVERY_N(WARNING, 100) << "Malformed notification from " << from;
        return Error(ErrorCode::INVALID_PARAMS);
    }
    MutexLock lock(notifies_mutex_);
    if (notifies_.size() >= kMaxQueuedNotifies) {
        LOG_EVERY_N(WARNING, 1000) << "Notification queue full: dropping the oldest";
        notifies_.pop_front();
    }
    notifies_.push_back({name->get<std::string>(), msg->get<std::string>()});
    return nlohmann::json::object();
}

std::vector<TransferNotifyMessage> TransferEngineImpl::TakeNotifies() {
    MutexLock lock(notifies_mutex_);
    std::vector<TransferNotifyMessage> taken(std::make_move_iterator(notifies_.begin()),
                                             std::make_move_iterator(notifies_.end()));
    notifies_.clear();
    return taken;
}

}  // namespace mooncake
