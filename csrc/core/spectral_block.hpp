// Block Lanczos for the top singular value of a dense matrix: Lanczos on A^T A with a block of
// p = 2..4 vectors, applied by one fused pass over A (spectral.hpp applies one vector per pass).
//
// The pass is memory-bound for one vector: reading a row costs about as much as the two FMAs per
// entry that use it. With p vectors each row feeds 2p FMAs, so a pass costs little more than a
// single-vector one until the arithmetic catches up with the memory traffic, while the block Krylov
// space needs fewer passes to reach the same residual (about 0.55x at p = 4 on Gaussian matrices:
// block Lanczos converges at the rate of the gap sigma_1 - sigma_{p+1}, not sigma_1 - sigma_2).
//
// Full reorthogonalisation (classical Gram-Schmidt against the whole basis, repeated when it removed
// much) and the certificate of spectral.hpp: the stopping test is the residual norm of the top Ritz
// pair, ||B y - theta y||^2 = ||T s - theta s||^2 + ||R_k s_k||^2 (T the block tridiagonal
// projection, R_k the last block's QR factor, s_k the last p entries of the Ritz vector), and the
// final bracket comes from one more exact application of B = A^T A to the unit Ritz vector y:
// [sqrt(theta), sqrt(theta + ||B y - theta y||)], as for single-vector Lanczos.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "spectral.hpp"

namespace infotheory::spectral {

constexpr int kMaxBlock = 4;

// ---------------------------------------------------------------------------------------------
// Fused block pass: W_c = A^T (A V_c) for c < P. V and W hold P vectors of length n, one after the
// other (stride n). Double accumulation.

template <int P, class T>
void gram_block_generic(const T* A, int64_t m, int64_t n, const double* V, double* W) {
  std::fill(W, W + P * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    const T* r = A + i * n;
    double s[P] = {};
    for (int64_t j = 0; j < n; ++j) {
      const double a = load_d(r, j);
      for (int c = 0; c < P; ++c) s[c] += a * V[c * n + j];
    }
    for (int64_t j = 0; j < n; ++j) {
      const double a = load_d(r, j);
      for (int c = 0; c < P; ++c) W[c * n + j] += s[c] * a;
    }
  }
}

#ifdef INFOTHEORY_SPECTRAL_X86
// R rows at a time: the R x P dot products over the whole rows (register tile), then the axpys
// W_c += s_rc a_r over the same rows (now in L1/L2) while prefetching the next R rows, so that
// memory requests keep flowing during the second phase.
template <int P, int R, class T>
__attribute__((target("avx2,fma"))) void gram_block_avx2(const T* A, int64_t m, int64_t n,
                                                         const double* V, double* W) {
  std::fill(W, W + P * n, 0.0);
  const int64_t n4 = n - n % 4;
  constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T)) - 1;  // prefetch once a line
  int64_t i = 0;
  for (; i + R <= m; i += R) {
    const T* r0 = A + i * n;
    __m256d acc[R][P];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) acc[r][c] = _mm256_setzero_pd();
    }
    for (int64_t j = 0; j < n4; j += 4) {
      __m256d a[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) a[r] = load4(r0 + r * n + j);
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) {
        const __m256d x = _mm256_loadu_pd(V + c * n + j);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_pd(a[r], x, acc[r][c]);
      }
    }
    double s[R][P];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) s[r][c] = hsum(acc[r][c]);
    }
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < P; ++c) {
        for (int64_t j = n4; j < n; ++j) s[r][c] += load_d(r0 + r * n, j) * V[c * n + j];
      }
    }
    __m256d cs[R][P];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) cs[r][c] = _mm256_set1_pd(s[r][c]);
    }
    const bool pf = i + 2 * R <= m;
    const T* nx = r0 + R * n;
    for (int64_t j = 0; j < n4; j += 4) {
      if (pf && (j & kLine) == 0) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(nx + r * n + j), _MM_HINT_T0);
        }
      }
      __m256d a[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) a[r] = load4(r0 + r * n + j);
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) {
        __m256d w = _mm256_loadu_pd(W + c * n + j);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) w = _mm256_fmadd_pd(cs[r][c], a[r], w);
        _mm256_storeu_pd(W + c * n + j, w);
      }
    }
    for (int64_t j = n4; j < n; ++j) {
      for (int c = 0; c < P; ++c) {
        double t = 0.0;
        for (int r = 0; r < R; ++r) t += s[r][c] * load_d(r0 + r * n, j);
        W[c * n + j] += t;
      }
    }
  }
  for (; i < m; ++i) {  // the last m % R rows
    const T* r = A + i * n;
    double s[P] = {};
    for (int64_t j = 0; j < n; ++j) {
      for (int c = 0; c < P; ++c) s[c] += load_d(r, j) * V[c * n + j];
    }
    for (int64_t j = 0; j < n; ++j) {
      for (int c = 0; c < P; ++c) W[c * n + j] += s[c] * load_d(r, j);
    }
  }
}

