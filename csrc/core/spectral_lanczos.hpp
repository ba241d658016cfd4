// Certified top singular value of one small dense matrix (min(m, n) <= 256) by a team of threads:
// the algorithm of the CUDA batched kernel (csrc/cuda/spectral_lanczos.cu: one thread block a
// matrix), written once against a `Team` so that the same code also runs on the CPU, where
// csrc/python/spectral_lanczos.cpp drives it with one or several std::threads standing in for the
// block (the only way to execute it without a GPU).
//
// It mirrors spectral::top_singular_gram (csrc/core/spectral.hpp): the float64 Gram matrix G
// (k x k, k = min(m, n): A^T A when n <= m, A A^T otherwise) is formed once; Lanczos with full
// reorthogonalisation iterates on G (classical Gram-Schmidt, repeated when it removed much: "twice
// is enough"), stopping on the same certificate, with the Kato-Temple estimate of the second Ritz
// pair (uncapped when a Cholesky certificate follows, capped or off otherwise: Params::gap_cap);
// the bracket's lower end is recomputed from A itself;
// the Cholesky certificate factors mu I - G for mu = max(upper^2, (lower (1 + tol/4))^2), then
// (lower (1 + 0.9 tol))^2, by the same dot-product (left-looking) algorithm, so the caller's
// rounding margin is the same.
//
// Team (every member runs the same code; all control flow below is uniform across the team):
//   rank(), size()             this thread and the team's size
//   group(), groups(), lane(), group_size()
//                              the team split into equal groups (a CUDA warp, or one thread)
//   sync()                     barrier that also makes shared and global writes visible
//   sum(x)                     all-reduce: every member gets the same total
//   group_sum(x)               all-reduce within the group (called by every lane of the group)
// Shared memory (`sh`, shared_size() doubles) is common to the team; the small tridiagonal problem
// is solved by rank 0 and its results broadcast through `sh`.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.hpp"
#include "tridiag.hpp"

namespace infotheory::spectral_lanczos {

constexpr int64_t kMaxSide = 256;  // largest min(m, n) the kernel accepts
constexpr int64_t kTile = 32;      // Gram tiles: kTile x kTile outputs, kTile rows a chunk
constexpr int64_t kBcast = 16;     // broadcast slots at the start of `sh`
constexpr int64_t kGapMinSteps = 30;  // Lanczos steps a cycle before a capped Kato-Temple stop

INFOTHEORY_HD inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
INFOTHEORY_HD inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
INFOTHEORY_HD inline double dmin(double a, double b) { return a < b ? a : b; }
INFOTHEORY_HD inline double dmax(double a, double b) { return a > b ? a : b; }
INFOTHEORY_HD inline bool finite(double x) { return x - x == 0.0; }  // false for NaN and inf

// Lanczos basis rows kept before a restart (as spectral::lanczos2).
INFOTHEORY_HD inline int64_t basis_rows(int64_t k, int32_t max_basis) {
  return imax(2, imin(max_basis, k + 1));
}

// Global work space a matrix, in doubles: G (k x k), the basis (rows x k), diag(G) (k).
INFOTHEORY_HD inline int64_t work_size(int64_t m, int64_t n, int32_t max_basis) {
  const int64_t k = imin(m, n);
  return k * k + basis_rows(k, max_basis) * k + k;
}

// Shared memory a team, in doubles: broadcast slots, then either the Gram tiles or the Lanczos
// vectors (w, y of length k; eleven tridiagonal arrays of length rows).
INFOTHEORY_HD inline int64_t shared_size(int64_t m, int64_t n, int32_t max_basis) {
  const int64_t k = imin(m, n);
  return kBcast + imax(3 * kTile * kTile, 2 * k + 11 * basis_rows(k, max_basis));
}

struct Params {
  int64_t m = 0, n = 0;
  double tol = 1e-8;
  int32_t max_iter = 2000;
  int32_t max_basis = 128;
  // Kato-Temple stop (second Ritz pair): 0 none (the residual bound only); inf uncapped, for a
  // certified caller; finite: the gap used is at most gap_cap theta and the stop is tried only
  // from kGapMinSteps steps a cycle on (spectral.hpp's gap_cap_of, for uncertified callers).
  double gap_cap = inf();
  bool certify = true;  // the Cholesky certificate
};

// Params from the launch arguments (the CPU binding and the CUDA launcher).
inline Params make_params(int64_t m, int64_t n, double tol, int32_t max_iter, int32_t max_basis,
                          double gap_cap, bool certify) {
  Params P;
  P.m = m;
  P.n = n;
  P.tol = tol;
  P.max_iter = max_iter;
  P.max_basis = max_basis;
  P.gap_cap = gap_cap;
  P.certify = certify;
  return P;
}

// One matrix's scalar outputs (those of spectral_top_gram).
struct Outputs {
  double sigma = 0.0, lower = 0.0, upper = 0.0, mu = 0.0, fro2 = 0.0;
  int32_t iterations = 0, status = kOk, ok = 0;
};

// The batch's per-matrix outputs (b,): store(p, r) writes matrix p's (the CPU emulation and the
// CUDA kernel, cuda::LanczosOutputs).
struct OutputPtrs {
  double* sigma;
  double* lower;
  double* upper;
  int32_t* iterations;
  int32_t* status;
  double* mu;
  int32_t* ok;
  double* fro2;
  INFOTHEORY_HD void store(int64_t p, const Outputs& r) const {
    sigma[p] = r.sigma;
    lower[p] = r.lower;
    upper[p] = r.upper;
    iterations[p] = r.iterations;
    status[p] = r.status;
    mu[p] = r.mu;
    ok[p] = r.ok;
    fro2[p] = r.fro2;
  }
};

// Entry j of spectral::random_start(v, n, seed) (splitmix64; same values, computed independently).
INFOTHEORY_HD inline double start_entry(uint64_t seed, int64_t j) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
  x += static_cast<uint64_t>(j + 1) * 0x9E3779B97F4A7C15ULL;
  uint64_t z = x;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) * 0x1.0p-53;
  return u < 0.5 ? -0.5 - u : u;
}

