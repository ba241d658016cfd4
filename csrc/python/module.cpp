// The extension module infotheory._core: build facts, the thread setting, and the kernel families.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>

#include "common.hpp"
#include "families.hpp"
#ifdef INFOTHEORY_WITH_CUDA
#include "cuda/launch.hpp"
#endif

namespace py = pybind11;

namespace infotheory::pyutil {
int& thread_setting() {
  static int n = 1;
  return n;
}
}  // namespace infotheory::pyutil

namespace {

py::dict build_info() {
  py::dict d;
#ifdef INFOTHEORY_VERSION
  d["version"] = INFOTHEORY_VERSION;
#endif
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
  d["compiler"] = std::string("msvc ") + std::to_string(_MSC_VER);
#else
  d["compiler"] = "unknown";
#endif
#ifdef _OPENMP
  d["openmp"] = true;
  d["openmp_version"] = _OPENMP;
  d["openmp_max_threads"] = omp_get_max_threads();
#else
  d["openmp"] = false;
  d["openmp_version"] = py::none();
  d["openmp_max_threads"] = 1;
#endif
#ifdef INFOTHEORY_WITH_CUDA
  d["cuda_runtime_version"] = infotheory::cuda::runtime_version();
  d["cuda_architectures"] = INFOTHEORY_CUDA_ARCHS;
#else
  d["cuda_runtime_version"] = py::none();
  d["cuda_architectures"] = py::none();
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "infotheory compiled core (private: use the public infotheory.* API)";
#ifdef INFOTHEORY_WITH_CUDA
  m.attr("WITH_CUDA") = true;
  m.def("cuda_device_count", &infotheory::cuda::device_count,
        "Number of CUDA devices visible to the static CUDA runtime (0 without a driver).");
#else
  m.attr("WITH_CUDA") = false;
  m.def("cuda_device_count", []() { return 0; }, "Always 0: built without CUDA.");
#endif
  m.def("build_info", &build_info);
  m.def("get_num_threads", []() { return infotheory::pyutil::threads(); });
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) infotheory::pyutil::value_error("threads must be >= 1, got " + std::to_string(n));
        infotheory::pyutil::thread_setting() = n;
      },
      py::arg("threads"));
  auto families = infotheory::family_registry();
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  py::list names;
  for (const auto& [name, fn] : families) {
    fn(m);
    names.append(name);
  }
  m.attr("FAMILIES") = names;
}
