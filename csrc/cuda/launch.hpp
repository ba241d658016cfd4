// Host-side declarations of the CUDA launchers. Includes no CUDA header, so the pybind11 sources
// compile with the plain C++ compiler. Streams travel as integers (cudaStream_t values from torch).
// Launchers run on the caller's stream, return early on empty input, never synchronise or allocate,
// and throw std::runtime_error carrying CUDA's message when a launch fails.
#pragma once

#include <cstdint>

namespace infotheory::cuda {

int device_count();       // 0 when there is no driver or no device
int runtime_version();    // CUDART_VERSION the module was built with

template <class T>
void reverse_waterfill(const T* sigma2, const T* budget, T* level, T* alloc, T* mi, int32_t* status,
                       int64_t n, int64_t k, std::uintptr_t stream);

template <class T>
void forward_waterfill(const T* noise, const T* power, T* level, T* alloc, T* capacity,
                       int32_t* status, int64_t n, int64_t k, std::uintptr_t stream);

}  // namespace infotheory::cuda
