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
#include <vector>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define INFOTHEORY_SPECTRAL_X86 1
#include <immintrin.h>
#endif

#include "common.hpp"

namespace infotheory::spectral {

enum Method : int32_t { kPower = 0, kLanczos = 1 };

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

template <class T>
__attribute__((target("avx2,fma"))) void gram_apply_avx2(const T* A, int64_t m, int64_t n,
                                                         const double* v, double* w, double* Av) {
  std::fill(w, w + n, 0.0);
  const int64_t n8 = n - n % 8, n4 = n - n % 4;
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    const T* r0 = A + i * n;
    const T* r1 = r0 + n;
    const T* r2 = r1 + n;
    const T* r3 = r2 + n;
    // two accumulators a row: eight independent FMA chains hide the FMA latency
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t j = 0;
    for (; j < n8; j += 8) {
      const __m256d v0 = _mm256_loadu_pd(v + j), v1 = _mm256_loadu_pd(v + j + 4);
      a0 = _mm256_fmadd_pd(load4(r0 + j), v0, a0);
      a1 = _mm256_fmadd_pd(load4(r1 + j), v0, a1);
      a2 = _mm256_fmadd_pd(load4(r2 + j), v0, a2);
      a3 = _mm256_fmadd_pd(load4(r3 + j), v0, a3);
      b0 = _mm256_fmadd_pd(load4(r0 + j + 4), v1, b0);
      b1 = _mm256_fmadd_pd(load4(r1 + j + 4), v1, b1);
      b2 = _mm256_fmadd_pd(load4(r2 + j + 4), v1, b2);
      b3 = _mm256_fmadd_pd(load4(r3 + j + 4), v1, b3);
    }
    for (; j < n4; j += 4) {
      const __m256d v0 = _mm256_loadu_pd(v + j);
      a0 = _mm256_fmadd_pd(load4(r0 + j), v0, a0);
      a1 = _mm256_fmadd_pd(load4(r1 + j), v0, a1);
      a2 = _mm256_fmadd_pd(load4(r2 + j), v0, a2);
      a3 = _mm256_fmadd_pd(load4(r3 + j), v0, a3);
    }
    double s0 = hsum(_mm256_add_pd(a0, b0)), s1 = hsum(_mm256_add_pd(a1, b1));
    double s2 = hsum(_mm256_add_pd(a2, b2)), s3 = hsum(_mm256_add_pd(a3, b3));
    for (; j < n; ++j) {
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
    const __m256d c0 = _mm256_set1_pd(s0), c1 = _mm256_set1_pd(s1);
    const __m256d c2 = _mm256_set1_pd(s2), c3 = _mm256_set1_pd(s3);
    for (j = 0; j < n4; j += 4) {
      __m256d acc = _mm256_loadu_pd(w + j);
      acc = _mm256_fmadd_pd(c0, load4(r0 + j), acc);
      acc = _mm256_fmadd_pd(c1, load4(r1 + j), acc);
      acc = _mm256_fmadd_pd(c2, load4(r2 + j), acc);
      acc = _mm256_fmadd_pd(c3, load4(r3 + j), acc);
      _mm256_storeu_pd(w + j, acc);
    }
    for (; j < n; ++j) {
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
// Small vector helpers (double).

inline double dot(const double* a, const double* b, int64_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    s0 += a[j] * b[j];
    s1 += a[j + 1] * b[j + 1];
    s2 += a[j + 2] * b[j + 2];
    s3 += a[j + 3] * b[j + 3];
  }
  for (; j < n; ++j) s0 += a[j] * b[j];
  return (s0 + s1) + (s2 + s3);
}

inline double norm2(const double* a, int64_t n) { return std::sqrt(dot(a, a, n)); }

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

// ---------------------------------------------------------------------------------------------
// Symmetric tridiagonal T (diagonal a[0..k), off-diagonal b[0..k-1)): largest eigenvalue by Sturm
// bisection, its eigenvector by inverse iteration.

inline int64_t sturm_below(const double* a, const double* b, int64_t k, double x) {
  int64_t count = 0;
  double d = 1.0;
  for (int64_t i = 0; i < k; ++i) {
    const double off = i ? b[i - 1] * b[i - 1] / d : 0.0;
    d = a[i] - x - off;
    if (d == 0.0) d = -1e-300;
    count += d < 0.0;
  }
  return count;
}

inline double tridiag_top(const double* a, const double* b, int64_t k, double lo_hint) {
  double lo = lo_hint, hi = -inf();
  double glo = inf();
  for (int64_t i = 0; i < k; ++i) {
    const double r = (i ? std::fabs(b[i - 1]) : 0.0) + (i + 1 < k ? std::fabs(b[i]) : 0.0);
    hi = std::max(hi, a[i] + r);
    glo = std::min(glo, a[i] - r);
  }
  if (!(lo >= glo) || lo > hi) lo = glo;
  for (int it = 0; it < 200 && hi - lo > 4e-16 * std::max(std::fabs(hi), std::fabs(lo)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (sturm_below(a, b, k, mid) == k) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

// Solve (T - shift I) x = rhs in place (tridiagonal Gaussian elimination with partial pivoting).
inline void tridiag_solve(const double* a, const double* b, int64_t k, double shift, double* x,
                          std::vector<double>& ws) {
  ws.assign(static_cast<size_t>(4 * k), 0.0);
  double* d = ws.data();  // diagonal
  double* du = d + k;     // first super-diagonal
  double* du2 = du + k;   // second super-diagonal (fill-in from pivoting)
  double* dl = du2 + k;   // sub-diagonal
  for (int64_t i = 0; i < k; ++i) {
    d[i] = a[i] - shift;
    if (i + 1 < k) du[i] = dl[i] = b[i];
  }
  const double tiny = 1e-300 + 1e-15 * (std::fabs(shift) + 1e-300);
  for (int64_t i = 0; i + 1 < k; ++i) {
    if (std::fabs(d[i]) >= std::fabs(dl[i])) {
      if (d[i] == 0.0) d[i] = tiny;
      const double f = dl[i] / d[i];
      d[i + 1] -= f * du[i];
      x[i + 1] -= f * x[i];
      dl[i] = 0.0;
    } else {  // swap rows i and i+1
      const double f = d[i] / dl[i];
      d[i] = dl[i];
      const double t = d[i + 1];
      d[i + 1] = du[i] - f * t;
      du[i] = t;
      if (i + 2 < k) {
        du2[i] = du[i + 1];
        du[i + 1] = -f * du2[i];
      }
      std::swap(x[i], x[i + 1]);
      x[i + 1] -= f * x[i];
    }
  }
  if (d[k - 1] == 0.0) d[k - 1] = tiny;
  x[k - 1] /= d[k - 1];
  if (k > 1) x[k - 2] = (x[k - 2] - du[k - 2] * x[k - 1]) / d[k - 2];
  for (int64_t i = k - 3; i >= 0; --i) {
    x[i] = (x[i] - du[i] * x[i + 1] - du2[i] * x[i + 2]) / d[i];
  }
}

inline void tridiag_vector(const double* a, const double* b, int64_t k, double theta, double* s,
                           std::vector<double>& ws) {
  for (int64_t i = 0; i < k; ++i) s[i] = 1.0;
  for (int it = 0; it < 3; ++it) {
    tridiag_solve(a, b, k, theta, s, ws);
    const double nrm = norm2(s, k);
    if (!(nrm > 0.0) || !std::isfinite(nrm)) {
      for (int64_t i = 0; i < k; ++i) s[i] = i == 0 ? 1.0 : 0.0;
      return;
    }
    for (int64_t i = 0; i < k; ++i) s[i] /= nrm;
  }
}

// Top eigenpair of T from a guess (s of length k, theta): Rayleigh-quotient iteration, O(k) a
// step, then one Sturm count to confirm that nothing lies above; bisection when that fails. Lanczos
// calls this every step with the previous Ritz vector extended by a zero, where RQI converges in
// one to three steps; bisection alone costs some fifty Sturm sweeps a step.
inline double tridiag_top_pair(const double* a, const double* b, int64_t k, double theta, double* s,
                               std::vector<double>& ws, std::vector<double>& x) {
  x.resize(static_cast<size_t>(k));
  double rho = theta;
  bool ok = false;
  for (int it = 0; it < 8; ++it) {
    // rho = s^T T s, residual ||T s - rho s||
    double q = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      double ts = a[i] * s[i];
      if (i > 0) ts += b[i - 1] * s[i - 1];
      if (i + 1 < k) ts += b[i] * s[i + 1];
      x[static_cast<size_t>(i)] = ts;
      q += s[i] * ts;
    }
    rho = q;
    double r2 = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      const double d = x[static_cast<size_t>(i)] - rho * s[i];
      r2 += d * d;
    }
    const double scale = std::max(std::fabs(rho), 1e-300);
    if (std::sqrt(r2) <= 1e-14 * scale) {
      ok = true;
      break;
    }
    std::copy(s, s + k, x.begin());
    tridiag_solve(a, b, k, rho, x.data(), ws);
    const double nrm = norm2(x.data(), k);
    if (!(nrm > 0.0) || !std::isfinite(nrm)) break;
    for (int64_t i = 0; i < k; ++i) s[i] = x[static_cast<size_t>(i)] / nrm;
  }
  if (ok) {
    const double above = rho + 1e-12 * std::max(std::fabs(rho), 1e-300);
    if (sturm_below(a, b, k, above) == k) return rho;
  }
  const double top = tridiag_top(a, b, k, 0.0);
  tridiag_vector(a, b, k, top, s, ws);
  return top;
}

// ---------------------------------------------------------------------------------------------
// Solvers. `apply(v, w)` computes w = B v for a symmetric positive semi-definite B of order n.
// `v` holds the start vector on entry and the final unit vector on exit. Workspace is reused.

struct Workspace {
  std::vector<double> w, basis, alpha, beta, s, tri, x;
};

inline bool all_finite(const double* x, int64_t n) {
  double acc = 0.0;
  for (int64_t j = 0; j < n; ++j) acc += x[j] * 0.0;  // inf * 0 and NaN * 0 are NaN
  return acc == 0.0;
}

// Certificate from one application of B to unit y (see the header comment).
template <class Apply>
void certify(Apply&& apply, double* y, int64_t n, double* w, Result& res) {
  apply(y, w);
  res.iterations += 1;
  const double theta = std::max(0.0, dot(y, w, n));
  double r2 = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const double d = w[j] - theta * y[j];
    r2 += d * d;
  }
  res.sigma = res.lower = std::sqrt(theta);
  res.upper = std::sqrt(theta + std::sqrt(r2));
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
template <class Apply>
Result lanczos(Apply&& apply, int64_t n, double* v, double tol, int32_t max_iter, int32_t max_basis,
               Workspace& ws) {
  Result res;
  const int64_t kmax = std::max<int64_t>(2, std::min<int64_t>(max_basis, n + 1));
  ws.w.resize(static_cast<size_t>(n));
  ws.basis.resize(static_cast<size_t>(kmax * n));
  ws.alpha.resize(static_cast<size_t>(kmax));
  ws.beta.resize(static_cast<size_t>(kmax));
  ws.s.resize(static_cast<size_t>(kmax));
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
  const double want = 1.9 * tol;
  for (;;) {
    std::copy(v, v + n, Q);
    int64_t k = 0;
    double theta = 0.0, est = inf();
    bool invariant = false;
    for (;;) {
      double* q = Q + k * n;
      apply(q, w);
      res.iterations += 1;
      if (!all_finite(w, n)) {
        res.status = kNonFiniteInput;
        return res;
      }
      al[k] = dot(q, w, n);
      // full reorthogonalisation, two classical Gram-Schmidt passes ("twice is enough")
      for (int pass = 0; pass < 2; ++pass) {
        for (int64_t i = 0; i <= k; ++i) {
          const double* qi = Q + i * n;
          const double c = dot(qi, w, n);
          for (int64_t j = 0; j < n; ++j) w[j] -= c * qi[j];
        }
      }
      const double b = norm2(w, n);
      be[k] = b;
      ++k;
      s[k - 1] = k == 1 ? 1.0 : 0.0;  // previous Ritz vector, extended by a zero
      theta = tridiag_top_pair(al, be, k, theta, s, ws.tri, ws.x);
      est = b * std::fabs(s[k - 1]);
      invariant = !(b > 1e-14 * std::max(theta, 1e-300)) || k >= n;
      if (invariant || est <= want * theta || k >= kmax ||
          res.iterations + 1 >= max_iter) {
        break;
      }
      double* qn = Q + k * n;
      for (int64_t j = 0; j < n; ++j) qn[j] = w[j] / b;
    }
    // Ritz vector y = Q s into v
    std::fill(v, v + n, 0.0);
    for (int64_t i = 0; i < k; ++i) {
      const double c = s[i];
      const double* qi = Q + i * n;
      for (int64_t j = 0; j < n; ++j) v[j] += c * qi[j];
    }
    const double ny = norm2(v, n);
    for (int64_t j = 0; j < n; ++j) v[j] /= ny;
    certify(apply, v, n, w, res);
    if (!all_finite(w, n)) {
      res.status = kNonFiniteInput;
      return res;
    }
    if (bracket_ok(res, tol)) return res;
    if (res.iterations >= max_iter) {
      res.status = kNoConvergence;
      return res;
    }
  }
}

// Top singular value of one row-major m x n matrix. `v` (length n): the start vector on entry (all
// zeros: a reproducible random start from `seed`), the right singular vector on exit. `u` (length m,
// may be null): the left singular vector A v / sigma.
template <class T>
Result top_singular(const T* A, int64_t m, int64_t n, double* v, double* u, Method method,
                    double tol, int32_t max_iter, int32_t max_basis, uint64_t seed, Workspace& ws) {
  bool any = false;
  for (int64_t j = 0; j < n && !any; ++j) any = v[j] != 0.0;
  if (!any) random_start(v, n, seed);
  auto apply = [&](const double* x, double* y) { gram_apply(A, m, n, x, y, nullptr); };
  Result res = method == kPower ? power(apply, n, v, tol, max_iter, ws)
                                : lanczos(apply, n, v, tol, max_iter, max_basis, ws);
  if (u && res.status != kNonFiniteInput) {
    ws.w.resize(static_cast<size_t>(n));
    gram_apply(A, m, n, v, ws.w.data(), u);
    const double nu = norm2(u, m);
    if (nu > 0.0) {
      for (int64_t i = 0; i < m; ++i) u[i] /= nu;
    }
  }
  return res;
}

// Top singular value of one complex m x n matrix stored as interleaved (re, im) doubles. `v`: 2n
// doubles (the start vector, all zeros for a random one; the right singular vector on exit).
inline Result top_singular_complex(const double* A, int64_t m, int64_t n, double* v, Method method,
                                   double tol, int32_t max_iter, int32_t max_basis, uint64_t seed,
                                   Workspace& ws) {
  const int64_t n2 = 2 * n;
  bool any = false;
  for (int64_t j = 0; j < n2 && !any; ++j) any = v[j] != 0.0;
  if (!any) random_start(v, n2, seed);
  std::vector<double> v12(static_cast<size_t>(4 * n));
  auto apply = [&](const double* x, double* y) { gram_apply_complex(A, m, n, x, y, v12.data()); };
  return method == kPower ? power(apply, n2, v, tol, max_iter, ws)
                          : lanczos(apply, n2, v, tol, max_iter, max_basis, ws);
}

}  // namespace infotheory::spectral