// ---------------------------------------------------------------------------------------------
// The tridiagonal T (diagonal a, off-diagonal b), serial (rank 0): the CPU solvers' routines
// (tridiag.hpp), host-device with caller-provided scratch.
using spectral::kato_temple;
using spectral::second_ritz_bound;
using spectral::tridiag_top_pair;

// ---------------------------------------------------------------------------------------------
// Team steps.

// G (k x k, both triangles) = X^T X with X = A (n <= m) or A^T (m < n), in double, by kTile x kTile
// output tiles over chunks of kTile rows staged in `sh` (3 kTile^2 doubles). Returns trace(G) =
// ||A||_F^2 and stores diag(G) in `gdiag`.
template <class Team, class T>
INFOTHEORY_HD double gram(Team& team, const T* A, int64_t m, int64_t n, double* G, double* gdiag,
                          double* sh) {
  const bool right = n <= m;
  const int64_t k = right ? n : m, len = right ? m : n;
  const int64_t tiles = (k + kTile - 1) / kTile;
  double* ta = sh;
  double* tb = ta + kTile * kTile;
  double* acc = tb + kTile * kTile;
  for (int64_t ti = 0; ti < tiles; ++ti) {
    for (int64_t tj = 0; tj <= ti; ++tj) {
      for (int64_t e = team.rank(); e < kTile * kTile; e += team.size()) acc[e] = 0.0;
      for (int64_t r0 = 0; r0 < len; r0 += kTile) {
        // stage X[r0:r0+kTile, ti tile] and X[r0:r0+kTile, tj tile]; consecutive ranks read
        // consecutive addresses of A in both layouts
        for (int64_t e = team.rank(); e < kTile * kTile; e += team.size()) {
          const int64_t rr = right ? e / kTile : e % kTile, c = right ? e % kTile : e / kTile;
          const int64_t r = r0 + rr, gi = ti * kTile + c, gj = tj * kTile + c;
          double xa = 0.0, xb = 0.0;
          if (r < len && gi < k) xa = static_cast<double>(right ? A[r * n + gi] : A[gi * n + r]);
          if (r < len && gj < k) xb = static_cast<double>(right ? A[r * n + gj] : A[gj * n + r]);
          ta[rr * kTile + c] = xa;
          tb[rr * kTile + c] = xb;
        }
        team.sync();
        const int64_t rows = imin(kTile, len - r0);
        for (int64_t e = team.rank(); e < kTile * kTile; e += team.size()) {
          const int64_t ci = e / kTile, cj = e % kTile;
          double s = acc[e];
          for (int64_t rr = 0; rr < rows; ++rr) s += ta[rr * kTile + ci] * tb[rr * kTile + cj];
          acc[e] = s;
        }
        team.sync();
      }
      for (int64_t e = team.rank(); e < kTile * kTile; e += team.size()) {
        const int64_t gi = ti * kTile + e / kTile, gj = tj * kTile + e % kTile;
        if (gi < k && gj <= gi) {
          G[gi * k + gj] = acc[e];
          G[gj * k + gi] = acc[e];
        }
      }
      team.sync();
    }
  }
  double part = 0.0;
  for (int64_t i = team.rank(); i < k; i += team.size()) {
    gdiag[i] = G[i * k + i];
    part += gdiag[i];
  }
  return team.sum(part);  // synchronises: G and gdiag are visible afterwards
}

