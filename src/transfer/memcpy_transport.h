// Transfers to engines living in this very process: a plain memory copy in
// the caller's thread, checked against the target engine's own registry.
#pragma once

#include "transfer/transport.h"

namespace mooncake {

class MemcpyTransport final : public Transport {
   public:
    std::string_view name() const override { return "memcpy"; }
    // True when the peer's instance is an engine of this process.
    bool CanReach(const SegmentDescriptor& peer, const SegmentRange& range) override;
    // Runs inline. TRANSFER_FAIL when the target engine is gone,
    // INVALID_PARAMS when the range is not (or no longer) registered there.
    void Submit(std::vector<TransferTask> tasks) override;
};

}  // namespace mooncake
