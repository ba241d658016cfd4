// Top singular value of dense matrices: power iteration and Lanczos on A^T A, batched by the caller.
//
// Both methods apply B = A^T A through one fused pass over the rows of A (s_i = a_i . v, then
// w += s_i a_i while the row is still in cache), four rows at a time, so each operator application
// reads A from memory once. Vectors and accumulators are double for float32 and float64 matrices.
//
// Every solve ends with a certificate computed from one more application of B to the final unit
// vector y: theta = y^T B y is a Rayleigh quotient, so sqrt(theta) <= sigma_max (a guaranteed lower
// bound), and r = ||B y - theta y|| puts an eigenvalue of B within r of theta, so once y has converged
// to the top singular direction sigma_max <= sqrt(theta + r). The stopping rule is that bracket:
// (upper - lower) <= tol * lower, measured, not inferred from how much the estimate last moved.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define INFOTHEORY_SPECTRAL_X86 1
#include <immintrin.h>
#endif

#include "common.hpp"
#include "tridiag.hpp"

namespace infotheory::spectral {

// kLanczosGap: Lanczos that may stop on the Kato-Temple estimate (second Ritz pair), fewer steps
// but a bound that assumes Lanczos has resolved the top cluster: for callers that certify after.
// kLanczosEstimate: the same stop for callers that do not certify, guarded: the gap is capped at
// kGapCap theta (see kato_temple), so the residual must fall to sqrt(2 tol kGapCap) theta, and the
// estimate is used only from kGapMinSteps Lanczos steps on (per restart cycle). Both keep Lanczos
// going until the Krylov space has had a chance to amplify a top singular direction that the start
// vector barely contains: without them a pair of top singular values 1e-3 to 1e-2 apart, the rest
// far below, made it stop on the second one in about 1% of random trials (with the guards, none
// in 6000 beyond those where the residual bound failed as well).
enum Method : int32_t { kPower = 0, kLanczos = 1, kLanczosGap = 2, kLanczosEstimate = 3 };

// The largest relative gap (theta - alpha) / theta the uncertified Kato-Temple estimate trusts,
// and the Lanczos steps before it does.
constexpr double kGapCap = 0.01;
constexpr int64_t kGapMinSteps = 30;

// The gap cap of a Lanczos method: 0 (no Kato-Temple stop), inf (uncapped) or kGapCap.
inline double gap_cap_of(Method m) {
  return m == kLanczosGap ? inf() : m == kLanczosEstimate ? kGapCap : 0.0;
}

struct Result {
  double sigma = 0.0;  // best estimate, sqrt(theta)
  double lower = 0.0;  // sqrt of the final Rayleigh quotient
  double upper = 0.0;  // sqrt(theta + residual)
  int32_t iterations = 0;  // applications of A^T A
  Status status = kOk;
};

// ---------------------------------------------------------------------------------------------
// Fused operator: w = A^T (A v), optionally Av = A v. Row-major A (m x n).

template <class T>
inline double load_d(const T* p, int64_t j) {
  return static_cast<double>(p[j]);
}

template <class T>
void gram_apply_generic(const T* A, int64_t m, int64_t n, const double* v, double* w, double* Av) {
  std::fill(w, w + n, 0.0);
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    const T* r0 = A + i * n;
    const T* r1 = r0 + n;
    const T* r2 = r1 + n;
    const T* r3 = r2 + n;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      const double vj = v[j];
      s0 += load_d(r0, j) * vj;
      s1 += load_d(r1, j) * vj;
      s2 += load_d(r2, j) * vj;
      s3 += load_d(r3, j) * vj;
    }
    if (Av) {
      Av[i] = s0;
      Av[i + 1] = s1;
      Av[i + 2] = s2;
      Av[i + 3] = s3;
    }
    for (int64_t j = 0; j < n; ++j) {
      w[j] += s0 * load_d(r0, j) + s1 * load_d(r1, j) + s2 * load_d(r2, j) + s3 * load_d(r3, j);
    }
  }
  for (; i < m; ++i) {
    const T* r = A + i * n;
    double s = 0.0;
    for (int64_t j = 0; j < n; ++j) s += load_d(r, j) * v[j];
    if (Av) Av[i] = s;
    for (int64_t j = 0; j < n; ++j) w[j] += s * load_d(r, j);
  }
}

#ifdef INFOTHEORY_SPECTRAL_X86
// AVX2/FMA twins, chosen at run time: the build targets baseline x86-64 (SSE2).
__attribute__((target("avx2,fma"))) inline __m256d load4(const double* p) {
  return _mm256_loadu_pd(p);
}
__attribute__((target("avx2,fma"))) inline __m256d load4(const float* p) {
  return _mm256_cvtps_pd(_mm_loadu_ps(p));
}
__attribute__((target("avx2,fma"))) inline double hsum(__m256d x) {
  const __m128d lo = _mm256_castpd256_pd128(x), hi = _mm256_extractf128_pd(x, 1);
  const __m128d s = _mm_add_pd(lo, hi);
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// The AVX2 passes are software-pipelined over blocks of four rows: one loop over the columns
// computes the four dot products of block b + 1 (rows streamed from memory) and the four axpys of
// block b (rows read a moment ago, still in L2), so that memory requests keep flowing while the
// axpys run; the two-phase loop (dots, then axpys) left memory idle during its second phase.

// s[q] = row_q . v for the four rows r, r + n, r + 2n, r + 3n (double accumulation).
template <class T>
__attribute__((target("avx2,fma"))) inline void dots4_avx2(const T* r0, int64_t n, const double* v,
                                                           double* s) {
  const T* r1 = r0 + n;
  const T* r2 = r1 + n;
  const T* r3 = r2 + n;
  const int64_t n4 = n - n % 4;
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t j = 0; j < n4; j += 4) {
    const __m256d x = _mm256_loadu_pd(v + j);
    a0 = _mm256_fmadd_pd(load4(r0 + j), x, a0);
    a1 = _mm256_fmadd_pd(load4(r1 + j), x, a1);
    a2 = _mm256_fmadd_pd(load4(r2 + j), x, a2);
    a3 = _mm256_fmadd_pd(load4(r3 + j), x, a3);
  }
  s[0] = hsum(a0);
  s[1] = hsum(a1);
  s[2] = hsum(a2);
  s[3] = hsum(a3);
  for (int64_t j = n4; j < n; ++j) {
    const double vj = v[j];
    s[0] += load_d(r0, j) * vj;
    s[1] += load_d(r1, j) * vj;
    s[2] += load_d(r2, j) * vj;
    s[3] += load_d(r3, j) * vj;
  }
}

// The column shift (a multiple of `width`, in [0, nw)) between a pipelined pass's dots and axpys,
// nw the columns the vector loop covers: the two groups of four rows then sit 2 KB apart modulo
// 4 KB instead of in the same L1 sets, where a row stride that is a multiple of 4 KB (n = 1024 or
// 4096 floats, 512 or 1024 doubles) put all eight rows, v and w in one set (ten lines for 8
// ways). Measured in the library (numpy arrays, 1 thread): the double pass on a 1024^2 float64
// matrix 0.57 -> 0.33 ms, the float32 pass at 4096^2 about 10% faster, at 1024^2 within noise
// (1.3x with 4 KB pages in a C++ benchmark). Results are bit for bit those of no shift: every
// column of w receives the same terms in the same order. Rows under 2 KB: no shift.
template <class T>
inline int64_t pipeline_shift(int64_t nw, int64_t width) {
  if (nw * static_cast<int64_t>(sizeof(T)) < 2048) return 0;
  const int64_t half = nw / (2 * width) * width;
  return std::min<int64_t>(2048 / static_cast<int64_t>(sizeof(T)), half);
}

// The vector lanes of the pipelined passes: four doubles (rows of float or double widened on
// load, the double-accumulating passes) or eight floats (float32 rows, the float32-arithmetic
// pass).
struct LanesD {
  using reg = __m256d;
  using elem = double;
  static constexpr int64_t width = 4;
  template <class T>
  __attribute__((target("avx2,fma"), always_inline)) static reg row(const T* p) {
    return load4(p);
  }
  __attribute__((target("avx2,fma"), always_inline)) static reg load(const double* p) {
    return _mm256_loadu_pd(p);
  }
  __attribute__((target("avx2,fma"), always_inline)) static void store(double* p, reg x) {
    _mm256_storeu_pd(p, x);
  }
  __attribute__((target("avx2,fma"), always_inline)) static reg fmadd(reg a, reg b, reg c) {
    return _mm256_fmadd_pd(a, b, c);
  }
};

struct LanesF {
  using reg = __m256;
  using elem = float;
  static constexpr int64_t width = 8;
  __attribute__((target("avx2,fma"), always_inline)) static reg row(const float* p) {
    return _mm256_loadu_ps(p);
  }
  __attribute__((target("avx2,fma"), always_inline)) static reg load(const float* p) {
    return _mm256_loadu_ps(p);
  }
  __attribute__((target("avx2,fma"), always_inline)) static void store(float* p, reg x) {
    _mm256_storeu_ps(p, x);
  }
  __attribute__((target("avx2,fma"), always_inline)) static reg fmadd(reg a, reg b, reg c) {
    return _mm256_fmadd_ps(a, b, c);
  }
};

