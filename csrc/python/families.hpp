// One register_<family> a kernel family; module.cpp only calls them.
#pragma once

#include <pybind11/pybind11.h>

namespace infotheory {
void register_waterfill(pybind11::module_& m);
}  // namespace infotheory
