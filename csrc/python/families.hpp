// Kernel families register themselves: each csrc/python/<family>.cpp ends with
//   INFOTHEORY_REGISTER_FAMILY(<family>, register_<family>);
// and module.cpp calls every registered function (in name order). No shared list to edit.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <utility>
#include <vector>

namespace infotheory {

using RegisterFn = void (*)(pybind11::module_&);

// Function-local static: safe whatever order the translation units are initialised in.
inline std::vector<std::pair<std::string, RegisterFn>>& family_registry() {
  static std::vector<std::pair<std::string, RegisterFn>> r;
  return r;
}

struct FamilyRegistrar {
  FamilyRegistrar(const char* name, RegisterFn fn) { family_registry().emplace_back(name, fn); }
};

}  // namespace infotheory

#define INFOTHEORY_REGISTER_FAMILY(name, fn) \
  static const ::infotheory::FamilyRegistrar infotheory_family_##name(#name, fn)
