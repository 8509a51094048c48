// One registration function per concept of the mooncake.store module.
#pragma once

#include <pybind11/pybind11.h>

namespace mooncake::python {

namespace py = pybind11;

// ReplicateConfig, replica descriptors, enums, QueryTaskResponse, error codes.
void BindTypes(py::module_& module);
// BufferHandle.
void BindBufferHandle(py::module_& module);
// MooncakeHostMemAllocator and bind_to_numa_node.
void BindHostMemory(py::module_& module);
// MooncakeDistributedStore.
void BindStore(py::module_& module);

}  // namespace mooncake::python