// w = G x (G symmetric: column i read as row i, so consecutive ranks read consecutive addresses).
template <class Team>
INFOTHEORY_HD void sym_apply(Team& team, const double* G, int64_t k, const double* x, double* w) {
  for (int64_t i = team.rank(); i < k; i += team.size()) {
    double s = 0.0;
    for (int64_t j = 0; j < k; ++j) s += G[j * k + i] * x[j];
    w[i] = s;
  }
  team.sync();
}

template <class Team>
INFOTHEORY_HD double dot(Team& team, const double* x, const double* y, int64_t k) {
  double s = 0.0;
  for (int64_t i = team.rank(); i < k; i += team.size()) s += x[i] * y[i];
  return team.sum(s);
}

// Lanczos with full reorthogonalisation on G (spectral::lanczos2 with one operator). `y` (shared,
// k): the start vector on entry, the unit Ritz vector on exit. Q: basis (rows x k, global).
template <class Team>
INFOTHEORY_HD void lanczos(Team& team, const double* G, int64_t k, double* Q, double* sh, double* y,
                           double* w, const Params& P, Outputs& out) {
  const int64_t kmax = basis_rows(k, P.max_basis);
  double* al = w + k;
  double* be = al + kmax;
  double* s = be + kmax;
  double* s2 = s + kmax;
  double* x = s2 + kmax;
  double* tv = x + kmax;
  double* c = tv + kmax;
  double* tri = c + kmax;  // 4 kmax
  const double tol = P.tol;
  const double want = 1.9 * tol;
  const double cap = P.gap_cap;
  const bool gap = cap > 0.0;
  const int64_t kt_min = finite(cap) ? kGapMinSteps : 2;
  double ny = std::sqrt(dot(team, y, y, k));
  if (!(ny > 0.0) || !finite(ny)) {
    for (int64_t i = team.rank(); i < k; i += team.size()) y[i] = start_entry(0, i);
    team.sync();
    ny = std::sqrt(dot(team, y, y, k));
  }
  for (int64_t i = team.rank(); i < k; i += team.size()) y[i] /= ny;
  team.sync();
  for (;;) {
    for (int64_t i = team.rank(); i < k; i += team.size()) Q[i] = y[i];
    team.sync();
    int64_t j = 0;  // basis vectors so far
    double theta = 0.0, alpha = -inf();
    for (;;) {
      const double* q = Q + j * k;
      sym_apply(team, G, k, q, w);
      out.iterations += 1;
      double bad = 0.0;
      for (int64_t i = team.rank(); i < k; i += team.size()) bad += w[i] * 0.0;
      if (team.sum(bad) != 0.0) {
        out.status = kNonFiniteInput;
        return;
      }
      const double a = dot(team, q, w, k);
      // three-term recurrence, then classical Gram-Schmidt against the whole basis, a second
      // pass only when the first removed much (Kahan-Parlett)
      const double* qp = j ? Q + (j - 1) * k : q;
      const double bp = j ? be[j - 1] : 0.0;
      double part = 0.0;
      for (int64_t i = team.rank(); i < k; i += team.size()) {
        w[i] -= a * q[i] + bp * qp[i];
        part += w[i] * w[i];
      }
      double b = std::sqrt(team.sum(part));
      for (int pass = 0; pass < 2; ++pass) {
        for (int64_t r = team.group(); r <= j; r += team.groups()) {
          double t = 0.0;
          for (int64_t i = team.lane(); i < k; i += team.group_size()) t += Q[r * k + i] * w[i];
          t = team.group_sum(t);
          if (team.lane() == 0) c[r] = t;
        }
        team.sync();
        part = 0.0;
        for (int64_t i = team.rank(); i < k; i += team.size()) {
          double wi = w[i];
          for (int64_t r = 0; r <= j; ++r) wi -= c[r] * Q[r * k + i];
          w[i] = wi;
          part += wi * wi;
        }
        const double after = std::sqrt(team.sum(part));
        const bool again = after < 0.7 * b;
        b = after;
        if (!again) break;
      }
      ++j;
      if (team.rank() == 0) {
        al[j - 1] = a;
        be[j - 1] = b;
        s[j - 1] = j == 1 ? 1.0 : 0.0;  // previous Ritz vector, extended by a zero
        const double th = tridiag_top_pair(al, be, j, theta, s, tri, x);
        const double est = b * std::fabs(s[j - 1]);
        const bool invariant = !(b > 1e-14 * dmax(th, 1e-300)) || j >= k;
        double alp = -inf();
        bool kt_ok = false;
        if (gap && j >= kt_min && est * est <= want * dmin(1.0, cap) * th * th &&
            est > want * th) {
          alp = second_ritz_bound(al, be, j, th, b, s, s2, tv, tri);
          const double g = finite(cap) ? dmin(th - alp, cap * th) : th - alp;
          kt_ok = th > alp && est * est <= want * th * g;
        }
        sh[0] = th;
        sh[1] = alp;
        sh[2] = invariant || est <= want * th || kt_ok ? 1.0 : 0.0;
      }
      team.sync();
      theta = sh[0];
      alpha = sh[1];
      const bool stop = sh[2] != 0.0;
      if (stop || j >= kmax || out.iterations + 1 >= P.max_iter) break;
      double* qn = Q + j * k;
      for (int64_t i = team.rank(); i < k; i += team.size()) qn[i] = w[i] / b;
      team.sync();
    }
    // Ritz vector y = Q s, and the second Ritz bound if the loop did not compute it
    double part = 0.0;
    for (int64_t i = team.rank(); i < k; i += team.size()) {
      double yi = 0.0;
      for (int64_t r = 0; r < j; ++r) yi += s[r] * Q[r * k + i];
      y[i] = yi;
      part += yi * yi;
    }
    ny = std::sqrt(team.sum(part));
    for (int64_t i = team.rank(); i < k; i += team.size()) y[i] /= ny;
    if (team.rank() == 0) {
      double alp = alpha;
      if (gap && j >= kt_min && alp == -inf()) {
        alp = second_ritz_bound(al, be, j, theta, be[j - 1], s, s2, tv, tri);
      }
      sh[3] = alp;
    }
    team.sync();
    alpha = sh[3];
    // certificate from one more product: theta = y^T G y, r = ||G y - theta y||
    sym_apply(team, G, k, y, w);
    out.iterations += 1;
    double bad = 0.0;
    part = 0.0;
    for (int64_t i = team.rank(); i < k; i += team.size()) {
      bad += w[i] * 0.0;
      part += y[i] * w[i];
    }
    if (team.sum(bad) != 0.0) {
      out.status = kNonFiniteInput;
      return;
    }
    const double th = dmax(0.0, team.sum(part));
    part = 0.0;
    for (int64_t i = team.rank(); i < k; i += team.size()) {
      const double d = w[i] - th * y[i];
      part += d * d;
    }
    const double r = std::sqrt(team.sum(part));
    out.sigma = out.lower = std::sqrt(th);
    out.upper = std::sqrt(dmin(th + r, kato_temple(th, r, alpha, cap)));
    if (out.upper - out.lower <= tol * out.lower || out.upper == 0.0) return;
    if (out.iterations >= P.max_iter) {
      out.status = kNoConvergence;
      return;
    }
  }
}

