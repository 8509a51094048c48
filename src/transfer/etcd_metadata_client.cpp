#include "transfer/etcd_metadata_client.h"

#include <glog/logging.h>

namespace mooncake {

namespace {

// Bounds each call, all endpoints tried included: a peer lookup sits on the
// path of a first transfer, so an unreachable etcd must fail it in seconds.
constexpr auto kCallTimeout = std::chrono::seconds(3);

}  // namespace

Result<std::unique_ptr<EtcdMetadataClient>> EtcdMetadataClient::Create(const std::string& url) {
    if (!url.starts_with("etcd://")) {
        LOG(ERROR) << "etcd metadata server URL must start with etcd:// : '" << url << "'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto etcd = ha::EtcdClient::Create(url, kCallTimeout);
    if (!etcd) {
        LOG(ERROR) << "Malformed etcd metadata server URL '" << url
                   << "' (want etcd://host:port[;host:port...])";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return std::make_unique<EtcdMetadataClient>(ConstructionTag(), url, std::move(*etcd));
}

EtcdMetadataClient::EtcdMetadataClient(ConstructionTag, std::string url,
                                       std::unique_ptr<ha::EtcdClient> etcd)
    : url_(std::move(url)), etcd_(std::move(etcd)) {}

Status EtcdMetadataClient::Put(const std::string& key, const std::string& value) {
    if (auto put = etcd_->Put(key, value); !put) {
        LOG(ERROR) << "Metadata PUT " << key << " to " << url_
                   << " failed: " << ErrorCodeName(put.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

Result<std::string> EtcdMetadataClient::Get(const std::string& key) {
    auto got = etcd_->Get(key);
    if (!got) {
        LOG(WARNING) << "Metadata GET " << key << " from " << url_
                     << " failed: " << ErrorCodeName(got.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    if (!got->has_value()) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    return std::move((*got)->value);
}

Status EtcdMetadataClient::Delete(const std::string& key) {
    if (auto deleted = etcd_->Delete(key); !deleted) {
        LOG(WARNING) << "Metadata DELETE " << key << " at " << url_
                     << " failed: " << ErrorCodeName(deleted.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

}  // namespace mooncake
