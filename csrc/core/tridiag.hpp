// Symmetric tridiagonal T (diagonal a[0..k), off-diagonal b[0..k-1)) for Lanczos: the largest
// eigenvalue by Sturm bisection, its eigenvector by inverse iteration, the second Ritz pair and the
// Kato-Temple estimate. Serial and host-device (INFOTHEORY_HD), with caller-provided scratch, so that
// the CPU solvers (spectral.hpp) and the CUDA batched Lanczos (spectral_lanczos.hpp, rank 0 of a
// block) run the same code.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.hpp"

namespace infotheory::spectral {

INFOTHEORY_HD inline double dot(const double* a, const double* b, int64_t n) {
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

INFOTHEORY_HD inline double norm2(const double* a, int64_t n) { return std::sqrt(dot(a, a, n)); }

namespace tri_detail {
INFOTHEORY_HD inline double dmin(double a, double b) { return a < b ? a : b; }
INFOTHEORY_HD inline double dmax(double a, double b) { return a > b ? a : b; }
INFOTHEORY_HD inline bool finite(double x) { return x - x == 0.0; }  // false for NaN and inf
}  // namespace tri_detail

// Eigenvalues of T below x (Sturm count).
INFOTHEORY_HD inline int64_t sturm_below(const double* a, const double* b, int64_t k, double x) {
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

// Largest eigenvalue by bisection from [max(lo_hint, Gershgorin low), Gershgorin high].
INFOTHEORY_HD inline double tridiag_top(const double* a, const double* b, int64_t k,
                                        double lo_hint) {
  using namespace tri_detail;
  double lo = lo_hint, hi = -inf();
  double glo = inf();
  for (int64_t i = 0; i < k; ++i) {
    const double r = (i ? std::fabs(b[i - 1]) : 0.0) + (i + 1 < k ? std::fabs(b[i]) : 0.0);
    hi = dmax(hi, a[i] + r);
    glo = dmin(glo, a[i] - r);
  }
  if (!(lo >= glo) || lo > hi) lo = glo;
  for (int it = 0; it < 200 && hi - lo > 4e-16 * dmax(std::fabs(hi), std::fabs(lo)); ++it) {
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

// Solve (T - shift I) x = rhs in place (tridiagonal Gaussian elimination with partial pivoting);
// ws: 4k doubles.
INFOTHEORY_HD inline void tridiag_solve(const double* a, const double* b, int64_t k, double shift,
                                        double* x, double* ws) {
  double* d = ws;         // diagonal
  double* du = d + k;     // first super-diagonal
  double* du2 = du + k;   // second super-diagonal (fill-in from pivoting)
  double* dl = du2 + k;   // sub-diagonal
  for (int64_t i = 0; i < k; ++i) {
    d[i] = a[i] - shift;
    du[i] = dl[i] = du2[i] = 0.0;
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
      const double xi = x[i];
      x[i] = x[i + 1];
      x[i + 1] = xi - f * x[i];
    }
  }
  if (d[k - 1] == 0.0) d[k - 1] = tiny;
  x[k - 1] /= d[k - 1];
  if (k > 1) x[k - 2] = (x[k - 2] - du[k - 2] * x[k - 1]) / d[k - 2];
  for (int64_t i = k - 3; i >= 0; --i) {
    x[i] = (x[i] - du[i] * x[i + 1] - du2[i] * x[i + 2]) / d[i];
  }
}

// Eigenvector of T at theta by three steps of inverse iteration (unit s); ws: 4k doubles.
INFOTHEORY_HD inline void tridiag_vector(const double* a, const double* b, int64_t k, double theta,
                                         double* s, double* ws) {
  for (int64_t i = 0; i < k; ++i) s[i] = 1.0;
  for (int it = 0; it < 3; ++it) {
    tridiag_solve(a, b, k, theta, s, ws);
    const double nrm = norm2(s, k);
    if (!(nrm > 0.0) || !tri_detail::finite(nrm)) {
      for (int64_t i = 0; i < k; ++i) s[i] = i == 0 ? 1.0 : 0.0;
      return;
    }
    for (int64_t i = 0; i < k; ++i) s[i] /= nrm;
  }
}

// x = T s; returns rho = s^T T s and sets r2 = ||T s - rho s||^2 (s need not be an eigenvector).
INFOTHEORY_HD inline double tridiag_rayleigh(const double* a, const double* b, int64_t k,
                                             const double* s, double* x, double& r2) {
  double rho = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    double t = a[i] * s[i];
    if (i > 0) t += b[i - 1] * s[i - 1];
    if (i + 1 < k) t += b[i] * s[i + 1];
    x[i] = t;
    rho += s[i] * t;
  }
  r2 = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    const double d = x[i] - rho * s[i];
    r2 += d * d;
  }
  return rho;
}

// Top eigenpair of T from a guess (s of length k, theta): Rayleigh-quotient iteration, O(k) a
// step, then one Sturm count to confirm that nothing lies above; bisection when that fails. Lanczos
// calls this every step with the previous Ritz vector extended by a zero, where RQI converges in
// one to three steps; bisection alone costs some fifty Sturm sweeps a step. x: k doubles, ws: 4k.
INFOTHEORY_HD inline double tridiag_top_pair(const double* a, const double* b, int64_t k,
                                             double theta, double* s, double* ws, double* x) {
  using tri_detail::dmax;
  double rho = theta;
  bool ok = false;
  for (int it = 0; it < 8; ++it) {
    double r2;
    rho = tridiag_rayleigh(a, b, k, s, x, r2);
    if (std::sqrt(r2) <= 1e-14 * dmax(std::fabs(rho), 1e-300)) {
      ok = true;
      break;
    }
    for (int64_t i = 0; i < k; ++i) x[i] = s[i];
    tridiag_solve(a, b, k, rho, x, ws);
    const double nrm = norm2(x, k);
    if (!(nrm > 0.0) || !tri_detail::finite(nrm)) break;
    for (int64_t i = 0; i < k; ++i) s[i] = x[i] / nrm;
  }
  if (ok && sturm_below(a, b, k, rho + 1e-12 * dmax(std::fabs(rho), 1e-300)) == k) return rho;
  const double top = tridiag_top(a, b, k, 0.0);
  tridiag_vector(a, b, k, top, s, ws);
  return top;
}

// Second largest eigenvalue of T (k >= 2) by Sturm bisection below `top`, to 1e-9 only: the value
// is just the shift of the inverse iteration for the second Ritz vector, whose Rayleigh quotient
// and residual then give the bound (a third fewer Lanczos seconds at 64^2).
INFOTHEORY_HD inline double tridiag_second(const double* a, const double* b, int64_t k,
                                           double top) {
  using namespace tri_detail;
  double lo = inf();
  for (int64_t i = 0; i < k; ++i) {
    const double r = (i ? std::fabs(b[i - 1]) : 0.0) + (i + 1 < k ? std::fabs(b[i]) : 0.0);
    lo = dmin(lo, a[i] - r);
  }
  double hi = top;
  for (int it = 0; it < 200 && hi - lo > 1e-9 * dmax(std::fabs(hi), std::fabs(lo)); ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (sturm_below(a, b, k, mid) >= k - 1) {
      hi = mid;  // at most one eigenvalue at or above mid
    } else {
      lo = mid;
    }
  }
  return hi;
}

// Kato-Temple: if every eigenvalue of B but the top one is <= alpha < theta, the top one is at
// most theta + r^2 / (theta - alpha) for a unit vector with Rayleigh quotient theta and residual r.
// Lanczos supplies alpha = theta_2 + r_2 from its second Ritz pair (an estimate: an eigenvalue
// that the Krylov space has not found yet may lie above it). `cap`: the gap used is at most
// cap * theta (inf: uncapped). Returns +inf where it does not apply.
INFOTHEORY_HD inline double kato_temple(double theta, double r, double alpha, double cap = inf()) {
  using namespace tri_detail;
  if (!finite(alpha) || !(theta > alpha)) return inf();  // no second Ritz pair: no bound
  return theta + r * r / (finite(cap) ? dmin(theta - alpha, cap * theta) : theta - alpha);
}

// The second Ritz pair's bound alpha = rho_2 + r_2 (k >= 2): s_2 from inverse iteration at the
// second eigenvalue of T, made orthogonal to the top Ritz vector s_1, rho_2 = s_2^T T s_2 and r_2 =
// sqrt(||T s_2 - rho_2 s_2||^2 + beta^2 s_2[k-1]^2), the residual of the Ritz vector Q s_2 in B
// (exact for any unit s_2, not only an eigenvector of T). s2, tv: k doubles; ws: 4k.
INFOTHEORY_HD inline double second_ritz_bound(const double* a, const double* b, int64_t k,
                                              double top, double beta, const double* s1,
                                              double* s2, double* tv, double* ws) {
  const double t2 = tridiag_second(a, b, k, top);
  tridiag_vector(a, b, k, t2, s2, ws);
  const double c = dot(s2, s1, k);
  for (int64_t i = 0; i < k; ++i) s2[i] -= c * s1[i];
  const double nv = norm2(s2, k);
  if (!(nv > 0.0)) return inf();
  for (int64_t i = 0; i < k; ++i) s2[i] /= nv;
  double rr;
  const double rho = tridiag_rayleigh(a, b, k, s2, tv, rr);
  const double last = beta * s2[k - 1];
  return rho + std::sqrt(rr + last * last);
}

}  // namespace infotheory::spectral
