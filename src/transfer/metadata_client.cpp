#include "transfer/metadata_client.h"

#include <glog/logging.h>
#include <httplib.h>

#include "common/net_util.h"
#include "transfer/etcd_metadata_client.h"

namespace mooncake {

namespace {

constexpr time_t kConnectTimeoutSec = 3;
constexpr time_t kIoTimeoutSec = 10;
// A descriptor is small; anything much larger is not one.
constexpr size_t kMaxBodyBytes = 16u << 20;

void ConfigureClient(httplib::Client& client) {
    client.set_connection_timeout(kConnectTimeoutSec, 0);
    client.set_read_timeout(kIoTimeoutSec, 0);
    client.set_write_timeout(kIoTimeoutSec, 0);
}

constexpr std::string_view kHttpScheme = "http://";
constexpr std::string_view kEtcdScheme = "etcd://";

}  // namespace

bool IsMetadataServerUrl(const std::string& url) {
    for (std::string_view scheme : {kHttpScheme, kEtcdScheme}) {
        if (url.starts_with(scheme) && url.size() > scheme.size()) return true;
    }
    return false;
}

Result<std::unique_ptr<MetadataStore>> CreateMetadataStore(const std::string& url) {
    if (url.starts_with(kEtcdScheme)) {
        auto etcd = EtcdMetadataClient::Create(url);
        if (!etcd) return Error(etcd.error());
        return std::unique_ptr<MetadataStore>(std::move(*etcd));
    }
    if (url.starts_with(kHttpScheme)) {
        auto http = HttpMetadataClient::Create(url);
        if (!http) return Error(http.error());
        return std::unique_ptr<MetadataStore>(std::move(*http));
    }
    LOG(ERROR) << "Metadata server '" << url
               << "' is not supported (want http://host:port/path, etcd://host:port[;host:port] "
                  "or P2PHANDSHAKE)";
    return Error(ErrorCode::INVALID_PARAMS);
}

Result<std::unique_ptr<HttpMetadataClient>> HttpMetadataClient::Create(const std::string& url) {
    constexpr std::string_view kScheme = kHttpScheme;
    if (!url.starts_with(kScheme)) {
        LOG(ERROR) << "Metadata server URL must start with http:// : '" << url << "'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    const std::string rest = url.substr(kScheme.size());
    const size_t slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    const std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
    auto host_port = ParseHostPort(authority);
    if (!host_port || path.find_first_of("?#") != std::string::npos) {
        LOG(ERROR) << "Malformed metadata server URL '" << url << "'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return std::make_unique<HttpMetadataClient>(ConstructionTag(), url, host_port->host,
                                                host_port->port.value_or(80), path);
}

HttpMetadataClient::HttpMetadataClient(ConstructionTag, std::string url, std::string host, int port,
                                       std::string path)
    : url_(std::move(url)), host_(std::move(host)), port_(port), path_(std::move(path)) {}

std::string HttpMetadataClient::EncodeQueryValue(const std::string& text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string encoded;
    encoded.reserve(text.size() * 3);
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            encoded.push_back(static_cast<char>(c));
        } else {
            encoded.push_back('%');
            encoded.push_back(kHex[c >> 4]);
            encoded.push_back(kHex[c & 15]);
        }
    }
    return encoded;
}

std::string HttpMetadataClient::PathFor(const std::string& key) const {
    return path_ + "?key=" + EncodeQueryValue(key);
}

Status HttpMetadataClient::Put(const std::string& key, const std::string& value) {
    httplib::Client client(host_, port_);
    ConfigureClient(client);
    auto response = client.Put(PathFor(key), value, "application/json");
    if (!response) {
        LOG(ERROR) << "Metadata PUT " << key << " to " << url_
                   << " failed: " << httplib::to_string(response.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    if (response->status != 200) {
        LOG(ERROR) << "Metadata PUT " << key << " to " << url_ << " answered HTTP "
                   << response->status;
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

Result<std::string> HttpMetadataClient::Get(const std::string& key) {
    httplib::Client client(host_, port_);
    ConfigureClient(client);
    std::string body;
    bool too_large = false;
    auto response = client.Get(
        PathFor(key), httplib::Headers(), [&](const httplib::Response&) { return true; },
        [&](const char* data, size_t length) {
            if (body.size() + length > kMaxBodyBytes) {
                too_large = true;
                return false;
            }
            body.append(data, length);
            return true;
        });
    if (too_large) {
        LOG(ERROR) << "Metadata GET " << key << " from " << url_ << ": body over " << kMaxBodyBytes
                   << " bytes";
        return Error(ErrorCode::RPC_FAIL);
    }
    if (!response) {
        LOG(WARNING) << "Metadata GET " << key << " from " << url_
                     << " failed: " << httplib::to_string(response.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    if (response->status == 404) return Error(ErrorCode::SEGMENT_NOT_FOUND);
    if (response->status != 200) {
        LOG(WARNING) << "Metadata GET " << key << " from " << url_ << " answered HTTP "
                     << response->status;
        return Error(ErrorCode::RPC_FAIL);
    }
    return body;
}

Status HttpMetadataClient::Delete(const std::string& key) {
    httplib::Client client(host_, port_);
    ConfigureClient(client);
    auto response = client.Delete(PathFor(key));
    if (!response) {
        LOG(WARNING) << "Metadata DELETE " << key << " at " << url_
                     << " failed: " << httplib::to_string(response.error());
        return Error(ErrorCode::RPC_FAIL);
    }
    if (response->status != 200 && response->status != 404) {
        LOG(WARNING) << "Metadata DELETE " << key << " at " << url_ << " answered HTTP "
                     << response->status;
        return Error(ErrorCode::RPC_FAIL);
    }
    return OkStatus();
}

}  // namespace mooncake
