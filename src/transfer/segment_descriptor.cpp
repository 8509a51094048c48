#include "transfer/segment_descriptor.h"

#include <glog/logging.h>

#include <algorithm>
#include <charconv>

namespace mooncake {

namespace {

using nlohmann::json;

constexpr size_t kMaxNameBytes = 1024;

bool ParseHex(std::string_view text, uint64_t* value) {
    if (text.empty() || text.size() > 16) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value, 16);
    return ec == std::errc() && end == text.data() + text.size();
}

// Each getter returns false when the field is absent or has the wrong type.
bool GetString(const json& object, const char* key, std::string* out) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return false;
    const auto& text = it->get_ref<const std::string&>();
    if (text.size() > kMaxNameBytes) return false;
    *out = text;
    return true;
}

bool GetUnsigned(const json& object, const char* key, uint64_t* out) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number_unsigned()) return false;
    *out = it->get<uint64_t>();
    return true;
}

bool GetInt32(const json& object, const char* key, int32_t* out) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer()) return false;
    const int64_t value = it->get<int64_t>();
    if (value < INT32_MIN || value > INT32_MAX) return false;
    *out = static_cast<int32_t>(value);
    return true;
}

json ShmToJson(const ShmFileInfo& shm) {
    return json{{"fd", shm.fd}, {"inode", shm.inode}, {"size", shm.size}};
}

bool ShmFromJson(const json& value, ShmFileInfo* shm) {
    if (!value.is_object()) return false;
    return GetInt32(value, "fd", &shm->fd) && shm->fd >= 0 &&
           GetUnsigned(value, "inode", &shm->inode) && GetUnsigned(value, "size", &shm->size);
}

// Optional object-valued member; absent means an empty object.
bool GetObject(const json& object, const char* key, json* out) {
    auto it = object.find(key);
    if (it == object.end()) {
        *out = json::object();
        return true;
    }
    if (!it->is_object()) return false;
    *out = *it;
    return true;
}

}  // namespace

Result<UUID> ParseUuid(std::string_view text) {
    // 8-4-4-4-12 hex digits.
    if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
        text[23] != '-') {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    uint64_t a, b, c, d, e;
    if (!ParseHex(text.substr(0, 8), &a) || !ParseHex(text.substr(9, 4), &b) ||
        !ParseHex(text.substr(14, 4), &c) || !ParseHex(text.substr(19, 4), &d) ||
        !ParseHex(text.substr(24, 12), &e)) {
        return Error(ErrorCode::INVALID_PARAMS);
    }
    UUID id;
    id.hi = (a << 32) | (b << 16) | c;
    id.lo = (d << 48) | e;
    return id;
}

const SegmentRange* SegmentDescriptor::FindRange(uint64_t address, uint64_t length) const {
    // The last range starting at or before `address`.
    auto it = std::upper_bound(
        ranges.begin(), ranges.end(), address,
        [](uint64_t value, const SegmentRange& range) { return value < range.address; });
    if (it == ranges.begin()) return nullptr;
    --it;
    return it->Contains(address, length) ? &*it : nullptr;
}

json SegmentDescriptor::ToJson() const {
    json out;
    out["name"] = name;
    out["instance_id"] = instance_id.ToString();
    out["host_id"] = host_id;
    out["pid"] = pid;
    out["tcp_endpoint"] = tcp_endpoint;
    out["version"] = version;
    out["removal_epoch"] = removal_epoch;
    if (status_page) out["status_page"] = ShmToJson(*status_page);
    json range_list = json::array();
    for (const SegmentRange& range : ranges) {
        json entry{{"address", range.address}, {"length", range.length}};
        if (range.shm) entry["shm"] = ShmToJson(*range.shm);
        if (!range.transports.empty()) entry["transports"] = range.transports;
        range_list.push_back(std::move(entry));
    }
    out["ranges"] = std::move(range_list);
    out["transports"] = transports;
    return out;
}

std::string SegmentDescriptor::Serialize() const {
    // Names come from user configuration; never throw on odd bytes.
    return ToJson().dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<SegmentDescriptor> SegmentDescriptor::FromJson(const json& input) {
    if (!input.is_object()) return Error(ErrorCode::INVALID_PARAMS);
    SegmentDescriptor desc;
    std::string instance_text;
    if (!GetString(input, "name", &desc.name) || desc.name.empty() ||
        !GetString(input, "instance_id", &instance_text) ||
        !GetString(input, "host_id", &desc.host_id) || !GetInt32(input, "pid", &desc.pid) ||
        !GetString(input, "tcp_endpoint", &desc.tcp_endpoint) ||
        !GetUnsigned(input, "version", &desc.version) ||
        !GetUnsigned(input, "removal_epoch", &desc.removal_epoch) ||
        !GetObject(input, "transports", &desc.transports)) {
        LOG(WARNING) << "Segment descriptor rejected: missing or mistyped field";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    auto instance = ParseUuid(instance_text);
    if (!instance) {
        LOG(WARNING) << "Segment descriptor rejected: bad instance_id '" << instance_text << "'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    desc.instance_id = *instance;
    if (auto it = input.find("status_page"); it != input.end()) {
        ShmFileInfo page;
        if (!ShmFromJson(*it, &page)) return Error(ErrorCode::INVALID_PARAMS);
        desc.status_page = page;
    }
    auto ranges_it = input.find("ranges");
    if (ranges_it == input.end() || !ranges_it->is_array() ||
        ranges_it->size() > kMaxDescriptorRanges) {
        LOG(WARNING) << "Segment descriptor rejected: bad range list";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    desc.ranges.reserve(ranges_it->size());
    for (const json& entry : *ranges_it) {
        if (!entry.is_object()) return Error(ErrorCode::INVALID_PARAMS);
        SegmentRange range;
        if (!GetUnsigned(entry, "address", &range.address) ||
            !GetUnsigned(entry, "length", &range.length) || range.length == 0 ||
            range.address + range.length < range.address ||
            !GetObject(entry, "transports", &range.transports)) {
            LOG(WARNING) << "Segment descriptor rejected: bad range";
            return Error(ErrorCode::INVALID_PARAMS);
        }
        if (auto it = entry.find("shm"); it != entry.end()) {
            ShmFileInfo shm;
            if (!ShmFromJson(*it, &shm) || shm.size < range.length) {
                return Error(ErrorCode::INVALID_PARAMS);
            }
            range.shm = shm;
        }
        desc.ranges.push_back(std::move(range));
    }
    std::sort(desc.ranges.begin(), desc.ranges.end(),
              [](const SegmentRange& a, const SegmentRange& b) { return a.address < b.address; });
    for (size_t i = 1; i < desc.ranges.size(); ++i) {
        const SegmentRange& prev = desc.ranges[i - 1];
        if (prev.address + prev.length > desc.ranges[i].address) {
            LOG(WARNING) << "Segment descriptor rejected: overlapping ranges";
            return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    return desc;
}

Result<SegmentDescriptor> SegmentDescriptor::Parse(std::string_view text) {
    if (text.size() > kMaxDescriptorBytes) return Error(ErrorCode::INVALID_PARAMS);
    json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
        LOG(WARNING) << "Segment descriptor rejected: not valid JSON";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return FromJson(parsed);
}

}  // namespace mooncake
