#include "master/http_metadata_server.h"

#include <glog/logging.h>
#include <httplib.h>

#include <mutex>

namespace mooncake {

namespace {

constexpr char kDefaultContentType[] = "application/json";

size_t EntryBytes(const std::string& key, const MetadataStore::Entry& entry) {
    return key.size() + entry.value.size() + entry.content_type.size();
}

// The `key` query parameter; nullopt when missing or empty.
std::optional<std::string> KeyOf(const httplib::Request& request) {
    if (!request.has_param("key")) return std::nullopt;
    std::string key = request.get_param_value("key");
    if (key.empty()) return std::nullopt;
    return key;
}

void Reply(httplib::Response& response, int status, const std::string& body) {
    response.status = status;
    response.set_content(body, "text/plain");
}

}  // namespace

std::optional<MetadataStore::Entry> MetadataStore::Get(const std::string& key) const {
    std::shared_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

bool MetadataStore::Put(const std::string& key, Entry entry) {
    const size_t added = EntryBytes(key, entry);
    std::unique_lock lock(mutex_);
    auto it = entries_.find(key);
    const size_t replaced = it == entries_.end() ? 0 : EntryBytes(key, it->second);
    if (total_bytes_ - replaced + added > max_total_bytes_) return false;
    total_bytes_ = total_bytes_ - replaced + added;
    if (it == entries_.end()) {
        entries_.emplace(key, std::move(entry));
    } else {
        it->second = std::move(entry);
    }
    return true;
}

bool MetadataStore::Remove(const std::string& key) {
    std::unique_lock lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return false;
    total_bytes_ -= EntryBytes(key, it->second);
    entries_.erase(it);
    return true;
}

size_t MetadataStore::size() const {
    std::shared_lock lock(mutex_);
    return entries_.size();
}

size_t MetadataStore::total_bytes() const {
    std::shared_lock lock(mutex_);
    return total_bytes_;
}

HttpMetadataServer::HttpMetadataServer(Options options)
    : options_(std::move(options)), store_(options_.max_total_bytes) {
    httplib::Server& server = listener_.server();
    // Bodies above the bound are refused by httplib with 413 before they are
    // buffered in full.
    server.set_payload_max_length(options_.max_value_bytes);

    server.Get("/metadata", [this](const httplib::Request& request, httplib::Response& response) {
        auto key = KeyOf(request);
        if (!key) return Reply(response, 400, "missing query parameter: key\n");
        auto entry = store_.Get(*key);
        if (!entry) return Reply(response, 404, "metadata not found\n");
        response.status = 200;
        response.set_content(std::move(entry->value), entry->content_type);
    });

    server.Put("/metadata", [this](const httplib::Request& request, httplib::Response& response) {
        auto key = KeyOf(request);
        if (!key) return Reply(response, 400, "missing query parameter: key\n");
        std::string content_type = request.get_header_value("Content-Type");
        if (content_type.empty()) content_type = kDefaultContentType;
        if (!store_.Put(*key, MetadataStore::Entry{request.body, std::move(content_type)})) {
            LOG_EVERY_T(WARNING, 1.0) << "HTTP metadata: refusing key '" << *key << "': the "
                                      << "store is full (" << options_.max_total_bytes << " bytes)";
            return Reply(response, 507, "metadata store full\n");
        }
        Reply(response, 200, "metadata updated\n");
    });

    server.Delete("/metadata",
                  [this](const httplib::Request& request, httplib::Response& response) {
                      auto key = KeyOf(request);
                      if (!key) return Reply(response, 400, "missing query parameter: key\n");
                      if (!store_.Remove(*key)) return Reply(response, 404, "metadata not found\n");
                      Reply(response, 200, "metadata deleted\n");
                  });

    server.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
        if (!ready_.load(std::memory_order_acquire)) return Reply(response, 503, "starting\n");
        Reply(response, 200, "OK");
    });
}

std::expected<void, std::string> HttpMetadataServer::Start() {
    return listener_.Start(options_.host, options_.port, "HTTP metadata port");
}

}  // namespace mooncake
