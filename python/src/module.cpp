// The native module mooncake._store; mooncake.store re-exports it and adds
// the pure-Python parts of the API.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "common/logging.h"
#include "engine_bindings.h"
#include "store_handle.h"

PYBIND11_MODULE(_store, m) {
    namespace py = pybind11;
    namespace mp = mooncake::python;
    mooncake::InitLoggingOnce("mooncake.store");
    m.doc() = "Native bindings of the Mooncake store client (use mooncake.store).";
    mp::BindTypes(m);
    mp::BindBufferHandle(m);
    mp::BindHostMemory(m);
    mp::BindStore(m);
    mp::BindEngine(m);
    // Stores the user never closed are closed while the interpreter is still
    // whole, so their heartbeat and transfer threads stop cleanly.
    m.def("_close_all_stores", &mp::StoreHandle::CloseAll);
    py::module_::import("atexit").attr("register")(m.attr("_close_all_stores"));
}