// One segment of a pipelined pass: for columns j in [jb, je) (multiples of L::width), the dots of
// the four rows at q0 (stride n) with v into a0..a3 and the axpy w += c0 r0 + ... + c3 r3 at
// column j + off.
template <class L, class T>
__attribute__((target("avx2,fma"), always_inline)) inline void fused4(
    const T* q0, const T* r0, int64_t n, const typename L::elem* v, typename L::elem* w,
    typename L::reg c0, typename L::reg c1, typename L::reg c2, typename L::reg c3, int64_t jb,
    int64_t je, int64_t off, typename L::reg& a0, typename L::reg& a1, typename L::reg& a2,
    typename L::reg& a3) {
  const T* q1 = q0 + n;
  const T* q2 = q1 + n;
  const T* q3 = q2 + n;
  const T* r1 = r0 + n;
  const T* r2 = r1 + n;
  const T* r3 = r2 + n;
  for (int64_t j = jb; j < je; j += L::width) {
    const typename L::reg x = L::load(v + j);
    a0 = L::fmadd(L::row(q0 + j), x, a0);
    a1 = L::fmadd(L::row(q1 + j), x, a1);
    a2 = L::fmadd(L::row(q2 + j), x, a2);
    a3 = L::fmadd(L::row(q3 + j), x, a3);
    const int64_t k = j + off;
    typename L::reg acc = L::load(w + k);
    acc = L::fmadd(c0, L::row(r0 + k), acc);
    acc = L::fmadd(c1, L::row(r1 + k), acc);
    acc = L::fmadd(c2, L::row(r2 + k), acc);
    acc = L::fmadd(c3, L::row(r3 + k), acc);
    L::store(w + k, acc);
  }
}

template <class T>
__attribute__((target("avx2,fma"))) void gram_apply_avx2(const T* A, int64_t m, int64_t n,
                                                         const double* v, double* w, double* Av) {
  std::fill(w, w + n, 0.0);
  const int64_t n4 = n - n % 4;
  const int64_t sh = pipeline_shift<T>(n4, 4);
  const int64_t nb = m / 4;  // full blocks of four rows
  double s[4] = {0.0, 0.0, 0.0, 0.0}, t[4] = {0.0, 0.0, 0.0, 0.0};
  if (nb > 0) dots4_avx2(A, n, v, s);
  for (int64_t blk = 0; blk < nb; ++blk) {
    const T* r0 = A + 4 * blk * n;
    const T* r1 = r0 + n;
    const T* r2 = r1 + n;
    const T* r3 = r2 + n;
    if (Av) std::copy(s, s + 4, Av + 4 * blk);
    const __m256d c0 = _mm256_set1_pd(s[0]), c1 = _mm256_set1_pd(s[1]);
    const __m256d c2 = _mm256_set1_pd(s[2]), c3 = _mm256_set1_pd(s[3]);
    if (blk + 1 < nb) {
      const T* q0 = r3 + n;
      const T* q1 = q0 + n;
      const T* q2 = q1 + n;
      const T* q3 = q2 + n;
      __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
      // the dots at column j, the axpys at column j + sh (wrapped; see pipeline_shift)
      fused4<LanesD>(q0, r0, n, v, w, c0, c1, c2, c3, 0, n4 - sh, sh, a0, a1, a2, a3);
      if (sh > 0) {
        fused4<LanesD>(q0, r0, n, v, w, c0, c1, c2, c3, n4 - sh, n4, sh - n4, a0, a1, a2, a3);
      }
      t[0] = hsum(a0);
      t[1] = hsum(a1);
      t[2] = hsum(a2);
      t[3] = hsum(a3);
      for (int64_t j = n4; j < n; ++j) {
        const double vj = v[j];
        t[0] += load_d(q0, j) * vj;
        t[1] += load_d(q1, j) * vj;
        t[2] += load_d(q2, j) * vj;
        t[3] += load_d(q3, j) * vj;
      }
    } else {
      for (int64_t j = 0; j < n4; j += 4) {
        __m256d acc = _mm256_loadu_pd(w + j);
        acc = _mm256_fmadd_pd(c0, load4(r0 + j), acc);
        acc = _mm256_fmadd_pd(c1, load4(r1 + j), acc);
        acc = _mm256_fmadd_pd(c2, load4(r2 + j), acc);
        acc = _mm256_fmadd_pd(c3, load4(r3 + j), acc);
        _mm256_storeu_pd(w + j, acc);
      }
    }
    for (int64_t j = n4; j < n; ++j) {
      w[j] += s[0] * load_d(r0, j) + s[1] * load_d(r1, j) + s[2] * load_d(r2, j) +
              s[3] * load_d(r3, j);
    }
    std::copy(t, t + 4, s);
  }
  for (int64_t i = 4 * nb; i < m; ++i) {
    const T* r = A + i * n;
    double sr = 0.0;
    for (int64_t j = 0; j < n; ++j) sr += load_d(r, j) * v[j];
    if (Av) Av[i] = sr;
    for (int64_t j = 0; j < n; ++j) w[j] += sr * load_d(r, j);
  }
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 x) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// The float32 passes run their vector loops over the columns [p, p + nv) of every row, p < 8 the
// peel that puts row 0's column p on a 32-byte boundary, so that no 32-byte load of A straddles a
// cache line (numpy's buffers start 16 bytes past one: 10-20% of a 1024^2 pass). With n % 8 == 0
// every row then starts aligned; otherwise rows differ and p = 0. The other columns, [0, p) and
// [p + nv, n), run in double.
struct F32Columns {
  int64_t p = 0, nv = 0;  // vector columns [p, p + nv), nv a multiple of 8
  template <class F>
  void for_each_scalar(int64_t n, F&& f) const {
    for (int64_t j = 0; j < p; ++j) f(j);
    for (int64_t j = p + nv; j < n; ++j) f(j);
  }
};
inline F32Columns f32_columns(const float* A, int64_t n) {
  const auto addr = reinterpret_cast<uintptr_t>(A);
  F32Columns c;
  if (n % 8 == 0 && addr % sizeof(float) == 0) {
    c.p = std::min<int64_t>(n, static_cast<int64_t>((32 - addr % 32) % 32 / sizeof(float)));
  }
  c.nv = (n - c.p) - (n - c.p) % 8;
  return c;
}

// s[q] += row_q . v over the scalar columns of `cols`, in double, for the four rows at r0 (stride n).
inline void add_scalar_dots4(const float* r0, int64_t n, const F32Columns& cols, const double* v,
                             double* s) {
  cols.for_each_scalar(n, [&](int64_t j) {
    const double vj = v[j];
    for (int q = 0; q < 4; ++q) s[q] += static_cast<double>(r0[q * n + j]) * vj;
  });
}

// Float32 dots of four rows (at r0, stride n) with v32, float32 partial sums over chunks of
// kF32Chunk vector columns flushed into double; the scalar columns in double against v.
constexpr int64_t kF32Chunk = 512;

__attribute__((target("avx2,fma"))) inline void dots4_f32(const float* r0, int64_t n,
                                                          const F32Columns& cols,
                                                          const float* v32, const double* v,
                                                          double* s) {
  const float* r1 = r0 + n;
  const float* r2 = r1 + n;
  const float* r3 = r2 + n;
  s[0] = s[1] = s[2] = s[3] = 0.0;
  for (int64_t j0 = cols.p; j0 < cols.p + cols.nv; j0 += kF32Chunk) {
    const int64_t j1 = std::min(cols.p + cols.nv, j0 + kF32Chunk);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = j0; j < j1; j += 8) {
      const __m256 x = _mm256_loadu_ps(v32 + j);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + j), x, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + j), x, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + j), x, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + j), x, a3);
    }
    s[0] += hsum8(a0);
    s[1] += hsum8(a1);
    s[2] += hsum8(a2);
    s[3] += hsum8(a3);
  }
  add_scalar_dots4(r0, n, cols, v, s);
}

