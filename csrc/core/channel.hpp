// Optimal attacks of arXiv 2007.14042 in the channel family, one problem at a time (the binding
// batches them): the binary attack (math.md §A4.4), the Gaussian vector allocation (§A2.4) and the
// general finite-alphabet program (§A1.2).
//
// Binary: (U, X) in {0,1}^2 with w = [a, b, c, d] = P(U=0,X=0), P(U=0,X=1), P(U=1,X=0),
// P(U=1,X=1); the attacker flips X with probabilities p1..p4 (one per (u, x)) under
// P(E=1) = a p1 + b p2 + c p3 + d p4 <= eps and minimises I(U; X xor E). I depends on p only
// through alpha_u = P(Y=1|U=u), the cheapest way to move alpha_u costs pi_u |alpha_u - beta_u|, the
// two conditionals move towards each other and the whole budget is spent, so the problem is a
// convex function of the budget split t in [0, eps]:
//   alpha0(t) = beta0 + s t/pi0,  alpha1(t) = beta1 - s (eps - t)/pi1,  s = sign(beta1 - beta0),
//   f'(t) = s (logit alpha0 + logit alpha1 - 2 logit q),  q = pi0 alpha0 + pi1 alpha1,
// solved by Newton's method inside a bisection bracket (a handful of steps instead of 60 halvings).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

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

// -----------------------------------------------------------------------------------------------
// Gaussian vector attack (math.md §A2.4): split a power budget D over independent coordinates with
// source variances a2_i and noise variances s2_i so that sum_i I*_scalar(a2_i, s2_i, D_i) is least.
// KKT: -dI*_i/dD_i = lambda on every coordinate that is not erased. In the angle phi of the scalar
// theorem's geometry (D = S sin^2 phi, a = sqrt(S) cos theta, sigma = sqrt(S) sin theta),
// -dI*/dD = cot(theta + phi) / (S sin 2 phi), which falls from +inf to 0 (or to 1/(2 S) without
// noise): the inner solve is Newton on its logarithm in a bisection bracket, and the outer solve is
// Newton on ln(lambda) for sum_i D_i = D, also bracketed, warm-starting each inner solve.

// I*(a2, s2, D) of Theorem 3.1 in nats (math.md §A2.2).
inline double gaussian_scalar_mi(double a2, double s2, double D) {
  if (D >= a2) return 0.0;
  const double S = a2 + s2;
  const double g = std::sqrt(s2) * std::sqrt(S - D) + std::sqrt(a2) * std::sqrt(D);
  const double v = std::log(S / g);
  return v > 0.0 ? v : 0.0;
}

namespace detail {

constexpr double kHalfPi = 1.57079632679489661923;

// ln(-dI*/dD) at angle phi and its derivative in phi.
inline void log_slope(double phi, double theta, double S, double& val, double& der) {
  const double psi = theta + phi;
  val = std::log(std::cos(psi) / std::sin(psi)) - std::log(std::sin(2.0 * phi)) - std::log(S);
  der = -2.0 / std::sin(2.0 * psi) - 2.0 / std::tan(2.0 * phi);
}

// The angle with -dI*/dD = exp(loglam), from the warm start phi; dD = dD_i / d ln(lambda).
inline double angle_at(double loglam, double theta, double S, double phi, double& dD) {
  const double top = kHalfPi - theta;
  dD = 0.0;
  if (!(top > 0.0)) return 0.0;  // a2 = 0: nothing to spend
  double val, der;
  log_slope(top, theta, S, val, der);
  if (val >= loglam) return top;  // erased (only without noise can the slope stay >= lambda)
  double lo = 0.0, hi = top;
  if (!(phi > lo && phi < hi)) phi = 0.5 * (lo + hi);
  for (int it = 0; it < 200; ++it) {
    log_slope(phi, theta, S, val, der);
    const double f = val - loglam;
    if (absval(f) <= 1e-13) break;
    if (f > 0.0) {
      lo = phi;
    } else {
      hi = phi;
    }
    double next = phi - f / der;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const double step = absval(next - phi);
    phi = next;
    if (step <= 4e-16 * phi) break;
  }
  log_slope(phi, theta, S, val, der);
  dD = S * std::sin(2.0 * phi) / der;
  return phi;
}

}  // namespace detail

// One problem of k coordinates. a2, s2 finite and >= 0, D finite and >= 0 (checked by the caller).
// work needs 3 k doubles. Writes alloc (k), the MI in nats and lambda.
inline void gaussian_vector_one(const double* a2, const double* s2, int64_t k, double D,
                                double* alloc, double& mi, double& lambda, double* work) {
  double* theta = work;
  double* S = work + k;
  double* phi = work + 2 * k;
  double total = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    S[i] = a2[i] + s2[i];
    theta[i] = S[i] > 0.0 ? std::acos(std::sqrt(a2[i] / S[i])) : detail::kHalfPi;
    phi[i] = 0.0;
    total += a2[i];
  }
  mi = 0.0;
  if (D >= total || D == 0.0) {
    for (int64_t i = 0; i < k; ++i) {
      alloc[i] = D == 0.0 ? 0.0 : a2[i];
      mi += gaussian_scalar_mi(a2[i], s2[i], alloc[i]);
    }
    lambda = D == 0.0 ? inf() : 0.0;
    return;
  }
  double nu = std::log(static_cast<double>(k) / (2.0 * D));  // exact without noise
  double lo = -745.0, hi = 745.0;
  for (int outer = 0; outer < 200; ++outer) {
    double used = 0.0, slope = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      double dD;
      phi[i] = detail::angle_at(nu, theta[i], S[i], phi[i], dD);
      const double sp = std::sin(phi[i]);
      used += S[i] * sp * sp;
      slope += dD;
    }
    const double gap = used - D;
    if (gap > 0.0) {
      lo = nu;  // too much power: raise lambda
    } else {
      hi = nu;
    }
    double next = nu - gap / slope;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    // the used power is a sum of k rounded terms: ask for a few ulps of D, not exact equality
    const double tiny = 1e-15 * static_cast<double>(k + 4);
    if (absval(gap) <= tiny * D || absval(next - nu) <= 1e-15 * (1.0 + absval(nu))) break;
    nu = next;
  }
  for (int64_t i = 0; i < k; ++i) {
    double dD;
    phi[i] = detail::angle_at(nu, theta[i], S[i], phi[i], dD);
    const double sp = std::sin(phi[i]);
    alloc[i] = S[i] * sp * sp;
    mi += gaussian_scalar_mi(a2[i], s2[i], alloc[i]);
  }
  lambda = std::exp(nu);
}

// -----------------------------------------------------------------------------------------------
// General finite alphabets (math.md §A1.2): minimise I(U;Y) over channels q(y|u,x) under
// sum p(u,x) q(y|u,x) d(x,y) <= D. For a multiplier mu the Lagrangian I + mu E[d] is minimised by
// the alternating (Blahut-Arimoto-style) update
//     q(y|u,x) <- q(y|u,x) (r(y) / r_u(y)) exp(-mu d(x,y)) / normaliser,
// r_u = P(Y|U=u), r = P(Y): the closed-form minimiser of the variational bound in which the
// posterior and the output marginal are held fixed, so every step lowers the Lagrangian. The
// Frank-Wolfe gap certifies it; the steps are accelerated by squared extrapolation (SQUAREM) in log q,
// safeguarded by the Lagrangian. The outer loop moves mu (bracket, then Illinois regula falsi in
// log mu) until a budget-feasible mix of two iterates and the dual bound L(q_mu) - gap - mu D agree
// to `tol`.
// The interior-point solver (detail::ipm_solve) is used up to this many (u, x) rows (its normal
// matrix is dense) and for at most this many iterations before the alternation takes over.
constexpr int64_t kIpmMaxRows = 512;
constexpr int kIpmMaxIter = 100;
// The first attempt starts from the channel q(y|u,x) = (1 - kIpmStartMix) k(x,y) + kIpmStartMix /
// |Y|, k(x, .) proportional to exp(-mu0 d(x, .)), with mu0 such that its cost is kIpmStartFrac of
// the way from the least reachable cost to D, and with z = 1 / (entries * pi) (every entry's
// complementarity equal) and the budget multiplier mu0: on the bench's 4x16x16 problems 12% fewer
// iterations than the uniform start (with the split steps below, 200 random 4x16x16 problems 39
// iterations on average with a mix of 0.003, 43 with 0.01). Without the mix, entries of mass
// e^-30 (far outputs at a large mu0) got z ~ 1e13 and the complementarity collapsed long before
// the dual residual; with it such starts still stray now and then (3% of 4000 random problems
// took more than twice the iterations), so the attempt stops after kIpmStartMaxIter iterations
// and the uniform start takes over.
// An eager attempt that dropped outputs gives up after this many steps shorter than kIpmShortStep.
constexpr int kIpmStuck = 5;
constexpr double kIpmShortStep = 0.1;
constexpr double kIpmStartFrac = 0.9;
constexpr double kIpmStartMix = 0.003;
constexpr int kIpmStartMaxIter = 40;
// A step may lower no ratio J(u,y) / P(y) below kIpmShrink times itself, nor raise one above
// `grow` times itself: kIpmGrowFirst in the first attempt, 1 / kIpmShrink in the others. A growth
// limit of 3 rather than 2 in the first: 20 bench problems (4x16x16, |x - y|, D = 0.3) 236 -> 225
// iterations (the 15-iteration ones 12-13), 400 random shapes 10314 -> 10129, 200 random 4x16x16
// budgets 7320 -> 7272; 200 more bench-like problems 2779 -> 2955 (three more wrong drops send
// them to the second attempt). In every attempt it sent 2 of 300 random shapes (2x5x17, 4x14x10)
// to the alternation (10^4 updates), which the later attempts with a limit of 2 avoid.
constexpr double kIpmShrink = 0.5;
constexpr double kIpmGrowFirst = 3.0;
// Outputs fixed at 0 by the interior-point solver: below a total complementarity comp, those
// with mass below `mass`, whose mass-weighted z exceeds `zbar`, or whose dual value stays short of
// the heaviest output's. At the optimum an unused output y has g(y) = ln sum_u max_x
// exp(lambda(u,x) - mu d(x,y)) at most the maximum over y, which every used output attains; along
// the iterations the shortfall of a used output shrinks in proportion to the complementarity (seen
// 40 times it at first, an output of mass 1e-4) while an unused one's settles. So an output is
// dropped when its shortfall is above max(margin * comp, 1e-3), was so at the last reference point
// (an iteration whose comp was at least twice the present one), has fallen since by less than the
// square root of comp's fall, and its mass is below sqrt(comp). The reference is the heaviest
// output (surely used), not the largest g: a vanishing output's g was seen rise above the rest for
// a while, which made every other one look short. An unused output's vanishing column otherwise
// holds the steps back for many iterations.
// The eager attempts come first (discrete_solve lists them); should their certificates fail (an
// output the optimum uses was dropped, say one of mass 1e-6), one that drops nothing (slower where
// outputs vanish, but exact).
struct IpmDrop {
  double comp, mass, zbar, margin;
};
constexpr IpmDrop kIpmEager{1e-3, 1e-6, 0.5, 20.0};
constexpr IpmDrop kIpmExact{0.0, 0.0, 0.0, 0.0};
// The last attempt, should the others fail: outputs of mass below 1e-4 dropped (near the
// zero-information budget a channel may keep outputs of mass ~1e-5 whose ratios J / P stall the
// iterations; seen at |U| = 4, |X| = |Y| = 16, Dirichlet(0.5) prior seed 669, |x - y|, 0.867 of
// the way to D_0).
constexpr IpmDrop kIpmCoarse{1e-3, 1e-4, 0.5, 0.0};
// The least centring parameter of the corrector step, and of the last one: when the complementarity
// is within kIpmLastReach of tol and the predictor converges (its steps above kIpmLastStep, its
// centring below kIpmMinSigma / 10), the corrector aims at tol / 2 if a centring of at least
// kIpmLastSigma gets there, rather than one more step at kIpmMinSigma (20 bench problems: the
// 13-iteration one of 95x the cvxpy time 12; 200 random 4x16x16 budgets 7429 -> 4938 updates, one
// fewer fallback to the alternation; 400 random shapes 10103 -> 10067).
constexpr double kIpmMinSigma = 1e-2;
constexpr double kIpmLastReach = 1e3;
constexpr double kIpmLastStep = 0.95;
constexpr double kIpmLastSigma = 1e-3;
// The path the iterates follow: the least centring (kIpmMinSigma above) and the fraction of the
// largest feasible step taken (at least step_frac, more once the complementarity is small).
// kIpmLongSteps is the first four attempts' path. Should all of those fail, three attempts from
// the uniform start follow the central path more closely, slower but surer: near the
// zero-information budget with a squared distortion (I* ~ 1e-7 to 1e-5 nats) the long steps lost
// the path in 52 of 6000 random problems at 0.9-0.999 of D_0 (an output the optimum uses with
// mass ~1e-5 vanished while its column's dual residual stayed at 0.3, or the steps fell to 1e-7
// and the iterates wandered off), and the solver handed over to the alternation and cvxpy (1-5 s
// each; cvxpy's answer was 1.2e-8 above the certified optimum in the two cases the tests pin).
// Centring of at least 0.5 (kIpmCentred, about 300 iterations) certifies 46 of the 52, then at
// least 0.1 with half steps (kIpmCentredHalf) 2 more, then at least 0.3 with half steps
// (kIpmCentredSlow, up to ~700 iterations) the last 4; their iteration caps are in
// discrete_solve's attempts.
struct IpmPath {
  double min_sigma, step_frac;
};
constexpr IpmPath kIpmLongSteps{kIpmMinSigma, 0.9};
constexpr IpmPath kIpmCentred{0.5, 0.9};
constexpr IpmPath kIpmCentredHalf{0.1, 0.5};
constexpr IpmPath kIpmCentredSlow{0.3, 0.5};