// The float32-arithmetic twin for float32 matrices (as gram_apply_f32fast: float32 products, dots
// flushed into double every kF32Chunk columns, the W accumulators every 64 rows): a relative error
// of about 1e-7 per application, for iterating; the certificate uses the double kernel.
// `f32`: work space of 2 P n floats.
template <int P, int R>
__attribute__((target("avx2,fma"))) void gram_block_f32(const float* A, int64_t m, int64_t n,
                                                        const double* V, double* W, float* f32) {
  float* V32 = f32;
  float* W32 = f32 + P * n;
  for (int64_t j = 0; j < P * n; ++j) V32[j] = static_cast<float>(V[j]);
  std::fill(W, W + P * n, 0.0);
  std::fill(W32, W32 + P * n, 0.0f);
  const int64_t n8 = n - n % 8;
  constexpr int64_t kFlushRows = 64;
  int64_t since_flush = 0;
  int64_t i = 0;
  for (; i + R <= m; i += R) {
    const float* r0 = A + i * n;
    double s[R][P] = {};
    for (int64_t j0 = 0; j0 < n8; j0 += kF32Chunk) {
      const int64_t j1 = std::min(n8, j0 + kF32Chunk);
      __m256 acc[R][P];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
        for (int c = 0; c < P; ++c) acc[r][c] = _mm256_setzero_ps();
      }
      for (int64_t j = j0; j < j1; j += 8) {
        __m256 a[R];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) a[r] = _mm256_loadu_ps(r0 + r * n + j);
#pragma GCC unroll 16
        for (int c = 0; c < P; ++c) {
          const __m256 x = _mm256_loadu_ps(V32 + c * n + j);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(a[r], x, acc[r][c]);
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
        for (int c = 0; c < P; ++c) s[r][c] += hsum8(acc[r][c]);
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < P; ++c) {
        for (int64_t j = n8; j < n; ++j) s[r][c] += static_cast<double>(r0[r * n + j]) * V[c * n + j];
      }
    }
    __m256 cs[R][P];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) cs[r][c] = _mm256_set1_ps(static_cast<float>(s[r][c]));
    }
    const bool pf = i + 2 * R <= m;
    const float* nx = r0 + R * n;
    for (int64_t j = 0; j < n8; j += 8) {
      if (pf && (j & 15) == 0) {
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          _mm_prefetch(reinterpret_cast<const char*>(nx + r * n + j), _MM_HINT_T0);
        }
      }
      __m256 a[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) a[r] = _mm256_loadu_ps(r0 + r * n + j);
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) {
        __m256 w = _mm256_loadu_ps(W32 + c * n + j);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) w = _mm256_fmadd_ps(cs[r][c], a[r], w);
        _mm256_storeu_ps(W32 + c * n + j, w);
      }
    }
    for (int64_t j = n8; j < n; ++j) {
      for (int c = 0; c < P; ++c) {
        double t = 0.0;
        for (int r = 0; r < R; ++r) t += s[r][c] * static_cast<double>(r0[r * n + j]);
        W[c * n + j] += t;
      }
    }
    since_flush += R;
    if (since_flush >= kFlushRows || i + 2 * R > m) {
      for (int64_t j = 0; j < P * n; ++j) {
        W[j] += static_cast<double>(W32[j]);
        W32[j] = 0.0f;
      }
      since_flush = 0;
    }
  }
  for (; i < m; ++i) {
    const float* r = A + i * n;
    double s[P] = {};
    for (int64_t j = 0; j < n; ++j) {
      for (int c = 0; c < P; ++c) s[c] += static_cast<double>(r[j]) * V[c * n + j];
    }
    for (int64_t j = 0; j < n; ++j) {
      for (int c = 0; c < P; ++c) W[c * n + j] += s[c] * static_cast<double>(r[j]);
    }
  }
}
#endif

