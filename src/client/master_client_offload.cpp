// MasterClient: the SSD offload calls (docs/ssd_offload.md). Apart from
// master_client.cpp, which holds the object, segment and task calls.
#include "client/master_client.h"
#include "client/master_client_call.h"
#include "master.pb.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

namespace {

void AddItems(const std::vector<OffloadItem>& items,
              google::protobuf::RepeatedPtrField<rpc::OffloadObject>* wire) {
    wire->Reserve(static_cast<int>(items.size()));
    for (const OffloadItem& item : items) {
        rpc::OffloadObject* object = wire->Add();
        object->set_key(item.key);
        object->set_size(item.size);
        object->set_value_id(item.value_id);
    }
}

}  // namespace

Status MasterClient::MountLocalDisk(const UUID& client_id, const std::string& endpoint,
                                    bool offloading, uint64_t capacity_bytes) {
    rpc::MasterRequest request;
    auto* body = request.mutable_mount_local_disk();
    ToProto(client_id, body->mutable_client_id());
    body->set_endpoint(endpoint);
    body->set_offloading(offloading);
    body->set_capacity_bytes(capacity_bytes);
    return CallForStatus(&request, &rpc::MasterResponse::mount_local_disk);
}

Status MasterClient::UnmountLocalDisk(const UUID& client_id) {
    rpc::MasterRequest request;
    ToProto(client_id, request.mutable_unmount_local_disk()->mutable_client_id());
    return CallForStatus(&request, &rpc::MasterResponse::unmount_local_disk);
}

Result<OffloadWork> MasterClient::OffloadHeartbeat(const UUID& client_id, size_t max_items) {
    rpc::MasterRequest request;
    auto* body = request.mutable_offload_heartbeat();
    ToProto(client_id, body->mutable_client_id());
    body->set_max_items(max_items);
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(&request, &response));
    const auto& reply = response.offload_heartbeat();
    MC_RETURN_IF_ERROR(StatusFromWire(reply.error_code()));
    OffloadWork work;
    work.offload.reserve(reply.offload_size());
    for (const rpc::OffloadObject& object : reply.offload()) {
        OffloadItem& item = work.offload.emplace_back();
        item.key = object.key();
        item.size = object.size();
        item.value_id = object.value_id();
        item.sources.reserve(object.sources_size());
        for (const rpc::ReplicaDescriptor& source : object.sources())
            item.sources.push_back(FromProto(source));
        item.pin_ms = object.pin_ms();
    }
    work.remove.assign(reply.remove().begin(), reply.remove().end());
    work.promote.assign(reply.promote().begin(), reply.promote().end());
    return work;
}

Status MasterClient::NotifyOffloadSuccess(const UUID& client_id,
                                          const std::vector<OffloadItem>& items, bool from_rescan) {
    rpc::MasterRequest request;
    auto* body = request.mutable_notify_offload_success();
    ToProto(client_id, body->mutable_client_id());
    AddItems(items, body->mutable_items());
    body->set_from_rescan(from_rescan);
    return CallForStatus(&request, &rpc::MasterResponse::notify_offload_success);
}

Status MasterClient::NotifyDiskEvicted(const UUID& client_id,
                                       const std::vector<std::string>& keys) {
    rpc::MasterRequest request;
    auto* body = request.mutable_notify_disk_evicted();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    return CallForStatus(&request, &rpc::MasterResponse::notify_disk_evicted);
}

}  // namespace mooncake