struct DiscreteResult {
  double mi = 0.0;         // I(U;Y) of the returned channel, nats
  double cost = 0.0;       // its expected distortion
  double multiplier = 0.0; // mu of the budget
  double gap = 0.0;        // certified bound on mi - optimum
  int64_t iterations = 0;  // inner updates in all
};

namespace detail {

// Mirror-descent step of the update, q <- q ((r / r_u) exp(-mu d))^kStep. 1 is the monotone
// Blahut-Arimoto step; with the squared extrapolation below it needed about half the updates of 1.5
// (the best plain step) on random 4x16x16 problems. The duality-gap certificate is valid whatever
// path the iterates take.
constexpr double kStep = 1.0;

struct Problem {
  int64_t U, X, Y;
  const double* p;  // U x X joint
  const double* d;  // X x Y distortion
  std::vector<double> pu, pxu, dmin;
};

// r_u = P(Y|U=u) (U x Y) and r = P(Y).
inline void marginals(const Problem& P, const double* q, std::vector<double>& ru,
                      std::vector<double>& r) {
  const int64_t U = P.U, X = P.X, Y = P.Y;
  std::fill(ru.begin(), ru.end(), 0.0);
  std::fill(r.begin(), r.end(), 0.0);
  for (int64_t u = 0; u < U; ++u) {
    double* row = ru.data() + u * Y;
    for (int64_t x = 0; x < X; ++x) {
      const double w = P.pxu[u * X + x];
      if (w == 0.0) continue;
      const double* qr = q + (u * X + x) * Y;
      for (int64_t y = 0; y < Y; ++y) row[y] += w * qr[y];
    }
    for (int64_t y = 0; y < Y; ++y) r[y] += P.pu[u] * row[y];
  }
}

// I(U;Y) and cost of q; fills ru (U x Y) and r (Y).
inline void evaluate(const Problem& P, const double* q, std::vector<double>& ru,
                     std::vector<double>& r, double& mi, double& cost) {
  const int64_t U = P.U, X = P.X, Y = P.Y;
  std::fill(ru.begin(), ru.end(), 0.0);
  std::fill(r.begin(), r.end(), 0.0);
  cost = 0.0;
  for (int64_t u = 0; u < U; ++u) {
    for (int64_t x = 0; x < X; ++x) {
      const double w = P.pxu[u * X + x];
      if (w == 0.0) continue;
      const double* qr = q + (u * X + x) * Y;
      double c = 0.0;
      for (int64_t y = 0; y < Y; ++y) {
        ru[u * Y + y] += w * qr[y];
        c += qr[y] * P.d[x * Y + y];
      }
      cost += P.pu[u] * w * c;
    }
    for (int64_t y = 0; y < Y; ++y) r[y] += P.pu[u] * ru[u * Y + y];
  }
  mi = 0.0;
  for (int64_t u = 0; u < U; ++u) {
    for (int64_t y = 0; y < Y; ++y) {
      const double a = ru[u * Y + y];
      if (a > 0.0) mi += P.pu[u] * a * std::log(a / r[y]);
    }
  }
  if (mi < 0.0) mi = 0.0;
}

// Minimise I + mu E[d] from q (in place); returns the Frank-Wolfe gap at the final q.
inline double inner(const Problem& P, double mu, double* q, int64_t max_iter, double tol,
                    std::vector<double>& K, std::vector<double>& ru, std::vector<double>& r,
                    int64_t& iterations) {
  const int64_t U = P.U, X = P.X, Y = P.Y;
  // kernel relative to each row's cheapest output (exp never overflows); outputs that cost more
  // than the cheapest by more than ~745/mu underflow to 0, which is their limit anyway
  for (int64_t x = 0; x < X; ++x) {
    for (int64_t y = 0; y < Y; ++y) {
      const double extra = P.d[x * Y + y] - P.dmin[x];
      K[x * Y + y] = std::isinf(mu) ? (extra == 0.0 ? 1.0 : 0.0) : std::exp(-kStep * mu * extra);
    }
  }
  std::vector<double>& ratio = r;  // reuse: r(y) / r_u(y) is formed in place per class below
  std::vector<double> rat(static_cast<size_t>(U * Y));
  // Entries that decayed to exactly 0 at a previous multiplier could never come back under the
  // multiplicative update: give every allowed output a floor of 1e-12 first (and none to the rest).
  for (int64_t i = 0; i < U * X; ++i) {
    double* qr = q + i * Y;
    const int64_t x = i % X;
    double z = 0.0;
    for (int64_t y = 0; y < Y; ++y) {
      if (K[x * Y + y] == 0.0) {
        qr[y] = 0.0;  // unreachable at this multiplier (or off the cheapest outputs at mu = inf)
      } else if (qr[y] < 1e-12) {
        qr[y] = 1e-12;
      }
      z += qr[y];
    }
    for (int64_t y = 0; y < Y; ++y) qr[y] /= z;
  }
  const int64_t n = U * X * Y;
  // mu (d - dmin) per (x, y), and the log of K (-inf where K = 0)
  std::vector<double> ex(static_cast<size_t>(X * Y)), lK(static_cast<size_t>(X * Y)),
      lrow(static_cast<size_t>(U * Y));
  for (int64_t i = 0; i < X * Y; ++i) {
    const int64_t x = i / Y;
    ex[i] = std::isinf(mu) ? 0.0 : mu * (P.d[i] - P.dmin[x]);
    lK[i] = K[i] > 0.0 ? (std::isinf(mu) ? 0.0 : -kStep * ex[i]) : -inf();
  }
  // one mirror (Blahut-Arimoto) step in place; dl (optional) gets log(q_new / q) where q_new > 0
  auto step = [&](double* qq, double* dl) {
    marginals(P, qq, ru, ratio);
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) {
        const double a = ru[u * Y + y];
        if (a > 0.0) {
          const double b = ratio[y] / a;
          rat[u * Y + y] = kStep == 1.0 ? b : std::pow(b, kStep);
          if (dl != nullptr) lrow[u * Y + y] = kStep * std::log(b);
        } else {
          rat[u * Y + y] = 0.0;
          lrow[u * Y + y] = -inf();
        }
      }
    }
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t x = 0; x < X; ++x) {
        double* qr = qq + (u * X + x) * Y;
        double z = 0.0;
        for (int64_t y = 0; y < Y; ++y) {
          qr[y] *= rat[u * Y + y] * K[x * Y + y];
          z += qr[y];
        }
        const double iz = 1.0 / z;
        for (int64_t y = 0; y < Y; ++y) qr[y] *= iz;
        if (dl != nullptr) {
          const double lz = std::log(z);
          double* dr = dl + (u * X + x) * Y;
          for (int64_t y = 0; y < Y; ++y) dr[y] = lrow[u * Y + y] + lK[x * Y + y] - lz;
        }
      }
    }
    ++iterations;
  };
  // Frank-Wolfe gap of the Lagrangian at qq: sum_{u,x} p(u,x) [<q, g> - min_y g],
  // g = ln(ru/r) + mu d
  auto fw_gap = [&](const double* qq) {
    marginals(P, qq, ru, ratio);
    // an output class u never reaches (r_u(y) = 0 after exp underflow, ~e^-745) has an infinite
    // slope but a negligible effect: it is left out of the minimum (NaN marks it)
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) {
        const double a = ru[u * Y + y];
        lrow[u * Y + y] = a > 0.0 ? std::log(a / ratio[y]) : std::nan("");
      }
    }
    double g_all = 0.0;
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t x = 0; x < X; ++x) {
        const double w = P.pu[u] * P.pxu[u * X + x];
        if (w == 0.0) continue;
        const double* qr = qq + (u * X + x) * Y;
        double lin = 0.0, lo = inf();
        for (int64_t y = 0; y < Y; ++y) {
          const double lr = lrow[u * Y + y];
          if (std::isnan(lr)) continue;
          // mu d shifted by the row's cheapest cost (the same constant for every y of the row)
          const double g = lr + ex[x * Y + y];
          if (K[x * Y + y] > 0.0 && g < lo) lo = g;
          if (qr[y] > 0.0) lin += qr[y] * g;
        }
        g_all += w * (lin - lo);
      }
    }
    return g_all;
  };
  // the Lagrangian I + mu E[d] (mu = inf: the cost is constant on the allowed outputs)
  std::vector<double> ru2(static_cast<size_t>(U * Y)), r2(static_cast<size_t>(Y));
  auto lagrangian = [&](const double* qq) {
    double mi_, cost_;
    evaluate(P, qq, ru2, r2, mi_, cost_);
    return std::isinf(mu) ? mi_ : mi_ + mu * cost_;
  };
  // SQUAREM (Varadhan & Roland 2008) on the step map in log coordinates: two steps q0 -> q1 -> q2,
  // then the extrapolation log q0 - 2 a (dq) + a^2 (ddq) with a = -|dq| / |ddq| and one stabilising
  // step, kept only when it lowers the Lagrangian below q2's. The gap certificate does not depend
  // on the path.
  std::vector<double> q1(static_cast<size_t>(n)), q2(static_cast<size_t>(n)),
      q3(static_cast<size_t>(n)), d1(static_cast<size_t>(n)), d2(static_cast<size_t>(n));
  double gap = 0.0, a_max = 4.0;
  for (int64_t it = 0; it < max_iter;) {
    gap = fw_gap(q);
    if (gap <= tol) return gap;
    std::copy(q, q + n, q1.begin());
    step(q1.data(), d1.data());
    std::copy(q1.begin(), q1.end(), q2.begin());
    step(q2.data(), d2.data());
    it += 2;
    double sr = 0.0, sv = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      if (q[i] <= 0.0 || q1[i] <= 0.0 || q2[i] <= 0.0) continue;
      const double dr = d1[i], dv = d2[i] - d1[i];
      sr += dr * dr;
      sv += dv * dv;
    }
    bool accepted = false;
    if (sv > 0.0 && sr > 0.0 && std::isfinite(sr) && std::isfinite(sv)) {
      // the step length is capped, the cap growing fourfold while the capped steps are accepted
      const double a = std::max(-a_max, std::min(-1.0, -std::sqrt(sr / sv)));
      for (int64_t i = 0; i < U * X; ++i) {
        const double* r0 = q + i * Y;
        const double* r1 = q1.data() + i * Y;
        const double* rr2 = q2.data() + i * Y;
        double* o = q3.data() + i * Y;
        double mx = -inf();
        for (int64_t y = 0; y < Y; ++y) {
          if (r0[y] <= 0.0 || r1[y] <= 0.0 || rr2[y] <= 0.0) {
            o[y] = -inf();
            continue;
          }
          const double dr = d1[i * Y + y], dv = d2[i * Y + y] - dr;
          o[y] = std::log(r0[y]) - 2.0 * a * dr + a * a * dv;
          mx = std::max(mx, o[y]);
        }
        double z = 0.0;
        for (int64_t y = 0; y < Y; ++y) {
          // floor at e^-700 (relative to the row's largest): an output can still come back
          o[y] = std::isinf(o[y]) ? 0.0 : std::exp(std::max(o[y] - mx, -700.0));
          z += o[y];
        }
        if (z > 0.0) {
          for (int64_t y = 0; y < Y; ++y) o[y] /= z;
        } else {
          std::copy(rr2, rr2 + Y, o);
        }
      }
      step(q3.data(), nullptr);
      ++it;
      if (lagrangian(q3.data()) <= lagrangian(q2.data())) {
        std::copy(q3.begin(), q3.end(), q);
        accepted = true;
        if (a == -a_max) a_max *= 4.0;
      } else {
        a_max = std::max(1.0, 0.25 * a_max);
      }
    }
    if (!accepted) std::copy(q2.begin(), q2.end(), q);
  }
  gap = fw_gap(q);
  return gap;
}

