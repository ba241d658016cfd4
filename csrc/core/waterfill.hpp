// Water-filling, batched over independent problems (math.md §A3.3).
//
// Reverse water-filling (rate-distortion of independent Gaussians, the paper's falling bar): given
// variances s_i >= 0 and a distortion budget D >= 0, find the level tau with
//     sum_i min(s_i, tau) = D,   D_i = min(s_i, tau),   I* = 1/2 sum_i ln(s_i / D_i).
// Forward water-filling (capacity of parallel Gaussian channels): given noise N_i >= 0 and power P,
// find nu with sum_i max(0, nu - N_i) = P,   C = 1/2 sum_i ln(1 + P_i / N_i).
//
// Both solve a piecewise-linear monotone equation. We use active-set elimination: guess the level from
// all coordinates, drop those on the wrong side, recompute, repeat. The level moves monotonically and
// each pass drops at least one coordinate, so it ends; on typical spectra it takes a handful of O(k)
// passes. After kMaxPasses passes we fall back to the sort-and-scan of Algorithm 1, O(k log k), which
// bounds the worst case.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.hpp"

namespace infotheory::waterfill {

constexpr int kMaxPasses = 12;

// The inner loops below are written branch-free with four independent accumulators: the flags are
// data-dependent (unpredictable branches) and a single FP accumulator is latency-bound, and without
// -ffast-math the compiler may not reassociate the sums for us.

// x = m 2^e with m in [1, 2), read from the IEEE bits (x > 0, finite). Subnormals take frexp.
inline double split_log2(double x, int64_t& e) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int64_t biased = static_cast<int64_t>((bits >> 52) & 0x7ff);
  if (biased == 0) {
    int fe;
    const double m = std::frexp(x, &fe);
    e = fe - 1;
    return 2.0 * m;
  }
  e = biased - 1023;
  bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  std::memcpy(&m, &bits, sizeof m);
  return m;
}

// sum_i [keep_i] ln(x_i) with one log call per row: mantissas multiply, exponents add. Blocks of 64
// keep each partial product below 2^64 before it is renormalised. keep(i) must imply x_i > 0.
template <class T, class Pred>
inline double sum_log_where(const T* x, int64_t k, Pred keep, int64_t& kept) {
  double total = 0.0;
  int64_t expo = 0;
  kept = 0;
  for (int64_t start = 0; start < k; start += 64) {
    const int64_t stop = std::min<int64_t>(k, start + 64);
    double m[4] = {1.0, 1.0, 1.0, 1.0};
    int64_t i = start;
    for (; i < stop; ++i) {
      const int64_t on = keep(i);
      int64_t e;
      const double mi = split_log2(static_cast<double>(x[i]), e);
      // off entries multiply by 1 and add exponent 0, without a branch
      m[i & 3] *= 1.0 + static_cast<double>(on) * (mi - 1.0);
      expo += e & -on;
      kept += on;
    }
    total += std::log((m[0] * m[1]) * (m[2] * m[3]));
  }
  return total + static_cast<double>(expo) * 0.69314718055994530942;
}

// Sum and count of the entries strictly below t. The flag multiplies instead of selecting: GCC
// compiles `b ? v : 0` to a branch here, which mispredicts on every other entry of a real spectrum.
template <class T>
inline void sum_count_below(const T* s, int64_t k, double t, double& sum, int64_t& count) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  const int64_t k4 = k - k % 4;
  for (int64_t i = 0; i < k4; i += 4) {
    const double v0 = static_cast<double>(s[i]), v1 = static_cast<double>(s[i + 1]);
    const double v2 = static_cast<double>(s[i + 2]), v3 = static_cast<double>(s[i + 3]);
    const int64_t b0 = v0 < t, b1 = v1 < t, b2 = v2 < t, b3 = v3 < t;
    a0 += v0 * static_cast<double>(b0);
    a1 += v1 * static_cast<double>(b1);
    a2 += v2 * static_cast<double>(b2);
    a3 += v3 * static_cast<double>(b3);
    c0 += b0;
    c1 += b1;
    c2 += b2;
    c3 += b3;
  }
  for (int64_t i = k4; i < k; ++i) {
    const double v = static_cast<double>(s[i]);
    const int64_t b = v < t;
    a0 += v * static_cast<double>(b);
    c0 += b;
  }
  sum = (a0 + a1) + (a2 + a3);
  count = (c0 + c1) + (c2 + c3);
}

// Check the variances / noise row: finite and >= 0, branch-free. Returns the sum and the maximum.
template <class T>
inline Status check_row(const T* s, int64_t k, double& total, double& top) {
  double acc[4] = {0.0, 0.0, 0.0, 0.0};
  double mx[4] = {0.0, 0.0, 0.0, 0.0};
  bool finite = true, nonneg = true;
  for (int64_t i = 0; i < k; ++i) {
    const double v = static_cast<double>(s[i]);
    finite &= (v - v) == 0.0;  // false for NaN and +-inf
    nonneg &= !(v < 0.0);
    acc[i & 3] += v;
    mx[i & 3] = v > mx[i & 3] ? v : mx[i & 3];
  }
  total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  top = std::max(std::max(mx[0], mx[1]), std::max(mx[2], mx[3]));
  if (!finite) return kNonFiniteInput;
  if (!nonneg) return kNegativeInput;
  return kOk;
}

