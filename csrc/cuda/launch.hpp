// Host-side CUDA runtime facts. Each family declares its launchers in csrc/cuda/<family>_launch.hpp,
// which includes no CUDA header, so the pybind11 sources compile with the plain C++ compiler. Streams
// travel as integers (cudaStream_t values from torch). Launchers run on the caller's stream, return
// early on empty input, never synchronise or allocate, and throw std::runtime_error carrying CUDA's
// message when a launch fails.
#pragma once

namespace infotheory::cuda {

int device_count();       // 0 when there is no driver or no device
int runtime_version();    // CUDART_VERSION the module was built with

}  // namespace infotheory::cuda