// Primal-dual interior-point solver of the finite-alphabet program (math.md §A1.2) in the joint
// masses pi(u,x,y) = p(u,x) q(y|u,x):
//     minimise  f(pi) = sum_{u,y} J ln(J / P_Y)        (J(u,y) = sum_x pi, P_Y = sum_u J)
//     subject to sum_y pi(u,x,y) = p(u,x),  sum pi d + s = D,  pi >= 0, s >= 0,
// by Mehrotra's predictor-corrector from the infeasible start pi = p(u,x) / |Y|. The Hessian of f
// acts on J only and is block diagonal over y, so K = Z / V + Hessian is inverted in closed form
// (two Sherman-Morrison steps per y, see kinv) and each iteration costs one dense Cholesky of the
// (rows + 1) x (rows + 1) normal matrix (65 x 65 at |U| = 4, |X| = 16); 12-25 iterations.
// Certificate: for any row multipliers lambda(u,x) and mu >= 0,
//     H(U) + sum p lambda - mu D - ln max_y sum_u max_x exp(lambda(u,x) - mu d(x,y))
// is a lower bound on the optimum (the Lagrangian dual, made feasible by a constant shift), so the
// returned gap is certified whatever the iterations did.
// Lets GCC vectorise a loop whose pointers it cannot prove independent (they are).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define INFOTHEORY_IVDEP _Pragma("GCC ivdep")
#else
#define INFOTHEORY_IVDEP
#endif
// A loop whose sums (or maxima) may be split over vector lanes: OpenMP's simd reductions where the
// build has OpenMP (the extension does), a plain loop otherwise. The lanes change only the
// rounding of these sums.
#if defined(_OPENMP) && !defined(__CUDACC__)
#define INFOTHEORY_PRAGMA(x) _Pragma(#x)
#define INFOTHEORY_SIMD_SUM(...) INFOTHEORY_PRAGMA(omp simd reduction(+ : __VA_ARGS__))
#define INFOTHEORY_SIMD_MAX(...) INFOTHEORY_PRAGMA(omp simd reduction(max : __VA_ARGS__))
#define INFOTHEORY_SIMD _Pragma("omp simd")
#else
#define INFOTHEORY_SIMD_SUM(...)
#define INFOTHEORY_SIMD_MAX(...)
#define INFOTHEORY_SIMD
#endif
// Inlines a helper into its caller, so that it is compiled for the caller's target clone (a lambda
// is a function of its own, built for the baseline target otherwise).
#if defined(__GNUC__) && !defined(__CUDACC__)
#define INFOTHEORY_ALWAYS_INLINE __attribute__((always_inline))
#else
#define INFOTHEORY_ALWAYS_INLINE
#endif

// the solver's loops vectorise; built for the baseline x86-64 they use 2-wide SSE2, so the solver is
// also compiled for x86-64-v3 (AVX2, FMA) and the loader picks the clone the CPU supports
// (GCC >= 12: older releases may not accept the x86-64-v3 level as a clone target)
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && \
    !defined(__CUDACC__) && defined(__linux__) && defined(__GLIBC__)
#define INFOTHEORY_IPM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define INFOTHEORY_IPM_CLONES
#endif

namespace ipm {

// In-place Cholesky A = R^T R of the n x n matrix A (row-major, row stride ld) from its upper
// triangle (R upper, in the upper triangle), right-looking so that the inner loops are contiguous
// updates, four pivots per pass over the trailing matrix (a quarter of its memory traffic); false
// if a pivot is not positive.
INFOTHEORY_ALWAYS_INLINE inline bool cholesky(double* A, int64_t n, int64_t ld) {
  int64_t j = 0;
  for (; j + 3 < n; j += 4) {
    double* __restrict R0 = A + j * ld;
    double* __restrict R1 = R0 + ld;
    double* __restrict R2 = R1 + ld;
    double* __restrict R3 = R2 + ld;
    // the panel: rows j..j+3 from column j on, each finished before the next uses it
    if (!(R0[j] > 0.0)) return false;
    double l = std::sqrt(R0[j]), inv = 1.0 / l;
    R0[j] = l;
    for (int64_t k = j + 1; k < n; ++k) R0[k] *= inv;
    const double f10 = R0[j + 1];
    for (int64_t k = j + 1; k < n; ++k) R1[k] -= f10 * R0[k];
    if (!(R1[j + 1] > 0.0)) return false;
    l = std::sqrt(R1[j + 1]), inv = 1.0 / l;
    R1[j + 1] = l;
    for (int64_t k = j + 2; k < n; ++k) R1[k] *= inv;
    const double f20 = R0[j + 2], f21 = R1[j + 2];
    for (int64_t k = j + 2; k < n; ++k) R2[k] -= f20 * R0[k] + f21 * R1[k];
    if (!(R2[j + 2] > 0.0)) return false;
    l = std::sqrt(R2[j + 2]), inv = 1.0 / l;
    R2[j + 2] = l;
    for (int64_t k = j + 3; k < n; ++k) R2[k] *= inv;
    const double f30 = R0[j + 3], f31 = R1[j + 3], f32 = R2[j + 3];
    for (int64_t k = j + 3; k < n; ++k) R3[k] -= f30 * R0[k] + f31 * R1[k] + f32 * R2[k];
    if (!(R3[j + 3] > 0.0)) return false;
    l = std::sqrt(R3[j + 3]), inv = 1.0 / l;
    R3[j + 3] = l;
    for (int64_t k = j + 4; k < n; ++k) R3[k] *= inv;
    // the trailing matrix, two rows at a time (each panel value loaded once for both)
    int64_t i = j + 4;
    for (; i + 1 < n; i += 2) {
      const double g0 = R0[i], g1 = R1[i], g2 = R2[i], g3 = R3[i];
      const double h0 = R0[i + 1], h1 = R1[i + 1], h2 = R2[i + 1], h3 = R3[i + 1];
      double* __restrict Ai = A + i * ld;
      double* __restrict Ai1 = Ai + ld;
      Ai[i] -= (g0 * R0[i] + g1 * R1[i]) + (g2 * R2[i] + g3 * R3[i]);
      for (int64_t k = i + 1; k < n; ++k) {
        const double r0 = R0[k], r1 = R1[k], r2 = R2[k], r3 = R3[k];
        Ai[k] -= (g0 * r0 + g1 * r1) + (g2 * r2 + g3 * r3);
        Ai1[k] -= (h0 * r0 + h1 * r1) + (h2 * r2 + h3 * r3);
      }
    }
    for (; i < n; ++i) {
      const double g0 = R0[i], g1 = R1[i], g2 = R2[i], g3 = R3[i];
      double* __restrict Ai = A + i * ld;
      for (int64_t k = i; k < n; ++k) {
        Ai[k] -= (g0 * R0[k] + g1 * R1[k]) + (g2 * R2[k] + g3 * R3[k]);
      }
    }
  }
  for (; j < n; ++j) {
    double* __restrict Rj = A + j * ld;
    if (!(Rj[j] > 0.0)) return false;
    const double l = std::sqrt(Rj[j]), inv = 1.0 / l;
    Rj[j] = l;
    for (int64_t k = j + 1; k < n; ++k) Rj[k] *= inv;
    for (int64_t i = j + 1; i < n; ++i) {
      const double f = Rj[i];
      double* __restrict Ai = A + i * ld;
      for (int64_t k = i; k < n; ++k) Ai[k] -= f * Rj[k];
    }
  }
  return true;
}

// Solves R^T R x = b in place (R from cholesky, row stride ld), four rows of R per pass.
INFOTHEORY_ALWAYS_INLINE inline void cholesky_solve(const double* R, int64_t n, int64_t ld,
                                                    double* b) {
  // R^T w = b: forward, each solved block of four subtracted from the rest at once
  int64_t j = 0;
  for (; j + 3 < n; j += 4) {
    const double* __restrict R0 = R + j * ld;
    const double* __restrict R1 = R0 + ld;
    const double* __restrict R2 = R1 + ld;
    const double* __restrict R3 = R2 + ld;
    const double t0 = b[j] / R0[j];
    const double t1 = (b[j + 1] - R0[j + 1] * t0) / R1[j + 1];
    const double t2 = (b[j + 2] - R0[j + 2] * t0 - R1[j + 2] * t1) / R2[j + 2];
    const double t3 = (b[j + 3] - R0[j + 3] * t0 - R1[j + 3] * t1 - R2[j + 3] * t2) / R3[j + 3];
    b[j] = t0, b[j + 1] = t1, b[j + 2] = t2, b[j + 3] = t3;
    for (int64_t k = j + 4; k < n; ++k) {
      b[k] -= (R0[k] * t0 + R1[k] * t1) + (R2[k] * t2 + R3[k] * t3);
    }
  }
  for (; j < n; ++j) {
    const double* __restrict Rj = R + j * ld;
    const double t = b[j] / Rj[j];
    b[j] = t;
    for (int64_t k = j + 1; k < n; ++k) b[k] -= Rj[k] * t;
  }
  // R x = w: backward; the rows below the last multiple of four one by one, then four at a time
  int64_t i = n - 1;
  for (; i >= 0 && (i + 1) % 4 != 0; --i) {
    const double* __restrict Ri = R + i * ld;
    double t = 0.0;
    for (int64_t k = i + 1; k < n; ++k) t += Ri[k] * b[k];
    b[i] = (b[i] - t) / Ri[i];
  }
  for (; i >= 3; i -= 4) {
    const double* __restrict R3 = R + i * ld;
    const double* __restrict R2 = R3 - ld;
    const double* __restrict R1 = R2 - ld;
    const double* __restrict R0 = R1 - ld;
    double t0 = 0.0, t1 = 0.0, t2 = 0.0, t3 = 0.0;
    INFOTHEORY_SIMD_SUM(t0, t1, t2, t3)
    for (int64_t k = i + 1; k < n; ++k) {
      t0 += R0[k] * b[k];
      t1 += R1[k] * b[k];
      t2 += R2[k] * b[k];
      t3 += R3[k] * b[k];
    }
    const double x3 = (b[i] - t3) / R3[i];
    const double x2 = (b[i - 1] - t2 - R2[i] * x3) / R2[i - 1];
    const double x1 = (b[i - 2] - t1 - R1[i] * x3 - R1[i - 1] * x2) / R1[i - 2];
    const double x0 = (b[i - 3] - t0 - R0[i] * x3 - R0[i - 1] * x2 - R0[i - 2] * x1) / R0[i - 3];
    b[i] = x3, b[i - 1] = x2, b[i - 2] = x1, b[i - 3] = x0;
  }
}

// c[i][k] = sum_y rowv[i * Y + y] colv[y * ldc + k] for a 4 x 8 block (i < 4, k < 8), the
// accumulators in vector registers: each output's 8 values loaded once, each row's value broadcast.
#if defined(__GNUC__) && !defined(__CUDACC__)
typedef double v4d __attribute__((vector_size(32)));
// acc[i] = sum_y rowv[i Y + y] colv[y ldc + (0..8)] for i < 4 (the shared accumulation of the two
// kernels below)
INFOTHEORY_ALWAYS_INLINE inline void syrk_acc(const double* colv, const double* rowv, int64_t ldc,
                                              int64_t Y, v4d (&acc)[4][2]) {
  for (int i = 0; i < 4; ++i) acc[i][0] = acc[i][1] = v4d{};
  for (int64_t y = 0; y < Y; ++y) {
    v4d v0, v1;
    std::memcpy(&v0, colv + y * ldc, sizeof v0);
    std::memcpy(&v1, colv + y * ldc + 4, sizeof v1);
    for (int i = 0; i < 4; ++i) {
      const double ai = rowv[i * Y + y];
      acc[i][0] += ai * v0;
      acc[i][1] += ai * v1;
    }
  }
}
INFOTHEORY_ALWAYS_INLINE inline void syrk_block(const double* colv, const double* rowv,
                                                int64_t ldc, int64_t Y, double (&c)[4][8]) {
  v4d acc[4][2];
  syrk_acc(colv, rowv, ldc, Y, acc);
  for (int i = 0; i < 4; ++i) std::memcpy(c[i], acc[i], sizeof c[i]);
}
// dst[i ldd + k] = sign * sum_y rowv[i Y + y] colv[y ldc + k] on a full 4 x 8 block
INFOTHEORY_ALWAYS_INLINE inline void syrk_store(const double* colv, const double* rowv,
                                                int64_t ldc, int64_t Y, double sign, double* dst,
                                                int64_t ldd) {
  v4d acc[4][2];
  syrk_acc(colv, rowv, ldc, Y, acc);
  for (int i = 0; i < 4; ++i) {
    const v4d d0 = sign * acc[i][0], d1 = sign * acc[i][1];
    std::memcpy(dst + i * ldd, &d0, sizeof d0);
    std::memcpy(dst + i * ldd + 4, &d1, sizeof d1);
  }
}
#else
inline void syrk_block(const double* colv, const double* rowv, int64_t ldc, int64_t Y,
                       double (&c)[4][8]) {
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 8; ++k) c[i][k] = 0.0;
  }
  for (int64_t y = 0; y < Y; ++y) {
    for (int i = 0; i < 4; ++i) {
      const double ai = rowv[i * Y + y];
      for (int k = 0; k < 8; ++k) c[i][k] += ai * colv[y * ldc + k];
    }
  }
}
inline void syrk_store(const double* colv, const double* rowv, int64_t ldc, int64_t Y, double sign,
                       double* dst, int64_t ldd) {
  double c[4][8];
  syrk_block(colv, rowv, ldc, Y, c);
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 8; ++k) dst[i * ldd + k] = sign * c[i][k];
  }
}
#endif


