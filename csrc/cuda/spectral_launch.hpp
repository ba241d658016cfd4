// Host-side declarations of the spectral CUDA launchers (conventions in launch.hpp).
#pragma once

#include <cstdint>

namespace infotheory::cuda {

// `iters` steps of batched power iteration on W (b, m, n) row-major, all on `stream`. The unit
// iterate is u = v * scale (v (b, n) in W's dtype, scale (b,) float64): set scale = 1 / ||v|| on
// the first call; on exit v = W^T W u_last unnormalised and scale = 1 / ||v||, ready for the next
// call. Av (b, m) is work space. For the last step's u: sigma = ||W u|| (a Rayleigh-quotient lower
// bound) and resid = ||W^T W u - sigma^2 u|| (sigma_max^2 <= sigma^2 + resid once u has converged
// to the top direction).
template <class T>
void spectral_power(const T* W, T* v, T* Av, T* sigma, T* resid, double* scale, int64_t b,
                    int64_t m, int64_t n, int iters, std::uintptr_t stream);

}  // namespace infotheory::cuda
