// BufferHandle: an object's bytes as get_buffer() returns them, without a
// copy, exposed through the Python buffer protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mooncake/client.h"

namespace mooncake::python {

class BufferHandle {
   public:
    // A Buffer keeps the memory it points into alive by itself (a slice
    // holds its whole local-buffer mapping), even after the client closes.
    explicit BufferHandle(std::shared_ptr<Buffer> buffer) : buffer_(std::move(buffer)) {}

    uintptr_t ptr() const { return reinterpret_cast<uintptr_t>(buffer_->data()); }
    size_t size() const { return buffer_->size(); }
    uint8_t* mutable_data() { return buffer_->mutable_data(); }

   private:
    std::shared_ptr<Buffer> buffer_;
};

}  // namespace mooncake::python