#ifdef INFOTHEORY_SPECTRAL_X86
// s[r][c] = row r . V_c for the R rows at r0 (float32 products, partial sums flushed into double
// every kF32Chunk columns; the columns from n8 on in double).
template <int P, int R>
__attribute__((target("avx2,fma"))) inline void dots_f32(const float* r0, int64_t n,
                                                        const float* V32, const double* V,
                                                        double* s) {
  const int64_t n8 = n - n % 8;
  for (int q = 0; q < R * P; ++q) s[q] = 0.0;
  for (int64_t j0 = 0; j0 < n8; j0 += kF32Chunk) {
    const int64_t j1 = std::min(n8, j0 + kF32Chunk);
    __m256 acc[R][P];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) acc[r][c] = _mm256_setzero_ps();
    }
    for (int64_t j = j0; j < j1; j += 8) {
      __m256 a[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) a[r] = _mm256_loadu_ps(r0 + r * n + j);
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) {
        const __m256 x = _mm256_loadu_ps(V32 + c * n + j);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(a[r], x, acc[r][c]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) s[r * P + c] += hsum8(acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < P; ++c) {
      for (int64_t j = n8; j < n; ++j) {
        s[r * P + c] += static_cast<double>(r0[r * n + j]) * V[c * n + j];
      }
    }
  }
}

// The float32-arithmetic pass by row panels, for p = 3, 4 (the two-phase kernel streams the P
// vectors of W through L1 once per R rows, which costs more than the arithmetic at p >= 3): the
// dot products of a panel of rows that stays in L2 first, then W += panel^T S by column chunks of
// 8 CC floats held in registers over all rows of the panel (float32 partial sums over at most
// kPanelRows rows, added into the double W), so W is read and written once per panel.
constexpr int64_t kPanelRows = 64;

