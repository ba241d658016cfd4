// The attack_step family: fused in-place updates of the attacks, one sample at a time. Below, the
// projected-gradient step of FGSM/BIM/PGD (linf_one, l2_one), then CW's Adam step in tanh space
// (cw_one) and DeepFool's step to the nearest linearised boundary (deepfool_one).
//
// Projected-gradient step:
//   x <- clip(proj_{B(x0, eps)}(x + alpha * dir(g)), lo, hi)
// with dir(g) = sign(g) for the L-inf ball and g / ||g||_2 for the L2 ball, plus the L2 and L-inf
// norms of the final perturbation x - x0. The eager torch sequence this replaces makes about ten
// passes over memory; L-inf here is one pass, L2 three over one sample (which stays in cache).
// Clipping after the projection keeps the iterate in the ball: for x0 in the box, clipping moves
// every coordinate towards x0.
//
// On x86-64 CPUs with AVX2 and FMA (checked at run time) float32 and float64 run AVX2 loops, two
// accumulators deep; otherwise float32 runs SSE2 loops (the compiler does not vectorise the clamps
// and the float reductions of the portable loop without fast-math) and float64 the portable loop.
// float32 sums of squares go to double every 64 (SSE2) or 256 (AVX2) coordinates, so the L2
// projection radius is accurate to float rounding of one block.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "common.hpp"

#if defined(__SSE2__) && !defined(__CUDACC__)
#include <emmintrin.h>
#define INFOTHEORY_ATTACK_SSE2 1
#endif

// GCC only: the loops below put the target attribute on lambdas, which clang does not carry over.
#if !defined(__CUDACC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define INFOTHEORY_ATTACK_AVX2 1
#define INFOTHEORY_AVX2 __attribute__((target("avx2,fma")))
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

// NaN in x or x0 gives NaN in the result, as in the eager torch step (torch.minimum, maximum and
// clamp propagate NaN); so does NaN in g for L2 (g * 0 is NaN), while torch.sign(NaN) is 0, so a
// NaN gradient coordinate makes no L-inf step. The clamps below put the bound first: vmin/vmax
// (and minps/maxps, which return their second operand on NaN) then pass a NaN value through.

// alpha * sign(g) as torch.sign: no step where g is 0 or NaN.
template <class T>
INFOTHEORY_HD inline T signed_step(T g, T alpha) {
  return g > T(0) ? alpha : (g < T(0) ? -alpha : T(0));
}

// Clip into [lo, hi], NaN kept.
template <class T>
INFOTHEORY_HD inline T clip_value(T v, T lo, T hi) {
  return vmin(hi, vmax(lo, v));
}

// One coordinate of the L-inf step, in the eager step's arithmetic: the perturbation
// x + alpha sign(g) - x0 clamped into [-eps, eps], added back to x0, then clipped into [lo, hi].
template <class T>
INFOTHEORY_HD inline T linf_value(T x, T g, T base, T eps, T alpha, T lo, T hi) {
  const T delta = vmax(-eps, vmin(eps, (x + signed_step(g, alpha)) - base));
  return clip_value(base + delta, lo, hi);
}

// Last pass of the L2 step: the raw perturbation `delta` scaled onto the ball, then clipped.
template <class T>
INFOTHEORY_HD inline T l2_value(T delta, T base, T factor, T lo, T hi) {
  return clip_value(base + delta * factor, lo, hi);
}

struct Norms {
  double l2 = 0.0;
  double linf = 0.0;
};

// The norms from the sum of squares and the largest |x - x0|: a NaN coordinate makes the sum NaN,
// while max (and maxps) can drop it, so the sum decides.
inline Norms finish_norms(double s2, double mx) { return {std::sqrt(s2), std::isnan(s2) ? s2 : mx}; }

