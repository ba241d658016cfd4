// Fused projected-gradient step of the FGSM/BIM/PGD attacks, one sample at a time, in place:
//   x <- clip(proj_{B(x0, eps)}(x + alpha * dir(g)), lo, hi)
// with dir(g) = sign(g) for the L-inf ball and g / ||g||_2 for the L2 ball, plus the L2 and L-inf
// norms of the final perturbation x - x0. The eager torch sequence this replaces makes about ten
// passes over memory; L-inf here is one pass, L2 three over one sample (which stays in cache).
// Clipping after the projection keeps the iterate in the ball: for x0 in the box, clipping moves
// every coordinate towards x0.
//
// float32 runs SSE2 loops on x86-64 (the compiler does not vectorise the clamps and the float
// reductions of the portable loop without fast-math); sums of squares go to double every 64
// coordinates, so the L2 projection radius is accurate to float rounding of one block.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common.hpp"

#if defined(__SSE2__) && !defined(__CUDACC__)
#include <emmintrin.h>
#define INFOTHEORY_ATTACK_SSE2 1
#endif

namespace infotheory::attack_step {

enum class Norm : int32_t { kInf = 0, kL2 = 1 };

// max/min with the operand order of SSE's maxps/minps (the second operand wins on NaN), so the
// scalar tail and the vector body agree bit for bit.
template <class T>
INFOTHEORY_HD inline T vmax(T a, T b) {
  return a > b ? a : b;
}
template <class T>
INFOTHEORY_HD inline T vmin(T a, T b) {
  return a < b ? a : b;
}

// alpha * sign(g) as torch.sign: no step where g is 0 (or NaN).
template <class T>
INFOTHEORY_HD inline T signed_step(T g, T alpha) {
  return g > T(0) ? alpha : (g < T(0) ? -alpha : T(0));
}

// One coordinate of the L-inf step: into [x0 - eps, x0 + eps], then into [lo, hi].
template <class T>
INFOTHEORY_HD inline T linf_value(T x, T g, T base, T eps, T alpha, T lo, T hi) {
  T v = x + signed_step(g, alpha);
  v = vmin(vmax(v, base - eps), base + eps);
  return vmin(vmax(v, lo), hi);
}

// Last pass of the L2 step: the raw perturbation `delta` scaled onto the ball, then clipped.
template <class T>
INFOTHEORY_HD inline T l2_value(T delta, T base, T factor, T lo, T hi) {
  return vmin(vmax(base + delta * factor, lo), hi);
}

struct Norms {
  double l2 = 0.0;
  double linf = 0.0;
};

namespace detail {

// Portable loops over [i0, d): they serve double, non-x86 builds and the float tails.
template <class T>
void linf_range(T* x, const T* g, const T* x0, int64_t i0, int64_t d, T eps, T alpha, T lo, T hi,
                double& s2, double& mx) {
  for (int64_t i = i0; i < d; ++i) {
    const T v = linf_value(x[i], g[i], x0[i], eps, alpha, lo, hi);
    x[i] = v;
    const double dd = static_cast<double>(v - x0[i]);
    s2 += dd * dd;
    mx = std::max(mx, std::fabs(dd));
  }
}

template <class T>
double sumsq_range(const T* g, int64_t i0, int64_t d) {
  double s = 0.0;
  for (int64_t i = i0; i < d; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return s;
}

template <class T>
double l2_raw_range(T* x, const T* g, const T* x0, int64_t i0, int64_t d, T scale) {
  double s = 0.0;
  for (int64_t i = i0; i < d; ++i) {
    const T dd = x[i] + g[i] * scale - x0[i];
    x[i] = dd;
    s += static_cast<double>(dd) * static_cast<double>(dd);
  }
  return s;
}

template <class T>
void l2_final_range(T* x, const T* x0, int64_t i0, int64_t d, T factor, T lo, T hi, double& s2,
                    double& mx) {
  for (int64_t i = i0; i < d; ++i) {
    const T v = l2_value(x[i], x0[i], factor, lo, hi);
    x[i] = v;
    const double dd = static_cast<double>(v - x0[i]);
    s2 += dd * dd;
    mx = std::max(mx, std::fabs(dd));
  }
}

#ifdef INFOTHEORY_ATTACK_SSE2
constexpr int64_t kBlock = 64;  // coordinates summed in float before going to double

inline double hsum(__m128 v) {
  alignas(16) float t[4];
  _mm_store_ps(t, v);
  return (static_cast<double>(t[0]) + static_cast<double>(t[1])) +
         (static_cast<double>(t[2]) + static_cast<double>(t[3]));
}

inline double hmax(__m128 v) {
  alignas(16) float t[4];
  _mm_store_ps(t, v);
  return static_cast<double>(std::max(std::max(t[0], t[1]), std::max(t[2], t[3])));
}

// Returns the first coordinate not handled (a multiple of 4).
inline int64_t linf_sse(float* x, const float* g, const float* x0, int64_t d, float eps,
                        float alpha, float lo, float hi, double& s2, double& mx) {
  const __m128 va = _mm_set1_ps(alpha), ve = _mm_set1_ps(eps), vlo = _mm_set1_ps(lo),
               vhi = _mm_set1_ps(hi), zero = _mm_setzero_ps(), sign = _mm_set1_ps(-0.0f);
  __m128 vmx = zero;
  int64_t i = 0;
  while (i + 4 <= d) {
    const int64_t end = std::min(d - 3, i + kBlock);
    __m128 acc = zero;
    for (; i < end; i += 4) {
      const __m128 gv = _mm_loadu_ps(g + i), b = _mm_loadu_ps(x0 + i);
      const __m128 nz = _mm_or_ps(_mm_cmpgt_ps(gv, zero), _mm_cmplt_ps(gv, zero));
      const __m128 st = _mm_and_ps(nz, _mm_or_ps(_mm_and_ps(gv, sign), va));
      __m128 v = _mm_add_ps(_mm_loadu_ps(x + i), st);
      v = _mm_min_ps(_mm_max_ps(v, _mm_sub_ps(b, ve)), _mm_add_ps(b, ve));
      v = _mm_min_ps(_mm_max_ps(v, vlo), vhi);
      _mm_storeu_ps(x + i, v);
      const __m128 dd = _mm_sub_ps(v, b);
      acc = _mm_add_ps(acc, _mm_mul_ps(dd, dd));
      vmx = _mm_max_ps(vmx, _mm_andnot_ps(sign, dd));
    }
    s2 += hsum(acc);
  }
  mx = std::max(mx, hmax(vmx));
  return i;
}

inline int64_t sumsq_sse(const float* g, int64_t d, double& s) {
  int64_t i = 0;
  while (i + 4 <= d) {
    const int64_t end = std::min(d - 3, i + kBlock);
    __m128 acc = _mm_setzero_ps();
    for (; i < end; i += 4) {
      const __m128 v = _mm_loadu_ps(g + i);
      acc = _mm_add_ps(acc, _mm_mul_ps(v, v));
    }
    s += hsum(acc);
  }
  return i;
}

inline int64_t l2_raw_sse(float* x, const float* g, const float* x0, int64_t d, float scale,
                          double& s) {
  const __m128 vs = _mm_set1_ps(scale);
  int64_t i = 0;
  while (i + 4 <= d) {
    const int64_t end = std::min(d - 3, i + kBlock);
    __m128 acc = _mm_setzero_ps();
    for (; i < end; i += 4) {
      const __m128 v = _mm_add_ps(_mm_loadu_ps(x + i), _mm_mul_ps(_mm_loadu_ps(g + i), vs));
      const __m128 dd = _mm_sub_ps(v, _mm_loadu_ps(x0 + i));
      _mm_storeu_ps(x + i, dd);
      acc = _mm_add_ps(acc, _mm_mul_ps(dd, dd));
    }
    s += hsum(acc);
  }
  return i;
}

inline int64_t l2_final_sse(float* x, const float* x0, int64_t d, float factor, float lo, float hi,
                            double& s2, double& mx) {
  const __m128 vf = _mm_set1_ps(factor), vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi),
               sign = _mm_set1_ps(-0.0f);
  __m128 vmx = _mm_setzero_ps();
  int64_t i = 0;
  while (i + 4 <= d) {
    const int64_t end = std::min(d - 3, i + kBlock);
    __m128 acc = _mm_setzero_ps();
    for (; i < end; i += 4) {
      const __m128 b = _mm_loadu_ps(x0 + i);
      __m128 v = _mm_add_ps(b, _mm_mul_ps(_mm_loadu_ps(x + i), vf));
      v = _mm_min_ps(_mm_max_ps(v, vlo), vhi);
      _mm_storeu_ps(x + i, v);
      const __m128 dd = _mm_sub_ps(v, b);
      acc = _mm_add_ps(acc, _mm_mul_ps(dd, dd));
      vmx = _mm_max_ps(vmx, _mm_andnot_ps(sign, dd));
    }
    s2 += hsum(acc);
  }
  mx = std::max(mx, hmax(vmx));
  return i;
}
#endif

}  // namespace detail

// L-inf step: x_i <- clip(clamp(x_i + alpha sign(g_i), x0_i - eps, x0_i + eps), lo, hi).
template <class T>
Norms linf_one(T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo, T hi) {
  double s2 = 0.0, mx = 0.0;
  int64_t i = 0;
#ifdef INFOTHEORY_ATTACK_SSE2
  if constexpr (std::is_same_v<T, float>) i = detail::linf_sse(x, g, x0, d, eps, alpha, lo, hi, s2, mx);
#endif
  detail::linf_range(x, g, x0, i, d, eps, alpha, lo, hi, s2, mx);
  return {std::sqrt(s2), mx};
}

// L2 step: x <- x + alpha g / ||g|| (no step where g = 0), then the perturbation is scaled onto the
// ball (factor min(1, eps / ||x - x0||)), then clipped. Pass 2 leaves the raw perturbation in x.
template <class T>
Norms l2_one(T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo, T hi) {
  double g2 = 0.0, d2 = 0.0, s2 = 0.0, mx = 0.0;
  int64_t i = 0;
#ifdef INFOTHEORY_ATTACK_SSE2
  if constexpr (std::is_same_v<T, float>) i = detail::sumsq_sse(g, d, g2);
#endif
  g2 += detail::sumsq_range(g, i, d);
  const double gn = std::sqrt(g2);
  const T scale = gn > 0.0 ? static_cast<T>(static_cast<double>(alpha) / gn) : T(0);
  i = 0;
#ifdef INFOTHEORY_ATTACK_SSE2
  if constexpr (std::is_same_v<T, float>) i = detail::l2_raw_sse(x, g, x0, d, scale, d2);
#endif
  d2 += detail::l2_raw_range(x, g, x0, i, d, scale);
  const double dn = std::sqrt(d2);
  const T factor =
      dn > static_cast<double>(eps) ? static_cast<T>(static_cast<double>(eps) / dn) : T(1);
  i = 0;
#ifdef INFOTHEORY_ATTACK_SSE2
  if constexpr (std::is_same_v<T, float>) i = detail::l2_final_sse(x, x0, d, factor, lo, hi, s2, mx);
#endif
  detail::l2_final_range(x, x0, i, d, factor, lo, hi, s2, mx);
  return {std::sqrt(s2), mx};
}

template <class T>
Norms step_one(Norm norm, T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo, T hi) {
  return norm == Norm::kInf ? linf_one(x, g, x0, d, eps, alpha, lo, hi)
                            : l2_one(x, g, x0, d, eps, alpha, lo, hi);
}

}  // namespace infotheory::attack_step
