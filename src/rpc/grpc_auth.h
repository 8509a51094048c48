// The calling side of the gRPC cluster authentication (common/cluster_auth.h,
// docs/authentication.md): a token per call, and the server's proof in its
// reply. Used by the master client and by an HA standby fetching from the
// leader.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "common/cluster_auth.h"

namespace mooncake::auth {

// Attaches a fresh token to `context` and returns it; "" and nothing
// attached when `key` is null (authentication off).
std::string AttachGrpcToken(const ClusterKey* key, grpc::ClientContext* context);

// True when `key` is null, or the server's initial metadata proves `key`
// for `token` (so a stranger on the server's address cannot answer).
bool ServerProvedKey(const ClusterKey* key, const grpc::ClientContext& context,
                     const std::string& token);

}  // namespace mooncake::auth
