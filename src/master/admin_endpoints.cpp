#include "master/admin_endpoints.h"

#include <httplib.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "master/master_service.h"
#include "master/metrics_server.h"
#include "mooncake/error_code.h"

namespace mooncake {
namespace {

using Json = nlohmann::ordered_json;

// The reference labels its plain-text admin answers like its metrics.
constexpr char kTextType[] = "text/plain; version=0.0.4";
constexpr char kJsonType[] = "application/json; charset=utf-8";

// Keys may hold any bytes; JSON output must stay valid UTF-8.
constexpr auto kJsonErrors = Json::error_handler_t::replace;

std::string ErrorName(ErrorCode code) { return std::string(ErrorCodeName(code)); }

// A memory replica in the reference's field order.
Json DescriptorJson(const MemoryDescriptor& memory) {
    Json json;
    json["size_"] = memory.size;
    json["buffer_address_"] = memory.buffer_address;
    json["protocol_"] = "tcp";
    json["transport_endpoint_"] = memory.transport_endpoint;
    return json;
}

Json MemoryDescriptorsJson(const std::vector<ReplicaDescriptor>& replicas) {
    Json values = Json::array();
    for (const ReplicaDescriptor& replica : replicas) {
        if (replica.is_memory_replica()) values.push_back(DescriptorJson(replica.memory()));
    }
    return values;
}

std::vector<std::string> SplitOnComma(const std::string& text) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        parts.push_back(text.substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return parts;
}

std::string UuidText(const UUID& id) { return std::to_string(id.hi) + "-" + std::to_string(id.lo); }

std::string HexAddress(uint64_t address) {
    char text[24];
    std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(address));
    return text;
}

std::string GibText(uint64_t bytes) {
    char text[48];
    std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1ull << 30));
    return text;
}

Json SegmentDetailJson(const SegmentDetail& segment) {
    Json json;
    json["segment_name"] = segment.name;
    json["segment_id"] = UuidText(segment.id);
    json["client_id"] = UuidText(segment.client);
    json["base_address"] = HexAddress(segment.base);
    json["size_bytes"] = segment.size;
    json["size_human"] = GibText(segment.size);
    json["te_endpoint"] = segment.name;
    json["protocol"] = "tcp";
    json["status"] = segment.draining ? "GRACEFULLY_UNMOUNTING" : "OK";
    json["allocator_used_bytes"] = segment.used;
    json["allocator_capacity_bytes"] = segment.capacity;
    json["allocator_usage_percent"] =
        segment.capacity == 0 ? 0.0 : 100.0 * static_cast<double>(segment.used) / segment.capacity;
    return json;
}

void QueryKey(MasterService& service, const httplib::Request& request,
              httplib::Response& response) {
    auto found = service.GetReplicaList(request.get_param_value("key"));
    if (!found.has_value()) {
        response.status = 404;
        response.set_content(ErrorName(found.error()), kTextType);
        return;
    }
    std::string body;
    for (const ReplicaDescriptor& replica : found->replicas) {
        if (!replica.is_memory_replica()) continue;
        body += DescriptorJson(replica.memory()).dump(-1, ' ', false, kJsonErrors) + "\n";
    }
    response.set_content(body, kTextType);
}

// The answer is assembled by hand: the reference repeats duplicate keys in
// request order, which a JSON object type would collapse.
void BatchQueryKeys(MasterService& service, const httplib::Request& request,
                    httplib::Response& response) {
    const std::string keys_param = request.get_param_value("keys");
    if (keys_param.empty()) {
        response.status = 400;
        response.set_content(
            R"({"success":false,"error":"No keys provided. Use ?keys=key1,key2,..."})", kJsonType);
        return;
    }
    std::string data;
    for (const std::string& key : SplitOnComma(keys_param)) {
        Json entry;
        auto found = service.GetReplicaList(key);
        if (found.has_value()) {
            entry["ok"] = true;
            entry["values"] = MemoryDescriptorsJson(found->replicas);
        } else {
            entry["ok"] = false;
            entry["error"] = ErrorName(found.error());
        }
        if (!data.empty()) data += ",";
        data += Json(key).dump(-1, ' ', false, kJsonErrors) + ":" +
                entry.dump(-1, ' ', false, kJsonErrors);
    }
    response.set_content(R"({"success":true,"data":{)" + data + "}}", kJsonType);
}