template <class T>
struct CwAdam;

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
  const __m128 va = _mm_set1_ps(alpha), ve = _mm_set1_ps(eps), vne = _mm_set1_ps(-eps),
               vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi), zero = _mm_setzero_ps(),
               sign = _mm_set1_ps(-0.0f);
  __m128 vmx = zero;
  int64_t i = 0;
  while (i + 4 <= d) {
    const int64_t end = std::min(d - 3, i + kBlock);
    __m128 acc = zero;
    for (; i < end; i += 4) {
      const __m128 gv = _mm_loadu_ps(g + i), b = _mm_loadu_ps(x0 + i);
      const __m128 nz = _mm_or_ps(_mm_cmpgt_ps(gv, zero), _mm_cmplt_ps(gv, zero));
      const __m128 st = _mm_and_ps(nz, _mm_or_ps(_mm_and_ps(gv, sign), va));
      const __m128 p = _mm_sub_ps(_mm_add_ps(_mm_loadu_ps(x + i), st), b);
      __m128 v = _mm_add_ps(b, _mm_max_ps(vne, _mm_min_ps(ve, p)));
      v = _mm_min_ps(vhi, _mm_max_ps(vlo, v));
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
      v = _mm_min_ps(vhi, _mm_max_ps(vlo, v));
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

#ifdef INFOTHEORY_ATTACK_AVX2
// AVX2 + FMA loops, chosen at run time (the build targets baseline x86-64). One template serves
// float (8 lanes, sums in float over 64-coordinate blocks, then double) and double (4 lanes). The
// last partial vector of a row goes through the same code with masked loads and stores, so there
// is no scalar tail.
// INFOTHEORY_ATTACK_NO_AVX2 set (read once per process) keeps the SSE2/portable loops, for tests.
inline bool use_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         std::getenv("INFOTHEORY_ATTACK_NO_AVX2") == nullptr;
  return ok;
}

struct AvxF {
  using T = float;
  using V = __m256;
  static constexpr int64_t W = 8;
  static constexpr int64_t kBlock = 256;  // coordinates summed in float before going to double
  INFOTHEORY_AVX2 static V set1(T v) { return _mm256_set1_ps(v); }
  INFOTHEORY_AVX2 static V zero() { return _mm256_setzero_ps(); }
  INFOTHEORY_AVX2 static V load(const T* p) { return _mm256_loadu_ps(p); }
  INFOTHEORY_AVX2 static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  INFOTHEORY_AVX2 static __m256i tail_mask(int64_t rem) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  INFOTHEORY_AVX2 static V mask_load(const T* p, __m256i m) { return _mm256_maskload_ps(p, m); }
  INFOTHEORY_AVX2 static void mask_store(T* p, __m256i m, V v) { _mm256_maskstore_ps(p, m, v); }
  INFOTHEORY_AVX2 static V as_v(__m256i m) { return _mm256_castsi256_ps(m); }
  INFOTHEORY_AVX2 static V add(V a, V b) { return _mm256_add_ps(a, b); }
  INFOTHEORY_AVX2 static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  INFOTHEORY_AVX2 static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  INFOTHEORY_AVX2 static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  INFOTHEORY_AVX2 static V max(V a, V b) { return _mm256_max_ps(a, b); }
  INFOTHEORY_AVX2 static V min(V a, V b) { return _mm256_min_ps(a, b); }
  INFOTHEORY_AVX2 static V band(V a, V b) { return _mm256_and_ps(a, b); }
  INFOTHEORY_AVX2 static V bor(V a, V b) { return _mm256_or_ps(a, b); }
  INFOTHEORY_AVX2 static V andnot(V a, V b) { return _mm256_andnot_ps(a, b); }
  INFOTHEORY_AVX2 static V nonzero(V a) { return _mm256_cmp_ps(a, zero(), _CMP_NEQ_OQ); }
  INFOTHEORY_AVX2 static V div(V a, V b) { return _mm256_div_ps(a, b); }
  INFOTHEORY_AVX2 static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  // exp(a) for a in [-87, 0] (Cephes expf: 2^n times a degree-7 polynomial, about 1 ulp).
  INFOTHEORY_AVX2 static V exp_nonpos(V a) {
    a = _mm256_max_ps(_mm256_set1_ps(-87.0f), a);  // NaN passes (maxps returns its second)
    const V n = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    V r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), a);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    V p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
  INFOTHEORY_AVX2 static double hsum(V v) {
    const __m256d s = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                                    _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
  INFOTHEORY_AVX2 static double hmax(V v) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    return static_cast<double>(_mm_cvtss_f32(h));
  }
};