// Factor mu I - G (dot-product Cholesky, as spectral's cholesky_shifted) into the lower triangle
// of G, reading the original entries from the upper triangle and `gdiag`, which it leaves intact
// (so a second mu can be tried). False at the first pivot <= 0 or not finite.
template <class Team>
INFOTHEORY_HD bool cholesky_shifted(Team& team, double* G, const double* gdiag, int64_t k,
                                    double mu) {
  for (int64_t j = 0; j < k; ++j) {
    const double* lj = G + j * k;
    double part = 0.0;
    for (int64_t p = team.rank(); p < j; p += team.size()) part += lj[p] * lj[p];
    const double d = (mu - gdiag[j]) - team.sum(part);
    if (!(d > 0.0) || !finite(d)) return false;
    const double r = std::sqrt(d);
    for (int64_t i = j + 1 + team.group(); i < k; i += team.groups()) {
      const double* li = G + i * k;
      double t = 0.0;
      for (int64_t p = team.lane(); p < j; p += team.group_size()) t += li[p] * lj[p];
      t = team.group_sum(t);
      if (team.lane() == 0) G[i * k + j] = (-G[j * k + i] - t) / r;
    }
    if (team.rank() == 0) G[j * k + j] = r;
    team.sync();
  }
  return true;
}

// y = A x, one group a row (y[i] stored by lane 0 where y is not null); returns sum_i y_i^2 to every
// member.
template <class Team, class T>
INFOTHEORY_HD double rows_times(Team& team, const T* A, int64_t m, int64_t n, const double* x,
                                double* y) {
  double part = 0.0;
  for (int64_t i = team.group(); i < m; i += team.groups()) {
    double t = 0.0;
    for (int64_t j = team.lane(); j < n; j += team.group_size()) {
      t += static_cast<double>(A[i * n + j]) * x[j];
    }
    t = team.group_sum(t);
    if (team.lane() == 0) {
      if (y) y[i] = t;
      part += t * t;
    }
  }
  return team.sum(part);
}

