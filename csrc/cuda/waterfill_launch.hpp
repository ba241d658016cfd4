// Host-side declarations of the waterfill CUDA launchers (conventions in launch.hpp).
#pragma once

#include <cstdint>

namespace infotheory::cuda {

template <class T>
void reverse_waterfill(const T* sigma2, const T* budget, T* level, T* alloc, T* mi, int32_t* status,
                       int64_t n, int64_t k, std::uintptr_t stream);

template <class T>
void forward_waterfill(const T* noise, const T* power, T* level, T* alloc, T* capacity,
                       int32_t* status, int64_t n, int64_t k, std::uintptr_t stream);

}  // namespace infotheory::cuda
