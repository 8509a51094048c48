// The etcd backend of the transfer engine's metadata store: descriptors are
// etcd keys (the engine's own key names), written and read through the etcd
// v3 client the master's high availability uses (src/ha).
#pragma once

#include <memory>
#include <string>

#include "ha/etcd_client.h"
#include "transfer/metadata_client.h"

namespace mooncake {

class EtcdMetadataClient : public MetadataStore {
   public:
    // `url` like "etcd://h1:2379[;h2:2379]" (',' also separates). Connects
    // lazily: INVALID_PARAMS only for a malformed endpoint list.
    static Result<std::unique_ptr<EtcdMetadataClient>> Create(const std::string& url);

    Status Put(const std::string& key, const std::string& value) override;
    Result<std::string> Get(const std::string& key) override;
    Status Delete(const std::string& key) override;

    const std::string& url() const override { return url_; }

    // Only Create can name the tag.
    struct ConstructionTag {
       private:
        friend class EtcdMetadataClient;
        ConstructionTag() = default;
    };
    EtcdMetadataClient(ConstructionTag, std::string url, std::unique_ptr<ha::EtcdClient> etcd);

   private:
    const std::string url_;
    const std::unique_ptr<ha::EtcdClient> etcd_;
};

}  // namespace mooncake