// The whole solve for one matrix A (m x n, row-major). v (n, double): the start vector on entry
// (all zeros: a reproducible random start from `seed`), the unit right singular vector on exit;
// u (m, may be null): the unit left singular vector. work: work_size() doubles (global); sh:
// shared_size() doubles. Every member returns the same `out`.
template <class Team, class T>
INFOTHEORY_HD Outputs solve(Team& team, const T* A, double* v, double* u, double* work, double* sh,
                            const Params& P, uint64_t seed) {
  Outputs out;
  const int64_t m = P.m, n = P.n;
  const bool right = n <= m;
  const int64_t k = right ? n : m;
  double* G = work;
  double* Q = G + k * k;
  double* gdiag = Q + basis_rows(k, P.max_basis) * k;
  out.fro2 = gram(team, A, m, n, G, gdiag, sh + kBcast);
  if (!finite(out.fro2)) {
    out.status = kNonFiniteInput;
    return out;
  }
  double* y = sh + kBcast;  // the Gram tiles are no longer needed
  double* w = y + k;
  // start vector in the iteration's space
  double nz = 0.0;
  for (int64_t j = team.rank(); j < n; j += team.size()) nz += v[j] != 0.0 ? 1.0 : 0.0;
  const bool any = team.sum(nz) > 0.0;
  if (right) {
    for (int64_t j = team.rank(); j < n; j += team.size()) {
      if (!any) v[j] = start_entry(seed, j);
      y[j] = v[j];
    }
    team.sync();
  } else {
    const double ny = std::sqrt(any ? rows_times(team, A, m, n, v, y) : team.sum(0.0));
    if (!any || !(ny > 0.0) || !finite(ny)) {
      for (int64_t i = team.rank(); i < m; i += team.size()) y[i] = start_entry(seed, i);
      team.sync();
    }
  }
  lanczos(team, G, k, Q, sh, y, w, P, out);
  if (out.status == kNonFiniteInput) return out;
  // lower end from A: theta = |A y|^2 (right) or |A^T y|^2, the Rayleigh quotient of y
  double theta = 0.0;
  if (right) {
    for (int64_t j = team.rank(); j < n; j += team.size()) v[j] = y[j];
    theta = rows_times(team, A, m, n, y, u);
  } else {
    double part = 0.0;
    for (int64_t j = team.rank(); j < n; j += team.size()) {
      double t = 0.0;
      for (int64_t i = 0; i < m; ++i) t += y[i] * static_cast<double>(A[i * n + j]);
      v[j] = t;
      part += t * t;
    }
    theta = team.sum(part);
    const double nv = std::sqrt(theta);
    if (nv > 0.0) {
      for (int64_t j = team.rank(); j < n; j += team.size()) v[j] /= nv;
    }
    team.sync();
    if (u) {
      const double nu = std::sqrt(rows_times(team, A, m, n, v, u));
      if (nu > 0.0) {
        for (int64_t i = team.rank(); i < m; i += team.size()) u[i] /= nu;
      }
    }
  }
  if (right && u) {
    const double nu = std::sqrt(theta);  // |A y|, the same terms
    if (nu > 0.0) {
      for (int64_t i = team.rank(); i < m; i += team.size()) u[i] /= nu;
    }
  }
  out.sigma = out.lower = std::sqrt(theta);
  out.upper = dmax(out.upper, out.lower);
  team.sync();
  if (!P.certify || out.fro2 == 0.0) return out;
  const double l1 = out.lower * (1.0 + 0.25 * P.tol), l2 = out.lower * (1.0 + 0.9 * P.tol);
  const double cands[2] = {dmax(out.upper * out.upper, l1 * l1), l2 * l2};
  for (const double cand : cands) {
    if (cholesky_shifted(team, G, gdiag, k, cand)) {
      out.ok = 1;
      out.mu = cand;
      break;
    }
  }
  return out;
}

}  // namespace infotheory::spectral_lanczos
