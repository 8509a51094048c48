// The master's hot path without its socket: the handshake
// (framed_rpc_protocol.h), the frame splitting FramedRpcServer does, and each
// MasterRequest served by a RequestDispatcher over a real, fresh
// MasterService (ManualClock, no background thread), as HotRpcServer does.
//
// Input: one byte of mode, then what a peer sends on the wire. Mode bit 0
// set: the stream starts with the 8-byte client hello. Clear: the handshake
// is taken as done and the stream is frames only (so that random inputs
// reach the dispatcher). Each frame = u32 little-endian length + payload.
// Mode bits 1..7 scale how far the ManualClock moves between frames, so
// that leases, zombie puts and client expiry happen.
//
// Checked: the hello decodes only with the magic and re-encodes to the same
// bytes; the server hello round-trips; a frame over the limit or cut short
// ends the connection like the server does; every response echoes the
// request id, carries the body of the request's kind (or `error` when there
// is none), frames within the response limit and parses back to the same
// message; the service's used bytes never exceed its capacity.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "common/clock.h"
#include "fuzz_support.h"
#include "master.pb.h"
#include "master/master_service.h"
#include "master/request_dispatcher.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake::fuzz {

namespace {

// Bounds the work one input can ask for: the server takes any number of
// frames, but a fuzz input that repeats a frame 10^5 times finds nothing new.
constexpr int kMaxFramesPerInput = 64;

// False when the server would close the connection after its hello.
bool Handshake(Input& input) {
    if (input.remaining() < framed_rpc::kClientHelloSize) return false;
    std::array<uint8_t, framed_rpc::kClientHelloSize> hello{};
    std::memcpy(hello.data(), input.cursor(), hello.size());
    input.Skip(hello.size());

    auto version = framed_rpc::DecodeClientHello(hello);
    const bool has_magic =
        std::equal(framed_rpc::kMagic.begin(), framed_rpc::kMagic.end(), hello.begin());
    FUZZ_CHECK(version.has_value() == has_magic);
    if (!version) return false;
    FUZZ_CHECK(framed_rpc::EncodeClientHello(*version) == hello);

    framed_rpc::ServerHello reply;
    reply.master_instance_id = UUID{*version, ~static_cast<uint64_t>(*version)};
    reply.status =
        *version == framed_rpc::kProtocolVersion ? ErrorCode::OK : ErrorCode::INVALID_VERSION;
    auto decoded = framed_rpc::DecodeServerHello(framed_rpc::EncodeServerHello(reply));
    FUZZ_CHECK(decoded.has_value());
    FUZZ_CHECK(decoded->version == reply.version && decoded->status == reply.status &&
               decoded->master_instance_id == reply.master_instance_id);
    return reply.status == ErrorCode::OK;
}

void CheckResponse(const rpc::MasterRequest& request, const rpc::MasterResponse& response) {
    FUZZ_CHECK(response.request_id() == request.request_id());
    if (request.body_case() == rpc::MasterRequest::BODY_NOT_SET) {
        FUZZ_CHECK(response.body_case() == rpc::MasterResponse::kError);
        FUZZ_CHECK(response.error().error_code() == ToInt(ErrorCode::INVALID_PARAMS));
    } else {
        // Request and response bodies share their field numbers.
        FUZZ_CHECK(static_cast<int>(response.body_case()) == static_cast<int>(request.body_case()));
    }

    std::string frame;
    FUZZ_CHECK(framed_rpc::EncodeFrame(response, framed_rpc::kMaxResponseFrameBytes, &frame));
    FUZZ_CHECK(frame.size() >= framed_rpc::kFrameHeaderSize);
    const uint32_t length =
        framed_rpc::DecodeFrameLength(reinterpret_cast<const uint8_t*>(frame.data()));
    FUZZ_CHECK(length == frame.size() - framed_rpc::kFrameHeaderSize);
    rpc::MasterResponse parsed;
    FUZZ_CHECK(parsed.ParseFromArray(frame.data() + framed_rpc::kFrameHeaderSize,
                                     static_cast<int>(length)));
    FUZZ_CHECK(parsed.SerializeAsString() == response.SerializeAsString());
}

}  // namespace

int FuzzMasterHotPath(const uint8_t* data, size_t size) {
    QuietLogsOnce();
    Input input(data, size);
    const uint8_t mode = input.U8();
    if ((mode & 1) != 0 && !Handshake(input)) return 0;
    const int64_t clock_step_ms = static_cast<int64_t>(mode >> 1) * 997;

    auto clock = std::make_shared<ManualClock>();
    MasterService service(MasterConfig{}, clock);
    RequestDispatcher dispatcher(service);
    dispatcher.SetIdentity(ServerIdentity{"fuzz", UUID{1, 2}, 4321});

    rpc::MasterRequest request;
    rpc::MasterResponse response;
    for (int frame = 0; frame < kMaxFramesPerInput; ++frame) {
        // The server waits for a whole header, then for the whole frame;
        // a peer that stops short is disconnected.
        if (input.remaining() < framed_rpc::kFrameHeaderSize) break;
        const uint32_t length = framed_rpc::DecodeFrameLength(input.cursor());
        input.Skip(framed_rpc::kFrameHeaderSize);
        if (length > framed_rpc::kMaxRequestFrameBytes) break;
        if (length > input.remaining()) break;
        const std::string_view payload = input.Bytes(length);
        if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) break;

        dispatcher.Dispatch(request, &response);
        CheckResponse(request, response);

        const MasterStats stats = service.GetStats();
        FUZZ_CHECK(stats.used_bytes <= stats.capacity_bytes);
        if (clock_step_ms > 0) {
            clock->AdvanceMs(clock_step_ms);
            service.RunMaintenance();
        }
    }
    return 0;
}

}  // namespace mooncake::fuzz

MOONCAKE_FUZZ_ENTRY(FuzzMasterHotPath)
