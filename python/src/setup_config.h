// Builds the ClientConfig of setup() / init_all() from what Python passed:
// positional arguments or a dict, sizes as ints or human-readable strings.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "mooncake/client.h"
#include "mooncake/result.h"

namespace mooncake::python {

namespace py = pybind11;

// A non-negative int, or a string such as "16MB", "16 MB", "4 GB",
// "1048576". INVALID_PARAMS (with a log line naming `field`) for
// percentages, negative numbers, floats, bools and anything else.
Result<uint64_t> SizeFromPy(py::handle value, std::string_view field);

// The reference's setup() options beyond the seven connection arguments
// (its HEAD keyword arguments and setup(dict) keys).
struct SetupOptions {
    bool enable_ssd_offload = false;
    std::string ssd_offload_path;
    // Accepted and not used: this master is single-tenant, so every client
    // is in the reference's "default" tenant whatever it names.
    std::string tenant_id = "default";
    bool enable_client_http_server = false;
    int64_t client_http_port = 9300;
};

// What setup(dict) carries: the client config and the options.
struct DictSetup {
    ClientConfig config;
    SetupOptions options;
};

// setup(dict): keys local_hostname and metadata_server (required),
// global_segment_size, local_buffer_size, protocol, rdma_devices (alias
// device_name), master_server_addr (alias master_server_address),
// ipc_socket_path, and the SetupOptions keys. As in the reference, values are
// taken through Python's str() (so True reads as "True") and unknown keys are
// ignored with a warning. A bad size, bool or port gives INVALID_PARAMS.
Result<DictSetup> ConfigFromDict(const py::dict& dict);

// Refuses bad options with a log line that says why: INVALID_PARAMS for a
// client_http_port outside 1..65535.
Status CheckSetupOptions(const SetupOptions& options);

// init_all(): "localhost", "P2PHANDSHAKE" and "127.0.0.1:50051" unless the
// environment names others (MOONCAKE_LOCAL_HOSTNAME,
// MOONCAKE_TE_META_DATA_SERVER, MOONCAKE_MASTER, MOONCAKE_LOCAL_BUFFER_SIZE).
Result<ClientConfig> ConfigForInitAll(const std::string& protocol, const std::string& device_name,
                                      uint64_t mount_segment_size);

}  // namespace mooncake::python