struct AvxD {
  using T = double;
  using V = __m256d;
  static constexpr int64_t W = 4;
  static constexpr int64_t kBlock = int64_t(1) << 40;  // sums stay in double
  INFOTHEORY_AVX2 static V set1(T v) { return _mm256_set1_pd(v); }
  INFOTHEORY_AVX2 static V zero() { return _mm256_setzero_pd(); }
  INFOTHEORY_AVX2 static V load(const T* p) { return _mm256_loadu_pd(p); }
  INFOTHEORY_AVX2 static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  INFOTHEORY_AVX2 static __m256i tail_mask(int64_t rem) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(rem), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  INFOTHEORY_AVX2 static V mask_load(const T* p, __m256i m) { return _mm256_maskload_pd(p, m); }
  INFOTHEORY_AVX2 static void mask_store(T* p, __m256i m, V v) { _mm256_maskstore_pd(p, m, v); }
  INFOTHEORY_AVX2 static V as_v(__m256i m) { return _mm256_castsi256_pd(m); }
  INFOTHEORY_AVX2 static V add(V a, V b) { return _mm256_add_pd(a, b); }
  INFOTHEORY_AVX2 static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  INFOTHEORY_AVX2 static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  INFOTHEORY_AVX2 static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  INFOTHEORY_AVX2 static V max(V a, V b) { return _mm256_max_pd(a, b); }
  INFOTHEORY_AVX2 static V min(V a, V b) { return _mm256_min_pd(a, b); }
  INFOTHEORY_AVX2 static V band(V a, V b) { return _mm256_and_pd(a, b); }
  INFOTHEORY_AVX2 static V bor(V a, V b) { return _mm256_or_pd(a, b); }
  INFOTHEORY_AVX2 static V andnot(V a, V b) { return _mm256_andnot_pd(a, b); }
  INFOTHEORY_AVX2 static V nonzero(V a) { return _mm256_cmp_pd(a, zero(), _CMP_NEQ_OQ); }
  INFOTHEORY_AVX2 static V div(V a, V b) { return _mm256_div_pd(a, b); }
  INFOTHEORY_AVX2 static V sqrt(V a) { return _mm256_sqrt_pd(a); }
  // exp(a) for a in [-700, 0]: 2^n times the degree-13 Taylor polynomial of exp on
  // |r| <= ln(2)/2 (truncation below 1e-17 relative), r = a - n ln 2 in two parts.
  INFOTHEORY_AVX2 static V exp_nonpos(V a) {
    a = _mm256_max_pd(_mm256_set1_pd(-700.0), a);  // NaN passes
    const V n = _mm256_round_pd(_mm256_mul_pd(a, _mm256_set1_pd(1.4426950408889634)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    V r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.93147180369123816490e-01), a);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.90821492927058770002e-10), r);
    V p = _mm256_set1_pd(1.0 / 6227020800.0);  // 1/13!
    constexpr double kInvFact[13] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                     1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                                     1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                                     1.0 / 6.0,         0.5,              1.0,
                                     1.0};
    for (const double c : kInvFact) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c));
    const __m128i n32 = _mm256_cvtpd_epi32(n);
    const __m256i e =
        _mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n32), _mm256_set1_epi64x(1023)), 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(e));
  }
  INFOTHEORY_AVX2 static double hsum(V v) {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
  INFOTHEORY_AVX2 static double hmax(V v) {
    const __m128d h = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(h, _mm_unpackhi_pd(h, h)));
  }
};

template <class T>
using Avx = std::conditional_t<std::is_same_v<T, float>, AvxF, AvxD>;

