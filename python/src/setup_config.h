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

// setup(dict): keys local_hostname and metadata_server (required),
// global_segment_size, local_buffer_size, protocol, rdma_devices (alias
// device_name), master_server_addr (alias master_server_address). Unknown
// keys and values of the wrong type give INVALID_PARAMS.
Result<ClientConfig> ConfigFromDict(const py::dict& dict);

// init_all(): "localhost", "P2PHANDSHAKE" and "127.0.0.1:50051" unless the
// environment names others (MOONCAKE_LOCAL_HOSTNAME,
// MOONCAKE_TE_META_DATA_SERVER, MOONCAKE_MASTER, MOONCAKE_LOCAL_BUFFER_SIZE).
Result<ClientConfig> ConfigForInitAll(const std::string& protocol, const std::string& device_name,
                                      uint64_t mount_segment_size);

}  // namespace mooncake::python
