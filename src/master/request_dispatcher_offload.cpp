// RequestDispatcher: the SSD offload calls a client makes for its local
// disk (docs/ssd_offload.md). Kept apart from request_dispatcher.cpp, which
// holds the object and segment calls.
#include <algorithm>

#include "master/request_dispatcher.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

std::vector<OffloadItem> ItemsOf(
    const google::protobuf::RepeatedPtrField<rpc::OffloadObject>& wire) {
    std::vector<OffloadItem> items;
    items.reserve(wire.size());
    for (const rpc::OffloadObject& object : wire) {
        items.push_back(
            {.key = object.key(), .size = object.size(), .value_id = object.value_id()});
    }
    return items;
}

}  // namespace

void RequestDispatcher::MountLocalDisk(const rpc::MountLocalDiskRequest& request,
                                       rpc::StatusResponse* response) {
    response->set_error_code(
        Counted(service_.MountLocalDisk(FromProto(request.client_id()), request.endpoint(),
                                        request.offloading(), request.capacity_bytes())));
}

void RequestDispatcher::UnmountLocalDisk(const rpc::ClientIdRequest& request,
                                         rpc::StatusResponse* response) {
    response->set_error_code(Counted(service_.UnmountLocalDisk(FromProto(request.client_id()))));
}

void RequestDispatcher::OffloadHeartbeat(const rpc::OffloadHeartbeatRequest& request,
                                         rpc::OffloadHeartbeatResponse* response) {
    // One reply carries at most this many keys, whatever the client asks.
    constexpr uint64_t kMaxItems = 4096;
    const uint64_t wanted = request.max_items() == 0 ? kMaxItems : request.max_items();
    auto work = service_.OffloadHeartbeat(FromProto(request.client_id()),
                                          static_cast<size_t>(std::min(wanted, kMaxItems)));
    response->set_error_code(Counted(work));
    if (!work) return;
    for (const OffloadItem& item : work->offload) {
        rpc::OffloadObject* object = response->add_offload();
        object->set_key(item.key);
        object->set_size(item.size);
        object->set_value_id(item.value_id);
        for (const ReplicaDescriptor& source : item.sources) ToProto(source, object->add_sources());
        object->set_pin_ms(item.pin_ms);
    }
    for (const std::string& key : work->remove) response->add_remove(key);
    for (const std::string& key : work->promote) response->add_promote(key);
}

void RequestDispatcher::NotifyOffloadSuccess(const rpc::NotifyOffloadSuccessRequest& request,
                                             rpc::StatusResponse* response) {
    response->set_error_code(Counted(service_.NotifyOffloadSuccess(
        FromProto(request.client_id()), ItemsOf(request.items()), request.from_rescan())));
}

void RequestDispatcher::NotifyDiskEvicted(const rpc::NotifyDiskEvictedRequest& request,
                                          rpc::StatusResponse* response) {
    const std::vector<std::string> keys(request.keys().begin(), request.keys().end());
    response->set_error_code(
        Counted(service_.NotifyDiskEvicted(FromProto(request.client_id()), keys)));
}

}  // namespace mooncake