// The fast float32 twin: float32 products and FMAs (eight lanes), float32 partial sums over chunks
// of 512 columns (the dots) and of 64 rows (the A^T s accumulator), each flushed into double; the
// scalar columns of F32Columns in double. A relative error of about 1e-7 per application: Lanczos
// iterates with it and certifies with the double-accumulating kernel. `v32b`, `w32b`: work space
// of f32_vector_floats(n) floats each on 32-byte boundaries (f32_vectors). Pipelined as
// gram_apply_avx2.
__attribute__((target("avx2,fma"))) inline void gram_apply_f32fast(const float* A, int64_t m,
                                                                   int64_t n, const double* v,
                                                                   double* w, float* v32b,
                                                                   float* w32b) {
  const F32Columns cols = f32_columns(A, n);
  const int64_t p = cols.p, nv = cols.nv;
  // indexed by column: v32 + p and w32 + p sit on 32-byte boundaries, as A + p
  float* v32 = v32b + (8 - p) % 8;
  float* w32 = w32b + (8 - p) % 8;
  for (int64_t j = 0; j < n; ++j) v32[j] = static_cast<float>(v[j]);
  std::fill(w, w + n, 0.0);
  std::fill(w32 + p, w32 + p + nv, 0.0f);
  const float* vp = v32 + p;
  float* wp = w32 + p;
  const int64_t sh = pipeline_shift<float>(nv, 8);
  constexpr int64_t kFlushRows = 64;
  const int64_t nb = m / 4;
  double s[4] = {0.0, 0.0, 0.0, 0.0}, t[4] = {0.0, 0.0, 0.0, 0.0};
  if (nb > 0) dots4_f32(A, n, cols, v32, v, s);
  int64_t since_flush = 0;
  for (int64_t blk = 0; blk < nb; ++blk) {
    const float* r0 = A + 4 * blk * n;
    const float* r1 = r0 + n;
    const float* r2 = r1 + n;
    const float* r3 = r2 + n;
    const __m256 c0 = _mm256_set1_ps(static_cast<float>(s[0]));
    const __m256 c1 = _mm256_set1_ps(static_cast<float>(s[1]));
    const __m256 c2 = _mm256_set1_ps(static_cast<float>(s[2]));
    const __m256 c3 = _mm256_set1_ps(static_cast<float>(s[3]));
    if (blk + 1 < nb) {
      const float* q0 = r3 + n;
      t[0] = t[1] = t[2] = t[3] = 0.0;
      for (int64_t j0 = 0; j0 < nv; j0 += kF32Chunk) {
        const int64_t j1 = std::min(nv, j0 + kF32Chunk);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        // the dots at column j, the axpys at column j + sh (wrapped; see pipeline_shift)
        const int64_t jw = std::max(j0, std::min(j1, nv - sh));
        fused4<LanesF>(q0 + p, r0 + p, n, vp, wp, c0, c1, c2, c3, j0, jw, sh, a0, a1, a2, a3);
        fused4<LanesF>(q0 + p, r0 + p, n, vp, wp, c0, c1, c2, c3, jw, j1, sh - nv, a0, a1, a2, a3);
        t[0] += hsum8(a0);
        t[1] += hsum8(a1);
        t[2] += hsum8(a2);
        t[3] += hsum8(a3);
      }
      add_scalar_dots4(q0, n, cols, v, t);
    } else {
      for (int64_t j = p; j < p + nv; j += 8) {
        __m256 acc = _mm256_loadu_ps(w32 + j);
        acc = _mm256_fmadd_ps(c0, _mm256_loadu_ps(r0 + j), acc);
        acc = _mm256_fmadd_ps(c1, _mm256_loadu_ps(r1 + j), acc);
        acc = _mm256_fmadd_ps(c2, _mm256_loadu_ps(r2 + j), acc);
        acc = _mm256_fmadd_ps(c3, _mm256_loadu_ps(r3 + j), acc);
        _mm256_storeu_ps(w32 + j, acc);
      }
    }
    cols.for_each_scalar(n, [&](int64_t j) {
      w[j] += s[0] * static_cast<double>(r0[j]) + s[1] * static_cast<double>(r1[j]) +
              s[2] * static_cast<double>(r2[j]) + s[3] * static_cast<double>(r3[j]);
    });
    since_flush += 4;
    if (since_flush >= kFlushRows || blk + 1 == nb) {
      for (int64_t j = p; j < p + nv; ++j) {
        w[j] += static_cast<double>(w32[j]);
        w32[j] = 0.0f;
      }
      since_flush = 0;
    }
    std::copy(t, t + 4, s);
  }
  for (int64_t i = 4 * nb; i < m; ++i) {
    const float* r = A + i * n;
    double sr = 0.0;
    for (int64_t j = 0; j < n; ++j) sr += static_cast<double>(r[j]) * v[j];
    for (int64_t j = 0; j < n; ++j) w[j] += sr * static_cast<double>(r[j]);
  }
}

inline bool cpu_has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
#endif

template <class T>
void gram_apply(const T* A, int64_t m, int64_t n, const double* v, double* w, double* Av) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    gram_apply_avx2(A, m, n, v, w, Av);
    return;
  }
#endif
  gram_apply_generic(A, m, n, v, w, Av);
}

// Complex matrices, interleaved (re, im) rows of 2n doubles; vectors of C^n as R^2n the same way.
// B = A^H A is real-symmetric PSD on R^2n with each eigenvalue sigma^2 twice. With
// v1 = (vr, -vi) and v2 = (vi, vr) interleaved, s = a . v has re(s) = a . v1 and im(s) = a . v2 as
// real dot products, and w += conj(a) s is w += re(s) (ar, -ai) + im(s) (ai, ar).
inline void gram_apply_complex_generic(const double* A, int64_t m, int64_t n, const double* v,
                                       double* w, double* v12) {
  const int64_t n2 = 2 * n;
  double* v1 = v12;
  double* v2 = v12 + n2;
  for (int64_t j = 0; j < n; ++j) {
    v1[2 * j] = v[2 * j];
    v1[2 * j + 1] = -v[2 * j + 1];
    v2[2 * j] = v[2 * j + 1];
    v2[2 * j + 1] = v[2 * j];
  }
  std::fill(w, w + n2, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    const double* r = A + i * n2;
    double sr0 = 0.0, sr1 = 0.0, si0 = 0.0, si1 = 0.0;
    for (int64_t k = 0; k < n2; k += 2) {
      sr0 += r[k] * v1[k];
      sr1 += r[k + 1] * v1[k + 1];
      si0 += r[k] * v2[k];
      si1 += r[k + 1] * v2[k + 1];
    }
    const double sr = sr0 + sr1, si = si0 + si1;
    for (int64_t k = 0; k < n2; k += 2) {
      w[k] += sr * r[k] + si * r[k + 1];
      w[k + 1] += si * r[k] - sr * r[k + 1];
    }
  }
}

#ifdef INFOTHEORY_SPECTRAL_X86
__attribute__((target("avx2,fma"))) inline void gram_apply_complex_avx2(const double* A, int64_t m,
                                                                        int64_t n, const double* v,
                                                                        double* w, double* v12) {
  const int64_t n2 = 2 * n;
  double* v1 = v12;
  double* v2 = v12 + n2;
  for (int64_t j = 0; j < n; ++j) {
    v1[2 * j] = v[2 * j];
    v1[2 * j + 1] = -v[2 * j + 1];
    v2[2 * j] = v[2 * j + 1];
    v2[2 * j + 1] = v[2 * j];
  }
  std::fill(w, w + n2, 0.0);
  const int64_t n4 = n2 - n2 % 4;  // n2 is even: the tail is one complex entry
  const __m256d sign = _mm256_setr_pd(1.0, -1.0, 1.0, -1.0);
  int64_t i = 0;
  for (; i + 2 <= m; i += 2) {
    const double* r0 = A + i * n2;
    const double* r1 = r0 + n2;
    __m256d a0 = _mm256_setzero_pd(), b0 = a0, a1 = a0, b1 = a0;
    for (int64_t k = 0; k < n4; k += 4) {
      const __m256d x1 = _mm256_loadu_pd(v1 + k), x2 = _mm256_loadu_pd(v2 + k);
      const __m256d q0 = _mm256_loadu_pd(r0 + k), q1 = _mm256_loadu_pd(r1 + k);
      a0 = _mm256_fmadd_pd(q0, x1, a0);
      b0 = _mm256_fmadd_pd(q0, x2, b0);
      a1 = _mm256_fmadd_pd(q1, x1, a1);
      b1 = _mm256_fmadd_pd(q1, x2, b1);
    }
    double sr0 = hsum(a0), si0 = hsum(b0), sr1 = hsum(a1), si1 = hsum(b1);
    for (int64_t k = n4; k < n2; ++k) {
      sr0 += r0[k] * v1[k];
      si0 += r0[k] * v2[k];
      sr1 += r1[k] * v1[k];
      si1 += r1[k] * v2[k];
    }
    const __m256d c0 = _mm256_mul_pd(_mm256_set1_pd(sr0), sign), d0 = _mm256_set1_pd(si0);
    const __m256d c1 = _mm256_mul_pd(_mm256_set1_pd(sr1), sign), d1 = _mm256_set1_pd(si1);
    for (int64_t k = 0; k < n4; k += 4) {
      const __m256d q0 = _mm256_loadu_pd(r0 + k), q1 = _mm256_loadu_pd(r1 + k);
      __m256d acc = _mm256_loadu_pd(w + k);
      acc = _mm256_fmadd_pd(c0, q0, acc);
      acc = _mm256_fmadd_pd(d0, _mm256_permute_pd(q0, 0x5), acc);
      acc = _mm256_fmadd_pd(c1, q1, acc);
      acc = _mm256_fmadd_pd(d1, _mm256_permute_pd(q1, 0x5), acc);
      _mm256_storeu_pd(w + k, acc);
    }
    for (int64_t k = n4; k < n2; k += 2) {
      w[k] += sr0 * r0[k] + si0 * r0[k + 1] + sr1 * r1[k] + si1 * r1[k + 1];
      w[k + 1] += si0 * r0[k] - sr0 * r0[k + 1] + si1 * r1[k] - sr1 * r1[k + 1];
    }
  }
  if (i < m) {
    const double* r = A + i * n2;
    double sr = 0.0, si = 0.0;
    for (int64_t k = 0; k < n2; ++k) {
      sr += r[k] * v1[k];
      si += r[k] * v2[k];
    }
    for (int64_t k = 0; k < n2; k += 2) {
      w[k] += sr * r[k] + si * r[k + 1];
      w[k + 1] += si * r[k] - sr * r[k + 1];
    }
  }
}
#endif

