// MasterClient: the put-credit calls (master/put_credit_table.h).
#include "client/master_client.h"
#include "client/master_client_call.h"
#include "master.pb.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

Result<PutCreditGrant> MasterClient::GrantPutCredits(const UUID& client_id, uint64_t value_size,
                                                     size_t count, size_t replica_num,
                                                     const std::vector<uint64_t>& release) {
    rpc::MasterRequest request;
    auto* body = request.mutable_grant_put_credits();
    ToProto(client_id, body->mutable_client_id());
    body->set_value_size(value_size);
    body->set_count(static_cast<uint32_t>(count));
    body->set_replica_num(static_cast<uint32_t>(replica_num));
    body->mutable_release()->Add(release.begin(), release.end());
    return CallAndRead(&request, &rpc::MasterResponse::grant_put_credits,
                       [](const auto& reply) -> Result<PutCreditGrant> {
                           PutCreditGrant grant;
                           grant.usable_ms = reply.usable_ms();
                           grant.credits.reserve(reply.credits_size());
                           for (const rpc::PutCredit& credit : reply.credits()) {
                               grant.credits.push_back({credit.id(), FromProto(credit.replicas())});
                           }
                           return grant;
                       });
}

Result<std::vector<Status>> MasterClient::BatchPutCommit(const UUID& client_id,
                                                         const std::vector<std::string>& keys,
                                                         const std::vector<uint64_t>& credit_ids,
                                                         const ReplicateConfig& config) {
    rpc::MasterRequest request;
    auto* body = request.mutable_batch_put_commit();
    ToProto(client_id, body->mutable_client_id());
    FillKeys(keys, body);
    body->mutable_credits()->Add(credit_ids.begin(), credit_ids.end());
    ToProto(config, body->mutable_config());
    return CallForStatuses(&request, &rpc::MasterResponse::batch_put_commit, keys.size());
}

}  // namespace mooncake
