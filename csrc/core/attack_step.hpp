// Fused projected-gradient step of the FGSM/BIM/PGD attacks, one sample at a time, in place:
//   x <- clip(proj_{B(x0, eps)}(x + alpha * dir(g)), lo, hi)
// with dir(g) = sign(g) for the L-inf ball and g / ||g||_2 for the L2 ball, plus the L2 and L-inf
// norms of the final perturbation x - x0. The eager torch sequence this replaces makes about ten
// passes over memory; L-inf here is one pass, L2 three over one sample (which stays in cache).
// Clipping after the projection keeps the iterate in the ball: for x0 in the box, clipping moves
// every coordinate towards x0.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.hpp"

namespace infotheory::attack_step {

enum class Norm : int32_t { kInf = 0, kL2 = 1 };

template <class T>
INFOTHEORY_HD inline T clamp(T v, T lo, T hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// sign(g) as torch.sign: -1, 0 or +1 (a NaN gradient makes no step).
template <class T>
INFOTHEORY_HD inline T sign(T g) {
  return static_cast<T>((g > T(0)) - (g < T(0)));
}

struct Norms {
  double l2 = 0.0;
  double linf = 0.0;
};

// L-inf step: x_i <- clip(x0_i + clamp(x_i + alpha sign(g_i) - x0_i, -eps, eps), lo, hi).
template <class T>
inline Norms linf_one(T* __restrict x, const T* __restrict g, const T* __restrict x0, int64_t d,
                      T eps, T alpha, T lo, T hi) {
  double s2 = 0.0;
  T mx = T(0);
#pragma omp simd reduction(+ : s2) reduction(max : mx)
  for (int64_t i = 0; i < d; ++i) {
    const T base = x0[i];
    const T v = clamp(base + clamp(x[i] + alpha * sign(g[i]) - base, -eps, eps), lo, hi);
    x[i] = v;
    const T dd = v - base;
    s2 += static_cast<double>(dd) * static_cast<double>(dd);
    const T ad = dd < T(0) ? -dd : dd;
    mx = ad > mx ? ad : mx;
  }
  return {std::sqrt(s2), static_cast<double>(mx)};
}

// L2 step: x <- x + alpha g / ||g|| (no step where g = 0), then the perturbation is scaled onto the
// ball (factor min(1, eps / ||x - x0||)), then clipped. Pass 2 leaves the raw perturbation in x.
template <class T>
inline Norms l2_one(T* __restrict x, const T* __restrict g, const T* __restrict x0, int64_t d,
                    T eps, T alpha, T lo, T hi) {
  double g2 = 0.0;
#pragma omp simd reduction(+ : g2)
  for (int64_t i = 0; i < d; ++i) g2 += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  const double gn = std::sqrt(g2);
  const T scale = gn > 0.0 ? static_cast<T>(static_cast<double>(alpha) / gn) : T(0);
  double d2 = 0.0;
#pragma omp simd reduction(+ : d2)
  for (int64_t i = 0; i < d; ++i) {
    const T dd = x[i] + g[i] * scale - x0[i];
    x[i] = dd;
    d2 += static_cast<double>(dd) * static_cast<double>(dd);
  }
  const double dn = std::sqrt(d2);
  const T factor = dn > static_cast<double>(eps) ? static_cast<T>(static_cast<double>(eps) / dn)
                                                 : T(1);
  double s2 = 0.0;
  T mx = T(0);
#pragma omp simd reduction(+ : s2) reduction(max : mx)
  for (int64_t i = 0; i < d; ++i) {
    const T base = x0[i];
    const T v = clamp(base + x[i] * factor, lo, hi);
    x[i] = v;
    const T dd = v - base;
    s2 += static_cast<double>(dd) * static_cast<double>(dd);
    const T ad = dd < T(0) ? -dd : dd;
    mx = ad > mx ? ad : mx;
  }
  return {std::sqrt(s2), static_cast<double>(mx)};
}

template <class T>
inline Norms step_one(Norm norm, T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo,
                      T hi) {
  return norm == Norm::kInf ? linf_one(x, g, x0, d, eps, alpha, lo, hi)
                            : l2_one(x, g, x0, d, eps, alpha, lo, hi);
}

}  // namespace infotheory::attack_step