// Calls body(i, k, full, mask) over the row, two vectors an iteration (k = 0, 1 selects one of two
// accumulators, so that the additions do not wait on each other), in blocks of S::kBlock
// coordinates; after each block flush() moves the partial sums to double. `mask` is all ones but
// in the last partial vector (full == false).
template <class S, class Body, class Flush>
INFOTHEORY_AVX2 inline void avx_rows(int64_t d, Body&& body, Flush&& flush) {
  constexpr int64_t W = S::W;
  const std::integral_constant<int, 0> k0;
  const std::integral_constant<int, 1> k1;
  int64_t i = 0;
  while (i + W <= d) {
    const int64_t end = std::min(d, i + S::kBlock);
    for (; i + 2 * W <= end; i += 2 * W) {
      body(i, k0, true, __m256i());
      body(i + W, k1, true, __m256i());
    }
    if (i + W <= end) {
      body(i, k0, true, __m256i());
      i += W;
    }
    flush();
  }
  if (i < d) {
    body(i, k0, false, S::tail_mask(d - i));
    flush();
  }
}

template <class S>
INFOTHEORY_AVX2 Norms linf_avx(typename S::T* x, const typename S::T* g,
                               const typename S::T* x0, int64_t d, typename S::T eps,
                               typename S::T alpha, typename S::T lo, typename S::T hi) {
  using V = typename S::V;
  const V va = S::set1(alpha), ve = S::set1(eps), vne = S::set1(-eps), vlo = S::set1(lo),
          vhi = S::set1(hi), sign = S::set1(-0.0);
  V vmx[2] = {S::zero(), S::zero()}, acc[2] = {S::zero(), S::zero()};
  double s2 = 0.0;
  avx_rows<S>(
      d,
      [&](int64_t i, auto k, bool full, __m256i m) INFOTHEORY_AVX2 {
        const V gv = full ? S::load(g + i) : S::mask_load(g + i, m);
        const V b = full ? S::load(x0 + i) : S::mask_load(x0 + i, m);
        const V xv = full ? S::load(x + i) : S::mask_load(x + i, m);
        // alpha * sign(g): the sign bit of g on alpha, nothing where g is 0 or NaN
        const V st = S::band(S::nonzero(gv), S::bor(S::band(gv, sign), va));
        V v = S::add(b, S::max(vne, S::min(ve, S::sub(S::add(xv, st), b))));
        v = S::min(vhi, S::max(vlo, v));
        V dd = S::sub(v, b);
        if (full) {
          S::store(x + i, v);
        } else {
          S::mask_store(x + i, m, v);
          dd = S::band(dd, S::as_v(m));
        }
        acc[k] = S::fma(dd, dd, acc[k]);
        vmx[k] = S::max(vmx[k], S::andnot(sign, dd));
      },
      [&]() INFOTHEORY_AVX2 {
        s2 += S::hsum(S::add(acc[0], acc[1]));
        acc[0] = acc[1] = S::zero();
      });
  return finish_norms(s2, S::hmax(S::max(vmx[0], vmx[1])));
}

