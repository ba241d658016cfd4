// Host-side declaration of the attack_step CUDA launcher (conventions in launch.hpp).
#pragma once

#include <cstdint>

namespace infotheory::cuda {

// norm: 0 = L-inf (sign step), 1 = L2 (normalised step, per-sample projection). x is (n, d)
// row-major and updated in place; l2 and linf receive the norms of x - x0 per sample.
template <class T>
void attack_step(T* x, const T* grad, const T* x0, const T* eps, const T* alpha, T lo, T hi,
                 int32_t norm, T* l2, T* linf, int64_t n, int64_t d, std::uintptr_t stream);

// CW's fused Adam step (core/attack_step.hpp, cw_one): w, m, v, xa (n, d) updated in place, l2sq
// (n,) receives ||xa - x||^2 per sample after the step.
template <class T>
void cw_adam_step(T* w, T* m, T* v, T* xa, const T* x, const T* grad, T step_size, T bc2_sqrt,
                  T b1, T b2, T adam_eps, T lo, T hi, bool box, T* l2sq, int64_t n, int64_t d,
                  std::uintptr_t stream);

// DeepFool's update (core/attack_step.hpp, deepfool_one) for mm samples: grads (k, a, d) stacked,
// f (mm, k-1), sel (mm,) rows into a, rows (mm,) rows into the (n, d) arrays r_tot, x, x_adv.
template <class T>
void deepfool_step(const T* grads, int64_t k, int64_t a, const T* f, const int64_t* sel,
                   const int64_t* rows, T* r_tot, const T* x, T* x_adv, T overshoot, T lo, T hi,
                   int64_t mm, int64_t d, std::uintptr_t stream);

}  // namespace infotheory::cuda
