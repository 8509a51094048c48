// Where optional transports (RDMA) are found by name. Built-in factories are
// listed in transport_registry.cpp (the RDMA one when the build has it);
// others, e.g. test transports, can be added at run time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mooncake/result.h"
#include "transfer/transport.h"

namespace mooncake {

struct TransportOptions {
    // This engine's segment name ("host:port") and the address its TCP
    // server listens on.
    std::string segment_name;
    std::string bind_address;
    // TransferEngineConfig::rdma_devices: comma-separated NIC names; empty
    // with MC_MS_AUTO_DISC=1 means discover (filtered by MC_MS_FILTERS).
    std::string rdma_devices;
};

// Returns the transport, or UNAVAILABLE_IN_CURRENT_MODE (with a log line
// saying why) when it cannot work here, e.g. no RDMA device.
using TransportFactory =
    std::function<Result<std::unique_ptr<Transport>>(const TransportOptions& options)>;

// Adds or replaces the factory for `name`.
void RegisterTransportFactory(const std::string& name, TransportFactory factory);

// UNAVAILABLE_IN_CURRENT_MODE when no factory has that name (e.g. "rdma" in
// a build without libibverbs), otherwise what the factory returns.
Result<std::unique_ptr<Transport>> CreateTransport(std::string_view name,
                                                   const TransportOptions& options);

#if MOONCAKE_TRANSFER_HAVE_RDMA
// Defined in src/transfer/rdma/; registered under "rdma".
Result<std::unique_ptr<Transport>> CreateRdmaTransport(const TransportOptions& options);
#endif

}  // namespace mooncake