template <class S>
INFOTHEORY_AVX2 Norms l2_avx(typename S::T* x, const typename S::T* g, const typename S::T* x0,
                             int64_t d, typename S::T eps, typename S::T alpha, typename S::T lo,
                             typename S::T hi) {
  using T = typename S::T;
  using V = typename S::V;
  V acc[2] = {S::zero(), S::zero()};
  double g2 = 0.0;
  const auto flush = [&](double& into) INFOTHEORY_AVX2 {
    into += S::hsum(S::add(acc[0], acc[1]));
    acc[0] = acc[1] = S::zero();
  };
  avx_rows<S>(
      d,
      [&](int64_t i, auto k, bool full, __m256i m) INFOTHEORY_AVX2 {
        const V gv = full ? S::load(g + i) : S::mask_load(g + i, m);
        acc[k] = S::fma(gv, gv, acc[k]);
      },
      [&]() INFOTHEORY_AVX2 { flush(g2); });
  const double gn = std::sqrt(g2);
  const V vs = S::set1(gn > 0.0 ? static_cast<T>(static_cast<double>(alpha) / gn) : T(0));
  double d2 = 0.0;
  avx_rows<S>(
      d,
      [&](int64_t i, auto k, bool full, __m256i m) INFOTHEORY_AVX2 {
        const V gv = full ? S::load(g + i) : S::mask_load(g + i, m);
        const V b = full ? S::load(x0 + i) : S::mask_load(x0 + i, m);
        const V xv = full ? S::load(x + i) : S::mask_load(x + i, m);
        const V dd = S::sub(S::fma(gv, vs, xv), b);  // masked lanes: 0
        if (full) {
          S::store(x + i, dd);
        } else {
          S::mask_store(x + i, m, dd);
        }
        acc[k] = S::fma(dd, dd, acc[k]);
      },
      [&]() INFOTHEORY_AVX2 { flush(d2); });
  const double dn = std::sqrt(d2);
  const V vf =
      S::set1(dn > static_cast<double>(eps) ? static_cast<T>(static_cast<double>(eps) / dn) : T(1));
  const V vlo = S::set1(lo), vhi = S::set1(hi), sign = S::set1(-0.0);
  V vmx[2] = {S::zero(), S::zero()};
  double s2 = 0.0;
  avx_rows<S>(
      d,
      [&](int64_t i, auto k, bool full, __m256i m) INFOTHEORY_AVX2 {
        const V b = full ? S::load(x0 + i) : S::mask_load(x0 + i, m);
        const V xv = full ? S::load(x + i) : S::mask_load(x + i, m);
        const V v = S::min(vhi, S::max(vlo, S::fma(xv, vf, b)));
        V dd = S::sub(v, b);
        if (full) {
          S::store(x + i, v);
        } else {
          S::mask_store(x + i, m, v);
          dd = S::band(dd, S::as_v(m));
        }
        acc[k] = S::fma(dd, dd, acc[k]);
        vmx[k] = S::max(vmx[k], S::andnot(sign, dd));
      },
      [&]() INFOTHEORY_AVX2 { flush(s2); });
  return finish_norms(s2, S::hmax(S::max(vmx[0], vmx[1])));
}
// tanh(a) = sign(a) (1 - e) / (1 + e), e = exp(-2 |a|).
template <class S>
INFOTHEORY_AVX2 inline typename S::V tanh_avx(typename S::V a) {
  using V = typename S::V;
  const V sign = S::set1(-0.0), one = S::set1(1.0);
  const V e = S::exp_nonpos(S::mul(S::set1(-2.0), S::andnot(sign, a)));
  return S::bor(S::div(S::sub(one, e), S::add(one, e)), S::band(a, sign));
}

template <class S>
INFOTHEORY_AVX2 double cw_avx(typename S::T* w, typename S::T* m, typename S::T* v,
                              typename S::T* xa, const typename S::T* x,
                              const typename S::T* gm, int64_t d,
                              const CwAdam<typename S::T>& p) {
  using T = typename S::T;
  using V = typename S::V;
  const T hh = (p.hi - p.lo) * T(0.5);
  const V h = S::set1(hh), lo = S::set1(p.lo), one = S::set1(T(1)), two = S::set1(T(2)),
          b1c = S::set1(T(1) - p.b1), b2 = S::set1(p.b2), b2c = S::set1(T(1) - p.b2),
          inv_h = S::set1(T(1) / hh), inv_bc2 = S::set1(T(1) / p.bc2_sqrt),
          aeps = S::set1(p.adam_eps), ss = S::set1(p.step_size);
  V acc[2] = {S::zero(), S::zero()};
  double s = 0.0;
  avx_rows<S>(
      d,
      [&](int64_t i, auto k, bool full, __m256i msk) INFOTHEORY_AVX2 {
        const auto ld = [&](const T* q) INFOTHEORY_AVX2 {
          return full ? S::load(q + i) : S::mask_load(q + i, msk);
        };
        const V xav = ld(xa), xv = ld(x);
        V g = S::fma(two, S::sub(xav, xv), ld(gm));
        if (p.box) {
          const V u = S::sub(S::mul(S::sub(xav, lo), inv_h), one);
          g = S::mul(g, S::mul(h, S::sub(one, S::mul(u, u))));
        }
        V mv = ld(m);
        mv = S::fma(b1c, S::sub(g, mv), mv);
        const V vv = S::fma(b2c, S::mul(g, g), S::mul(b2, ld(v)));
        const V denom = S::fma(S::sqrt(vv), inv_bc2, aeps);
        const V wv = S::sub(ld(w), S::mul(ss, S::div(mv, denom)));
        const V nx = p.box ? S::fma(h, S::add(tanh_avx<S>(wv), one), lo) : wv;
        V dd = S::sub(nx, xv);
        if (full) {
          S::store(m + i, mv);
          S::store(v + i, vv);
          S::store(w + i, wv);
          S::store(xa + i, nx);
        } else {
          S::mask_store(m + i, msk, mv);
          S::mask_store(v + i, msk, vv);
          S::mask_store(w + i, msk, wv);
          S::mask_store(xa + i, msk, nx);
          dd = S::band(dd, S::as_v(msk));
        }
        acc[k] = S::fma(dd, dd, acc[k]);
      },
      [&]() INFOTHEORY_AVX2 {
        s += S::hsum(S::add(acc[0], acc[1]));
        acc[0] = acc[1] = S::zero();
      });
  return s;
}
#endif

}  // namespace detail