template <int P, int R, int CC>
__attribute__((target("avx2,fma"))) void gram_block_f32_panel(const float* A, int64_t m,
                                                              int64_t n, const double* V,
                                                              double* W, float* f32) {
  float* V32 = f32;
  for (int64_t j = 0; j < P * n; ++j) V32[j] = static_cast<float>(V[j]);
  std::fill(W, W + P * n, 0.0);
  const int64_t ncc = n - n % (8 * CC);
  const int64_t rb = std::max<int64_t>(R, std::min<int64_t>(kPanelRows, (int64_t{1} << 16) / n) / R * R);
  double S[kPanelRows * P];
  alignas(32) float S32[kPanelRows * P];
  for (int64_t i0 = 0; i0 < m; i0 += rb) {
    const int64_t rows = std::min(rb, m - i0);
    const float* B = A + i0 * n;
    int64_t r = 0;
    for (; r + R <= rows; r += R) dots_f32<P, R>(B + r * n, n, V32, V, S + r * P);
    for (; r < rows; ++r) dots_f32<P, 1>(B + r * n, n, V32, V, S + r * P);
    for (int64_t q = 0; q < rows * P; ++q) S32[q] = static_cast<float>(S[q]);
    for (int64_t j = 0; j < ncc; j += 8 * CC) {
      __m256 acc[CC][P];
#pragma GCC unroll 16
      for (int k = 0; k < CC; ++k) {
#pragma GCC unroll 16
        for (int c = 0; c < P; ++c) acc[k][c] = _mm256_setzero_ps();
      }
      const float* row = B + j;
      for (int64_t q = 0; q < rows; ++q, row += n) {
        __m256 a[CC];
#pragma GCC unroll 16
        for (int k = 0; k < CC; ++k) a[k] = _mm256_loadu_ps(row + 8 * k);
#pragma GCC unroll 16
        for (int c = 0; c < P; ++c) {
          const __m256 sc = _mm256_broadcast_ss(S32 + q * P + c);
#pragma GCC unroll 16
          for (int k = 0; k < CC; ++k) acc[k][c] = _mm256_fmadd_ps(sc, a[k], acc[k][c]);
        }
      }
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) {
#pragma GCC unroll 16
        for (int k = 0; k < CC; ++k) {
          double* w = W + c * n + j + 8 * k;
          const __m256 x = acc[k][c];
          _mm256_storeu_pd(w, _mm256_add_pd(_mm256_loadu_pd(w),
                                            _mm256_cvtps_pd(_mm256_castps256_ps128(x))));
          _mm256_storeu_pd(w + 4, _mm256_add_pd(_mm256_loadu_pd(w + 4),
                                                _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
        }
      }
    }
    for (int64_t j = ncc; j < n; ++j) {
      for (int c = 0; c < P; ++c) {
        double x = 0.0;
        for (int64_t q = 0; q < rows; ++q) x += S[q * P + c] * static_cast<double>(B[q * n + j]);
        W[c * n + j] += x;
      }
    }
  }
}
#endif

// W = A^T (A V) for p = 1..kMaxBlock vectors, double accumulation; `kernel` 0: the portable loop,
// 1: AVX2/FMA where the CPU has it.
template <class T>
void gram_block(const T* A, int64_t m, int64_t n, int p, const double* V, double* W,
                int kernel = 1) {
#ifdef INFOTHEORY_SPECTRAL_X86
  if (kernel != 0 && cpu_has_avx2()) {
    switch (p) {
      case 1: gram_apply_avx2(A, m, n, V, W, nullptr); return;
      case 2: gram_block_avx2<2, 4>(A, m, n, V, W); return;
      case 3: gram_block_avx2<3, 2>(A, m, n, V, W); return;
      default: gram_block_avx2<4, 2>(A, m, n, V, W); return;
    }
  }
#endif
  switch (p) {
    case 1: gram_block_generic<1>(A, m, n, V, W); return;
    case 2: gram_block_generic<2>(A, m, n, V, W); return;
    case 3: gram_block_generic<3>(A, m, n, V, W); return;
    default: gram_block_generic<4>(A, m, n, V, W); return;
  }
}

// The float32-arithmetic block pass (AVX2 only: callers check cpu_has_avx2()); f32: 2 p n floats.
#ifdef INFOTHEORY_SPECTRAL_X86
inline void gram_block_fast(const float* A, int64_t m, int64_t n, int p, const double* V,
                            double* W, float* f32) {
  switch (p) {
    case 1: gram_apply_f32fast(A, m, n, V, W, f32, f32 + n); return;
    case 2: gram_block_f32<2, 4>(A, m, n, V, W, f32); return;
    case 3: gram_block_f32_panel<3, 4, 2>(A, m, n, V, W, f32); return;
    default: gram_block_f32_panel<4, 3, 2>(A, m, n, V, W, f32); return;
  }
}
#endif

// ---------------------------------------------------------------------------------------------
// Gram-Schmidt of p vectors W against N basis vectors Q (both stride n): C (N x p, row-major) =
// Q^T W, then W -= Q C.

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

// ---------------------------------------------------------------------------------------------
// Top eigenpair of the block tridiagonal T (N x N, row-major, leading dimension ld, bandwidth p).

// Is sigma I - T positive definite? Banded Cholesky into L (N x (p + 1): L[i (p+1) + d] = L(i, i-d)).
inline bool band_chol(const double* T, int64_t ld, int64_t N, int p, double sigma, double* L) {
  const int q = p + 1;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t j0 = std::max<int64_t>(0, i - p);
    for (int64_t j = j0; j <= i; ++j) {
      double sum = (i == j ? sigma : 0.0) - T[i * ld + j];
      for (int64_t k = std::max(j0, j - p); k < j; ++k) sum -= L[i * q + (i - k)] * L[j * q + (j - k)];
      if (j < i) {
        L[i * q + (i - j)] = sum / L[j * q];
      } else {
        if (!(sum > 0.0) || !std::isfinite(sum)) return false;
        L[i * q] = std::sqrt(sum);
      }
    }
  }
  return true;
}