// `v12` is work space of 4n doubles.
inline void gram_apply_complex(const double* A, int64_t m, int64_t n, const double* v, double* w,
                               double* v12) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    gram_apply_complex_avx2(A, m, n, v, w, v12);
    return;
  }
#endif
  gram_apply_complex_generic(A, m, n, v, w, v12);
}

// ---------------------------------------------------------------------------------------------
// Small vector helpers (double; dot and norm2 are in tridiag.hpp).

#ifdef INFOTHEORY_SPECTRAL_X86
__attribute__((target("avx2,fma"))) inline double dot_avx2(const double* a, const double* b,
                                                           int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j), s0);
    s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j + 4), _mm256_loadu_pd(b + j + 4), s1);
  }
  for (; j + 4 <= n; j += 4) {
    s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a + j), _mm256_loadu_pd(b + j), s0);
  }
  double s = hsum(_mm256_add_pd(s0, s1));
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

__attribute__((target("avx2,fma"))) inline void axpy_avx2(double alpha, const double* x, double* y,
                                                          int64_t n) {
  const __m256d a = _mm256_set1_pd(alpha);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    _mm256_storeu_pd(y + j, _mm256_fmadd_pd(a, _mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j)));
  }
  for (; j < n; ++j) y[j] += alpha * x[j];
}
#endif

// dot and y += alpha x for the Lanczos vectors: AVX2/FMA where the CPU has it.
inline double vdot(const double* a, const double* b, int64_t n) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) return dot_avx2(a, b, n);
#endif
  return dot(a, b, n);
}

inline void vaxpy(double alpha, const double* x, double* y, int64_t n) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    axpy_avx2(alpha, x, y, n);
    return;
  }
#endif
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

// Classical Gram-Schmidt of p vectors W against N orthonormal basis vectors Q (both stride n): C
// (N x p, row-major) = Q^T W, then W -= Q C; `C` holds N p doubles. The Lanczos solvers repeat the
// sweep when it removed much (the DGKS criterion, "twice is enough", which is stated for this
// classical form); p = 1 for single-vector Lanczos.

#ifdef INFOTHEORY_SPECTRAL_X86
// Two basis vectors against the P block vectors per sweep (2 + P loads per 2 P FMAs, against two
// loads per FMA for separate dot products and axpys).
template <int P>
__attribute__((target("avx2,fma"))) void project_out_avx2(const double* Q, int64_t N, int64_t n,
                                                          double* W, double* C) {
  const int64_t n4 = n - n % 4;
  int64_t i = 0;
  for (; i + 2 <= N; i += 2) {
    const double* q0 = Q + i * n;
    const double* q1 = q0 + n;
    __m256d a0[P], a1[P];
#pragma GCC unroll 8
    for (int c = 0; c < P; ++c) a0[c] = a1[c] = _mm256_setzero_pd();
    for (int64_t j = 0; j < n4; j += 4) {
      const __m256d x0 = _mm256_loadu_pd(q0 + j), x1 = _mm256_loadu_pd(q1 + j);
#pragma GCC unroll 8
      for (int c = 0; c < P; ++c) {
        const __m256d w = _mm256_loadu_pd(W + c * n + j);
        a0[c] = _mm256_fmadd_pd(x0, w, a0[c]);
        a1[c] = _mm256_fmadd_pd(x1, w, a1[c]);
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < P; ++c) {
      double s0 = hsum(a0[c]), s1 = hsum(a1[c]);
      for (int64_t j = n4; j < n; ++j) {
        s0 += q0[j] * W[c * n + j];
        s1 += q1[j] * W[c * n + j];
      }
      C[i * P + c] = s0;
      C[(i + 1) * P + c] = s1;
    }
  }
  for (; i < N; ++i) {
    for (int c = 0; c < P; ++c) C[i * P + c] = dot_avx2(Q + i * n, W + c * n, n);
  }
  i = 0;
  for (; i + 2 <= N; i += 2) {
    const double* q0 = Q + i * n;
    const double* q1 = q0 + n;
    __m256d c0[P], c1[P];
#pragma GCC unroll 8
    for (int c = 0; c < P; ++c) {
      c0[c] = _mm256_set1_pd(C[i * P + c]);
      c1[c] = _mm256_set1_pd(C[(i + 1) * P + c]);
    }
    for (int64_t j = 0; j < n4; j += 4) {
      const __m256d x0 = _mm256_loadu_pd(q0 + j), x1 = _mm256_loadu_pd(q1 + j);
#pragma GCC unroll 8
      for (int c = 0; c < P; ++c) {
        __m256d w = _mm256_loadu_pd(W + c * n + j);
        w = _mm256_fnmadd_pd(c0[c], x0, w);
        w = _mm256_fnmadd_pd(c1[c], x1, w);
        _mm256_storeu_pd(W + c * n + j, w);
      }
    }
    for (int c = 0; c < P; ++c) {
      for (int64_t j = n4; j < n; ++j) W[c * n + j] -= C[i * P + c] * q0[j] + C[(i + 1) * P + c] * q1[j];
    }
  }
  for (; i < N; ++i) {
    for (int c = 0; c < P; ++c) axpy_avx2(-C[i * P + c], Q + i * n, W + c * n, n);
  }
}
#endif

inline void project_out(const double* Q, int64_t N, int64_t n, int p, double* W, double* C) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    switch (p) {
      case 1: project_out_avx2<1>(Q, N, n, W, C); return;
      case 2: project_out_avx2<2>(Q, N, n, W, C); return;
      case 3: project_out_avx2<3>(Q, N, n, W, C); return;
      default: project_out_avx2<4>(Q, N, n, W, C); return;
    }
  }
#endif
  for (int64_t i = 0; i < N; ++i) {
    for (int c = 0; c < p; ++c) C[i * p + c] = dot(Q + i * n, W + c * n, n);
  }
  for (int64_t i = 0; i < N; ++i) {
    for (int c = 0; c < p; ++c) {
      const double a = C[i * p + c];
      const double* q = Q + i * n;
      double* w = W + c * n;
      for (int64_t j = 0; j < n; ++j) w[j] -= a * q[j];
    }
  }
}

// A reproducible start vector with no zero entries: splitmix64 draws in [-1, -0.5] U [0.5, 1].
inline void random_start(double* v, int64_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
  for (int64_t j = 0; j < n; ++j) {
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
    v[j] = u < 0.5 ? -0.5 - u : u;
  }
}

// The start-vector convention of the top_singular family: v (length n) as given, or where it is all
// zeros a reproducible random start from `seed`.
inline void start_vector(double* v, int64_t n, uint64_t seed) {
  bool any = false;
  for (int64_t j = 0; j < n && !any; ++j) any = v[j] != 0.0;
  if (!any) random_start(v, n, seed);
}

// ---------------------------------------------------------------------------------------------
// Solvers. `apply(v, w)` computes w = B v for a symmetric positive semi-definite B of order n.
// `v` holds the start vector on entry and the final unit vector on exit. Workspace is reused.

struct Workspace {
  std::vector<double> w, basis, alpha, beta, s, tri, x, s2, proj;
  std::vector<float> f32;
  std::unique_ptr<float[]> a32;  // float32 copy of a float64 matrix (float32_shadow)
  int64_t a32_size = 0;
};

// p advanced to the next 64-byte boundary, at most 15 floats on (callers allocate 16 floats of
// slack); std::vector's and operator new's storage is only 16-byte aligned.
inline float* align64(float* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  return p + (64 - addr % 64) % 64 / sizeof(float);
}

// `count` floats of `buf` that start on a 64-byte boundary (buf grows by 16 floats of slack), so
// that the float32 passes' 32-byte vector loads and stores of v32 and w32 never straddle a cache
// line: about 5% of a 1024^2 pass.
inline float* aligned_floats(std::vector<float>& buf, int64_t count) {
  buf.resize(static_cast<size_t>(count + 16));
  return align64(buf.data());
}

// Floats in each work vector of the float32 pass for n columns: n plus the up to 7 floats that
// gram_apply_f32fast's peel shifts them by, rounded up to 16 (64 bytes).
inline int64_t f32_vector_floats(int64_t n) { return (n + 8 + 15) / 16 * 16; }

// The float32 passes' two work vectors for n columns (gram_apply_f32fast's v32b and w32b) in
// `buf`: v on a 64-byte boundary (aligned_floats), w f32_vector_floats(n) floats after it.
struct F32Vectors {
  float* v;
  float* w;
};
inline F32Vectors f32_vectors(std::vector<float>& buf, int64_t n) {
  const int64_t stride = f32_vector_floats(n);
  float* v = aligned_floats(buf, 2 * stride);
  return {v, v + stride};
}

inline bool all_finite(const double* x, int64_t n) {
  double acc = 0.0;
  for (int64_t j = 0; j < n; ++j) acc += x[j] * 0.0;  // inf * 0 and NaN * 0 are NaN
  return acc == 0.0;
}

