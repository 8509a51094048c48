#include "master/http_metadata_server.h"

#include <glog/logging.h>
#include <malloc.h>

#include <mutex>

namespace mooncake {

namespace {

constexpr char kDefaultContentType[] = "application/json";

// Heap bytes a std::string of `size` chars holds beyond its own object once
// shrunk to fit: nothing while it fits the small-string buffer, else its
// chars, the terminator and the allocator's header, in 16-byte granules.
size_t StringHeapBytes(size_t size) {
    constexpr size_t kInlineCapacity = 15;
    if (size <= kInlineCapacity) return 0;
    return (size + 1 + 8 + 15) / 16 * 16;
}

// The `key` query parameter; nullopt when missing or empty.
std::optional<std::string> KeyOf(const HttpRequest& request) {
    auto key = request.Param("key");
    if (!key || key->empty()) return std::nullopt;
    return key;
}

HttpResponse Text(int status, std::string body) { return {status, "text/plain", std::move(body)}; }

}  // namespace

// What an entry really costs: its strings' heap blocks, the hash node
// (pair + next pointer + cached hash, plus the allocator's header) and its
// share of the bucket array. 100 k small keys cost about 190 bytes each, not
// the ~40 their text is (issue 16, item 11).
size_t MetadataStore::EntryBytes(const std::string& key, const Entry& entry) {
    constexpr size_t kNodeBytes =
        (sizeof(std::pair<const std::string, Entry>) + 2 * sizeof(void*) + 8 + 15) / 16 * 16;
    constexpr size_t kBucketBytes = 2 * sizeof(void*);  // load factor <= 1, doubled on growth
    return kNodeBytes + kBucketBytes + StringHeapBytes(key.size()) +
           StringHeapBytes(entry.value.size()) + StringHeapBytes(entry.content_type.size());
}

std::optional<MetadataStore::Entry> MetadataStore::Get(const std::string& key) const {
    ReaderLock lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

bool MetadataStore::Put(const std::string& key, Entry entry) {
    // The body was grown while it arrived; keep only what it needs.
    entry.value.shrink_to_fit();
    entry.content_type.shrink_to_fit();
    const size_t added = EntryBytes(key, entry);
    WriterLock lock(mutex_);
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
    size_t freed = 0;
    {
        WriterLock lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return false;
        freed = EntryBytes(key, it->second);
        total_bytes_ -= freed;
        entries_.erase(it);
    }
    MaybeTrim(freed);
    return true;
}

void MetadataStore::MaybeTrim(size_t freed) {
    // glibc keeps freed memory in its arenas (and raises its mmap threshold
    // after large frees), so a store filled and emptied would keep its peak
    // for ever (issue 16, item 5). Hand it back each time 16 MiB more were
    // freed; one trim at a time (a trim walks the heap, in milliseconds).
    constexpr size_t kTrimBytes = 16 << 20;
    if (freed_since_trim_.fetch_add(freed) + freed < kTrimBytes) return;
    if (trimming_.exchange(true)) return;
    freed_since_trim_.store(0);
    ::malloc_trim(0);
    trimming_.store(false);
}

size_t MetadataStore::size() const {
    ReaderLock lock(mutex_);
    return entries_.size();
}

size_t MetadataStore::total_bytes() const {
    ReaderLock lock(mutex_);
    return total_bytes_;
}

HttpMetadataServer::HttpMetadataServer(Options options)
    : options_(std::move(options)), store_(options_.max_total_bytes), listener_(options_.limits) {
    // Bodies above the bound are refused with 413, whatever their content
    // type or transfer encoding, before they are buffered in full.
    HttpLimits limits = options_.limits;
    limits.max_body_bytes = options_.max_value_bytes;
    listener_.set_limits(limits);

    listener_.Handle("GET", "/metadata", [this](const HttpRequest& request) {
        auto key = KeyOf(request);
        if (!key) return Text(400, "missing query parameter: key\n");
        auto entry = store_.Get(*key);
        if (!entry) return Text(404, "metadata not found\n");
        return HttpResponse{200, std::move(entry->content_type), std::move(entry->value)};
    });

    listener_.Handle("PUT", "/metadata", [this](const HttpRequest& request) {
        auto key = KeyOf(request);
        if (!key) return Text(400, "missing query parameter: key\n");
        std::string content_type = request.Header("content-type");
        if (content_type.empty()) content_type = kDefaultContentType;
        if (!store_.Put(*key, MetadataStore::Entry{request.body, std::move(content_type)})) {
            LOG_EVERY_T(WARNING, 1.0) << "HTTP metadata: refusing key '" << *key << "': the "
                                      << "store is full (" << options_.max_total_bytes << " bytes)";
            return Text(507, "metadata store full\n");
        }
        return Text(200, "metadata updated\n");
    });

    listener_.Handle("DELETE", "/metadata", [this](const HttpRequest& request) {
        auto key = KeyOf(request);
        if (!key) return Text(400, "missing query parameter: key\n");
        if (!store_.Remove(*key)) return Text(404, "metadata not found\n");
        return Text(200, "metadata deleted\n");
    });

    listener_.Handle("GET", "/health", [this](const HttpRequest&) {
        if (!ready_.load(std::memory_order_acquire)) return Text(503, "starting\n");
        return Text(200, "OK");
    });
}

std::expected<void, std::string> HttpMetadataServer::Start() {
    return listener_.Start(options_.host, options_.port, "HTTP metadata port");
}

}  // namespace mooncake