// L-inf step: x_i <- clip(clamp(x_i + alpha sign(g_i), x0_i - eps, x0_i + eps), lo, hi).
template <class T>
Norms linf_one(T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo, T hi) {
#ifdef INFOTHEORY_ATTACK_AVX2
  if (detail::use_avx2()) return detail::linf_avx<detail::Avx<T>>(x, g, x0, d, eps, alpha, lo, hi);
#endif
  double s2 = 0.0, mx = 0.0;
  int64_t i = 0;
#ifdef INFOTHEORY_ATTACK_SSE2
  if constexpr (std::is_same_v<T, float>) i = detail::linf_sse(x, g, x0, d, eps, alpha, lo, hi, s2, mx);
#endif
  detail::linf_range(x, g, x0, i, d, eps, alpha, lo, hi, s2, mx);
  return finish_norms(s2, mx);
}

// L2 step: x <- x + alpha g / ||g|| (no step where g = 0), then the perturbation is scaled onto the
// ball (factor min(1, eps / ||x - x0||)), then clipped. Pass 2 leaves the raw perturbation in x.
template <class T>
Norms l2_one(T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo, T hi) {
#ifdef INFOTHEORY_ATTACK_AVX2
  if (detail::use_avx2()) return detail::l2_avx<detail::Avx<T>>(x, g, x0, d, eps, alpha, lo, hi);
#endif
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
  return finish_norms(s2, mx);
}

// ---------------------------------------------------------------------------------------------
// Carlini-Wagner L2: one Adam step in tanh space, the reparametrisation and the new distance, in
// one pass over a sample. With the box [lo, hi] the iterate is x' = lo + h (tanh(w) + 1), h =
// (hi - lo) / 2; the caller gives the gradient `gm` of the model's part of the loss
// (c * max(margin, -kappa)) with respect to x', and the kernel adds the distance's 2 (x' - x),
// takes it to w through dx'/dw = h (1 - tanh(w)^2) = h (1 - u^2), u = (x' - lo) / h - 1, and runs
// torch.optim.Adam's update (same formula and order):
//   m <- m + (1 - b1) (g - m);  v <- b2 v + (1 - b2) g^2;
//   w <- w - step_size m / (sqrt(v) / sqrt(bc2) + adam_eps),  step_size = lr / bc1.
// Then x' <- lo + h (tanh(w) + 1) and the return value is ||x' - x||^2. Without a box, x' = w.
template <class T>
struct CwAdam {
  T step_size;     // lr / (1 - b1^t)
  T bc2_sqrt;      // sqrt(1 - b2^t)
  T b1, b2, adam_eps;
  T lo, hi;
  bool box;
};

template <class T>
INFOTHEORY_HD inline T cw_update(T& w, T& m, T& v, T xa, T x, T gm, const CwAdam<T>& p, T h) {
  const T gx = gm + T(2) * (xa - x);
  T g = gx;
  if (p.box) {
    const T u = (xa - p.lo) / h - T(1);
    g = gx * (h * (T(1) - u * u));
  }
  m = m + (T(1) - p.b1) * (g - m);
  v = p.b2 * v + (T(1) - p.b2) * g * g;
  const T denom = std::sqrt(v) / p.bc2_sqrt + p.adam_eps;
  w = w - p.step_size * (m / denom);
  return p.box ? p.lo + h * (std::tanh(w) + T(1)) : w;
}

