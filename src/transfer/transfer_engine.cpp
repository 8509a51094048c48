// The public TransferEngine: a thin facade over TransferEngineImpl.
#include "mooncake/transfer_engine.h"

#include "transfer/transfer_engine_impl.h"

namespace mooncake {

Result<std::unique_ptr<TransferEngine>> TransferEngine::Create(const TransferEngineConfig& config) {
    auto impl = TransferEngineImpl::Create(config);
    if (!impl) return Error(impl.error());
    return std::unique_ptr<TransferEngine>(new TransferEngine(std::move(*impl)));
}

TransferEngine::TransferEngine(std::unique_ptr<TransferEngineImpl> impl) : impl_(std::move(impl)) {}

TransferEngine::~TransferEngine() = default;

const std::string& TransferEngine::segment_name() const { return impl_->segment_name(); }

const std::string& TransferEngine::protocol() const { return impl_->protocol(); }

uint16_t TransferEngine::rpc_port() const { return impl_->rpc_port(); }

uint64_t TransferEngine::RoutedRequests(std::string_view transport) const {
    return impl_->RoutedRequests(transport);
}

Result<uint64_t> TransferEngine::FirstBufferAddress(SegmentHandle handle) {
    return impl_->FirstBufferAddress(handle);
}

Status TransferEngine::SendNotify(SegmentHandle handle, const TransferNotifyMessage& notify) {
    return impl_->SendNotify(handle, notify);
}

std::vector<TransferNotifyMessage> TransferEngine::TakeNotifies() { return impl_->TakeNotifies(); }

Result<void*> TransferEngine::AllocateSharedMemory(size_t length) {
    return impl_->AllocateSharedMemory(length);
}

Status TransferEngine::FreeSharedMemory(void* address) { return impl_->FreeSharedMemory(address); }

Status TransferEngine::RegisterLocalMemory(void* address, size_t length, bool remote_accessible) {
    return impl_->RegisterLocalMemory(address, length, remote_accessible);
}

Status TransferEngine::UnregisterLocalMemory(void* address) {
    return impl_->UnregisterLocalMemory(address);
}

bool TransferEngine::IsRegistered(const void* address, size_t length) const {
    return impl_->IsRegistered(address, length);
}

Status TransferEngine::RepublishDescriptor() { return impl_->RepublishDescriptor(); }

Result<SegmentHandle> TransferEngine::OpenSegment(const std::string& segment_name) {
    return impl_->OpenSegment(segment_name);
}

Status TransferEngine::CloseSegment(SegmentHandle handle) { return impl_->CloseSegment(handle); }

Result<BatchId> TransferEngine::AllocateBatch(size_t capacity) {
    return impl_->AllocateBatch(capacity);
}

Status TransferEngine::SubmitTransfer(BatchId batch, const std::vector<TransferRequest>& requests) {
    return impl_->SubmitTransfer(batch, requests);
}

Result<TransferStatus> TransferEngine::GetTransferStatus(BatchId batch, size_t request_index) {
    return impl_->GetTransferStatus(batch, request_index);
}

Status TransferEngine::WaitBatch(BatchId batch, std::chrono::milliseconds timeout) {
    return impl_->WaitBatch(batch, timeout);
}

Status TransferEngine::FreeBatch(BatchId batch) { return impl_->FreeBatch(batch); }

Status TransferEngine::TransferSync(const std::vector<TransferRequest>& requests,
                                    std::vector<ErrorCode>* per_request,
                                    std::chrono::milliseconds timeout) {
    return impl_->TransferSync(requests, per_request, timeout);
}

}  // namespace mooncake
