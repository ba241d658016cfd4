// Host-side declaration of the attack_step CUDA launcher (conventions in launch.hpp).
#pragma once

#include <cstdint>

namespace infotheory::cuda {

// norm: 0 = L-inf (sign step), 1 = L2 (normalised step, per-sample projection). x is (n, d)
// row-major and updated in place; l2 and linf receive the norms of x - x0 per sample.
template <class T>
void attack_step(T* x, const T* grad, const T* x0, const T* eps, const T* alpha, T lo, T hi,
                 int32_t norm, T* l2, T* linf, int64_t n, int64_t d, std::uintptr_t stream);

}  // namespace infotheory::cuda
