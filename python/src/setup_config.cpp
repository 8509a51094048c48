#include "setup_config.h"

#include <glog/logging.h>

#include <set>

#include "common/env.h"
#include "common/size_parser.h"

namespace mooncake::python {
namespace {

Result<std::string> StringFromPy(py::handle value, std::string_view field) {
    if (!py::isinstance<py::str>(value)) {
        LOG(ERROR) << "setup: '" << field << "' must be a string, got "
                   << std::string(py::str(py::type::handle_of(value).attr("__name__")));
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return value.cast<std::string>();
}

}  // namespace

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

Result<ClientConfig> ConfigFromDict(const py::dict& dict) {
    static const std::set<std::string> kKnownKeys = {
        "local_hostname",    "metadata_server",    "global_segment_size",
        "local_buffer_size", "protocol",           "rdma_devices",
        "device_name",       "master_server_addr", "master_server_address"};
    ClientConfig config;
    bool have_hostname = false;
    bool have_metadata = false;
    for (auto [key_handle, value] : dict) {
        if (!py::isinstance<py::str>(key_handle)) {
            LOG(ERROR) << "setup: config keys must be strings";
            return Error(ErrorCode::INVALID_PARAMS);
        }
        const std::string key = key_handle.cast<std::string>();
        if (!kKnownKeys.contains(key)) {
            LOG(ERROR) << "setup: unknown config key '" << key << "'";
            return Error(ErrorCode::INVALID_PARAMS);
        }
        if (key == "global_segment_size" || key == "local_buffer_size") {
            auto size = SizeFromPy(value, key);
            if (!size.has_value()) return Error(size.error());
            (key == "global_segment_size" ? config.global_segment_size : config.local_buffer_size) =
                *size;
            continue;
        }
        auto text = StringFromPy(value, key);
        if (!text.has_value()) return Error(text.error());
        if (key == "local_hostname") {
            config.local_hostname = *text;
            have_hostname = true;
        } else if (key == "metadata_server") {
            config.metadata_server = *text;
            have_metadata = true;
        } else if (key == "protocol") {
            config.protocol = *text;
        } else if (key == "rdma_devices" || key == "device_name") {
            config.rdma_devices = *text;
        } else {
            config.master_server_address = *text;
        }
    }
    if (!have_hostname || !have_metadata) {
        LOG(ERROR) << "setup: the config dict needs 'local_hostname' and 'metadata_server'";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return config;
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
