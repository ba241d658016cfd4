// Host-side declarations of the channel CUDA launchers (conventions in launch.hpp).
#pragma once

#include <cstdint>

namespace infotheory::cuda {

// Batched binary attack (csrc/core/channel.hpp), float64, one thread a problem. p is (n, 4), flip
// (n, 4), alpha (n, 2); status gets one code a problem (0 = ok).
void binary_attack(const double* p, const double* eps, double* mi, double* flip, double* alpha,
                   double* lambda, double* zero_budget, int32_t* status, int64_t n,
                   std::uintptr_t stream);

}  // namespace infotheory::cuda
