// bind_to_numa_node: pins the calling thread and its memory preference to a
// NUMA node through libnuma, loaded at run time so that the module does not
// require libnuma to be installed.
#pragma once

#include "mooncake/result.h"

namespace mooncake::python {

// INVALID_PARAMS for a node that does not exist; UNAVAILABLE_IN_CURRENT_MODE
// when libnuma is missing or the kernel has no NUMA support.
Status BindToNumaNode(int node);

}  // namespace mooncake::python
