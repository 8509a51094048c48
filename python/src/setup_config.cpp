#include "setup_config.h"

#include <glog/logging.h>

#include <cctype>
#include <charconv>
#include <set>
#include <stdexcept>

#include "common/env.h"
#include "common/size_parser.h"

namespace mooncake::python {

Result<uint64_t> SizeFromPy(py::handle value, std::string_view field) {
    // bool is an int subclass in Python, but True is not a size.
    if (py::isinstance<py::bool_>(value)) {
        LOG(ERROR) << "setup: '" << field << "' must be a size, got a bool";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (py::isinstance<py::int_>(value)) {
        // Python ints are unbounded: go through a signed 128-bit-safe check.
        py::int_ number = py::reinterpret_borrow<py::int_>(value);
        if (number < py::int_(0)) {
            LOG(ERROR) << "setup: '" << field << "' must not be negative";
            return Error(ErrorCode::INVALID_PARAMS);
        }
        try {
            return number.cast<uint64_t>();
        } catch (const py::cast_error&) {
            LOG(ERROR) << "setup: '" << field << "' does not fit in 64 bits";
            return Error(ErrorCode::INVALID_PARAMS);
        }
    }
    if (py::isinstance<py::str>(value)) {
        const std::string text = value.cast<std::string>();
        auto parsed = ParseSize(text);
        if (!parsed.has_value()) {
            LOG(ERROR) << "setup: '" << field << "' = '" << text
                       << "' is not a size (use bytes or units such as \"16MB\", \"4 GB\"; "
                          "percentages are not accepted)";
        }
        return parsed;
    }
    LOG(ERROR) << "setup: '" << field << "' must be an int or a size string, got "
               << std::string(py::str(py::type::handle_of(value).attr("__name__")));
    return Error(ErrorCode::INVALID_PARAMS);
}

namespace {

// The reference reads every dict value through Python's str().
std::string PyStr(py::handle value) { return std::string(py::str(value)); }

std::string Trimmed(std::string text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

// 1/0, true/false, yes/no, on/off, enable/disable (any case); anything else
// logs a warning and reads as false, as the reference does.
bool BoolFromText(const std::string& key, const std::string& raw) {
    std::string text = Trimmed(raw);
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const std::set<std::string> kTrue = {"1", "true", "yes", "on", "enable"};
    static const std::set<std::string> kFalse = {"0", "false", "no", "off", "disable", ""};
    if (kTrue.contains(text)) return true;
    if (!kFalse.contains(text)) {
        LOG(WARNING) << "setup: '" << key << "' = '" << raw << "' is not a boolean; using false";
    }
    return false;
}

Result<int64_t> PortFromText(const std::string& raw) {
    const std::string text = Trimmed(raw);
    int64_t port = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        LOG(ERROR) << "setup: 'client_http_port' = '" << raw << "' is not an integer";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return port;
}

// Applies one option key; false when `key` is not an option.
Result<bool> ApplyOptionKey(const std::string& key, py::handle value, SetupOptions& options) {
    if (key == "enable_ssd_offload") {
        options.enable_ssd_offload = BoolFromText(key, PyStr(value));
    } else if (key == "ssd_offload_path") {
        options.ssd_offload_path = value.is_none() ? "" : PyStr(value);
    } else if (key == "tenant_id") {
        options.tenant_id = value.is_none() ? "default" : PyStr(value);
    } else if (key == "enable_client_http_server") {
        options.enable_client_http_server = BoolFromText(key, PyStr(value));
    } else if (key == "client_http_port") {
        auto port = PortFromText(PyStr(value));
        if (!port.has_value()) return Error(port.error());
        options.client_http_port = *port;
    } else {
        return false;
    }
    return true;
}

constexpr uint64_t kDictDefaultLocalBufferSize = 16ull << 20;
constexpr uint64_t kMaxDictLocalBufferSize = 1ull << 40;

// Applies one connection key; false when `key` is not one.
Result<bool> ApplyConfigKey(const std::string& key, py::handle value, ClientConfig& config) {
    if (key == "global_segment_size" || key == "local_buffer_size") {
        auto size = SizeFromPy(value, key);
        if (!size.has_value()) return Error(size.error());
        // The reference's rule for setup(dict): 0 (none) or at least 1 KiB,
        // and a local buffer of at most 1 TiB.
        if (*size != 0 && *size < 1024) {
            LOG(ERROR) << "setup: " << key << " must be 0 or at least 1024 bytes, got " << *size;
            return Error(ErrorCode::INVALID_PARAMS);
        }
        if (key == "local_buffer_size" && *size > kMaxDictLocalBufferSize) {
            LOG(ERROR) << "setup: local_buffer_size must be at most 1 TiB, got " << *size;
            return Error(ErrorCode::INVALID_PARAMS);
        }
        (key == "global_segment_size" ? config.global_segment_size : config.local_buffer_size) =
            *size;
        return true;
    }
    const std::string text = PyStr(value);
    if (key == "local_hostname") {
        config.local_hostname = text;
    } else if (key == "metadata_server") {
        config.metadata_server = text;
    } else if (key == "protocol") {
        config.protocol = text;
    } else if (key == "rdma_devices" || key == "device_name") {
        config.rdma_devices = text;
    } else if (key == "master_server_addr" || key == "master_server_address") {
        config.master_server_address = text;
    } else {
        return false;
    }
    return true;
}

}  // namespace

Result<DictSetup> ConfigFromDict(const py::dict& dict) {
    DictSetup setup;
    // The dict's own default (the positional form keeps 1 GiB).
    setup.config.local_buffer_size = kDictDefaultLocalBufferSize;
    for (auto [key_handle, value] : dict) {
        const std::string key = PyStr(key_handle);
        auto applied = ApplyConfigKey(key, value, setup.config);
        if (!applied.has_value()) return Error(applied.error());
        if (*applied) continue;
        applied = ApplyOptionKey(key, value, setup.options);
        if (!applied.has_value()) return Error(applied.error());
        if (!*applied && key != "ipc_socket_path") {
            LOG(WARNING) << "setup: ignoring unknown config key '" << key << "'";
        }
    }
    if (setup.config.local_hostname.empty() || setup.config.metadata_server.empty()) {
        LOG(ERROR) << "setup: the config dict needs non-empty 'local_hostname' and "
                      "'metadata_server'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return setup;
}

Status CheckSetupOptions(const SetupOptions& options) {
    if (options.client_http_port < 1 || options.client_http_port > 65535) {
        LOG(ERROR) << "setup: client_http_port " << options.client_http_port
                   << " is outside 1..65535";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (options.tenant_id != "default") {
        LOG(INFO) << "setup: tenant_id '" << options.tenant_id
                  << "' maps to the default tenant (this master is single-tenant)";
    }
    return {};
}

Result<ClientConfig> ConfigForInitAll(const std::string& protocol, const std::string& device_name,
                                      uint64_t mount_segment_size) {
    ClientConfig config;
    config.local_hostname = GetEnvString("MOONCAKE_LOCAL_HOSTNAME", "localhost");
    config.metadata_server = GetEnvString("MOONCAKE_TE_META_DATA_SERVER", "P2PHANDSHAKE");
    config.master_server_address = GetEnvString("MOONCAKE_MASTER", "127.0.0.1:50051");
    config.protocol = protocol;
    config.rdma_devices = device_name;
    config.global_segment_size = mount_segment_size;
    if (auto buffer = GetEnv("MOONCAKE_LOCAL_BUFFER_SIZE"); buffer.has_value()) {
        auto size = ParseSize(*buffer);
        if (!size.has_value()) {
            LOG(ERROR) << "init_all: MOONCAKE_LOCAL_BUFFER_SIZE='" << *buffer << "' is not a size";
            return Error(size.error());
        }
        config.local_buffer_size = *size;
    }
    return config;
}

}  // namespace mooncake::python
