// Serves master requests: converts a protobuf request, calls MasterService,
// converts the result back, and counts calls per method and results per error
// code for /metrics.
//
// The gRPC unary methods call the per-method handlers directly; the gRPC
// Stream method and the hot-path socket hand whole MasterRequest envelopes to
// Dispatch(). The methods are listed once, in rpc/master_methods.h.
// Thread-safe: every handler may run on any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "master.pb.h"
#include "master/master_service.h"
#include "mooncake/error_code.h"
#include "mooncake/types.h"
#include "rpc/master_methods.h"
#include "rpc/rpc_convert.h"

namespace mooncake {

// What GetServiceInfo reports besides the logic's settings.
struct ServerIdentity {
    std::string version;
    UUID instance_id;
    uint16_t hot_rpc_port = 0;        // 0 when the hot path is disabled
    bool replicates_commits = false;  // HA or snapshots (docs/ha.md)
};

class RequestDispatcher {
   public:
    explicit RequestDispatcher(MasterService& service);
    RequestDispatcher(const RequestDispatcher&) = delete;
    RequestDispatcher& operator=(const RequestDispatcher&) = delete;

    // Set once before the servers start taking requests.
    void SetIdentity(ServerIdentity identity);
    const ServerIdentity& identity() const { return identity_; }

    // HA (docs/ha.md): requests are served only while `check` says this
    // master leads; otherwise Dispatch answers UNAVAILABLE_IN_CURRENT_MODE in
    // the envelope's `error` and gRPC answers UNAVAILABLE. Set once before
    // the servers start; without a check every request is served.
    void SetServingCheck(std::function<bool()> check) { serving_check_ = std::move(check); }
    bool Serving() const { return !serving_check_ || serving_check_(); }
    // HA and snapshots: called after every call that may change what a
    // state image holds (puts, removes, mounts, copies, moves), on the
    // calling thread before the answer goes out, so that the hook can hold
    // the answer until a standby has the change. Set once before serving.
    void SetChangeHook(std::function<void(bool durable)> hook) { change_hook_ = std::move(hook); }
    // The transports call these around every handler: the call count for
    // /metrics, and the change hook by the method's MethodEffect.
    void CountCall(rpc::MasterRequest::BodyCase method);
    // Charges one more call of `method` (failed or not) without making it
    // the current call: a put-credit commit also counts as the PutStart and
    // PutEnd it replaces.
    void CountAlso(rpc::MasterRequest::BodyCase method, bool failed);
    void AfterCall(rpc::MasterRequest::BodyCase method);

    // Serves one envelope. The response echoes request_id and carries the
    // body of the same kind, or `error` (INVALID_PARAMS) for an envelope
    // without a body this build knows.
    void Dispatch(const rpc::MasterRequest& request, rpc::MasterResponse* response);

    // One handler per row of MOONCAKE_MASTER_METHODS (rpc/master_methods.h),
    // e.g. `void PutEnd(const rpc::KeyRequest&, rpc::StatusResponse*)`; the
    // offload ones live in request_dispatcher_offload.cpp.
#define MOONCAKE_DECLARE_HANDLER(Method, Case, field, Request, Response, Effect) \
    void Method(const rpc::Request& request, rpc::Response* response);
    MOONCAKE_MASTER_METHODS(MOONCAKE_DECLARE_HANDLER)
#undef MOONCAKE_DECLARE_HANDLER

    // Calls served so far per method ("put_start", "get_replica_list", ...),
    // every method listed.
    std::vector<std::pair<std::string, uint64_t>> CallCounts() const;
    // Of those, the calls that returned an error (for a batch: any key did),
    // in the same order.
    std::vector<std::pair<std::string, uint64_t>> FailedCallCounts() const;
    // Results returned so far per error code (one per key for batch calls),
    // every code but OK listed.
    std::vector<std::pair<ErrorCode, uint64_t>> ErrorCounts() const;
    uint64_t TotalErrors() const;

    // The MasterService behind this dispatcher, for stats.
    MasterService& service() { return service_; }

   private:
    // Index = field number of the body in the MasterRequest oneof.
    static constexpr size_t kMethodSlots = 100;
    // Index = -code; every ErrorCode lies in (-kErrorSlots, 0].
    static constexpr int32_t kErrorSlots = 2048;

    void CountResult(ErrorCode code);
    // The wire code of a call's outcome (a Result or Status; for a batch,
    // one key's), charged to the error counters as it is written, so that
    // the counts are the codes clients see.
    template <typename Outcome>
    int32_t Counted(const Outcome& outcome) {
        const ErrorCode code = CodeOf(outcome);
        CountResult(code);
        return CodeToWire(code);
    }
    // The handlers of the calls that take a client and a key and answer a
    // status (put, copy and move ends and revokes) differ only in the call.
    using ClientKeyCall = Status (MasterService::*)(const UUID&, const std::string&);
    void AnswerClientKeyCall(ClientKeyCall call, const rpc::KeyRequest& request,
                             rpc::StatusResponse* response);
    // (body field name, slots[field number]) for every method.
    static std::vector<std::pair<std::string, uint64_t>> PerMethod(
        const std::array<std::atomic<uint64_t>, kMethodSlots>& slots);

    MasterService& service_;
    ServerIdentity identity_;
    std::function<bool()> serving_check_;
    std::function<void(bool durable)> change_hook_;
    std::array<std::atomic<uint64_t>, kMethodSlots> calls_{};
    std::array<std::atomic<uint64_t>, kMethodSlots> failed_calls_{};
    std::vector<ErrorCode> known_codes_;               // every code but OK, in table order
    std::unique_ptr<std::atomic<uint64_t>[]> errors_;  // kErrorSlots entries
};

}  // namespace mooncake