// x := (L L^T)^{-1} x.
inline void band_solve(const double* L, int64_t N, int p, double* x) {
  const int q = p + 1;
  for (int64_t i = 0; i < N; ++i) {
    double t = x[i];
    for (int64_t k = std::max<int64_t>(0, i - p); k < i; ++k) t -= L[i * q + (i - k)] * x[k];
    x[i] = t / L[i * q];
  }
  for (int64_t i = N - 1; i >= 0; --i) {
    double t = x[i];
    for (int64_t k = i + 1; k <= std::min<int64_t>(N - 1, i + p); ++k) t -= L[k * q + (k - i)] * x[k];
    x[i] = t / L[i * q];
  }
}

// The largest eigenvalue lambda of T, bracketed by bisection on "sigma I - T is positive definite"
// (a Cholesky factorisation, backward stable) to 1e-9 relative, from [lo, Gershgorin bound]
// (`lo`: a lower bound, e.g. the previous top Ritz value); then s by three steps of inverse
// iteration at the upper end (s: the warm start on entry, the unit vector on exit). Returns the
// Rayleigh quotient s^T T s. L: N (p + 1) doubles.
inline double band_top_pair(const double* T, int64_t ld, int64_t N, int p, double lo, double hint,
                            double* s, double* L) {
  double hi = -inf(), dmax = -inf();
  for (int64_t i = 0; i < N; ++i) {
    double r = 0.0;
    for (int64_t j = std::max<int64_t>(0, i - p); j <= std::min<int64_t>(N - 1, i + p); ++j) {
      if (j != i) r += std::fabs(T[i * ld + j]);
    }
    hi = std::max(hi, T[i * ld + i] + r);
    dmax = std::max(dmax, T[i * ld + i]);
  }
  lo = std::max(lo, dmax);
  const double scale = std::max(std::fabs(hi), 1e-300);
  hi += 1e-12 * scale + 1e-300;
  if (!(lo < hi)) lo = hi - 1e-12 * scale;
  // a tighter upper end first: the top Ritz value grows little from step to step
  if (hint > 0.0 && lo + hint < hi && band_chol(T, ld, N, p, lo + hint, L)) hi = lo + hint;
  for (int it = 0; it < 200 && hi - lo > 1e-9 * scale; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (band_chol(T, ld, N, p, mid, L)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  while (!band_chol(T, ld, N, p, hi, L)) hi += std::max(hi - lo, 1e-12 * scale);
  double ns = norm2(s, N);
  if (!(ns > 0.0) || !std::isfinite(ns)) {
    for (int64_t i = 0; i < N; ++i) s[i] = 1.0;
  }
  for (int it = 0; it < 3; ++it) {
    band_solve(L, N, p, s);
    ns = norm2(s, N);
    if (!(ns > 0.0) || !std::isfinite(ns)) {
      for (int64_t i = 0; i < N; ++i) s[i] = i == 0 ? 1.0 : 0.0;
      break;
    }
    for (int64_t i = 0; i < N; ++i) s[i] /= ns;
  }
  double theta = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    double t = 0.0;
    for (int64_t j = std::max<int64_t>(0, i - p); j <= std::min<int64_t>(N - 1, i + p); ++j) {
      t += T[i * ld + j] * s[j];
    }
    theta += s[i] * t;
  }
  return theta;
}

// ---------------------------------------------------------------------------------------------
// The driver.

struct BlockWork {
  std::vector<double> Q, W, T, C, s, L, t;
  std::vector<float> f32;
};

// Orthonormalise column c of the block X (stride n) against the N basis vectors Q and the columns
// X[0..c), twice; R (p x p, row-major) receives the coefficients (column c). A column that was
// (numerically) in their span is replaced by a random vector made orthogonal to them, with
// R[c][c] = 0. Returns false when no such vector could be found (the space is exhausted).
inline bool orth_column(const double* Q, int64_t N, int64_t n, int p, double* X, int c, double* R,
                        double scale, uint64_t seed) {
  double* x = X + c * n;
  for (int pass = 0; pass < 2; ++pass) {
    for (int a = 0; a < c; ++a) {
      const double r = vdot(X + a * n, x, n);
      R[a * p + c] += r;
      vaxpy(-r, X + a * n, x, n);
    }
  }
  double nrm = norm2(x, n);
  if (nrm > 1e-10 * scale && std::isfinite(nrm)) {
    R[c * p + c] = nrm;
    for (int64_t j = 0; j < n; ++j) x[j] /= nrm;
    return true;
  }
  R[c * p + c] = 0.0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    random_start(x, n, seed + 0x51ED27ULL * static_cast<uint64_t>(attempt + 1));
    const double n0 = norm2(x, n);
    for (int pass = 0; pass < 3; ++pass) {
      for (int64_t i = 0; i < N; ++i) vaxpy(-vdot(Q + i * n, x, n), Q + i * n, x, n);
      for (int a = 0; a < c; ++a) vaxpy(-vdot(X + a * n, x, n), X + a * n, x, n);
    }
    nrm = norm2(x, n);
    if (nrm > 1e-6 * n0) {
      for (int64_t j = 0; j < n; ++j) x[j] /= nrm;
      return true;
    }
  }
  std::fill(x, x + n, 0.0);
  return false;
}

