#include "rpc/grpc_auth.h"

#include <string_view>

namespace mooncake::auth {

std::string AttachGrpcToken(const ClusterKey* key, grpc::ClientContext* context) {
    if (key == nullptr) return {};
    std::string token = MakeGrpcToken(*key);
    context->AddMetadata(kGrpcMetadataKey, token);
    return token;
}

bool ServerProvedKey(const ClusterKey* key, const grpc::ClientContext& context,
                     const std::string& token) {
    if (key == nullptr) return true;
    const auto& metadata = context.GetServerInitialMetadata();
    auto found = metadata.find(kGrpcReplyMetadataKey);
    return found != metadata.end() &&
           VerifyGrpcReply(*key, token,
                           std::string_view(found->second.data(), found->second.size()));
}

}  // namespace mooncake::auth
