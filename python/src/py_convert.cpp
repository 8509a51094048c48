#include "py_convert.h"

#include <glog/logging.h>

#include <cstring>
#include <vector>

namespace mooncake::python {
namespace {

// Below this size a copy is cheaper than handing the GIL around.
constexpr size_t kReleaseGilCopyThreshold = 64 * 1024;

}  // namespace

void LogReason(const Failure& failure) {
    if (!failure.message().empty()) {
        LOG_EVERY_T(WARNING, 1.0) << failure;  // a macro of several statements: keep the braces
    }
}

BytesView::BytesView(py::handle object) {
    // PyBUF_SIMPLE asks for one contiguous block; exporters that cannot give
    // one raise BufferError, which pybind11 turns into the Python exception.
    if (PyObject_GetBuffer(object.ptr(), &view_, PyBUF_SIMPLE) != 0) {
        throw py::error_already_set();
    }
    held_ = true;
}

BytesView::~BytesView() {
    if (held_) PyBuffer_Release(&view_);
}

BytesView::BytesView(BytesView&& other) noexcept : view_(other.view_), held_(other.held_) {
    other.held_ = false;
    other.view_ = Py_buffer{};
}

py::bytes CopyToBytes(const uint8_t* data, size_t size) {
    CopySource source{data, size};
    py::list one = CopyAllToBytes(std::span<const CopySource>(&source, 1));
    return one[0].cast<py::bytes>();
}

py::list CopyAllToBytes(std::span<const CopySource> sources) {
    py::list result(sources.size());
    std::vector<char*> targets(sources.size());
    size_t total = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
        PyObject* object =
            PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(sources[i].size));
        if (object == nullptr) throw py::error_already_set();
        targets[i] = PyBytes_AS_STRING(object);
        result[i] = py::reinterpret_steal<py::bytes>(object);
        total += sources[i].size;
    }
    auto copy_all = [&] {
        for (size_t i = 0; i < sources.size(); ++i) {
            if (sources[i].size > 0) std::memcpy(targets[i], sources[i].data, sources[i].size);
        }
    };
    if (total >= kReleaseGilCopyThreshold) {
        py::gil_scoped_release release;
        copy_all();
    } else {
        copy_all();
    }
    return result;
}

py::tuple UuidToTuple(const UUID& id) { return py::make_tuple(id.hi, id.lo); }

UUID UuidFromPy(py::handle object) {
    // A uuid.UUID names the same 128 bits: hi is its upper half.
    if (py::isinstance(object, py::module_::import("uuid").attr("UUID"))) {
        const py::int_ value = object.attr("int");
        const py::int_ low_mask((uint64_t{0} - 1));
        return UUID{(value >> py::int_(64)).cast<uint64_t>(), (value & low_mask).cast<uint64_t>()};
    }
    if (!py::isinstance<py::sequence>(object) || py::isinstance<py::str>(object) ||
        py::len(object) != 2) {
        throw py::type_error("task id must be a tuple (hi, lo) of two ints or a uuid.UUID");
    }
    py::sequence parts = py::reinterpret_borrow<py::sequence>(object);
    try {
        return UUID{parts[0].cast<uint64_t>(), parts[1].cast<uint64_t>()};
    } catch (const py::cast_error&) {
        throw py::type_error("task id must be a tuple (hi, lo) of two non-negative ints");
    }
}

}  // namespace mooncake::python