// Certificate from one application of B to unit y (see the header comment).
// `alpha`: a bound on every eigenvalue of B but the top one (Lanczos's second Ritz pair), for the
// Kato-Temple bound; -inf for none.
template <class Apply>
void certify(Apply&& apply, double* y, int64_t n, double* w, Result& res, double alpha = -inf(),
             double cap = inf()) {
  apply(y, w);
  res.iterations += 1;
  const double theta = std::max(0.0, dot(y, w, n));
  double r2 = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = w[j] - theta * y[j];
    r2 += d * d;
  }
  const double r = std::sqrt(r2);
  res.sigma = res.lower = std::sqrt(theta);
  res.upper = std::sqrt(std::min(theta + r, kato_temple(theta, r, alpha, cap)));
}

inline bool bracket_ok(const Result& r, double tol) {
  return r.upper - r.lower <= tol * r.lower || r.upper == 0.0;
}

template <class Apply>
Result power(Apply&& apply, int64_t n, double* v, double tol, int32_t max_iter, Workspace& ws) {
  Result res;
  ws.w.resize(static_cast<size_t>(n));
  double* w = ws.w.data();
  double nv = norm2(v, n);
  if (!(nv > 0.0) || !std::isfinite(nv)) {
    random_start(v, n, 0);
    nv = norm2(v, n);
  }
  for (int64_t j = 0; j < n; ++j) v[j] /= nv;
  for (;;) {
    apply(v, w);
    res.iterations += 1;
    if (!all_finite(w, n)) {
      res.status = kNonFiniteInput;
      return res;
    }
    const double theta = std::max(0.0, dot(v, w, n));
    double r2 = 0.0, ww = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      const double d = w[j] - theta * v[j];
      r2 += d * d;
      ww += w[j] * w[j];
    }
    res.sigma = res.lower = std::sqrt(theta);
    res.upper = std::sqrt(theta + std::sqrt(r2));
    if (bracket_ok(res, tol)) return res;
    if (res.iterations >= max_iter) {
      res.status = kNoConvergence;
      return res;
    }
    const double nw = std::sqrt(ww);
    for (int64_t j = 0; j < n; ++j) v[j] = w[j] / nw;
  }
}

// Lanczos with full reorthogonalisation (equivalently Golub-Kahan on A), restarted from the top
// Ritz vector when the basis reaches `max_basis` vectors.
// `fast` drives the iteration and `exact` computes the certificate; with `distinct`, a certificate
// that misses tol switches the iteration to `exact` (the fast operator's rounding may be the cause).
// `cap` > 0: may stop on the Kato-Temple estimate with the gap capped at cap * theta (inf: uncapped;
// see gap_cap_of); 0: on the residual bound only.
template <class Fast, class Exact>
Result lanczos2(Fast&& fast, Exact&& exact, bool distinct, int64_t n, double* v, double tol,
                int32_t max_iter, int32_t max_basis, Workspace& ws, double cap = 0.0) {
  const bool gap = cap > 0.0;
  const int64_t kt_min = std::isfinite(cap) ? kGapMinSteps : 2;  // steps before Kato-Temple
  Result res;
  const int64_t kmax = std::max<int64_t>(2, std::min<int64_t>(max_basis, n + 1));
  ws.w.resize(static_cast<size_t>(n));
  ws.basis.resize(static_cast<size_t>(kmax * n));
  ws.alpha.resize(static_cast<size_t>(kmax));
  ws.beta.resize(static_cast<size_t>(kmax));
  ws.s.resize(static_cast<size_t>(kmax));
  ws.proj.resize(static_cast<size_t>(kmax));
  double* w = ws.w.data();
  double* Q = ws.basis.data();
  double* al = ws.alpha.data();
  double* be = ws.beta.data();
  double* s = ws.s.data();
  double nv = norm2(v, n);
  if (!(nv > 0.0) || !std::isfinite(nv)) {
    random_start(v, n, 0);
    nv = norm2(v, n);
  }
  for (int64_t j = 0; j < n; ++j) v[j] /= nv;
  // sqrt(theta + r) <= (1 + tol) sqrt(theta) iff r <= (2 tol + tol^2) theta: try the certificate
  // once the Lanczos residual estimate is a little inside that.
  // The fast operator's rounding (about 1e-7) must not eat the margin: aim lower with it.
  double want = distinct ? 1.2 * tol : 1.9 * tol;
  for (;;) {
    std::copy(v, v + n, Q);
    int64_t k = 0;
    double theta = 0.0, est = inf(), alpha = -inf();
    double gap_seen = inf();  // theta - alpha at the last evaluation (inf: none or unresolved)
    bool invariant = false, stopped_by_estimate = false;
    for (;;) {
      double* q = Q + k * n;
      if (distinct) {
        fast(q, w);
      } else {
        exact(q, w);
      }
      res.iterations += 1;
      if (!all_finite(w, n)) {
        res.status = kNonFiniteInput;
        return res;
      }
      al[k] = vdot(q, w, n);
      // three-term recurrence, then full reorthogonalisation against the whole basis; a second
      // pass only when the first removed much (Kahan-Parlett: "twice is enough")
      const double* qp = k ? Q + (k - 1) * n : q;
      const double bp = k ? be[k - 1] : 0.0;
      for (int64_t j = 0; j < n; ++j) w[j] -= al[k] * q[j] + bp * qp[j];
      double b = std::sqrt(vdot(w, w, n));
      for (int pass = 0; pass < 2; ++pass) {
        project_out(Q, k + 1, n, 1, w, ws.proj.data());
        const double after = std::sqrt(vdot(w, w, n));
        const bool again = after < 0.7 * b;
        b = after;
        if (!again) break;
      }
      be[k] = b;
      ++k;
      s[k - 1] = k == 1 ? 1.0 : 0.0;  // previous Ritz vector, extended by a zero
      ws.tri.resize(static_cast<size_t>(4 * k));
      ws.x.resize(static_cast<size_t>(k));
      ws.s2.resize(static_cast<size_t>(k));
      theta = tridiag_top_pair(al, be, k, theta, s, ws.tri.data(), ws.x.data());
      est = b * std::fabs(s[k - 1]);
      invariant = !(b > 1e-14 * std::max(theta, 1e-300)) || k >= n;
      // the Kato-Temple bound needs only est^2 <= want theta min(theta - alpha, cap theta): try
      // it once that is possible at all (theta - alpha <= theta), and then only once est^2 is
      // within 4x of what the last gap would accept (the second Ritz pair costs some fifty
      // O(k) sweeps; the gap changes slowly from step to step)
      alpha = -inf();
      bool kt_ok = false;
      if (gap && k >= kt_min && est * est <= want * std::min(1.0, cap) * theta * theta &&
          est > want * theta && est * est <= 4.0 * want * theta * std::min(gap_seen, cap * theta)) {
        alpha = second_ritz_bound(al, be, k, theta, b, s, ws.s2.data(), ws.x.data(),
                                  ws.tri.data());
        kt_ok = theta > alpha &&
                est * est <= want * theta * std::min(theta - alpha, cap * theta);
        gap_seen = theta > alpha ? theta - alpha : inf();
      }
      stopped_by_estimate = invariant || est <= want * theta || kt_ok;
      if (stopped_by_estimate || k >= kmax || res.iterations + 1 >= max_iter) {
        break;
      }
      double* qn = Q + k * n;
      for (int64_t j = 0; j < n; ++j) qn[j] = w[j] / b;
    }
    // Ritz vector y = Q s into v
    std::fill(v, v + n, 0.0);
    for (int64_t i = 0; i < k; ++i) vaxpy(s[i], Q + i * n, v, n);
    const double ny = norm2(v, n);
    for (int64_t j = 0; j < n; ++j) v[j] /= ny;
    if (gap && k >= kt_min && alpha == -inf()) {
      alpha = second_ritz_bound(al, be, k, theta, be[k - 1], s, ws.s2.data(), ws.x.data(),
                                ws.tri.data());
    }
    certify(exact, v, n, w, res, alpha, cap);
    if (!all_finite(w, n)) {
      res.status = kNonFiniteInput;
      return res;
    }
    if (bracket_ok(res, tol)) return res;
    if (res.iterations >= max_iter) {
      res.status = kNoConvergence;
      return res;
    }
    if (stopped_by_estimate && distinct) {
      distinct = false;
      want = 1.9 * tol;
    }
  }
}

template <class Apply>
Result lanczos(Apply&& apply, int64_t n, double* v, double tol, int32_t max_iter, int32_t max_basis,
               Workspace& ws, double cap = 0.0) {
  return lanczos2(apply, apply, false, n, v, tol, max_iter, max_basis, ws, cap);
}

// ---------------------------------------------------------------------------------------------
// Cholesky certificate (see certify_cholesky).