// Block Lanczos on B (order n) with block size p (2..kMaxBlock, and 4 p < n). `fast(V, W)` and
// `exact(V, W)` apply B to p vectors (the first drives the iteration when `distinct`; a certificate
// that misses tol after the estimate said converged switches to `exact`), `single(v, w)` to one
// vector for the certificate. v: the start vector on entry (completed to a block by random vectors
// from `seed`), the unit Ritz vector on exit. `iterations` counts passes (block applications)
// plus the certificate's single application. The basis holds at most max_basis vectors (rounded
// down to whole blocks), then restarts from the Ritz vector and the last residual block.
template <class Fast, class Exact, class Single>
Result block_lanczos(Fast&& fast, Exact&& exact, Single&& single, bool distinct, int64_t n, int p,
                     double* v, double tol, int32_t max_iter, int32_t max_basis, uint64_t seed,
                     BlockWork& bw, Workspace& ws) {
  Result res;
  const int64_t kmax = std::max<int64_t>(2 * p, std::min<int64_t>(max_basis, n) / p * p);
  bw.Q.resize(static_cast<size_t>(kmax * n));
  bw.W.resize(static_cast<size_t>(p * n));
  bw.T.resize(static_cast<size_t>(kmax * kmax));
  bw.C.resize(static_cast<size_t>(kmax * p));
  bw.s.resize(static_cast<size_t>(kmax));
  bw.t.resize(static_cast<size_t>(kmax));
  bw.L.resize(static_cast<size_t>(kmax * (p + 1)));
  ws.w.resize(static_cast<size_t>(n));
  double* Q = bw.Q.data();
  double* W = bw.W.data();
  double* T = bw.T.data();
  double* C = bw.C.data();
  double* s = bw.s.data();
  double R[kMaxBlock * kMaxBlock];
  double nv = norm2(v, n);
  if (!(nv > 0.0) || !std::isfinite(nv)) {
    random_start(v, n, seed);
    nv = norm2(v, n);
  }
  // the start block: v and p - 1 random vectors
  std::copy(v, v + n, Q);
  for (int c = 1; c < p; ++c) random_start(Q + c * n, n, seed + 0x9E37ULL * static_cast<uint64_t>(c));
  // the fast operator's rounding (about 1e-7 relative) must not eat the certificate's margin
  double want = distinct ? 1.6 * tol : 1.9 * tol;
  uint64_t draws = seed + 1;
  for (;;) {
    std::fill(R, R + kMaxBlock * kMaxBlock, 0.0);
    for (int c = 0; c < p; ++c) orth_column(Q, 0, n, p, Q, c, R, 0.0, ++draws);
    std::fill(T, T + kmax * kmax, 0.0);
    int64_t N = 0;  // basis vectors whose block has been applied
    double theta = 0.0, est = inf(), step = 0.0;
    bool stopped = false;
    for (;;) {
      double* Qj = Q + N * n;
      if (distinct) {
        fast(Qj, W);
      } else {
        exact(Qj, W);
      }
      res.iterations += 1;
      if (!all_finite(W, p * n)) {
        res.status = kNonFiniteInput;
        return res;
      }
      const int64_t off = N;
      N += p;
      double before[kMaxBlock], scale = 0.0;
      for (int c = 0; c < p; ++c) {
        before[c] = norm2(W + c * n, n);
        scale = std::max(scale, before[c]);
      }
      // the three-term part (current and previous block), then the whole basis, then again
      // where that removed much (Kahan-Parlett)
      const int64_t local = std::min<int64_t>(N, 2 * p);
      project_out(Q + (N - local) * n, local, n, p, W, C);
      for (int a = 0; a < p; ++a) {
        for (int b = 0; b < p; ++b) T[(off + a) * kmax + off + b] = C[(local - p + a) * p + b];
      }
      for (int c = 0; c < p; ++c) before[c] = norm2(W + c * n, n);
      for (int pass = 0; pass < 2; ++pass) {
        project_out(Q, N, n, p, W, C);
        for (int a = 0; a < p; ++a) {
          for (int b = 0; b < p; ++b) T[(off + a) * kmax + off + b] += C[(off + a) * p + b];
        }
        bool again = false;
        for (int c = 0; c < p; ++c) {
          const double after = norm2(W + c * n, n);
          again = again || after < 0.7 * before[c];
          before[c] = after;
        }
        if (!again) break;
      }
      for (int a = 0; a < p; ++a) {  // symmetrise the diagonal block
        for (int b = 0; b < a; ++b) {
          const double x = 0.5 * (T[(off + a) * kmax + off + b] + T[(off + b) * kmax + off + a]);
          T[(off + a) * kmax + off + b] = T[(off + b) * kmax + off + a] = x;
        }
      }
      // QR of the residual block: W = Q_next R
      std::fill(R, R + kMaxBlock * kMaxBlock, 0.0);
      bool full = false;
      for (int c = 0; c < p; ++c) {
        full = !orth_column(Q, N, n, p, W, c, R, scale, ++draws) || full;
      }
      // Ritz pair of T (N x N) from the previous one extended by zeros
      std::fill(s + off, s + N, 0.0);
      if (off == 0) s[0] = 1.0;
      const double prev = theta;
      theta = band_top_pair(T, kmax, N, p, prev, step, s, bw.L.data());
      step = off ? 4.0 * std::max(theta - prev, 1e-3 * est) : 0.0;
      double r2 = 0.0;
      for (int64_t i = 0; i < N; ++i) {
        double t = -theta * s[i];
        for (int64_t j = std::max<int64_t>(0, i - p); j <= std::min<int64_t>(N - 1, i + p); ++j) {
          t += T[i * kmax + j] * s[j];
        }
        r2 += t * t;
      }
      for (int a = 0; a < p; ++a) {
        double t = 0.0;
        for (int b = a; b < p; ++b) t += R[a * p + b] * s[off + b];
        r2 += t * t;
      }
      est = std::sqrt(r2);
      stopped = full || est <= want * theta || N >= n;
      if (stopped || N + p > kmax || N + p > n || res.iterations + 1 >= max_iter) break;
      std::copy(W, W + p * n, Q + N * n);
      for (int a = 0; a < p; ++a) {
        for (int b = 0; b < p; ++b) {
          T[(N + a) * kmax + off + b] = T[(off + b) * kmax + N + a] = R[a * p + b];
        }
      }
    }
    // Ritz vector y = Q s
    std::fill(v, v + n, 0.0);
    for (int64_t i = 0; i < N; ++i) vaxpy(s[i], Q + i * n, v, n);
    const double ny = norm2(v, n);
    if (ny > 0.0) {
      for (int64_t j = 0; j < n; ++j) v[j] /= ny;
    }
    certify(single, v, n, ws.w.data(), res);
    if (!all_finite(ws.w.data(), n)) {
      res.status = kNonFiniteInput;
      return res;
    }
    if (bracket_ok(res, tol)) return res;
    if (res.iterations + 1 >= max_iter) {
      res.status = kNoConvergence;
      return res;
    }
    if (stopped && distinct) {
      distinct = false;
      want = 1.9 * tol;
    }
    // restart from the Ritz vector and the residual block
    std::copy(v, v + n, Q);
    std::copy(W, W + (p - 1) * n, Q + n);
  }
}

