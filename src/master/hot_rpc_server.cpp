#include "master/hot_rpc_server.h"

#include <glog/logging.h>

#include <memory>
#include <string>
#include <utility>

#include "master.pb.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake {

namespace {

// Parses MasterRequests and answers them through the dispatcher. The
// messages are reused from frame to frame of one connection.
class MasterFrameHandler final : public FramedRpcServer::FrameHandler {
   public:
    MasterFrameHandler(RequestDispatcher& dispatcher, std::string peer)
        : dispatcher_(dispatcher), peer_(std::move(peer)) {}

    bool Handle(std::string_view payload, std::string* response_frame) override {
        if (!request_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
            return false;
        }
        dispatcher_.Dispatch(request_, &response_);
        dispatcher_.AfterCall(request_.body_case());
        if (!framed_rpc::EncodeFrame(response_, framed_rpc::kMaxResponseFrameBytes,
                                     response_frame)) {
            LOG(WARNING) << "hot path: response to " << peer_ << " exceeds "
                         << framed_rpc::kMaxResponseFrameBytes
                         << " bytes; answering BUFFER_OVERFLOW";
            rpc::MasterResponse too_large;
            too_large.set_request_id(request_.request_id());
            too_large.mutable_error()->set_error_code(ToInt(ErrorCode::BUFFER_OVERFLOW));
            framed_rpc::EncodeFrame(too_large, framed_rpc::kMaxResponseFrameBytes, response_frame);
        }
        return true;
    }

    uint32_t last_request_kind() const override {
        return static_cast<uint32_t>(request_.body_case());
    }

   private:
    RequestDispatcher& dispatcher_;
    const std::string peer_;
    rpc::MasterRequest request_;
    rpc::MasterResponse response_;
};

FramedRpcServer::Options WithMasterProtocol(HotRpcServer::Options options) {
    options.protocol = framed_rpc::kMasterProtocol;
    return options;
}

}  // namespace

HotRpcServer::HotRpcServer(RequestDispatcher& dispatcher, Options options)
    : server_(
          [&dispatcher](const std::string& peer) -> std::unique_ptr<FramedRpcServer::FrameHandler> {
              return std::make_unique<MasterFrameHandler>(dispatcher, peer);
          },
          WithMasterProtocol(std::move(options))) {}

}  // namespace mooncake