void QuerySegment(MasterService& service, const httplib::Request& request,
                  httplib::Response& response) {
    const std::string name = request.get_param_value("segment");
    auto usage = service.QuerySegment(name);
    if (!usage.has_value()) {
        response.status = 500;
        response.set_content("Failed to query segment", kTextType);
        return;
    }
    response.set_content(name + "\nUsed(bytes): " + std::to_string(usage->used) +
                             "\nCapacity(bytes) : " + std::to_string(usage->capacity) + "\n",
                         kTextType);
}

std::string Lines(const std::vector<std::string>& items) {
    std::string body;
    for (const std::string& item : items) body += item + "\n";
    return body;
}

// The handlers above speak httplib's request/response types; this adapter
// runs them on the master's own HTTP listener.
using LegacyHandler = std::function<void(const httplib::Request&, httplib::Response&)>;

// kRaw: the handler sees the query's values as sent, not percent-decoded.
enum class QueryValues { kDecoded, kRaw };

HttpHandler Adapt(LegacyHandler handler, QueryValues values = QueryValues::kDecoded) {
    return [handler = std::move(handler), values](const HttpRequest& request) {
        httplib::Request legacy;
        legacy.method = request.method;
        legacy.path = request.path;
        for (const auto& [name, value] : request.params) {
            const std::optional<std::string> raw =
                values == QueryValues::kRaw ? request.RawParam(name) : std::nullopt;
            legacy.params.emplace(name, raw.value_or(value));
        }
        httplib::Response response;
        handler(legacy, response);
        const std::string type = response.get_header_value("Content-Type");
        return HttpResponse{response.status == -1 ? 200 : response.status,
                            type.empty() ? std::string(kTextType) : type, response.body};
    };
}

}  // namespace

void RegisterAdminEndpoints(MetricsServer& server, MasterService& service) {
    // Keys are taken raw, as the reference does: "a%2Cb" is that key, and a
    // comma always separates keys (interfaces.md §6.1).
    server.Handle(
        "GET", "/query_key",
        Adapt([&service](const httplib::Request& request,
                         httplib::Response& response) { QueryKey(service, request, response); },
              QueryValues::kRaw));
    server.Handle("GET", "/batch_query_keys",
                  Adapt(
                      [&service](const httplib::Request& request, httplib::Response& response) {
                          BatchQueryKeys(service, request, response);
                      },
                      QueryValues::kRaw));
    server.Handle("GET", "/get_all_keys",
                  Adapt([&service](const httplib::Request&, httplib::Response& response) {
                      response.set_content(Lines(service.GetAllKeys()), kTextType);
                  }));
    server.Handle("GET", "/get_all_segments",
                  Adapt([&service](const httplib::Request&, httplib::Response& response) {
                      response.set_content(Lines(service.GetAllSegments()), kTextType);
                  }));
    server.Handle("GET", "/query_segment",
                  Adapt([&service](const httplib::Request& request, httplib::Response& response) {
                      QuerySegment(service, request, response);
                  }));
    server.Handle("GET", "/get_segments_detail",
                  Adapt([&service](const httplib::Request&, httplib::Response& response) {
                      Json segments = Json::array();
                      for (const SegmentDetail& segment : service.GetSegmentsDetail()) {
                          segments.push_back(SegmentDetailJson(segment));
                      }
                      Json body;
                      body["total_segments"] = segments.size();
                      body["segments"] = std::move(segments);
                      response.set_content(body.dump(-1, ' ', false, kJsonErrors), kJsonType);
                  }));
}

}  // namespace mooncake
