// Optimal attacks on finite channels (math.md §A4.4): the binary ("BSC-like") attack of Section 3.3 by
// the exact one-dimensional reduction, one problem at a time (the binding batches them).
//
// (U, X) in {0,1}^2 with w = [a, b, c, d] = P(U=0,X=0), P(U=0,X=1), P(U=1,X=0), P(U=1,X=1); the attacker
// flips X with probabilities p1..p4 (one per (u, x)) under P(E=1) = a p1 + b p2 + c p3 + d p4 <= eps and
// minimises I(U; X xor E). I depends on p only through alpha_u = P(Y=1|U=u), the cheapest way to move
// alpha_u costs pi_u |alpha_u - beta_u|, the two conditionals move towards each other and the whole
// budget is spent, so the problem is a convex function of the budget split t in [0, eps]:
//   alpha0(t) = beta0 + s t/pi0,  alpha1(t) = beta1 - s (eps - t)/pi1,  s = sign(beta1 - beta0),
//   f'(t) = s (logit alpha0 + logit alpha1 - 2 logit q),  q = pi0 alpha0 + pi1 alpha1,
// solved by Newton's method inside a bisection bracket (a handful of steps instead of 60 halvings).
#pragma once

#include <cmath>
#include <cstdint>

#include "common.hpp"

