// BufferHandle, MooncakeHostMemAllocator and bind_to_numa_node.
#include "bindings.h"
#include "buffer_handle.h"
#include "host_mem_allocator.h"
#include "numa_binding.h"
#include "py_convert.h"

namespace mooncake::python {

void BindBufferHandle(py::module_& m) {
    py::class_<BufferHandle, std::shared_ptr<BufferHandle>>(
        m, "BufferHandle", py::buffer_protocol(),
        "An object's bytes without a copy (1-D, format 'B', writable). The memory stays valid "
        "while the handle lives.")
        .def_buffer([](BufferHandle& handle) {
            return py::buffer_info(handle.mutable_data(), 1,
                                   py::format_descriptor<uint8_t>::format(), 1,
                                   {static_cast<py::ssize_t>(handle.size())}, {1},
                                   /*readonly=*/false);
        })
        .def("ptr", &BufferHandle::ptr, "Address of the first byte.")
        .def("size", &BufferHandle::size, "Number of bytes.")
        .def("len", &BufferHandle::size, "Number of bytes.")
        .def("__len__", &BufferHandle::size)
        .def("__repr__", [](const BufferHandle& handle) {
            return "BufferHandle(size=" + std::to_string(handle.size()) + ")";
        });
}

void BindHostMemory(py::module_& m) {
    struct AllocatorToken {};  // the allocator has no per-instance state
    py::class_<AllocatorToken>(m, "MooncakeHostMemAllocator",
                               "Page-aligned host memory for zero-copy buffers. Any instance may "
                               "free what any instance allocated; dropping an instance frees "
                               "nothing.")
        .def(py::init<>())
        .def(
            "alloc",
            [](AllocatorToken&, size_t size) -> uintptr_t {
                py::gil_scoped_release release;
                auto address = HostMemAllocator::Alloc(size);
                return address.has_value() ? *address : 0;
            },
            py::arg("size"), "Allocates `size` bytes; returns the address, or 0 on failure.")
        .def(
            "free",
            [](AllocatorToken&, uintptr_t ptr) -> int {
                py::gil_scoped_release release;
                return StatusToInt(HostMemAllocator::Free(ptr));
            },
            py::arg("ptr"), "Frees an address from alloc(); 0, or a negative error code.");

    m.def(
        "bind_to_numa_node",
        [](int node) -> int {
            Status status = BindToNumaNode(node);
            if (!status.has_value() && status.error() == ErrorCode::INVALID_PARAMS) {
                throw py::value_error("bind_to_numa_node: NUMA node " + std::to_string(node) +
                                      " does not exist");
            }
            return StatusToInt(status);
        },
        py::arg("node"),
        "Runs the calling thread on NUMA node `node` and prefers its memory. Returns 0, or "
        "UNAVAILABLE_IN_CURRENT_MODE (-1011) without libnuma; raises ValueError for a node that "
        "does not exist.");
}

}  // namespace mooncake::python