// exp(x) for the starting point only (never the iterates or the certificate): range reduction by
// ln 2 (n = round(x / ln 2) through the 1.5 2^52 shift, ln 2 in two parts) and the degree-9 Taylor
// polynomial on |r| <= ln 2 / 2, relative error below 1e-10; x is clamped to [-700, 700] (so
// exp(-inf) gives 1e-304, not 0). Plain arithmetic and bit moves, so a loop of it vectorises.
INFOTHEORY_ALWAYS_INLINE inline double start_exp(double x) {
  x = x < -700.0 ? -700.0 : (x > 700.0 ? 700.0 : x);
  const double shift = 6755399441055744.0;  // 1.5 2^52: t's low mantissa bits hold round(x/ln 2)
  const double t = x * 1.4426950408889634 + shift;
  const double n = t - shift;
  const double r = (x - n * 0.693147180369123816) - n * 1.90821492927058770e-10;
  double p = 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  uint64_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  bits = (bits + 1023u) << 52;  // 2^n: the low 12 bits of n + 1023 (13..2033) as the exponent
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// The starting kernel's cost sum_x p(x) sum_y k(x,y) d(x,y) at mu, k(x, .) proportional to
// exp(-mu (d(x, .) - dmin(x))) (written into kk, normalised); rows with p(x) = 0 are skipped.
INFOTHEORY_ALWAYS_INLINE inline double start_kernel_cost(const double* px, const double* d,
                                                         const double* dmin, int64_t X, int64_t Y,
                                                         double mu, double* kk) {
  double c = 0.0;
  for (int64_t x = 0; x < X; ++x) {
    if (px[x] == 0.0) continue;
    double* __restrict kx = kk + x * Y;
    const double* __restrict dx = d + x * Y;
    const double m = dmin[x];
    INFOTHEORY_SIMD
    for (int64_t y = 0; y < Y; ++y) kx[y] = start_exp(-mu * (dx[y] - m));
    double zz = 0.0, cd = 0.0;
    INFOTHEORY_SIMD_SUM(zz, cd)
    for (int64_t y = 0; y < Y; ++y) {
      zz += kx[y];
      cd += kx[y] * dx[y];
    }
    c += px[x] * cd / zz;
    const double iz = 1.0 / zz;
    for (int64_t y = 0; y < Y; ++y) kx[y] *= iz;
  }
  return c;
}

}  // namespace ipm