inline double dot_generic(const double* a, const double* b, int64_t n) { return dot(a, b, n); }
inline void axpy_generic(double alpha, const double* x, double* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

// Gram matrix (lower triangle) and ||X||_F^2, in double; DOT and AXPY are the vector kernels.
#define INFOTHEORY_SMALL_GRAM(NAME, ATTR, DOT, AXPY)                                        \
  template <class T>                                                                        \
  ATTR inline void NAME(const T* X, int64_t m, int64_t n, double* G, double* fro2,          \
                        std::vector<double>& buf) {                                         \
    const int64_t k = std::min(m, n);                                                       \
    std::fill(G, G + k * k, 0.0);                                                           \
    if (n <= m) {                                                                           \
      buf.resize(static_cast<size_t>(n));                                                   \
      double* xr = buf.data();                                                              \
      for (int64_t r = 0; r < m; ++r) {                                                     \
        const T* x = X + r * n;                                                             \
        for (int64_t j = 0; j < n; ++j) xr[j] = static_cast<double>(x[j]);                  \
        for (int64_t i = 0; i < n; ++i) AXPY(xr[i], xr, G + i * k, i + 1);                  \
      }                                                                                     \
    } else {                                                                                \
      buf.resize(static_cast<size_t>(m * n));                                               \
      double* rows = buf.data();                                                            \
      for (int64_t j = 0; j < m * n; ++j) rows[j] = static_cast<double>(X[j]);              \
      for (int64_t i = 0; i < m; ++i) {                                                     \
        for (int64_t j = 0; j <= i; ++j) G[i * k + j] = DOT(rows + i * n, rows + j * n, n); \
      }                                                                                     \
    }                                                                                       \
    double f = 0.0;                                                                         \
    for (int64_t i = 0; i < k; ++i) f += G[i * k + i];                                      \
    *fro2 = f;                                                                              \
  }

// In place on the lower triangle of G (k x k): factor mu I - G; false at the first pivot <= 0.
#define INFOTHEORY_CHOLESKY_SHIFTED(NAME, ATTR, DOT)                \
  ATTR inline bool NAME(double* G, int64_t k, double mu) {          \
    for (int64_t i = 0; i < k; ++i) {                               \
      double* li = G + i * k;                                       \
      for (int64_t j = 0; j < i; ++j) li[j] = -li[j];               \
      li[i] = mu - li[i];                                           \
    }                                                               \
    for (int64_t j = 0; j < k; ++j) {                               \
      double* lj = G + j * k;                                       \
      const double d = lj[j] - DOT(lj, lj, j);                      \
      if (!(d > 0.0) || !std::isfinite(d)) return false;            \
      const double r = std::sqrt(d);                                \
      lj[j] = r;                                                    \
      for (int64_t i = j + 1; i < k; ++i) {                         \
        double* li = G + i * k;                                     \
        li[j] = (li[j] - DOT(li, lj, j)) / r;                       \
      }                                                             \
    }                                                               \
    return true;                                                    \
  }


INFOTHEORY_SMALL_GRAM(small_gram_generic, , dot_generic, axpy_generic)
INFOTHEORY_CHOLESKY_SHIFTED(cholesky_shifted_generic, , dot_generic)
#undef INFOTHEORY_SMALL_GRAM
#undef INFOTHEORY_CHOLESKY_SHIFTED

#ifdef INFOTHEORY_SPECTRAL_X86
// 4 x 4 transpose of the tile at src (leading dimension ld) into dst (leading dimension ld).
__attribute__((target("avx2,fma"))) inline void transpose4_avx2(const double* src, double* dst,
                                                                int64_t ld) {
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ld);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * ld), r3 = _mm256_loadu_pd(src + 3 * ld);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + ld, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31));
}

// The full symmetric Gram matrix G (k x k, both triangles, leading dimension k) of X (m x n):
// X^T X (k = n) unless `trans`, X X^T (k = m) if `trans`, in double, and its trace ||X||_F^2.
// A register-blocked 4 x 8 outer-product kernel over the rows of X (8 FMAs per 6 loads) for the
// lower block triangle, then the upper triangle by 4 x 4 register transposes (no column-strided
// stores). Same rounding bound as any summation order.
// `buf`: X in double with rows padded to 8 (skipped for double X^T X with n % 8 == 0) and the
// padded Gram matrix.
template <class T>
__attribute__((target("avx2,fma"))) inline void small_gram_full_avx2(const T* X, int64_t m,
                                                                     int64_t n, bool trans,
                                                                     double* G, double* fro2,
                                                                     std::vector<double>& buf) {
  const int64_t rows = trans ? n : m, k = trans ? m : n;  // G = sum over rows of x x^T
  const int64_t kp = (k + 7) / 8 * 8;
  const bool direct = std::is_same_v<T, double> && !trans && kp == k;
  buf.resize(static_cast<size_t>((direct ? 0 : rows * kp) + (kp == k ? 0 : kp * kp)));
  const double* Xd = nullptr;
  if (direct) {
    Xd = reinterpret_cast<const double*>(X);
  } else {
    double* xd = buf.data();
    if (trans) {
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t j = 0; j < m; ++j) xd[r * kp + j] = static_cast<double>(X[j * n + r]);
      }
    } else {
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < n; ++j) xd[r * kp + j] = static_cast<double>(X[r * n + j]);
      }
    }
    for (int64_t r = 0; r < rows; ++r) std::fill(xd + r * kp + k, xd + (r + 1) * kp, 0.0);
    Xd = xd;
  }
  double* Gp = kp == k ? G : buf.data() + (direct ? 0 : rows * kp);
  for (int64_t i0 = 0; i0 < kp; i0 += 4) {
    for (int64_t j0 = 0; j0 <= i0 + 3 && j0 < kp; j0 += 8) {
      __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
              c30 = c00, c31 = c00;
      const double* x = Xd;
      for (int64_t r = 0; r < rows; ++r, x += kp) {
        const __m256d b0 = _mm256_loadu_pd(x + j0), b1 = _mm256_loadu_pd(x + j0 + 4);
        const __m256d a0 = _mm256_broadcast_sd(x + i0), a1 = _mm256_broadcast_sd(x + i0 + 1);
        c00 = _mm256_fmadd_pd(a0, b0, c00);
        c01 = _mm256_fmadd_pd(a0, b1, c01);
        c10 = _mm256_fmadd_pd(a1, b0, c10);
        c11 = _mm256_fmadd_pd(a1, b1, c11);
        const __m256d a2 = _mm256_broadcast_sd(x + i0 + 2), a3 = _mm256_broadcast_sd(x + i0 + 3);
        c20 = _mm256_fmadd_pd(a2, b0, c20);
        c21 = _mm256_fmadd_pd(a2, b1, c21);
        c30 = _mm256_fmadd_pd(a3, b0, c30);
        c31 = _mm256_fmadd_pd(a3, b1, c31);
      }
      double* g = Gp + i0 * kp + j0;
      _mm256_storeu_pd(g, c00);
      _mm256_storeu_pd(g + 4, c01);
      _mm256_storeu_pd(g + kp, c10);
      _mm256_storeu_pd(g + kp + 4, c11);
      _mm256_storeu_pd(g + 2 * kp, c20);
      _mm256_storeu_pd(g + 2 * kp + 4, c21);
      _mm256_storeu_pd(g + 3 * kp, c30);
      _mm256_storeu_pd(g + 3 * kp + 4, c31);
    }
  }
  // every 4 x 4 tile on or below the diagonal is computed (and the products are symmetric term by
  // term, so the computed upper tiles equal the transposes): mirror the strictly lower tiles
  for (int64_t bi = 4; bi < kp; bi += 4) {
    for (int64_t bj = 0; bj < bi; bj += 4) transpose4_avx2(Gp + bi * kp + bj, Gp + bj * kp + bi, kp);
  }
  double f = 0.0;
  for (int64_t i = 0; i < k; ++i) f += Gp[i * kp + i];
  *fro2 = f;
  if (Gp != G) {
    for (int64_t i = 0; i < k; ++i) std::copy(Gp + i * kp, Gp + i * kp + k, G + i * k);
  }
}

