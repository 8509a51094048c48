// libibverbs is loaded at run time (dlopen), not linked: a wheel built with
// the RDMA transport then runs on hosts without rdma-core, where TCP and
// shared memory work and only an RDMA setup fails. rdma-core's NIC providers
// are plugins of the host's libibverbs, so neither is bundled.
//
// ibverbs_loader.cpp defines, hidden inside our binaries, the libibverbs
// entry points ibverbs_provider.cpp calls; each forwards to the loaded
// library. They may only run after LoadIbverbs() succeeded.
#pragma once

#include <string>

#include "mooncake/result.h"

namespace mooncake::rdma {

// The soname opened; rdma-core has kept it since 2016.
inline constexpr const char* kIbverbsLibrary = "libibverbs.so.1";

// Opens libibverbs and resolves every entry point, once per process. On
// failure sets *why (what is missing and how to install it) and returns
// UNAVAILABLE_IN_CURRENT_MODE; later calls return the same result.
Status LoadIbverbs(std::string* why);

}  // namespace mooncake::rdma
