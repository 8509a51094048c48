// Conversions between Python objects and the client's C++ types, shared by
// every binding file. Each one is cheap and says what it needs of the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "mooncake/client.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake::python {

namespace py = pybind11;

// What calls return when the store is not set up (or was closed).
inline constexpr int kNotSetUp = ToInt(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);

// Python gets only codes, so a failure that says why ("the key is empty")
// is logged here, once, at most one line a second so a failing loop cannot
// flood the log. Failures without a reason (a missing key) are not logged.
void LogReason(const Failure& failure);

// The negative code Python sees for `failure`, its reason logged.
inline int ReportedCode(const Failure& failure) {
    LogReason(failure);
    return ToInt(failure.code());
}

// 0 on success, else the negative error code of the compat table.
inline int StatusToInt(const Status& status) {
    return status.has_value() ? 0 : ReportedCode(status.error());
}

// The value as an int on success, else the negative error code.
template <typename T>
int64_t ResultToInt(const Result<T>& result) {
    return result.has_value() ? static_cast<int64_t>(*result) : ReportedCode(result.error());
}

// A contiguous read-only view of any object with the buffer protocol
// (bytes, bytearray, memoryview, numpy arrays, ...). Construct and destroy
// with the GIL held; the bytes may be read without it in between.
class BytesView {
   public:
    explicit BytesView(py::handle object);
    ~BytesView();
    BytesView(BytesView&& other) noexcept;
    BytesView(const BytesView&) = delete;
    BytesView& operator=(const BytesView&) = delete;
    BytesView& operator=(BytesView&&) = delete;

    ConstBytes bytes() const {
        return {static_cast<const uint8_t*>(view_.buf), static_cast<size_t>(view_.len)};
    }

   private:
    Py_buffer view_{};
    bool held_ = false;
};

// A new bytes object holding a copy of `data`. Call with the GIL held; large
// copies run with it released so other threads progress meanwhile.
py::bytes CopyToBytes(const uint8_t* data, size_t size);

// Allocates one bytes object per (data, size) pair with the GIL, then fills
// them all with the GIL released.
struct CopySource {
    const uint8_t* data = nullptr;
    size_t size = 0;
};
py::list CopyAllToBytes(std::span<const CopySource> sources);

// UUIDs travel through Python as the tuple (hi, lo).
py::tuple UuidToTuple(const UUID& id);
// Accepts a 2-sequence of ints; raises TypeError otherwise.
UUID UuidFromPy(py::handle object);

}  // namespace mooncake::python