// Solves the program from scratch by the interior-point method above. `cheapest`: only each x's
// cheapest outputs are allowed and the budget row is dropped (D at the least reachable cost).
// Writes q (U x X x Y) and res; returns true when the certified gap is <= tol.
// The entries are stored row by row over the active rows r (p(u,x) > 0, grouped by class), entry
// (r, y) at r |Y| + y; masks are 0 / 1 factors (am: allowed, jad: output y allowed in class u) so
// that every pass over the entries is one branch-free loop that vectorises.
INFOTHEORY_IPM_CLONES
inline bool ipm_solve(const Problem& P, double D, bool cheapest, double tol, int max_it,
                      const IpmDrop& drop, bool kernel_start, bool split, double grow,
                      const IpmPath& path, double* q, DiscreteResult& res) {
  using vec = std::vector<double>;
  const int64_t U = P.U, X = P.X, Y = P.Y, UY = U * Y;
  const double* d = P.d;
  const bool bud = !cheapest;
  // active rows (p(u,x) > 0) and allowed entries
  std::vector<int64_t> rows, urow;
  vec prow;
  std::vector<int64_t> row_of(static_cast<size_t>(U * X), -1);
  std::vector<int64_t> ufirst(static_cast<size_t>(U + 1), 0);
  for (int64_t u = 0; u < U; ++u) {
    ufirst[u] = static_cast<int64_t>(rows.size());
    for (int64_t x = 0; x < X; ++x) {
      const double w = P.p[u * X + x];
      if (w > 0.0) {
        row_of[u * X + x] = static_cast<int64_t>(rows.size());
        rows.push_back(u * X + x);
        urow.push_back(u);
        prow.push_back(w);
      }
    }
  }
  ufirst[U] = static_cast<int64_t>(rows.size());
  const int64_t mr = static_cast<int64_t>(rows.size());
  const int64_t m = mr + (bud ? 1 : 0);
  if (mr == 0) return false;
  const int64_t ne = mr * Y;
  const int64_t ld = (m + 3) / 4 * 4;  // row stride of the normal matrix
  auto zeros = [](int64_t k) { return vec(static_cast<size_t>(k), 0.0); };
  // am: 1 on the allowed entries (0 once their output is dropped), dd: their distortion
  vec am = zeros(ne), dd = zeros(ne);
  std::vector<char> ja(static_cast<size_t>(UY), 0);
  int64_t nal = 0;
  for (int64_t r = 0; r < mr; ++r) {
    const int64_t u = urow[r], x = rows[r] % X;
    for (int64_t y = 0; y < Y; ++y) {
      if (!cheapest || d[x * Y + y] == P.dmin[x]) {
        am[r * Y + y] = 1.0;
        dd[r * Y + y] = d[x * Y + y];
        ja[u * Y + y] = 1;
        ++nal;
      }
    }
  }
  double N = static_cast<double>(nal + (bud ? 1 : 0));
  const vec am0(am);  // the allowed entries (am loses the dropped outputs)
  double HU = 0.0;
  for (int64_t u = 0; u < U; ++u) {
    if (P.pu[u] > 0.0) HU -= P.pu[u] * std::log(P.pu[u]);
  }
  // state and per-entry scratch
  vec pi = zeros(ne), z = zeros(ne), sg = zeros(ne), ipi = zeros(ne), iz = zeros(ne),
      rd = zeros(ne), h = zeros(ne), dpi = zeros(ne), dz = zeros(ne), dpa = zeros(ne),
      dza = zeros(ne), tmp = zeros(ne), wv = zeros(ne), ismax = zeros(ne), sgx = zeros(ne);
  vec J = zeros(UY), lj = zeros(UY), Pm = zeros(Y), Rb = zeros(UY);
  vec S = zeros(ld * ld), nu = zeros(mr), rp = zeros(m), dy = zeros(m),
      dya = zeros(m), rsum = zeros(mr);
  for (int64_t r = 0; r < mr; ++r) {
    double c = 0.0;
    for (int64_t y = 0; y < Y; ++y) c += am[r * Y + y];
    for (int64_t y = 0; y < Y; ++y) {
      const int64_t e = r * Y + y;
      if (am[e] != 0.0) pi[e] = prow[r] / c, z[e] = 1.0;
    }
  }
  double s = 1.0, zs = 1.0, eta = 0.0, ds = 0.0, dzs = 0.0, dsa = 0.0, dzsa = 0.0, sgs = 0.0;
  if (bud && kernel_start) {
    // the kernel start (kIpmStartFrac): p(x), the least and the uniform channel's costs
    vec px = zeros(X), kk = zeros(X * Y);
    for (int64_t r = 0; r < mr; ++r) px[rows[r] % X] += prow[r];
    double fl = 0.0, cu = 0.0;
    for (int64_t x = 0; x < X; ++x) {
      double t = 0.0;
      for (int64_t y = 0; y < Y; ++y) t += d[x * Y + y];
      fl += px[x] * P.dmin[x];
      cu += px[x] * t / static_cast<double>(Y);
    }
    const double w = kIpmStartMix;
    const double target = std::max(fl, (fl + kIpmStartFrac * (D - fl) - w * cu) / (1.0 - w));
    // the kernel's cost at mu (ipm::start_kernel_cost, called directly so that it is built for
    // this function's target clone; kk holds the kernel)
    // bracket mu0 by factors of 4 from 1, then four bisections in ln mu; the feasible end is kept
    double lo = 0.0, hi = 1.0, c = ipm::start_kernel_cost(px.data(), d, P.dmin.data(), X, Y, 1.0, kk.data());
    int evals = 1;
    if (c > target) {
      while (c > target && evals < 40) {
        lo = hi, hi *= 4.0, c = ipm::start_kernel_cost(px.data(), d, P.dmin.data(), X, Y, hi, kk.data());
        ++evals;
      }
    } else {
      while (c <= target && evals < 40 && hi > 1e-8) {
        lo = hi * 0.25, c = ipm::start_kernel_cost(px.data(), d, P.dmin.data(), X, Y, lo, kk.data());
        ++evals;
        if (c <= target) hi = lo;
      }
      if (c <= target) lo = 0.0;
    }
    for (int k = 0; k < 4 && lo > 0.0; ++k) {
      const double mid = std::sqrt(lo * hi);
      if (ipm::start_kernel_cost(px.data(), d, P.dmin.data(), X, Y, mid, kk.data()) > target) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    const double mu0 = hi;
    c = (1.0 - w) * ipm::start_kernel_cost(px.data(), d, P.dmin.data(), X, Y, mu0, kk.data()) + w * cu;
    const double iy = 1.0 / static_cast<double>(Y), ine = 1.0 / static_cast<double>(ne);
    for (int64_t r = 0; r < mr; ++r) {
      const double* kx = kk.data() + (rows[r] % X) * Y;
      for (int64_t y = 0; y < Y; ++y) {
        const int64_t e = r * Y + y;
        pi[e] = prow[r] * ((1.0 - w) * kx[y] + w * iy);
        z[e] = ine / pi[e];
      }
    }
    s = D - c > 0.0 ? D - c : 1e-3 * std::max(D - fl, 1e-12);
    eta = -mu0;
    zs = std::max(mu0, 1e-3);
  }
  // certificate scratch
  vec qc = zeros(U * X * Y), ru = zeros(UY), rr = zeros(Y), tuy = zeros(UY), gy = zeros(Y),
      gshort = zeros(Y);
  double gcomp = 0.0;  // the complementarity at the reference point of gshort
  // short steps (below kIpmShortStep) taken since an output was dropped: an output the optimum
  // uses, dropped by mistake, leaves the iterations stuck (steps of 1e-3, or a converged point
  // whose certificate does not close), so after kIpmStuck of them the attempt gives up
  int short_steps = -1;
  double floor_cost = 0.0;
  for (int64_t r = 0; r < mr; ++r) floor_cost += prow[r] * P.dmin[rows[r] % X];
  auto certify = [&](double& mi, double& cost, double& lb) {
    for (int64_t ux = 0; ux < U * X; ++ux) {
      double* qr = qc.data() + ux * Y;
      const int64_t x = ux % X, r = row_of[ux];
      double t = 0.0;
      if (r >= 0) {
        for (int64_t y = 0; y < Y; ++y) t += pi[r * Y + y];
      }
      // an inactive row, or one whose entries all went (a mass of 1e-13 whose only allowed output
      // was dropped): its cheapest output
      if (r < 0 || !(t > 0.0)) {
        int64_t best = 0;
        for (int64_t y = 1; y < Y; ++y) {
          if (d[x * Y + y] < d[x * Y + best]) best = y;
        }
        for (int64_t y = 0; y < Y; ++y) qr[y] = y == best ? 1.0 : 0.0;
        continue;
      }
      for (int64_t y = 0; y < Y; ++y) qr[y] = pi[r * Y + y] / t;
    }
    evaluate(P, qc.data(), ru, rr, mi, cost);
    if (bud && cost > D) {
      // mix in the least-cost channel (every x on its first cheapest output) to meet the budget
      const double th = std::min(1.0, (cost - D) / std::max(cost - floor_cost, 1e-300));
      for (int64_t ux = 0; ux < U * X; ++ux) {
        const int64_t x = ux % X;
        int64_t best = 0;
        for (int64_t y = 1; y < Y; ++y) {
          if (d[x * Y + y] < d[x * Y + best]) best = y;
        }
        double* qr = qc.data() + ux * Y;
        for (int64_t y = 0; y < Y; ++y) qr[y] = (1.0 - th) * qr[y] + (y == best ? th : 0.0);
      }
      evaluate(P, qc.data(), ru, rr, mi, cost);
    }
    // dual bound
    const double mu = bud ? std::max(0.0, -eta) : 0.0;
    std::fill(tuy.begin(), tuy.end(), -inf());
    double lin = 0.0;
    for (int64_t r = 0; r < mr; ++r) {
      const int64_t u = urow[r], x = rows[r] % X;
      lin += prow[r] * nu[r];
      for (int64_t y = 0; y < Y; ++y) {
        if (am0[r * Y + y] == 0.0) continue;
        tuy[u * Y + y] = std::max(tuy[u * Y + y], nu[r] - mu * d[x * Y + y]);
      }
    }
    double M = -inf();
    for (int64_t y = 0; y < Y; ++y) {
      double mx = -inf();
      for (int64_t u = 0; u < U; ++u) mx = std::max(mx, tuy[u * Y + y]);
      if (std::isinf(mx)) continue;
      double sum = 0.0;
      for (int64_t u = 0; u < U; ++u) {
        if (!std::isinf(tuy[u * Y + y])) sum += std::exp(tuy[u * Y + y] - mx);
      }
      M = std::max(M, mx + std::log(sum));
    }
    lb = HU + lin - M - (bud ? mu * D : 0.0);
  };
  // K = Z/V + G^T W G is block diagonal over y; per y, W = diag(1/J) - 1/P, and two
  // Sherman-Morrison steps give
  //   K_y^-1 = blockdiag_u( diag(sg) - sg sg^T / c_u ) + w w^T / delta,
  //   c_u = J(u,y) + sum_x sg,  w = sg J(u,y) / c_u,  delta = sum_u J(u,y)^2 / c_u,
  // evaluated without cancellation (the entries' sg range over twenty orders of magnitude near
  // the optimum): sums that exclude the largest sg of each (u, y) are formed directly.
  // Per (u, y): cc = c, icc = 1 / c (0 where the output is not allowed), D1 = sum of the sg but the
  // largest, smax = the largest, bestr = its row; per y: dl = delta, idl = 1 / delta (or 0).
  vec cc = zeros(UY), icc = zeros(UY), D1 = zeros(UY), smax = zeros(UY), dex = zeros(UY),
      fw = zeros(UY), fa = zeros(UY), fb = zeros(UY), jad = zeros(UY);
  vec dl = zeros(Y), idl = zeros(Y), om = zeros(Y), ks1 = zeros(UY), kq1 = zeros(UY),
      kbi = zeros(Y), ksm = zeros(Y);
  // the scaled entries by output (row y at y lda), zero beyond the last row; ucls: each row's class
  // (U for the padding rows up to ld)
  const int64_t lda = ld + 8;
  vec aT = zeros(Y * lda), bT = zeros(Y * lda), aR = zeros(lda * Y), bR = zeros(lda * Y);
  std::vector<int64_t> ucls(static_cast<size_t>(lda), U);
  for (int64_t r = 0; r < mr; ++r) ucls[r] = urow[r];
  std::vector<int64_t> bestr(static_cast<size_t>(UY), 0);
  // o = K^-1 hv on the entries and os = sgs hs on the slack; with sums (std::true_type),
  // rs[r] = sum_y o(r, y) and the return value sum dd o (else 0). Every entry first takes the
  // formula of an entry that does not hold its (u, y)'s largest sg,
  //   t = h (c - sg) - (sum_x sg h - sg h),   o = sg t / c + w om,
  // (c - sg >= c / 2 there: no cancellation), then the largest entries are redone with
  //   t = h (J + D1) - s1,   s1 = sum of sg h over the other entries.
  auto kinv = [&](auto sums, const double* __restrict hv, double hs, double* __restrict o,
                  double& os, double* __restrict rs) INFOTHEORY_ALWAYS_INLINE -> double {
    double* __restrict omp = om.data();
    const double* __restrict sgp = sg.data();
    const double* __restrict sxp = sgx.data();
    const double* __restrict wvp = wv.data();
    double* __restrict s1 = ks1.data();
    double* __restrict q1 = kq1.data();
    for (int64_t y = 0; y < Y; ++y) omp[y] = 0.0;
    // per (u, y): s1 over the entries but the largest; per y: sum of w h
    for (int64_t u = 0; u < U; ++u) {
      double* __restrict s1u = s1 + u * Y;
      for (int64_t y = 0; y < Y; ++y) s1u[y] = 0.0;
      for (int64_t r = ufirst[u]; r < ufirst[u + 1]; ++r) {
        const double* __restrict xr = sxp + r * Y;
        const double* __restrict hr = hv + r * Y;
        const double* __restrict wr = wvp + r * Y;
        INFOTHEORY_IVDEP
        for (int64_t y = 0; y < Y; ++y) {
          s1u[y] += xr[y] * hr[y];
          omp[y] += wr[y] * hr[y];
        }
      }
    }
    for (int64_t y = 0; y < Y; ++y) omp[y] *= idl[y];
    // (loops over (u, y) rather than k = u Y + y: k % Y is an integer division, which cost 5% of
    // the time in these per-(u, y) loops)
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) {
        const int64_t k = u * Y + y;
        q1[k] = s1[k] + smax[k] * hv[bestr[k] * Y + y];
      }
    }
    for (int64_t u = 0; u < U; ++u) {
      const double* __restrict ccu = cc.data() + u * Y;
      const double* __restrict icu = icc.data() + u * Y;
      const double* __restrict q1u = q1 + u * Y;
      for (int64_t r = ufirst[u]; r < ufirst[u + 1]; ++r) {
        const double* __restrict sr = sgp + r * Y;
        const double* __restrict hr = hv + r * Y;
        const double* __restrict wr = wvp + r * Y;
        double* __restrict orow = o + r * Y;
        INFOTHEORY_IVDEP
        for (int64_t y = 0; y < Y; ++y) {
          const double hi = hr[y], si = sr[y];
          const double t = hi * (ccu[y] - si) - (q1u[y] - si * hi);
          orow[y] = si * t * icu[y] + wr[y] * omp[y];
        }
      }
    }
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) {
        const int64_t k = u * Y + y;
        if (!ja[k]) continue;
        const int64_t e = bestr[k] * Y + y;
        const double t = hv[e] * (J[k] + D1[k]) - s1[k];
        o[e] = sgp[e] * t * icc[k] + wvp[e] * omp[y];
      }
    }
    os = sgs * hs;
    double ddot = 0.0;
    if constexpr (decltype(sums)::value) {
      const double* __restrict ddp = dd.data();
      for (int64_t r = 0; r < mr; ++r) {
        const double* __restrict orow = o + r * Y;
        const double* __restrict dr = ddp + r * Y;
        double rsr = 0.0;
        INFOTHEORY_SIMD_SUM(rsr, ddot)
        for (int64_t y = 0; y < Y; ++y) {
          rsr += orow[y];
          ddot += dr[y] * orow[y];
        }
        rs[r] = rsr;
      }
    }
    return ddot;
  };
  // Newton direction for the right-hand side h (entries) / hs (slack) and the primal residual rp
  auto direction = [&](double hs, double* dv, double& dvs, double* dyv) INFOTHEORY_ALWAYS_INLINE {
    double ts;
    const double dt = kinv(std::true_type{}, h.data(), hs, tmp.data(), ts, rsum.data());
    for (int64_t r = 0; r < mr; ++r) dyv[r] = -rp[r] - rsum[r];
    if (bud) dyv[mr] = -rp[mr] - (ts + dt);
    ipm::cholesky_solve(S.data(), m, ld, dyv);
    const double de = bud ? dyv[mr] : 0.0;
    for (int64_t r = 0; r < mr; ++r) {
      const double dr = dyv[r];
      const double* __restrict hr = h.data() + r * Y;
      const double* __restrict ar = am.data() + r * Y;
      const double* __restrict ddr = dd.data() + r * Y;
      double* __restrict tr = tmp.data() + r * Y;
      for (int64_t y = 0; y < Y; ++y) tr[y] = ar[y] * (hr[y] + dr + de * ddr[y]);
    }
    kinv(std::false_type{}, tmp.data(), hs + de, dv, dvs, rsum.data());
  };
  // the largest step in [0, 1] that keeps the entries and the slack positive; dzf(e) computes (and
  // stores) the dual step of entry e in the same pass
  // the largest steps in [0, 1] that keep the entries and the slack (primal) and their duals z,
  // zs positive; dzf(e) computes (and stores) the dual step of entry e in the same pass. With
  // `split` the primal variables (pi, s) and the dual ones (z, zs and the multipliers nu, eta) take
  // their own step lengths (as in linear programming; the dual residual then keeps a part
  // (a_p - a_d) H dpi, H the Hessian of I, which the next iteration removes): an entry whose z
  // falls to 0 no longer holds the primal step back, nor the other way round; else one joint step.
  auto max_step = [&](auto dzf, const double* __restrict dv, double dvs, double dzvs,
                      double& step_p, double& step_d) INFOTHEORY_ALWAYS_INLINE {
    const double* __restrict ip = ipi.data();
    const double* __restrict iq = iz.data();
    double rp_ = 1.0, rd_ = 1.0;  // the largest fall per unit step, relative to the value
    INFOTHEORY_SIMD_MAX(rp_, rd_)
    for (int64_t e = 0; e < ne; ++e) {
      const double a1 = -dv[e] * ip[e], a2 = -dzf(e) * iq[e];
      rp_ = rp_ > a1 ? rp_ : a1;
      rd_ = rd_ > a2 ? rd_ : a2;
    }
    if (bud) {
      if (dvs < 0.0) rp_ = std::max(rp_, -dvs / s);
      if (dzvs < 0.0) rd_ = std::max(rd_, -dzvs / zs);
    }
    if (!split) rp_ = rd_ = std::max(rp_, rd_);
    step_p = 1.0 / rp_;
    step_d = 1.0 / rd_;
  };
  res = DiscreteResult{};
  res.gap = inf();
  for (int it = 0; it < max_it; ++it) {
    // J, P, gradient, residuals
    std::fill(J.begin(), J.end(), 0.0);
    std::fill(Pm.begin(), Pm.end(), 0.0);
    for (int64_t r = 0; r < mr; ++r) {
      double* __restrict Jr = J.data() + urow[r] * Y;
      const double* __restrict pr = pi.data() + r * Y;
      INFOTHEORY_IVDEP
      for (int64_t y = 0; y < Y; ++y) Jr[y] += pr[y];
    }
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) Pm[y] += J[u * Y + y];
    }
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) {
        const int64_t k = u * Y + y;
        lj[k] = ja[k] ? std::log(J[k] / Pm[y]) : 0.0;
      }
    }
    double comp = bud ? s * zs : 0.0, cost = 0.0;
    for (int64_t r = 0; r < mr; ++r) {
      const double* __restrict ljr = lj.data() + urow[r] * Y;
      const double* __restrict pr = pi.data() + r * Y;
      const double* __restrict zr = z.data() + r * Y;
      const double* __restrict ar = am.data() + r * Y;
      const double* __restrict ddr = dd.data() + r * Y;
      double* __restrict rdr = rd.data() + r * Y;
      const double nur = nu[r];
      double rs = 0.0, cp = 0.0, co = 0.0;
      INFOTHEORY_SIMD_SUM(rs, cp, co)
      for (int64_t y = 0; y < Y; ++y) {
        rdr[y] = ar[y] * (ljr[y] - nur - eta * ddr[y] - zr[y]);
        cp += pr[y] * zr[y];
        rs += pr[y];
        co += ddr[y] * pr[y];
      }
      rp[r] = rs - prow[r];
      comp += cp;
      cost += co;
    }
    double rpmax = 0.0;
    for (int64_t r = 0; r < mr; ++r) rpmax = std::max(rpmax, absval(rp[r]));
    if (bud) {
      const double c = (s - D) + cost;
      rp[mr] = c;
      rpmax = std::max(rpmax, absval(c));
    }
    const double muc = comp / N;
    res.iterations = it;
    if (comp < tol && rpmax < 1e-9) {
      double mi, cost_, lb;
      certify(mi, cost_, lb);
      const double gap = std::max(0.0, mi - lb);
      if (gap < res.gap) {
        res.gap = gap, res.mi = mi, res.cost = cost_;
        res.multiplier = bud ? std::max(0.0, -eta) : inf();
        std::copy(qc.begin(), qc.end(), q);
      }
      if (gap <= tol) return true;
      if (comp < 1e-6 * tol) return false;
    }
    // an output whose mass vanishes (nobody uses it at the optimum) makes the ratios J / P of its
    // column ill-determined: once it is seen to vanish (IpmDrop), fix its column at 0 and go on
    // without it (the certificate below still covers every output)
    if (comp < drop.comp) {
      bool dropped = false;
      std::fill(om.begin(), om.end(), 0.0);  // complementarity per output
      for (int64_t r = 0; r < mr; ++r) {
        for (int64_t y = 0; y < Y; ++y) om[y] += pi[r * Y + y] * z[r * Y + y];
      }
      // the dual value of each output still in, gy = ln sum_u max_x exp(nu - mu d)
      double gmax = -inf();
      if (drop.margin > 0.0) {
        const double mu = bud ? std::max(0.0, -eta) : 0.0;
        std::fill(tuy.begin(), tuy.end(), -inf());
        for (int64_t r = 0; r < mr; ++r) {
          const int64_t u = urow[r], x = rows[r] % X;
          for (int64_t y = 0; y < Y; ++y) {
            if (am[r * Y + y] == 0.0) continue;
            tuy[u * Y + y] = std::max(tuy[u * Y + y], nu[r] - mu * d[x * Y + y]);
          }
        }
        for (int64_t y = 0; y < Y; ++y) {
          double mx = -inf();
          for (int64_t u = 0; u < U; ++u) mx = std::max(mx, tuy[u * Y + y]);
          gy[y] = mx;
          if (std::isinf(mx)) continue;
          double sum = 0.0;
          for (int64_t u = 0; u < U; ++u) sum += std::exp(tuy[u * Y + y] - mx);
          gy[y] = mx + std::log(sum);
        }
        // the reference: the heaviest output's value (an output that vanishes can have the largest)
        int64_t top = 0;
        for (int64_t y = 1; y < Y; ++y) top = Pm[y] > Pm[top] ? y : top;
        gmax = gy[top];
      }
      // the reference point: at least twice the present complementarity
      const bool ref_ok = gcomp > 0.0 && comp < 0.5 * gcomp;
      for (int64_t y = 0; y < Y; ++y) {
        // a used output's mass sits on entries whose z -> 0; an unused one's on entries whose z
        // stay positive: drop when the mass-weighted z of the column is above drop.zbar
        bool short_now = false;
        if (drop.margin > 0.0 && ref_ok && gshort[y] > 0.0 && !std::isinf(gy[y])) {
          const double sh = gmax - gy[y];
          short_now = sh > std::max(drop.margin * comp, 1e-3) &&
                      gshort[y] > std::max(drop.margin * gcomp, 1e-3) &&
                      sh > gshort[y] * std::sqrt(comp / gcomp) && Pm[y] < std::sqrt(comp);
        }
        const bool small = Pm[y] < drop.mass || (drop.zbar > 0.0 && om[y] > drop.zbar * Pm[y]) ||
                           short_now;
        if (!small || Pm[y] <= 0.0) continue;
        bool any = false;
        for (int64_t u = 0; u < U; ++u) any = any || ja[u * Y + y];
        if (!any) continue;
        for (int64_t u = 0; u < U; ++u) ja[u * Y + y] = 0;
        for (int64_t r = 0; r < mr; ++r) {
          const int64_t e = r * Y + y;
          if (am[e] != 0.0) am[e] = 0.0, pi[e] = 0.0, z[e] = 0.0, N -= 1.0;
        }
        dropped = true;
      }
      if (drop.margin > 0.0 && (gcomp == 0.0 || ref_ok)) {
        gcomp = comp;
        for (int64_t y = 0; y < Y; ++y) gshort[y] = std::isinf(gy[y]) ? 0.0 : gmax - gy[y];
      }
      if (dropped) {
        short_steps = std::max(short_steps, 0);
        continue;
      }
    }
    // scaling sg = pi / z, the reciprocals 1 / pi and 1 / z (0 off the allowed entries); the
    // per-entry loops over the state vectors say (ivdep) that their arrays do not overlap, which
    // GCC cannot prove for this many vectors (the loops stayed scalar)
    INFOTHEORY_IVDEP
    for (int64_t e = 0; e < ne; ++e) {
      const double off = 1.0 - am[e];
      ipi[e] = am[e] / (pi[e] + off);
      iz[e] = am[e] / (z[e] + off);
      sg[e] = pi[e] * iz[e];
    }
    sgs = bud ? s / zs : 0.0;
    for (int64_t k = 0; k < UY; ++k) jad[k] = ja[k] ? 1.0 : 0.0;
    // per (u, y): the (first) row of the largest sg, the sum of the others and c
    for (int64_t u = 0; u < U; ++u) {
      const int64_t r0 = ufirst[u], r1 = ufirst[u + 1];
      double* __restrict bi = kbi.data();
      double* __restrict sm = ksm.data();
      double* __restrict s1 = ks1.data();
      for (int64_t y = 0; y < Y; ++y) {
        bi[y] = static_cast<double>(r0);
        sm[y] = sg[r0 * Y + y];
        s1[y] = 0.0;
      }
      for (int64_t r = r0 + 1; r < r1; ++r) {
        const double* __restrict sr = sg.data() + r * Y;
        const double rv = static_cast<double>(r);
        INFOTHEORY_SIMD
        for (int64_t y = 0; y < Y; ++y) {
          const double v = sr[y], mv = sm[y], b = bi[y];
          const double gt = v > mv ? 1.0 : 0.0;
          bi[y] = b + gt * (rv - b);
          sm[y] = mv < v ? v : mv;
        }
      }
      for (int64_t r = r0; r < r1; ++r) {
        const double* __restrict sr = sg.data() + r * Y;
        double* __restrict xr = ismax.data() + r * Y;
        const double* __restrict jdu = jad.data() + u * Y;
        const double rv = static_cast<double>(r);
        double* __restrict sxr = sgx.data() + r * Y;
        INFOTHEORY_SIMD
        for (int64_t y = 0; y < Y; ++y) {
          const double mx = bi[y] == rv ? 1.0 : 0.0;
          const double rest = (1.0 - mx) * sr[y];
          s1[y] += rest;
          xr[y] = mx * jdu[y];
          sxr[y] = rest;
        }
      }
      for (int64_t y = 0; y < Y; ++y) {
        const int64_t k = u * Y + y;
        bestr[k] = static_cast<int64_t>(bi[y]);
        if (ja[k]) {
          D1[k] = s1[y];
          smax[k] = sm[y];
          cc[k] = J[k] + s1[y] + sm[y];
          icc[k] = 1.0 / cc[k];
        } else {
          D1[k] = smax[k] = cc[k] = icc[k] = 0.0;
        }
      }
    }
    // J^2 / c per (u, y) (0 where the output is not allowed), then delta and, per (u, y), the sum
    // over the other classes (formed directly: no cancellation)
    for (int64_t k = 0; k < UY; ++k) fw[k] = ja[k] ? J[k] * J[k] / cc[k] : 0.0;
    for (int64_t y = 0; y < Y; ++y) {
      double t = 0.0;
      for (int64_t u = 0; u < U; ++u) {
        if (ja[u * Y + y]) t += fw[u * Y + y];
      }
      dl[y] = t;
      idl[y] = t > 0.0 ? 1.0 / t : 0.0;
      for (int64_t u = 0; u < U; ++u) {
        if (!ja[u * Y + y]) continue;
        double e = 0.0;
        for (int64_t v = 0; v < U; ++v) {
          if (v != u && ja[v * Y + y]) e += fw[v * Y + y];
        }
        dex[u * Y + y] = e;
      }
    }
    for (int64_t y = 0; y < Y; ++y) {
      const double isd = dl[y] > 0.0 ? 1.0 / std::sqrt(dl[y]) : 0.0;
      for (int64_t u = 0; u < U; ++u) {
        const int64_t k = u * Y + y;
        fw[k] = ja[k] ? J[k] / cc[k] : 0.0;
        fa[k] = fw[k] * isd;
        fb[k] = ja[k] ? std::sqrt(dex[k] / cc[k]) * isd : 0.0;
      }
    }
    for (int64_t r = 0; r < mr; ++r) {
      const int64_t k0 = urow[r] * Y;
      const double* __restrict sr = sg.data() + r * Y;
      const double* __restrict fwk = fw.data() + k0;
      const double* __restrict fak = fa.data() + k0;
      const double* __restrict fbk = fb.data() + k0;
      double* __restrict wr = wv.data() + r * Y;
      double* __restrict ar = aR.data() + r * Y;
      double* __restrict br = bR.data() + r * Y;
      INFOTHEORY_IVDEP
      for (int64_t y = 0; y < Y; ++y) {
        wr[y] = sr[y] * fwk[y];  // sg is 0 off the allowed entries
        ar[y] = sr[y] * fak[y];
        br[y] = sr[y] * fbk[y];
      }
      // the same by output (a strided copy, apart from the vectorised products above)
      for (int64_t y = 0; y < Y; ++y) {
        aT[y * lda + r] = ar[y];
        bT[y * lda + r] = br[y];
      }
    }
    // the normal matrix, assembled again (rather than copied first) should the factorisation fail
    auto assemble = [&]() INFOTHEORY_ALWAYS_INLINE {
      // the normal matrix S = A K^-1 A^T (upper triangle): same class, -sum_y bv bv; other classes,
      // +sum_y av av; in 4 x 8 blocks held in registers over the outputs (the blocks also fill a few
      // entries below the diagonal, the padding and the budget column, all overwritten or unused)
      for (int64_t i0 = 0; i0 < mr; i0 += 4) {
        for (int64_t k0 = i0; k0 < mr; k0 += 8) {
          // classes are contiguous: a pair in one class exists iff the two class ranges overlap
          const int64_t ilo = ucls[i0], ihi = ucls[i0 + 3], klo = ucls[k0], khi = ucls[k0 + 7];
          const bool need_b = ilo <= khi && klo <= ihi;
          const bool need_a = !(ilo == ihi && klo == khi && ilo == klo);
          const int64_t kn = std::min<int64_t>(8, ld - k0);
          if (kn == 8 && need_a != need_b) {  // one kind: straight into S
            double* Sd = S.data() + i0 * ld + k0;
            if (need_a) {
              ipm::syrk_store(aT.data() + k0, aR.data() + i0 * Y, lda, Y, 1.0, Sd, ld);
            } else {
              ipm::syrk_store(bT.data() + k0, bR.data() + i0 * Y, lda, Y, -1.0, Sd, ld);
            }
            continue;
          }
          double ca[4][8], cb[4][8];
          if (need_a) ipm::syrk_block(aT.data() + k0, aR.data() + i0 * Y, lda, Y, ca);
          if (need_b) ipm::syrk_block(bT.data() + k0, bR.data() + i0 * Y, lda, Y, cb);
          for (int i = 0; i < 4; ++i) {
            double* __restrict Si = S.data() + (i0 + i) * ld + k0;
            if (!need_b) {
              for (int k = 0; k < kn; ++k) Si[k] = ca[i][k];
            } else if (!need_a) {
              for (int k = 0; k < kn; ++k) Si[k] = -cb[i][k];
            } else {
              for (int k = 0; k < kn; ++k) {
                Si[k] = ucls[i0 + i] == ucls[k0 + k] ? -cb[i][k] : ca[i][k];
              }
            }
          }
        }
      }
      for (int64_t r1 = 0; r1 < mr; ++r1) {
        // diagonal: sg (c - sg) / c + w^2 / delta, with c - sg = J + (sum of the other sg)
        const int64_t k0 = urow[r1] * Y;
        const double* __restrict sr = sg.data() + r1 * Y;
        const double* __restrict xr = ismax.data() + r1 * Y;
        double t = 0.0;
        INFOTHEORY_SIMD_SUM(t)
        for (int64_t y = 0; y < Y; ++y) {
          const int64_t k = k0 + y;
          const double rest = xr[y] * D1[k] + (1.0 - xr[y]) * (D1[k] - sr[y] + smax[k]);
          const double a1 = aT[y * lda + r1];
          t += sr[y] * (J[k] + rest) * icc[k] + a1 * a1;
        }
        S[r1 * ld + r1] = t;
      }
      if (bud) {
        double ts;
        const double dt = kinv(std::true_type{}, dd.data(), 1.0, tmp.data(), ts, rsum.data());
        for (int64_t r = 0; r < mr; ++r) S[r * ld + mr] = rsum[r];
        S[mr * ld + mr] = ts + dt;
      }
    };
    // a tiny ridge if rounding made the matrix indefinite
    bool ok = false;
    double ridge = 0.0, dmax = 0.0;
    for (int attempt = 0; attempt < 4 && !ok; ++attempt) {
      assemble();
      if (attempt > 0) {
        if (attempt == 1) {
          for (int64_t i = 0; i < m; ++i) dmax = std::max(dmax, absval(S[i * ld + i]));
        }
        ridge = ridge == 0.0 ? 1e-15 * dmax : ridge * 100.0;
        for (int64_t i = 0; i < m; ++i) S[i * ld + i] += ridge;
      }
      ok = ipm::cholesky(S.data(), m, ld);
    }
    if (!ok) return false;
    // predictor: h = -rd + (rc / v) with rc = -v z, i.e. -rd - z
    INFOTHEORY_IVDEP
    for (int64_t e = 0; e < ne; ++e) h[e] = -rd[e] - z[e];
    const double rds = -eta - zs;
    double hs = bud ? -rds - zs : 0.0;
    direction(hs, dpa.data(), dsa, dya.data());
    // dz_a = (-v z - z dv_a) / v, with the largest step (one pass)
    dzsa = bud ? (-s * zs - zs * dsa) / s : 0.0;
    double aa, ad;
    max_step([&](int64_t e) INFOTHEORY_ALWAYS_INLINE {
      const double v = -z[e] - z[e] * dpa[e] * ipi[e];
      dza[e] = v;
      return v;
    }, dpa.data(), dsa, dzsa, aa, ad);
    double ca = bud ? (s + aa * dsa) * (zs + ad * dzsa) : 0.0;
    {
      double cs = 0.0;
      INFOTHEORY_SIMD_SUM(cs)
      for (int64_t e = 0; e < ne; ++e) cs += (pi[e] + aa * dpa[e]) * (z[e] + ad * dza[e]);
      ca += cs;
    }
    const double sig = std::pow(std::max(0.0, ca / N) / muc, 3.0);
    // Mehrotra's centring, kept above the path's least: a complementarity that collapses long
    // before the dual residual leaves the central path and the Newton systems singular
    const double cmin = path.min_sigma;
    const bool last =
        comp < kIpmLastReach * tol && sig < 0.1 * cmin && std::min(aa, ad) > kIpmLastStep;
    const double smin =
        last ? std::min(std::max(kIpmLastSigma, 0.5 * tol / comp), cmin) : cmin;
    const double tgt = std::min(std::max(sig, smin), 1.0) * muc;
    // corrector: rc = tgt - v z - dv_a dz_a (rc / v kept in dz for the dz below)
    INFOTHEORY_IVDEP
    for (int64_t e = 0; e < ne; ++e) {
      const double c = (tgt - pi[e] * z[e] - dpa[e] * dza[e]) * ipi[e];
      dz[e] = c;
      h[e] = -rd[e] + c;
    }
    hs = bud ? -rds + (tgt - s * zs - dsa * dzsa) / s : 0.0;
    direction(hs, dpi.data(), ds, dy.data());
    // dz = (rc - z dv) / v, with the largest step (one pass)
    dzs = bud ? (tgt - s * zs - dsa * dzsa - zs * ds) / s : 0.0;
    double amax, amax_d;
    max_step([&](int64_t e) INFOTHEORY_ALWAYS_INLINE {
      const double v = dz[e] - z[e] * dpi[e] * ipi[e];
      dz[e] = v;
      return v;
    }, dpi.data(), ds, dzs, amax, amax_d);
    amax *= std::max(path.step_frac, 1.0 - muc);
    amax_d *= std::max(path.step_frac, 1.0 - muc);
    // the gradient ln(J / P) is not linear: no ratio J(u,y) / P(y) may fall below kIpmShrink of
    // itself in one step (a larger fall makes the linearised dual residual meaningless; J and P
    // may both go to 0, at an output nobody uses)
    std::fill(Rb.begin(), Rb.end(), 0.0);
    std::fill(om.begin(), om.end(), 0.0);
    for (int64_t r = 0; r < mr; ++r) {
      double* __restrict Rr = Rb.data() + urow[r] * Y;
      const double* __restrict dr = dpi.data() + r * Y;
      for (int64_t y = 0; y < Y; ++y) Rr[y] += dr[y];
    }
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) om[y] += Rb[u * Y + y];
    }
    for (int64_t u = 0; u < U; ++u) {
      for (int64_t y = 0; y < Y; ++y) {
        const int64_t k = u * Y + y;
        if (!ja[k]) continue;
        // (J + a dJ) >= kappa (J / P) (P + a dP)
        const double c = Rb[k] - kIpmShrink * (J[k] / Pm[y]) * om[y];
        if (c < 0.0) amax = std::min(amax, (1.0 - kIpmShrink) * J[k] / -c);
        // and none may grow beyond `grow` times itself
        const double c2 = Rb[k] - (J[k] / Pm[y]) * om[y] * grow;
        if (c2 > 0.0) amax = std::min(amax, (grow - 1.0) * J[k] / c2);
      }
    }
    if (!split) amax = amax_d = std::min(amax, amax_d);
    const double a = std::min(1.0, amax), ad_ = std::min(1.0, amax_d);
    const double amin = std::min(a, ad_);
    if (drop.margin > 0.0 && short_steps >= 0 && amin < kIpmShortStep &&
        ++short_steps >= kIpmStuck) {
      return false;
    }
    if (!(amin > 0.0) || !std::isfinite(amin)) return false;
    INFOTHEORY_IVDEP
    for (int64_t e = 0; e < ne; ++e) {
      pi[e] += a * dpi[e];
      z[e] += ad_ * dz[e];
    }
    for (int64_t r = 0; r < mr; ++r) nu[r] += ad_ * dy[r];
    if (bud) {
      s += a * ds;
      zs += ad_ * dzs;
      eta += ad_ * dy[mr];
    }
  }
  return false;
}

}  // namespace detail

