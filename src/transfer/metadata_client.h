// Client of an HTTP metadata server (the one embedded in mooncake_master):
//   GET / PUT / DELETE {url}?key=K
// Used to publish this engine's segment descriptor and to fetch peers'.
#pragma once

#include <memory>
#include <string>

#include "mooncake/result.h"

namespace mooncake {

class HttpMetadataClient {
   public:
    // `url` like "http://host:8080/metadata". INVALID_PARAMS otherwise.
    static Result<std::unique_ptr<HttpMetadataClient>> Create(const std::string& url);

    // RPC_FAIL when the server cannot be reached or answers an error.
    Status Put(const std::string& key, const std::string& value);
    // SEGMENT_NOT_FOUND on 404, RPC_FAIL when unreachable or other errors.
    Result<std::string> Get(const std::string& key);
    // A missing key counts as deleted.
    Status Delete(const std::string& key);

    const std::string& url() const { return url_; }

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
