// How the MasterClient calls (master_client*.cpp) send a request and read
// its reply. Every reply carries its own error code (or one per key) besides
// the transport's status; these helpers check both in one place, so that a
// call only fills in the request and converts what came back.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "client/master_client.h"
#include "master.pb.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

// The keys of a batch request (any request body with `repeated string keys`).
template <typename Body>
void FillKeys(const std::vector<std::string>& keys, Body* body) {
    body->mutable_keys()->Reserve(static_cast<int>(keys.size()));
    for (const std::string& key : keys) body->add_keys(key);
}

template <typename Reply>
Status MasterClient::CallForStatus(rpc::MasterRequest* request, ReplyOf<Reply> reply) {
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(request, &response));
    return StatusFromWire((response.*reply)().error_code());
}

template <typename Reply, typename Read>
std::invoke_result_t<Read, const Reply&> MasterClient::CallAndRead(rpc::MasterRequest* request,
                                                                   ReplyOf<Reply> reply,
                                                                   Read read) {
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(request, &response));
    const Reply& body = (response.*reply)();
    MC_RETURN_IF_ERROR(StatusFromWire(body.error_code()));
    return read(body);
}

template <typename Reply>
Result<std::vector<Status>> MasterClient::CallForStatuses(rpc::MasterRequest* request,
                                                          ReplyOf<Reply> reply, size_t count) {
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(request, &response));
    const auto& codes = (response.*reply)().error_codes();
    // A master that answers for other keys than were asked is not to be
    // believed about any of them.
    if (static_cast<size_t>(codes.size()) != count) return Error(ErrorCode::RPC_FAIL);
    std::vector<Status> statuses;
    statuses.reserve(count);
    for (int32_t code : codes) statuses.push_back(StatusFromWire(code));
    return statuses;
}

template <typename T, typename Reply, typename Read>
Result<std::vector<Result<T>>> MasterClient::CallForResults(rpc::MasterRequest* request,
                                                            ReplyOf<Reply> reply, size_t count,
                                                            Read read) {
    rpc::MasterResponse response;
    MC_RETURN_IF_ERROR(Call(request, &response));
    const Reply& body = (response.*reply)();
    if (static_cast<size_t>(body.results_size()) != count) return Error(ErrorCode::RPC_FAIL);
    std::vector<Result<T>> results;
    results.reserve(count);
    for (const auto& entry : body.results()) {
        if (entry.error_code() != 0) {
            results.push_back(Error(ErrorCodeFromInt(entry.error_code())));
        } else {
            results.push_back(read(entry));
        }
    }
    return results;
}

}  // namespace mooncake
