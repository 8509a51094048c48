// Where transfer engines publish their segment descriptors and fetch their
// peers': a key-value service named by URL. Two backends:
//   http://host:port/path  an HTTP metadata server (the one embedded in
//                          mooncake_master): GET / PUT / DELETE {url}?key=K
//   etcd://h1:port[;h2:port]  etcd v3 (etcd_metadata_client.h)
#pragma once

#include <memory>
#include <string>

#include "mooncake/result.h"

namespace mooncake {

class MetadataStore {
   public:
    virtual ~MetadataStore() = default;

    // RPC_FAIL when the service cannot be reached or answers an error.
    virtual Status Put(const std::string& key, const std::string& value) = 0;
    // SEGMENT_NOT_FOUND when the key does not exist, RPC_FAIL when
    // unreachable or other errors.
    virtual Result<std::string> Get(const std::string& key) = 0;
    // A missing key counts as deleted.
    virtual Status Delete(const std::string& key) = 0;

    // The URL it was created from (for logs).
    virtual const std::string& url() const = 0;
};

// The backend the URL's scheme names; INVALID_PARAMS for another scheme or
// a malformed URL.
Result<std::unique_ptr<MetadataStore>> CreateMetadataStore(const std::string& url);

// True for the URLs CreateMetadataStore accepts the scheme of (checked
// again, fully, when the engine starts).
bool IsMetadataServerUrl(const std::string& url);

class HttpMetadataClient : public MetadataStore {
   public:
    // `url` like "http://host:8080/metadata". INVALID_PARAMS otherwise.
    static Result<std::unique_ptr<HttpMetadataClient>> Create(const std::string& url);

    Status Put(const std::string& key, const std::string& value) override;
    // SEGMENT_NOT_FOUND on 404.
    Result<std::string> Get(const std::string& key) override;
    Status Delete(const std::string& key) override;

    const std::string& url() const override { return url_; }

    // Percent-encodes everything but RFC 3986 unreserved characters.
    static std::string EncodeQueryValue(const std::string& text);

    // Only Create can name the tag.
    struct ConstructionTag {
       private:
        friend class HttpMetadataClient;
        ConstructionTag() = default;
    };
    HttpMetadataClient(ConstructionTag, std::string url, std::string host, int port,
                       std::string path);

   private:
    std::string PathFor(const std::string& key) const;

    const std::string url_;
    const std::string host_;
    const int port_;
    const std::string path_;
};

}  // namespace mooncake
