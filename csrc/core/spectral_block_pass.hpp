// The fused block pass of block Lanczos (spectral_block.hpp): W_c = A^T (A V_c) for p = 1..4
// vectors V_c in one pass over the rows of A, so that A is read from memory once for the whole
// block. A portable loop, an AVX2 twin with double accumulation (the certificate's precision) and
// float32-arithmetic twins for iterating on float32 data (as gram_apply_f32fast in spectral.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "spectral.hpp"

namespace infotheory::spectral {

constexpr int kMaxBlock = 4;

// ---------------------------------------------------------------------------------------------
// Fused block pass: W_c = A^T (A V_c) for c < P. V and W hold P vectors of length n, one after the
// other (stride n). Double accumulation.

// W_c += A_i^T (A_i V_c) for the rows i0 <= i < m, one row at a time in double: the portable pass
// and the last rows of the AVX2 passes below (inlined there, so compiled for their target).
template <int P, class T>
__attribute__((always_inline)) inline void gram_block_rows(const T* A, int64_t i0, int64_t m,
                                                           int64_t n, const double* V, double* W) {
  for (int64_t i = i0; i < m; ++i) {
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

template <int P, class T>
void gram_block_generic(const T* A, int64_t m, int64_t n, const double* V, double* W) {
  std::fill(W, W + P * n, 0.0);
  gram_block_rows<P>(A, 0, m, n, V, W);
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
  gram_block_rows<P>(A, i, m, n, V, W);  // the last m % R rows
}

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
    double s[R][P];
    dots_f32<P, R>(r0, n, V32, V, &s[0][0]);
    __m256 cs[R][P];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < P; ++c) cs[r][c] = _mm256_set1_ps(static_cast<float>(s[r][c]));
    }
    // no software prefetch of the next rows here: it measured 5-15% slower at n = 1000 to 4096
    // (the hardware prefetcher keeps up; the prefetches compete with the axpys' loads)
    for (int64_t j = 0; j < n8; j += 8) {
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
  gram_block_rows<P>(A, i, m, n, V, W);
}
#endif

#ifdef INFOTHEORY_SPECTRAL_X86

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

// Floats of work space that gram_block_fast needs for p vectors of length n (on a 32-byte
// boundary): V32 and W32, p n floats each, or gram_apply_f32fast's two work vectors for p = 1.
inline int64_t block_fast_floats(int64_t p, int64_t n) {
  return 2 * std::max(p * n, f32_vector_floats(n));
}

// The float32-arithmetic block pass (AVX2 only: callers check cpu_has_avx2()); `f32`:
// block_fast_floats(p, n) floats on a 32-byte boundary.
#ifdef INFOTHEORY_SPECTRAL_X86
inline void gram_block_fast(const float* A, int64_t m, int64_t n, int p, const double* V,
                            double* W, float* f32) {
  switch (p) {
    case 1: gram_apply_f32fast(A, m, n, V, W, f32, f32 + f32_vector_floats(n)); return;
    case 2: gram_block_f32<2, 4>(A, m, n, V, W, f32); return;
    case 3: gram_block_f32_panel<3, 4, 2>(A, m, n, V, W, f32); return;
    default: gram_block_f32_panel<4, 3, 2>(A, m, n, V, W, f32); return;
  }
}
#endif

}  // namespace infotheory::spectral
