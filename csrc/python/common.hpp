// Helpers shared by the pybind11 sources: argument checks that raise ValueError/TypeError naming the
// argument, the thread setting, and a parallel loop with a serial path for small inputs.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace infotheory::pyutil {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

[[noreturn]] inline void value_error(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void type_error(const std::string& msg) { throw py::type_error(msg); }

// No iostreams here: on a GPU machine whose toolchain linked libstdc++ statically into the module,
// `std::ostringstream << int64_t` segfaulted inside the second libstdc++'s locale facets (seen on an
// H200 build; every shape error crashed instead of raising). std::to_string does not touch locales.
inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  if (s.size() == 1) out += ",";
  return out + ")";
}

template <class A>
std::vector<int64_t> shape_of(const A& a) {
  std::vector<int64_t> s(static_cast<size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[static_cast<size_t>(i)] = a.shape(i);
  return s;
}

// `name` must have exactly `want` as its shape.
inline void expect_shape(const char* name, const std::vector<int64_t>& got,
                         const std::vector<int64_t>& want) {
  if (got != want) {
    value_error(std::string(name) + " must have shape " + shape_str(want) + ", got " +
                shape_str(got));
  }
}

template <class A>
void expect_writable(const char* name, const A& a) {
  if (!a.writeable()) value_error(std::string(name) + " must be writable (it is an output)");
}

// Library-wide thread count for the CPU kernels (1 = serial). Set from Python.
int& thread_setting();
inline int threads() { return thread_setting() < 1 ? 1 : thread_setting(); }

// Below this much work (elements touched) the loop runs serially: the fork/join costs more.
constexpr int64_t kSerialWork = 1 << 15;

template <class F>
void parallel_for(int64_t n, int64_t work_per_item, F&& body) {
  const int nt = threads();
#ifdef _OPENMP
  if (nt > 1 && n > 1 && n * work_per_item >= kSerialWork) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace infotheory::pyutil