namespace infotheory::channel {

// The four probabilities do not sum to 1 (beyond kSumTolerance).
constexpr Status kNotDistribution = static_cast<Status>(5);
constexpr double kSumTolerance = 1e-9;

// std:: maths on the host, the CUDA built-ins on the device.
INFOTHEORY_HD inline double ln(double x) {
#if defined(__CUDA_ARCH__)
  return ::log(x);
#else
  return std::log(x);
#endif
}
INFOTHEORY_HD inline double ln1p(double x) {
#if defined(__CUDA_ARCH__)
  return ::log1p(x);
#else
  return std::log1p(x);
#endif
}
INFOTHEORY_HD inline double absval(double x) { return x < 0.0 ? -x : x; }
INFOTHEORY_HD inline bool finite(double x) { return (x - x) == 0.0; }

// logit(x) = ln(x / (1 - x)), +-inf at the ends.
INFOTHEORY_HD inline double logit(double x) { return ln(x) - ln1p(-x); }

// Binary entropy in nats, with 0 ln 0 = 0.
INFOTHEORY_HD inline double hb(double x) {
  double h = 0.0;
  if (x > 0.0) h -= x * ln(x);
  if (x < 1.0) h -= (1.0 - x) * ln1p(-x);
  return h;
}

struct BinaryResult {
  double mi = 0.0;        // minimal I(U;Y), nats
  double flip[4] = {};    // p1..p4
  double alpha[2] = {};   // P(Y=1|U=0), P(Y=1|U=1)
  double lambda = 0.0;    // multiplier of the budget constraint
  double zero_budget = 0.0;  // D_0 = min(pi0, pi1) |beta1 - beta0|
  int32_t iterations = 0;
};

// I(alpha0, alpha1) = H_b(q) - pi0 H_b(alpha0) - pi1 H_b(alpha1), clipped at 0 (float error).
INFOTHEORY_HD inline double binary_mi(double pi0, double pi1, double a0, double a1) {
  const double v = hb(pi0 * a0 + pi1 * a1) - pi0 * hb(a0) - pi1 * hb(a1);
  return v > 0.0 ? v : 0.0;
}

// Check w (4 probabilities) and eps; on success solve the problem into r.
INFOTHEORY_HD inline Status binary_one(const double* w, double eps, BinaryResult& r) {
  const double a = w[0], b = w[1], c = w[2], d = w[3];
  if (!(finite(a) && finite(b) && finite(c) && finite(d))) return kNonFiniteInput;
  if (a < 0.0 || b < 0.0 || c < 0.0 || d < 0.0) return kNegativeInput;
  if (absval((a + b) + (c + d) - 1.0) > kSumTolerance) return kNotDistribution;
  if (!finite(eps) || eps < 0.0) return kBadBudget;
  const double pi0 = a + b, pi1 = c + d;
  r = BinaryResult{};
  if (pi0 <= 0.0 || pi1 <= 0.0) {  // U is constant: nothing to hide
    const double beta = pi0 > 0.0 ? b / pi0 : d / pi1;
    r.alpha[0] = r.alpha[1] = beta;
    return kOk;
  }
  const double beta0 = b / pi0, beta1 = d / pi1;
  const double gap = absval(beta1 - beta0);
  r.zero_budget = (pi0 < pi1 ? pi0 : pi1) * gap;
  const double s = beta1 > beta0 ? 1.0 : -1.0;
  if (gap == 0.0 || eps >= r.zero_budget) {
    // move the lighter class's conditional onto the heavier one's: I = 0
    double m0 = 0.0, m1 = 0.0;  // probability mass moved up (X=0 -> 1) or down, per class
    if (pi0 <= pi1) {
      m0 = pi0 * (beta1 - beta0);
      r.alpha[0] = r.alpha[1] = beta1;
    } else {
      m1 = pi1 * (beta0 - beta1);
      r.alpha[0] = r.alpha[1] = beta0;
    }
    if (m0 > 0.0) r.flip[0] = m0 / a;
    if (m0 < 0.0) r.flip[1] = -m0 / b;
    if (m1 > 0.0) r.flip[2] = m1 / c;
    if (m1 < 0.0) r.flip[3] = -m1 / d;
    return kOk;
  }
  auto alphas = [&](double t, double& a0, double& a1) {
    a0 = beta0 + s * t / pi0;
    a1 = beta1 - s * (eps - t) / pi1;
  };
  auto slope = [&](double t) {
    double a0, a1;
    alphas(t, a0, a1);
    return s * (logit(a0) + logit(a1) - 2.0 * logit(pi0 * a0 + pi1 * a1));
  };
  double t = 0.0;
  if (eps > 0.0) {
    if (!(slope(0.0) < 0.0)) {
      t = 0.0;
    } else if (!(slope(eps) > 0.0)) {
      t = eps;
    } else {
      double lo = 0.0, hi = eps;
      t = 0.5 * eps;  // exact for the symmetric prior a = d, b = c
      for (int it = 0; it < 200; ++it) {
        r.iterations = it + 1;
        double a0, a1;
        alphas(t, a0, a1);
        const double q = pi0 * a0 + pi1 * a1;
        const double g = s * (logit(a0) + logit(a1) - 2.0 * logit(q));
        if (g == 0.0) break;
        if (g > 0.0) {
          hi = t;
        } else {
          lo = t;
        }
        const double h = 1.0 / (pi0 * a0 * (1.0 - a0)) + 1.0 / (pi1 * a1 * (1.0 - a1)) -
                         4.0 / (q * (1.0 - q));
        double next = t - g / h;
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
        const double step = absval(next - t);
        t = next;
        if (step <= 1e-16 * eps || hi - lo <= 1e-16 * eps) break;
      }
    }
  }
  double a0, a1;
  alphas(t, a0, a1);
  r.alpha[0] = a0;
  r.alpha[1] = a1;
  r.mi = binary_mi(pi0, pi1, a0, a1);
  // minimal-cost realisation: class 0 moves mass s t, class 1 moves -s (eps - t)
  if (s > 0.0) {
    if (t > 0.0) r.flip[0] = t / a;
    if (eps - t > 0.0) r.flip[3] = (eps - t) / d;
  } else {
    if (t > 0.0) r.flip[1] = t / b;
    if (eps - t > 0.0) r.flip[2] = (eps - t) / c;
  }
  for (double& p : r.flip) p = p > 1.0 ? 1.0 : p;
  const double lq = logit(pi0 * a0 + pi1 * a1);
  const double l0 = absval(logit(a0) - lq), l1 = absval(logit(a1) - lq);
  r.lambda = l0 > l1 ? l0 : l1;
  return kOk;
}

}  // namespace infotheory::channel
