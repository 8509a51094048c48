// A blocking loopback client of the master's hot-path socket for tests:
// raw bytes, the hello handshake and framed calls, with a generous receive
// timeout so that a broken server fails the test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>

#include "master.pb.h"
#include "rpc/framed_rpc_protocol.h"

namespace mooncake::testing {

class HotPathTestSocket {
   public:
    explicit HotPathTestSocket(uint16_t port)
        : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
        timeval timeout{30, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    }
    ~HotPathTestSocket() { ::close(fd_); }
    HotPathTestSocket(const HotPathTestSocket&) = delete;
    HotPathTestSocket& operator=(const HotPathTestSocket&) = delete;

    bool connected() const { return connected_; }
    bool Send(const void* data, size_t size) {
        return ::send(fd_, data, size, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
    }
    bool Send(const std::string& data) { return Send(data.data(), data.size()); }
    bool RecvExact(void* data, size_t size) {
        size_t got = 0;
        while (got < size) {
            const ssize_t n = ::recv(fd_, static_cast<char*>(data) + got, size - got, 0);
            if (n <= 0) return false;
            got += static_cast<size_t>(n);
        }
        return true;
    }
    // True when the server closed the connection (EOF or reset) within the
    // receive timeout, draining whatever it sent first.
    bool ClosedByPeer() {
        char buffer[256];
        while (true) {
            const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (n == 0) return true;
            if (n < 0) return errno == ECONNRESET;
        }
    }
    // Sends the client hello; true when the server accepted it.
    bool Handshake() {
        const auto hello = framed_rpc::EncodeClientHello();
        std::array<uint8_t, framed_rpc::kServerHelloSize> reply{};
        if (!Send(hello.data(), hello.size()) || !RecvExact(reply.data(), reply.size())) {
            return false;
        }
        auto decoded = framed_rpc::DecodeServerHello(reply);
        return decoded && decoded->status == ErrorCode::OK;
    }
    // One framed request and its framed response.
    bool Call(const rpc::MasterRequest& request, rpc::MasterResponse* response) {
        std::string frame;
        if (!framed_rpc::EncodeFrame(request, framed_rpc::kMaxRequestFrameBytes, &frame))
            return false;
        if (!Send(frame)) return false;
        uint8_t header[4];
        if (!RecvExact(header, sizeof(header))) return false;
        std::string body(framed_rpc::DecodeFrameLength(header), '\0');
        if (!RecvExact(body.data(), body.size())) return false;
        return response->ParseFromString(body);
    }

   private:
    int fd_;
    bool connected_ = false;
};

}  // namespace mooncake::testing