// One sample of d coordinates, in place on w, m, v, xa; returns ||xa_new - x||^2.
template <class T>
double cw_one(T* w, T* m, T* v, T* xa, const T* x, const T* gm, int64_t d, const CwAdam<T>& p) {
#ifdef INFOTHEORY_ATTACK_AVX2
  if (detail::use_avx2()) return detail::cw_avx<detail::Avx<T>>(w, m, v, xa, x, gm, d, p);
#endif
  const T h = (p.hi - p.lo) * T(0.5);
  double s = 0.0;
  for (int64_t i = 0; i < d; ++i) {
    const T nx = cw_update(w[i], m[i], v[i], xa[i], x[i], gm[i], p, h);
    xa[i] = nx;
    const double dd = static_cast<double>(nx - x[i]);
    s += dd * dd;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// DeepFool: the step of one sample from the gradients of its k candidate logits (grads[0] the
// true class's, grads[j] class j's, each d long) and f[j-1] = z_j - z_y for j = 1..k-1:
//   w_j = grads[j] - grads[0],  l = argmin_j |f_j| / ||w_j||  (first minimum),
//   r = (|f_l| / ||w_l|| + 1e-4) w_l / ||w_l||,  r_tot <- r_tot + r,
//   x_adv <- clip(x + (1 + overshoot) r_tot, lo, hi)
// (norms floored at the smallest normal number, as the torch version). Two passes: the k - 1
// norms (grads[0] stays in cache), then the update. Returns the chosen j (1..k-1). NaN goes where
// the torch version's goes: a NaN norm is not floored, argmin takes the first NaN distance, and
// the clip keeps NaN.
template <class T>
int64_t deepfool_one(const T* const* grads, int64_t k, const T* f, int64_t d, T* r_tot,
                     const T* x, T* x_adv, T overshoot, T lo, T hi) {
  const T tiny = std::numeric_limits<T>::min();
  const T* g0 = grads[0];
  int64_t best = 1;
  T best_dist = T(0), best_norm = T(1);
  for (int64_t j = 1; j < k; ++j) {
    const T* gj = grads[j];
    double s = 0.0;
    for (int64_t i = 0; i < d; ++i) {
      const double e = static_cast<double>(gj[i] - g0[i]);
      s += e * e;
    }
    const T wn = vmax(tiny, static_cast<T>(std::sqrt(s)));
    const T dist = std::fabs(f[j - 1]) / wn;
    if (j == 1 || dist < best_dist || (dist != dist && best_dist == best_dist)) {
      best = j;
      best_dist = dist;
      best_norm = wn;
    }
  }
  const T coef = (best_dist + T(1e-4)) / best_norm;
  const T scale = T(1) + overshoot;
  const T* gl = grads[best];
  for (int64_t i = 0; i < d; ++i) {
    const T rt = r_tot[i] + coef * (gl[i] - g0[i]);
    r_tot[i] = rt;
    x_adv[i] = clip_value(x[i] + scale * rt, lo, hi);
  }
  return best;
}

// Which loops the CPU step runs here: "avx2", "sse2" (float32; float64 portable) or "portable".
inline const char* cpu_loops() {
#ifdef INFOTHEORY_ATTACK_AVX2
  if (detail::use_avx2()) return "avx2";
#endif
#ifdef INFOTHEORY_ATTACK_SSE2
  return "sse2";
#else
  return "portable";
#endif
}

template <class T>
Norms step_one(Norm norm, T* x, const T* g, const T* x0, int64_t d, T eps, T alpha, T lo, T hi) {
  return norm == Norm::kInf ? linf_one(x, g, x0, d, eps, alpha, lo, hi)
                            : l2_one(x, g, x0, d, eps, alpha, lo, hi);
}

}  // namespace infotheory::attack_step
