// MooncakeDistributedStore methods beyond puts and gets: setup and close,
// the remove family, health_check and segments, with the reference's names
// and keyword arguments.
#pragma once

#include <pybind11/pybind11.h>

#include <type_traits>

#include "store_handle.h"

namespace mooncake::python {

namespace py = pybind11;

// `call(client)` with the GIL released; `not_set_up` when the store is not
// set up (UNAVAILABLE_IN_CURRENT_STATUS, what a closed client answers,
// unless the call's family answers otherwise).
template <typename Call>
std::invoke_result_t<Call, Client&> CallWithoutGil(
    StoreHandle& self, Call call, ErrorCode not_set_up = ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS) {
    std::shared_ptr<Client> client = self.client();
    if (!client) return Error(not_set_up);
    py::gil_scoped_release release;
    return call(*client);
}

// setup, init_all, setup_dummy, close, get_hostname (setup_bindings.cpp).
void BindSetup(py::class_<StoreHandle>& store);
// remove, batch_remove, remove_by_regex, remove_all, health_check.
void BindRemoves(py::class_<StoreHandle>& store);
// mount_segment, unmount_segment, allocate_and_mount_segment,
// unmount_and_free_segment (segment_bindings.cpp).
void BindSegments(py::class_<StoreHandle>& store);

}  // namespace mooncake::python