// Top singular value of one row-major m x n matrix by block Lanczos (block size p); arguments and
// outputs as top_singular. Float32 matrices of 65536 entries or more iterate with the
// float32-arithmetic pass (AVX2) and certify with the double one.
template <class T>
Result top_singular_block(const T* A, int64_t m, int64_t n, double* v, double* u, int p,
                          double tol, int32_t max_iter, int32_t max_basis, uint64_t seed,
                          Workspace& ws, BlockWork& bw) {
  if (p < 2 || n <= 4 * static_cast<int64_t>(p)) {
    return top_singular(A, m, n, v, u, kLanczos, tol, max_iter, max_basis, seed, ws);
  }
  bool any = false;
  for (int64_t j = 0; j < n && !any; ++j) any = v[j] != 0.0;
  if (!any) random_start(v, n, seed);
  auto exact = [&](const double* V, double* W) { gram_block(A, m, n, p, V, W); };
  auto single = [&](const double* x, double* y) { gram_apply(A, m, n, x, y, nullptr); };
  bool fast = false;
  const float* a32 = nullptr;  // float64 matrices: the float32 copy (see kShadowMinTol)
#ifdef INFOTHEORY_SPECTRAL_X86
  if constexpr (std::is_same_v<T, float>) {
    fast = cpu_has_avx2() && m * n >= (int64_t{1} << 16);
  } else {
    if (cpu_has_avx2() && m * n >= (int64_t{1} << 16) && tol >= kShadowMinTol) {
      a32 = float32_shadow(A, m, n, ws);
    }
    fast = a32 != nullptr;
  }
#endif
  auto quick = [&](const double* V, double* W) {
#ifdef INFOTHEORY_SPECTRAL_X86
    if (fast) {
      bw.f32.resize(static_cast<size_t>(2 * p * n));
      if constexpr (std::is_same_v<T, float>) {
        gram_block_fast(A, m, n, p, V, W, bw.f32.data());
      } else {
        gram_block_fast(a32, m, n, p, V, W, bw.f32.data());
      }
      return;
    }
#endif
    gram_block(A, m, n, p, V, W);
  };
  Result res = block_lanczos(quick, exact, single, fast, n, p, v, tol, max_iter, max_basis, seed,
                             bw, ws);
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

}  // namespace infotheory::spectral