// Is mu I - G positive definite? G (k x k) symmetric, row-major; reads and overwrites the upper
// triangle only (with the Cholesky factor R, mu I - G = R^T R). Right-looking in blocks of four
// pivot rows: each block is factored, then the trailing rows get one rank-4 update (four FMAs per
// load and store of a trailing row instead of one). Every entry still receives its updates one
// pivot at a time in pivot order, so the arithmetic and the rounding-error bound are those of any
// Cholesky ordering; false at the first pivot <= 0.
__attribute__((target("avx2,fma"))) inline bool cholesky_shifted_upper_avx2(double* G, int64_t k,
                                                                            double mu) {
  const __m256d neg = _mm256_set1_pd(-0.0);
  for (int64_t i = 0; i < k; ++i) {
    double* gi = G + i * k;
    int64_t l = i;
    for (; l + 4 <= k; l += 4) _mm256_storeu_pd(gi + l, _mm256_xor_pd(_mm256_loadu_pd(gi + l), neg));
    for (; l < k; ++l) gi[l] = -gi[l];
    gi[i] += mu;
  }
  for (int64_t j0 = 0; j0 < k; j0 += 4) {
    const int64_t j1 = std::min(k, j0 + 4);
    // the pivot rows of the block, updating only the block's own rows
    for (int64_t j = j0; j < j1; ++j) {
      double* rj = G + j * k;
      const double d = rj[j];
      if (!(d > 0.0) || !std::isfinite(d)) return false;
      const double r = std::sqrt(d);
      rj[j] = r;
      const __m256d rv = _mm256_set1_pd(r);
      int64_t l = j + 1;
      for (; l + 4 <= k; l += 4) {
        _mm256_storeu_pd(rj + l, _mm256_div_pd(_mm256_loadu_pd(rj + l), rv));
      }
      for (; l < k; ++l) rj[l] /= r;
      for (int64_t i = j + 1; i < j1; ++i) {
        double* ri = G + i * k;
        const double c = rj[i];
        const __m256d cv = _mm256_set1_pd(c);
        int64_t q = i;
        for (; q + 4 <= k; q += 4) {
          _mm256_storeu_pd(ri + q,
                           _mm256_fnmadd_pd(cv, _mm256_loadu_pd(rj + q), _mm256_loadu_pd(ri + q)));
        }
        for (; q < k; ++q) ri[q] = std::fma(-c, rj[q], ri[q]);
      }
    }
    if (j1 - j0 < 4) continue;  // the last, partial block has no trailing rows
    const double* p0 = G + j0 * k;
    const double* p1 = p0 + k;
    const double* p2 = p1 + k;
    const double* p3 = p2 + k;
    for (int64_t i = j1; i < k; ++i) {
      double* ri = G + i * k;
      const __m256d c0 = _mm256_set1_pd(p0[i]), c1 = _mm256_set1_pd(p1[i]);
      const __m256d c2 = _mm256_set1_pd(p2[i]), c3 = _mm256_set1_pd(p3[i]);
      int64_t q = i;
      for (; q + 4 <= k; q += 4) {
        __m256d acc = _mm256_loadu_pd(ri + q);
        acc = _mm256_fnmadd_pd(c0, _mm256_loadu_pd(p0 + q), acc);
        acc = _mm256_fnmadd_pd(c1, _mm256_loadu_pd(p1 + q), acc);
        acc = _mm256_fnmadd_pd(c2, _mm256_loadu_pd(p2 + q), acc);
        acc = _mm256_fnmadd_pd(c3, _mm256_loadu_pd(p3 + q), acc);
        _mm256_storeu_pd(ri + q, acc);
      }
      for (; q < k; ++q) {
        double x = std::fma(-p0[i], p0[q], ri[q]);
        x = std::fma(-p1[i], p1[q], x);
        x = std::fma(-p2[i], p2[q], x);
        ri[q] = std::fma(-p3[i], p3[q], x);
      }
    }
  }
  return true;
}
#endif

// Certificate: is mu I - G positive definite, G = X^T X (n <= m) or X X^T (m < n), by a double
// Cholesky factorisation? `fro2` receives ||X||_F^2; the caller adds the rounding margin. `G`:
// work space of k^2 doubles, k = min(m, n).
template <class T>
bool certify_cholesky(const T* X, int64_t m, int64_t n, double mu, double* G, double* fro2,
                      std::vector<double>& buf) {
  const int64_t k = std::min(m, n);
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    small_gram_full_avx2(X, m, n, m < n, G, fro2, buf);
    return cholesky_shifted_upper_avx2(G, k, mu);
  }
#endif
  small_gram_generic(X, m, n, G, fro2, buf);
  return cholesky_shifted_generic(G, k, mu);
}

// Small matrices, certified: the float64 Gram matrix G (k x k, k = min(m, n): A^T A when n <= m,
// A A^T otherwise) is formed once; Lanczos iterates on G (one k x k symmetric product per step,
// cheaper than a pass over A for k <= m), the bracket's lower end is recomputed from A itself
// (theta = |A y|^2 or |A^T y|^2 in double, as top_singular does), and the Cholesky certificate
// factors mu I - G from the same G for mu = max(upper^2, (lower (1 + tol/4))^2), then
// (lower (1 + 0.9 tol))^2. On exit `*mu` is the candidate that factored, `*ok` 1 (0: none did,
// the caller decides by SVD), `*fro2` = ||A||_F^2 (trace of G); the caller adds the rounding margin.
struct GramWork {
  std::vector<double> G, H, buf, z, t;
};

#ifdef INFOTHEORY_SPECTRAL_X86
// y = G x for symmetric G: 16 outputs at a time as sum_j x_j G[j, c:c+16] (rows = columns), four
// register accumulators and no horizontal sums; the last k % 16 outputs by dot products.
__attribute__((target("avx2,fma"))) inline void sym_apply_avx2(const double* G, int64_t k,
                                                               const double* x, double* y) {
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    __m256d y0 = _mm256_setzero_pd(), y1 = y0, y2 = y0, y3 = y0;
    const double* g = G + c;
    for (int64_t j = 0; j < k; ++j, g += k) {
      const __m256d xj = _mm256_broadcast_sd(x + j);
      y0 = _mm256_fmadd_pd(xj, _mm256_loadu_pd(g), y0);
      y1 = _mm256_fmadd_pd(xj, _mm256_loadu_pd(g + 4), y1);
      y2 = _mm256_fmadd_pd(xj, _mm256_loadu_pd(g + 8), y2);
      y3 = _mm256_fmadd_pd(xj, _mm256_loadu_pd(g + 12), y3);
    }
    _mm256_storeu_pd(y + c, y0);
    _mm256_storeu_pd(y + c + 4, y1);
    _mm256_storeu_pd(y + c + 8, y2);
    _mm256_storeu_pd(y + c + 12, y3);
  }
  for (; c < k; ++c) y[c] = dot_avx2(G + c * k, x, k);
}
#endif

inline void sym_apply(const double* G, int64_t k, const double* x, double* y) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    sym_apply_avx2(G, k, x, y);
    return;
  }
#endif
  for (int64_t i = 0; i < k; ++i) y[i] = dot_generic(G + i * k, x, k);
}

template <class T>
Result top_singular_gram(const T* A, int64_t m, int64_t n, double* v, double* u, double tol,
                         int32_t max_iter, int32_t max_basis, uint64_t seed, Workspace& ws,
                         GramWork& gw, double* mu, int32_t* ok, double* fro2) {
  const int64_t k = std::min(m, n);
  const bool right = n <= m;  // G = A^T A, iterate on v; else G = A A^T, iterate on u
  *ok = 0;
  *mu = 0.0;
  gw.G.resize(static_cast<size_t>(k * k));
  double* G = gw.G.data();
  // AVX2: the full symmetric G at once and the right-looking Cholesky on its upper triangle;
  // otherwise the lower triangle, mirrored, and the dot-product Cholesky on the lower triangle
#ifdef INFOTHEORY_SPECTRAL_X86
  const bool avx2 = cpu_has_avx2();
  if (avx2) {
    small_gram_full_avx2(A, m, n, !right, G, fro2, gw.buf);
  } else {
    small_gram_generic(A, m, n, G, fro2, gw.buf);
  }
#else
  const bool avx2 = false;
  small_gram_generic(A, m, n, G, fro2, gw.buf);
#endif
  Result res;
  if (!std::isfinite(*fro2)) {
    res.status = kNonFiniteInput;
    return res;
  }
  if (!avx2) {
    gw.H.assign(G, G + k * k);  // the lower triangle, for the certificate
    // mirror into the upper triangle by 8 x 8 tiles (whole-column strides alias in the cache)
    for (int64_t i0 = 0; i0 < k; i0 += 8) {
      for (int64_t j0 = 0; j0 <= i0; j0 += 8) {
        const int64_t i1 = std::min(k, i0 + 8), j1 = std::min(k, j0 + 8);
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t j = j0; j < std::min(i, j1); ++j) G[j * k + i] = G[i * k + j];
        }
      }
    }
  }
  // start vector in the iteration's space
  bool any = false;
  for (int64_t j = 0; j < n && !any; ++j) any = v[j] != 0.0;
  gw.z.resize(static_cast<size_t>(k));
  double* z = right ? v : gw.z.data();
  if (right) {
    if (!any) random_start(v, n, seed);
  } else if (any) {
    for (int64_t i = 0; i < m; ++i) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) s += static_cast<double>(A[i * n + j]) * v[j];
      z[i] = s;
    }
    const double nz = norm2(z, k);
    if (!(nz > 0.0) || !std::isfinite(nz)) random_start(z, k, seed);
  } else {
    random_start(z, k, seed);
  }
  auto apply = [&](const double* x, double* y) { sym_apply(G, k, x, y); };
  res = lanczos(apply, k, z, tol, max_iter, max_basis, ws, inf());
  if (res.status == kNonFiniteInput) return res;
  // lower end from A: theta = |A y|^2 (right) or |A^T y|^2, the Rayleigh quotient of y
  double theta = 0.0;
  if (right) {
    ws.w.resize(static_cast<size_t>(n));
    gw.t.resize(static_cast<size_t>(m));
    double* Av = u ? u : gw.t.data();
    gram_apply(A, m, n, v, ws.w.data(), Av);
    theta = std::max(0.0, dot(v, ws.w.data(), n));
    if (u) {
      const double nu = norm2(u, m);
      if (nu > 0.0) {
        for (int64_t i = 0; i < m; ++i) u[i] /= nu;
      }
    }
  } else {
    std::fill(v, v + n, 0.0);
    for (int64_t i = 0; i < m; ++i) {
      const double c = z[i];
      const T* a = A + i * n;
      for (int64_t j = 0; j < n; ++j) v[j] += c * static_cast<double>(a[j]);
    }
    theta = dot(v, v, n);
    const double nv = std::sqrt(theta);
    if (nv > 0.0) {
      for (int64_t j = 0; j < n; ++j) v[j] /= nv;
    }
    if (u) {
      for (int64_t i = 0; i < m; ++i) {
        double s = 0.0;
        for (int64_t j = 0; j < n; ++j) s += static_cast<double>(A[i * n + j]) * v[j];
        u[i] = s;
      }
      const double nu = norm2(u, m);
      if (nu > 0.0) {
        for (int64_t i = 0; i < m; ++i) u[i] /= nu;
      }
    }
  }
  res.sigma = res.lower = std::sqrt(theta);
  res.upper = std::max(res.upper, res.lower);
  if (*fro2 == 0.0) return res;
  const double cands[2] = {std::max(res.upper * res.upper, std::pow(res.lower * (1.0 + 0.25 * tol), 2)),
                           std::pow(res.lower * (1.0 + 0.9 * tol), 2)};
  // G is no longer needed: factor it in place; for the second candidate recompute it (AVX2, a
  // rare case) or copy the saved lower triangle back. No upfront copy: copying between the
  // adjacent k^2 buffers ran at a tenth of the cache's speed (4K aliasing of loads and stores).
  bool pristine = true;
  for (const double c : cands) {
    double* H = gw.G.data();
#ifdef INFOTHEORY_SPECTRAL_X86
    if (!pristine && avx2) {
      double f2 = 0.0;
      small_gram_full_avx2(A, m, n, !right, H, &f2, gw.buf);
    }
#endif
    if (!pristine && !avx2) std::copy(gw.H.begin(), gw.H.end(), H);
    pristine = false;
#ifdef INFOTHEORY_SPECTRAL_X86
    const bool f = avx2 ? cholesky_shifted_upper_avx2(H, k, c) : cholesky_shifted_generic(H, k, c);
#else
    const bool f = cholesky_shifted_generic(H, k, c);
#endif
    if (f) {
      *ok = 1;
      *mu = c;
      break;
    }
  }
  return res;
}

