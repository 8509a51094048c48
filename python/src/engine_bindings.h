// mooncake.engine: the Python transfer engine (module mooncake._store._engine,
// re-exported by mooncake/engine.py).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "mooncake/result.h"
#include "mooncake/transfer_engine.h"

namespace mooncake::python {

namespace py = pybind11;

// TransferEngine, TransferOpcode, TransferNotify, InnerTransferEngine.
void BindEngine(py::module_& module);

// The engine behind an InnerTransferEngine (get_engine()) or a
// TransferEngine object, for setup(..., engine=...). INVALID_PARAMS for
// anything else or an engine not initialized. Call with the GIL held.
Result<std::shared_ptr<TransferEngine>> EngineFromPy(const py::handle& object);

}  // namespace mooncake::python
