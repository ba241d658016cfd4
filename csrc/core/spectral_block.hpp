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
#include <vector>

#include "spectral.hpp"
#include "spectral_block_pass.hpp"

namespace infotheory::spectral {

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

// s := (L L^T)^{-1} s, normalised, `times` times (inverse iteration at the factor's shift); where s
// collapses to zero or overflows, e_1 instead.
inline void band_inverse_iteration(const double* L, int64_t N, int p, double* s, int times) {
  for (int it = 0; it < times; ++it) {
    band_solve(L, N, p, s);
    const double ns = norm2(s, N);
    if (!(ns > 0.0) || !std::isfinite(ns)) {
      for (int64_t i = 0; i < N; ++i) s[i] = i == 0 ? 1.0 : 0.0;
      return;
    }
    for (int64_t i = 0; i < N; ++i) s[i] /= ns;
  }
}

// ||T s - theta s||^2 for the band matrix T (bandwidth p).
inline double band_residual2(const double* T, int64_t ld, int64_t N, int p, const double* s,
                             double theta) {
  double r2 = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    double t = -theta * s[i];
    for (int64_t j = std::max<int64_t>(0, i - p); j <= std::min<int64_t>(N - 1, i + p); ++j) {
      t += T[i * ld + j] * s[j];
    }
    r2 += t * t;
  }
  return r2;
}

// s^T T s for the band matrix T and unit s; r (where not null) receives ||T s - (s^T T s) s||.
inline double band_rayleigh(const double* T, int64_t ld, int64_t N, int p, const double* s,
                            double* r = nullptr) {
  double theta = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    double t = 0.0;
    for (int64_t j = std::max<int64_t>(0, i - p); j <= std::min<int64_t>(N - 1, i + p); ++j) {
      t += T[i * ld + j] * s[j];
    }
    theta += s[i] * t;
  }
  if (r) *r = std::sqrt(band_residual2(T, ld, N, p, s, theta));
  return theta;
}

// The largest eigenvalue lambda of T, bracketed to 1e-9 relative by "sigma I - T is positive
// definite" (a Cholesky factorisation, backward stable) from [lo, Gershgorin bound] (`lo`: a lower
// bound, e.g. the previous top Ritz value), and its vector s by inverse iteration at the upper end
// (s: the warm start on entry, the unit vector on exit). Returns the Rayleigh quotient s^T T s.
// L: N (p + 1) doubles.
//
// Each factorisation that succeeds at sigma (so lambda <= sigma) drives two steps of inverse
// iteration there; the Rayleigh quotient rho of the result is a lower bound on lambda, and its
// residual r puts an eigenvalue within r of rho, so the next factorisation is tried at rho + r.
// Where that eigenvalue is lambda it succeeds and the bracket shrinks about quadratically (the first
// factorisation at lo + hint, since the top Ritz value grows little from step to step, else at the
// Gershgorin bound); where it fails,
// lambda lies above rho + r and bisection finishes. Only the factorisations decide the upper end.
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
  const double resolution = 1e-9 * scale;
  hi += 1e-12 * scale + 1e-300;
  if (!(lo < hi)) lo = hi - 1e-12 * scale;
  double ns = norm2(s, N);
  if (!(ns > 0.0) || !std::isfinite(ns)) {
    for (int64_t i = 0; i < N; ++i) s[i] = 1.0;
  }
  bool factored = false;
  if (hint > 0.0 && lo + hint < hi) {
    factored = band_chol(T, ld, N, p, lo + hint, L);
    if (factored) {
      hi = lo + hint;
    } else {
      lo += hint;
    }
  }
  if (!factored) factored = band_chol(T, ld, N, p, hi, L);
  for (int cycle = 0; factored && cycle < 8; ++cycle) {
    band_inverse_iteration(L, N, p, s, 2);
    double r = 0.0;
    const double rho = band_rayleigh(T, ld, N, p, s, &r);
    lo = std::max(lo, rho);
    if (hi - rho <= resolution) return rho;  // rho <= lambda <= hi
    const double sigma = std::max(rho + r, lo + 0.5 * resolution);
    if (!(sigma < hi)) continue;  // more inverse iteration at hi first
    factored = band_chol(T, ld, N, p, sigma, L);
    if (factored) {
      hi = sigma;
    } else {
      lo = sigma;
    }
  }
  for (int it = 0; it < 200 && hi - lo > resolution; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (band_chol(T, ld, N, p, mid, L)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  while (!band_chol(T, ld, N, p, hi, L)) hi += std::max(hi - lo, 1e-12 * scale);
  band_inverse_iteration(L, N, p, s, 3);
  double rho = band_rayleigh(T, ld, N, p, s);
  // a warm start (numerically) orthogonal to the top eigenvector stays off it: iterate on until the
  // Rayleigh quotient reaches the bracket, then from a random vector
  for (int it = 0; it < 16 && rho < lo - resolution; ++it) {
    if (it == 8) random_start(s, N, 0x5EED5ULL);
    band_inverse_iteration(L, N, p, s, 1);
    rho = band_rayleigh(T, ld, N, p, s);
  }
  return rho;
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
      double r2 = band_residual2(T, kmax, N, p, s, theta);
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
  start_vector(v, n, seed);
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
      float* f32 = aligned_floats(bw.f32, block_fast_floats(p, n));
      if constexpr (std::is_same_v<T, float>) {
        gram_block_fast(A, m, n, p, V, W, f32);
      } else {
        gram_block_fast(a32, m, n, p, V, W, f32);
      }
      return;
    }
#endif
    gram_block(A, m, n, p, V, W);
  };
  Result res = block_lanczos(quick, exact, single, fast, n, p, v, tol, max_iter, max_basis, seed,
                             bw, ws);
  release_shadow(ws);
  if (u && res.status != kNonFiniteInput) left_vector(A, m, n, v, u, ws);
  return res;
}

}  // namespace infotheory::spectral