// Float64 matrices iterate with a float32 copy (the float32-arithmetic pass reads half the bytes:
// memory-bound, so about half the time per application) and certify with the float64 one, when
// the copy's rounding (about 6e-8 relative to ||A||) stays well below tol and every entry fits
// float32's range; kShadowMinTol is that tol.
constexpr double kShadowMinTol = 2.5e-7;

// The float32 copy of A (m n floats, in ws.a32), or null when a nonzero entry's magnitude is
// outside [1e-30, 1e30] or an entry is not finite.
#ifdef INFOTHEORY_SPECTRAL_X86
// One pass: convert and track the largest and the smallest nonzero magnitude (NaN makes `big`
// NaN through the unordered compare below).
__attribute__((target("avx2,fma"))) inline void convert_track_avx2(const double* A, int64_t mn,
                                                                   float* out, double* big,
                                                                   double* small) {
  const __m256d absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL));
  const __m256d zero = _mm256_setzero_pd(), infv = _mm256_set1_pd(inf());
  __m256d hi = zero, lo = infv, bad = zero;
  int64_t j = 0;
  for (; j + 4 <= mn; j += 4) {
    const __m256d a = _mm256_loadu_pd(A + j);
    const __m256d x = _mm256_and_pd(a, absmask);
    bad = _mm256_or_pd(bad, _mm256_cmp_pd(x, x, _CMP_UNORD_Q));
    hi = _mm256_max_pd(hi, x);
    lo = _mm256_min_pd(lo, _mm256_blendv_pd(x, infv, _mm256_cmp_pd(x, zero, _CMP_EQ_OQ)));
    _mm_storeu_ps(out + j, _mm256_cvtpd_ps(a));
  }
  alignas(32) double h[4], l[4], b[4];
  _mm256_store_pd(h, hi);
  _mm256_store_pd(l, lo);
  _mm256_store_pd(b, bad);
  double bg = std::max(std::max(h[0], h[1]), std::max(h[2], h[3]));
  double sm = std::min(std::min(l[0], l[1]), std::min(l[2], l[3]));
  bool nan = b[0] != 0.0 || b[1] != 0.0 || b[2] != 0.0 || b[3] != 0.0;
  for (; j < mn; ++j) {
    const double x = std::fabs(A[j]);
    nan = nan || x != x;
    bg = std::max(bg, x);
    if (x > 0.0) sm = std::min(sm, x);
    out[j] = static_cast<float>(A[j]);
  }
  *big = nan ? std::nan("") : bg;
  *small = sm;
}
#endif

// `ws.a32` keeps the largest copy made so far (thread-local in the bindings) up to kShadowKeep
// bytes (release_shadow frees larger ones after the solve): a fresh 64 MB buffer cost about six
// passes over it in page faults on the benchmark machine (90 ms at 4096^2).
constexpr int64_t kShadowKeep = int64_t{256} << 20;

inline void release_shadow(Workspace& ws) {
  if (ws.a32_size * static_cast<int64_t>(sizeof(float)) > kShadowKeep) {
    ws.a32.reset();
    ws.a32_size = 0;
  }
}

inline const float* float32_shadow(const double* A, int64_t m, int64_t n, Workspace& ws) {
  const int64_t mn = m * n;
  if (ws.a32_size < mn) {
    ws.a32.reset(new float[static_cast<size_t>(mn + 16)]);  // no zero fill; 16 floats of slack
    ws.a32_size = mn;
  }
  float* a32 = align64(ws.a32.get());  // so that the float32 pass needs no peel
  double big = 0.0, small = inf();
#ifdef INFOTHEORY_SPECTRAL_X86
  if (cpu_has_avx2()) {
    convert_track_avx2(A, mn, a32, &big, &small);
  } else
#endif
  {
    for (int64_t j = 0; j < mn; ++j) {
      const double x = std::fabs(A[j]);
      big = x != x ? x : std::max(big, x);
      if (x > 0.0) small = std::min(small, x);
      a32[j] = static_cast<float>(A[j]);
    }
  }
  return big <= 1e30 && big > 0.0 && small >= 1e-30 ? a32 : nullptr;
}

// The left singular vector u = A v / ||A v|| (length m; A v = 0 leaves u = 0) of a row-major m x n
// matrix; ws.w is scratch.
template <class T>
void left_vector(const T* A, int64_t m, int64_t n, const double* v, double* u, Workspace& ws) {
  ws.w.resize(static_cast<size_t>(n));
  gram_apply(A, m, n, v, ws.w.data(), u);
  const double nu = norm2(u, m);
  if (nu > 0.0) {
    for (int64_t i = 0; i < m; ++i) u[i] /= nu;
  }
}

// Top singular value of one row-major m x n matrix. `v` (length n): the start vector on entry (all
// zeros: a reproducible random start from `seed`), the right singular vector on exit. `u` (length m,
// may be null): the left singular vector A v / sigma.
template <class T>
Result top_singular(const T* A, int64_t m, int64_t n, double* v, double* u, Method method,
                    double tol, int32_t max_iter, int32_t max_basis, uint64_t seed, Workspace& ws) {
  start_vector(v, n, seed);
  auto apply = [&](const double* x, double* y) { gram_apply(A, m, n, x, y, nullptr); };
  Result res;
  const double gap = gap_cap_of(method);
  if (method == kPower) {
    res = power(apply, n, v, tol, max_iter, ws);
  } else {
#ifdef INFOTHEORY_SPECTRAL_X86
    // matrices of some size iterate with the float32-arithmetic kernel (about twice as fast;
    // memory-bound) and certify with the double-accumulating one: float32 matrices as they are,
    // float64 ones through their float32 copy (float32_shadow, which may decline)
    const float* a = nullptr;
    if (cpu_has_avx2() && m * n >= (int64_t{1} << 16)) {
      if constexpr (std::is_same_v<T, float>) {
        a = A;
      } else if (tol >= kShadowMinTol) {
        a = float32_shadow(A, m, n, ws);
      }
    }
    if (a) {
      const F32Vectors f32 = f32_vectors(ws.f32, n);
      auto fast = [&](const double* x, double* y) {
        gram_apply_f32fast(a, m, n, x, y, f32.v, f32.w);
      };
      res = lanczos2(fast, apply, true, n, v, tol, max_iter, max_basis, ws, gap);
      if constexpr (!std::is_same_v<T, float>) release_shadow(ws);
    } else {
      res = lanczos(apply, n, v, tol, max_iter, max_basis, ws, gap);
    }
#else
    res = lanczos(apply, n, v, tol, max_iter, max_basis, ws, gap);
#endif
  }
  if (u && res.status != kNonFiniteInput) left_vector(A, m, n, v, u, ws);
  return res;
}

// Top singular value of one complex m x n matrix stored as interleaved (re, im) doubles. `v`: 2n
// doubles (the start vector, all zeros for a random one; the right singular vector on exit).
inline Result top_singular_complex(const double* A, int64_t m, int64_t n, double* v, Method method,
                                   double tol, int32_t max_iter, int32_t max_basis, uint64_t seed,
                                   Workspace& ws) {
  const int64_t n2 = 2 * n;
  start_vector(v, n2, seed);
  std::vector<double> v12(static_cast<size_t>(4 * n));
  auto apply = [&](const double* x, double* y) { gram_apply_complex(A, m, n, x, y, v12.data()); };
  return method == kPower ? power(apply, n2, v, tol, max_iter, ws)
                          : lanczos(apply, n2, v, tol, max_iter, max_basis, ws);
}

}  // namespace infotheory::spectral