// p: U x X joint (checked by the caller: finite, >= 0, sums to 1), d: X x Y (finite, >= 0),
// D >= the least reachable cost. q: U x X x Y output. Returns kNoConvergence when the certified gap stayed
// above tol after max_iter inner updates (q is then the best feasible channel found).
inline Status discrete_solve(const double* p, int64_t U, int64_t X, int64_t Y, const double* d,
                             double D, double tol, int64_t max_iter, double* q,
                             DiscreteResult& res) {
  detail::Problem P{U, X, Y, p, d, {}, {}, {}};
  P.pu.assign(static_cast<size_t>(U), 0.0);
  P.pxu.assign(static_cast<size_t>(U * X), 0.0);
  P.dmin.assign(static_cast<size_t>(X), inf());
  for (int64_t u = 0; u < U; ++u) {
    for (int64_t x = 0; x < X; ++x) P.pu[u] += p[u * X + x];
    for (int64_t x = 0; x < X; ++x) {
      P.pxu[u * X + x] = P.pu[u] > 0.0 ? p[u * X + x] / P.pu[u] : 0.0;
    }
  }
  double floor_cost = 0.0;  // the least reachable cost: every row on its cheapest outputs
  for (int64_t x = 0; x < X; ++x) {
    double px = 0.0;
    for (int64_t u = 0; u < U; ++u) px += p[u * X + x];
    for (int64_t y = 0; y < Y; ++y) P.dmin[x] = std::min(P.dmin[x], d[x * Y + y]);
    floor_cost += px * P.dmin[x];
  }
  std::vector<double> K(static_cast<size_t>(X * Y)), ru(static_cast<size_t>(U * Y)),
      r(static_cast<size_t>(Y));
  std::vector<double> qa(static_cast<size_t>(U * X * Y));
  const size_t nq = qa.size();
  // the interior-point method first (a dense (rows + 1)^2 system per iteration), the accelerated
  // alternation as the fallback
  if (U * X <= kIpmMaxRows) {
    const bool cheapest = D <= floor_cost * (1.0 + 1e-12);
    int64_t its = 0;
    // the attempts: {kernel start, split steps, drop rule, iteration cap, growth limit, path}. Split
    // steps: on 200 random 4x16x16 problems (Dirichlet(0.1/0.5/1) priors, budgets up to D_0) 43
    // iterations on average instead of 49 (the joint step's outliers went), 20 bench problems
    // 269 -> 240; the last two attempts keep the joint step, the safer one where the split ones
    // fail; the centred paths (IpmPath) last.
    struct Attempt {
      bool kernel, split;
      const IpmDrop& drop;
      int cap;
      double grow;
      const IpmPath& path;
    };
    constexpr double g2 = 1.0 / kIpmShrink;
    const IpmPath& lp = kIpmLongSteps;
    const Attempt attempts[] = {
        {true, true, kIpmEager, kIpmStartMaxIter, kIpmGrowFirst, lp},
        {false, true, kIpmEager, kIpmMaxIter, g2, lp},
        {false, false, kIpmExact, kIpmMaxIter, g2, lp},
        {false, false, kIpmCoarse, kIpmMaxIter, g2, lp},
        {false, false, kIpmExact, 400, g2, kIpmCentred},
        {false, false, kIpmExact, 200, g2, kIpmCentredHalf},
        {false, false, kIpmExact, 1000, g2, kIpmCentredSlow}};
    for (const Attempt& at : attempts) {
      if (cheapest && at.kernel) continue;
      const bool ok = detail::ipm_solve(P, D, cheapest, tol, at.cap, at.drop, at.kernel, at.split,
                                        at.grow, at.path, q, res);
      its += res.iterations;
      res.iterations = its;
      if (ok) return kOk;
    }
  }
  res = DiscreteResult{};
  for (size_t i = 0; i < nq; ++i) qa[i] = 1.0 / static_cast<double>(Y);
  if (D <= floor_cost * (1.0 + 1e-12)) {
    // no budget beyond the floor: mu = +inf, the channel stays on each row's cheapest outputs
    int64_t its = 0;
    res.gap = detail::inner(P, inf(), qa.data(), max_iter, tol, K, ru, r, its);
    std::copy(qa.begin(), qa.end(), q);
    detail::evaluate(P, q, ru, r, res.mi, res.cost);
    res.multiplier = inf();
    res.iterations = its;
    return res.gap <= tol ? kOk : kNoConvergence;
  }
  // Feasible side (cost <= D, larger mu) and infeasible side (cost > D, smaller mu).
  double mu_hi = -1.0, mu_lo = -1.0, cost_hi = 0.0, cost_lo = 0.0, mi_hi = 0.0, mi_lo = 0.0;
  double best_dual = 0.0;
  std::vector<double> q_hi(nq), q_lo(nq);
  double mu = 1.0, w_lo = 1.0, w_hi = 1.0;
  double fw_lo = 0.0, fw_hi = 0.0;  // accuracy of each end's solve: a loose one may sit on the
                                   // wrong side of the budget
  int last_side = 0;
  int64_t used = 0;
  const int64_t inner_cap = std::max<int64_t>(200, max_iter / 8);
  res.gap = inf();
  for (int outer = 0; outer < 200 && used < max_iter; ++outer) {
    int64_t its = 0;
    // solve each Lagrangian only as well as the outer search can use: a thousandth of the current
    // primal-dual gap and of the bracket's width in log mu (the bounds stay valid at any accuracy;
    // the cost can be a step function of mu, whose jump only a precise solve locates), down to a
    // tenth of tol at the end
    const double width = (mu_lo > 0.0 && mu_hi > 0.0) ? absval(std::log(mu_hi / mu_lo)) : inf();
    const double inner_tol = std::max(0.1 * tol, 1e-2 * std::min(std::min(res.gap, width), 1e-1));
    const double fw = detail::inner(P, mu, qa.data(), inner_cap, inner_tol, K, ru, r, its);
    used += its;
    double mi, cost;
    detail::evaluate(P, qa.data(), ru, r, mi, cost);
    best_dual = std::max(best_dual, mi + mu * (cost - D) - fw);
    if (cost <= D) {
      if (mu_lo > 0.0 && mu <= mu_lo) mu_lo = -1.0;  // the low end was misjudged: search below
      mu_hi = mu, cost_hi = cost, mi_hi = mi, fw_hi = fw;
      std::copy(qa.begin(), qa.end(), q_hi.begin());
    } else {
      mu_lo = mu, cost_lo = cost, mi_lo = mi, fw_lo = fw;
      std::copy(qa.begin(), qa.end(), q_lo.begin());
    }
    // best feasible primal value: the feasible iterate, or the budget-exact mix of the two sides
    double primal = mu_hi >= 0.0 ? mi_hi : inf();
    if (mu_hi >= 0.0 && mu_lo >= 0.0 && cost_lo > cost_hi) {
      const double th = (D - cost_hi) / (cost_lo - cost_hi);
      primal = std::min(primal, (1.0 - th) * mi_hi + th * mi_lo);  // convexity bound on the mix
    }
    res.gap = primal - best_dual;
    if (res.gap <= tol) break;
    if (mu_hi < 0.0) {
      mu *= 4.0;
    } else if (mu_lo < 0.0) {
      mu *= 0.25;
      if (mu < 1e-12) break;  // D is beyond the zero-information budget: I -> 0 as mu -> 0
    } else {
      // regula falsi on cost(log mu) = D with the Illinois fix: an end kept twice in a row has its
      // residual halved, so the bracket shrinks from both sides
      const bool feasible = cost <= D;
      if (last_side == (feasible ? 1 : -1)) {
        (feasible ? w_lo : w_hi) *= 0.5;
      } else {
        w_lo = w_hi = 1.0;
      }
      last_side = feasible ? 1 : -1;
      const double a = std::log(mu_lo), b = std::log(mu_hi);
      const double fa = w_lo * (cost_lo - D), fb = w_hi * (cost_hi - D);
      double t = a + fa * (b - a) / (fa - fb);
      if (!(t > std::min(a, b) && t < std::max(a, b))) t = 0.5 * (a + b);
      mu = std::exp(t);
      // a narrow bracket whose end was solved loosely: solve that end again, precisely
      if (absval(b - a) < 1e-6) {
        if (fw_lo > tol) {
          mu = mu_lo;
        } else if (fw_hi > tol) {
          mu = mu_hi;
        }
      }
    }
  }
  res.iterations = used;
  // the returned channel: the budget-exact mix (or the feasible iterate)
  if (mu_hi < 0.0) {
    std::copy(q_lo.begin(), q_lo.end(), q);  // never feasible: caller checked D >= floor
  } else if (mu_lo >= 0.0 && cost_lo > cost_hi) {
    const double th = std::min(1.0, std::max(0.0, (D - cost_hi) / (cost_lo - cost_hi)));
    for (size_t i = 0; i < nq; ++i) q[i] = (1.0 - th) * q_hi[i] + th * q_lo[i];
  } else {
    std::copy(q_hi.begin(), q_hi.end(), q);
  }
  detail::evaluate(P, q, ru, r, res.mi, res.cost);
  res.multiplier = mu_hi >= 0.0 ? mu_hi : mu;
  res.gap = std::max(0.0, res.mi - best_dual);
  return res.gap <= tol ? kOk : kNoConvergence;
}

}  // namespace infotheory::channel
