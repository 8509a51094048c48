// The real VerbsProvider: libibverbs. With ibverbs_loader.cpp (which opens
// the library at run time), the only file of the transport that includes
// <infiniband/verbs.h>.
#pragma once

#include <memory>

#include "transfer/rdma/verbs.h"

namespace mooncake::rdma {

std::shared_ptr<VerbsProvider> CreateIbverbsProvider();

}  // namespace mooncake::rdma