// Level by sort-and-scan (Algorithm 1 of the paper, descending order and suffix sums).
template <class T>
inline double reverse_level_sorted(const T* s, int64_t k, double D, std::vector<double>& buf) {
  buf.assign(s, s + k);
  std::sort(buf.begin(), buf.end(), [](double a, double b) { return a > b; });
  double suffix = 0.0;  // sum of buf[i..k-1]
  for (int64_t i = 0; i < k; ++i) suffix += buf[i];
  // Bar covers the first i entries: tau = (D - sum_{j >= i} s_j) / i, valid if s_i <= tau <= s_{i-1}.
  for (int64_t i = 1; i <= k; ++i) {
    suffix -= buf[i - 1];
    const double tau = (D - suffix) / static_cast<double>(i);
    const double below = (i < k) ? buf[i] : 0.0;
    if (tau >= below && tau <= buf[i - 1]) return tau;
  }
  return D / static_cast<double>(k);  // unreachable when 0 <= D < sum s
}

// One reverse water-filling problem. Writes alloc[0..k), level and mi (nats).
template <class T>
inline Status reverse_one(const T* s, int64_t k, double D, T* alloc, double& level, double& mi,
                          std::vector<double>& buf) {
  if (!std::isfinite(D) || D < 0.0) return kBadBudget;
  double total, top;
  const Status st = check_row(s, k, total, top);
  if (st != kOk) return st;
  if (D >= total) {  // every coordinate erased: zero information
    for (int64_t i = 0; i < k; ++i) alloc[i] = s[i];
    level = top;
    mi = 0.0;
    return kOk;
  }
  if (D == 0.0) {  // at least one positive variance, no distortion: infinite information
    for (int64_t i = 0; i < k; ++i) alloc[i] = T(0);
    level = 0.0;
    mi = inf();
    return kOk;
  }
  double tau = D / static_cast<double>(k);
  int64_t count = -1;
  bool done = false;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    double below_sum;
    int64_t below;
    sum_count_below(s, k, tau, below_sum, below);
    if (below == count) {
      done = true;
      break;
    }
    if (below >= k) break;  // only reachable through rounding; let the exact scan decide
    count = below;
    tau = (D - below_sum) / static_cast<double>(k - below);
  }
  if (!done) tau = reverse_level_sorted(s, k, D, buf);
  level = tau;
  for (int64_t i = 0; i < k; ++i) {
    const double v = static_cast<double>(s[i]);
    alloc[i] = static_cast<T>(v < tau ? v : tau);
  }
  // I* = 1/2 sum_{s_i > tau} ln(s_i / tau)
  int64_t above;
  const double log_sum =
      sum_log_where(s, k, [&](int64_t i) { return static_cast<double>(s[i]) > tau; }, above);
  mi = 0.5 * (log_sum - static_cast<double>(above) * std::log(tau));
  if (mi < 0.0) mi = 0.0;  // rounding when tau is within an ulp of max s
  return kOk;
}

// Level by sort-and-scan for the forward problem (ascending noise, prefix sums).
template <class T>
inline double forward_level_sorted(const T* n, int64_t k, double P, std::vector<double>& buf) {
  buf.assign(n, n + k);
  std::sort(buf.begin(), buf.end());
  double prefix = 0.0;
  for (int64_t i = 1; i <= k; ++i) {  // the i smallest noise levels are filled
    prefix += buf[i - 1];
    const double nu = (P + prefix) / static_cast<double>(i);
    const double next = (i < k) ? buf[i] : inf();
    if (nu >= buf[i - 1] && nu <= next) return nu;
  }
  return (P + prefix) / static_cast<double>(k);
}

// One forward water-filling problem: alloc[i] = max(0, nu - N_i), capacity in nats.
template <class T>
inline Status forward_one(const T* n, int64_t k, double P, T* alloc, double& level, double& cap,
                          std::vector<double>& buf) {
  if (!std::isfinite(P) || P < 0.0) return kBadBudget;
  double total, top;
  const Status st = check_row(n, k, total, top);
  if (st != kOk) return st;
  double nu = (P + total) / static_cast<double>(k);
  int64_t count = -1;
  bool done = false;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    double in_sum;
    int64_t in;
    sum_count_below(n, k, nu, in_sum, in);
    if (in == count || in == 0) {  // in == 0 only when P == 0 and every N_i equals nu
      done = true;
      break;
    }
    count = in;
    nu = (P + in_sum) / static_cast<double>(in);
  }
  if (!done) nu = forward_level_sorted(n, k, P, buf);
  level = nu;
  bool zero_noise_filled = false;
  for (int64_t i = 0; i < k; ++i) {
    const double v = static_cast<double>(n[i]);
    const double p = v < nu ? nu - v : 0.0;
    alloc[i] = static_cast<T>(p);
    if (p > 0.0 && v == 0.0) zero_noise_filled = true;
  }
  if (P == 0.0) {
    cap = 0.0;
  } else if (zero_noise_filled) {
    cap = inf();  // a noiseless channel with positive power carries unbounded information
  } else {
    int64_t in;
    const double log_sum =
        sum_log_where(n, k, [&](int64_t i) { return static_cast<double>(n[i]) < nu; }, in);
    cap = 0.5 * (static_cast<double>(in) * std::log(nu) - log_sum);
    if (cap < 0.0) cap = 0.0;
  }
  return kOk;
}

}  // namespace infotheory::waterfill
