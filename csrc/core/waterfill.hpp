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
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

#if defined(__SSE2__)
// sum of ln(x_i) over x_i > t (t >= 0), two lanes a vector. Each block of 256 entries puts at most
// 64 mantissas in [1, 2) into each of the four lane products, so none can pass 2^64 before the
// block's single log. A row with a subnormal kept entry takes the exact scalar path.
inline bool sum_log_above_sse2(const double* x, int64_t k, double t, double& out, int64_t& kept,
                               double* alloc) {
  const __m128d tt = _mm_set1_pd(t), one = _mm_set1_pd(1.0);
  const __m128i mant_mask = _mm_set1_epi64x(0x000fffffffffffffLL);
  const __m128i one_bits = _mm_set1_epi64x(0x3ff0000000000000LL);
  const __m128i bias = _mm_set1_epi64x(1023);
  __m128i expo = _mm_setzero_si128(), cnt = _mm_setzero_si128(), sub = _mm_setzero_si128();
  double total = 0.0;
  int64_t i = 0;
  const int64_t k2 = k - k % 2;
  while (i < k2) {
    const int64_t stop = std::min<int64_t>(k2, i + 256);
    __m128d p0 = one, p1 = one;
    for (int64_t j = 0; i < stop; i += 2, ++j) {
      const __m128d v = _mm_loadu_pd(x + i);
      _mm_storeu_pd(alloc + i, _mm_min_pd(v, tt));
      const __m128d on = _mm_cmpgt_pd(v, tt);
      const __m128i onb = _mm_castpd_si128(on);
      const __m128i bits = _mm_castpd_si128(v);
      const __m128i e = _mm_srli_epi64(bits, 52);  // x > t >= 0: the sign bit is clear
      const __m128d m = _mm_castsi128_pd(_mm_or_si128(_mm_and_si128(bits, mant_mask), one_bits));
      const __m128d mm = _mm_or_pd(_mm_and_pd(on, m), _mm_andnot_pd(on, one));
      if (j & 1) {
        p1 = _mm_mul_pd(p1, mm);
      } else {
        p0 = _mm_mul_pd(p0, mm);
      }
      expo = _mm_add_epi64(expo, _mm_and_si128(onb, _mm_sub_epi64(e, bias)));
      cnt = _mm_sub_epi64(cnt, onb);
      sub = _mm_or_si128(sub, _mm_and_si128(onb, _mm_cmpeq_epi32(e, _mm_setzero_si128())));
    }
    alignas(16) double p[2];
    _mm_store_pd(p, _mm_mul_pd(p0, p1));
    total += std::log(p[0] * p[1]);
  }
  alignas(16) int64_t ev[2], cv[2], sv[2];
  _mm_store_si128(reinterpret_cast<__m128i*>(ev), expo);
  _mm_store_si128(reinterpret_cast<__m128i*>(cv), cnt);
  _mm_store_si128(reinterpret_cast<__m128i*>(sv), sub);
  // _mm_cmpeq_epi32 compares 32-bit halves; the high half of e is always 0, so test the low half.
  if ((sv[0] | sv[1]) & 0xffffffffLL) return false;
  int64_t e_sum = ev[0] + ev[1];
  kept = cv[0] + cv[1];
  for (; i < k; ++i) {
    alloc[i] = x[i] < t ? x[i] : t;
    if (x[i] > t) {
      int64_t e;
      total += std::log(split_log2(x[i], e));
      e_sum += e;
      ++kept;
    }
  }
  out = total + static_cast<double>(e_sum) * 0.69314718055994530942;
  return true;
}
#endif

// sum_i ln(s_i) over s_i > t, choosing the vector path where there is one.
// Also writes alloc[i] = min(s_i, t).
template <class T>
inline double sum_log_above(const T* s, int64_t k, double t, int64_t& kept, T* alloc) {
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, double>) {
    double out;
    if (sum_log_above_sse2(s, k, t, out, kept, alloc)) return out;
  }
#endif
  for (int64_t i = 0; i < k; ++i) {
    const double v = static_cast<double>(s[i]);
    alloc[i] = static_cast<T>(v < t ? v : t);
  }
  return sum_log_where(s, k, [&](int64_t i) { return static_cast<double>(s[i]) > t; }, kept);
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

#if defined(__SSE2__)
// double rows on x86-64: two lanes a vector, the compare mask both selects and counts (mask = -1).
inline void sum_count_below(const double* s, int64_t k, double t, double& sum, int64_t& count) {
  const __m128d tt = _mm_set1_pd(t);
  __m128d a0 = _mm_setzero_pd(), a1 = _mm_setzero_pd();
  __m128i c0 = _mm_setzero_si128(), c1 = _mm_setzero_si128();
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const __m128d v0 = _mm_loadu_pd(s + i), v1 = _mm_loadu_pd(s + i + 2);
    const __m128d m0 = _mm_cmplt_pd(v0, tt), m1 = _mm_cmplt_pd(v1, tt);
    a0 = _mm_add_pd(a0, _mm_and_pd(v0, m0));
    a1 = _mm_add_pd(a1, _mm_and_pd(v1, m1));
    c0 = _mm_sub_epi64(c0, _mm_castpd_si128(m0));
    c1 = _mm_sub_epi64(c1, _mm_castpd_si128(m1));
  }
  alignas(16) double a[2];
  alignas(16) int64_t c[2];
  _mm_store_pd(a, _mm_add_pd(a0, a1));
  _mm_store_si128(reinterpret_cast<__m128i*>(c), _mm_add_epi64(c0, c1));
  double rs = a[0] + a[1];
  int64_t rc = c[0] + c[1];
  for (; i < k; ++i) {
    const int64_t b = s[i] < t;
    rs += s[i] * static_cast<double>(b);
    rc += b;
  }
  sum = rs;
  count = rc;
}
#endif

// One elimination pass: sum and count of the entries below t, and the smallest entry >= t (+inf if
// none). If the next level does not pass that entry, no new entry falls below it and the solve is
// done without a confirming pass.
template <class T>
inline void scan_below(const T* s, int64_t k, double t, double& sum, int64_t& count, double& next_up) {
  sum_count_below(s, k, t, sum, count);
  double up = inf();
  for (int64_t i = 0; i < k; ++i) {
    const double v = static_cast<double>(s[i]);
    up = (v >= t && v < up) ? v : up;
  }
  next_up = up;
}

#if defined(__SSE2__)
inline void scan_below(const double* s, int64_t k, double t, double& sum, int64_t& count,
                       double& next_up) {
  const __m128d tt = _mm_set1_pd(t), big = _mm_set1_pd(inf());
  __m128d a0 = _mm_setzero_pd(), a1 = _mm_setzero_pd(), u0 = big, u1 = big;
  __m128i c0 = _mm_setzero_si128(), c1 = _mm_setzero_si128();
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const __m128d v0 = _mm_loadu_pd(s + i), v1 = _mm_loadu_pd(s + i + 2);
    const __m128d m0 = _mm_cmplt_pd(v0, tt), m1 = _mm_cmplt_pd(v1, tt);
    a0 = _mm_add_pd(a0, _mm_and_pd(v0, m0));
    a1 = _mm_add_pd(a1, _mm_and_pd(v1, m1));
    c0 = _mm_sub_epi64(c0, _mm_castpd_si128(m0));
    c1 = _mm_sub_epi64(c1, _mm_castpd_si128(m1));
    u0 = _mm_min_pd(u0, _mm_or_pd(_mm_and_pd(m0, big), _mm_andnot_pd(m0, v0)));
    u1 = _mm_min_pd(u1, _mm_or_pd(_mm_and_pd(m1, big), _mm_andnot_pd(m1, v1)));
  }
  alignas(16) double a[2], u[2];
  alignas(16) int64_t c[2];
  _mm_store_pd(a, _mm_add_pd(a0, a1));
  _mm_store_pd(u, _mm_min_pd(u0, u1));
  _mm_store_si128(reinterpret_cast<__m128i*>(c), _mm_add_epi64(c0, c1));
  double rs = a[0] + a[1], up = std::min(u[0], u[1]);
  int64_t rc = c[0] + c[1];
  for (; i < k; ++i) {
    const double v = s[i];
    const int64_t b = v < t;
    rs += v * static_cast<double>(b);
    rc += b;
    up = (!b && v < up) ? v : up;
  }
  sum = rs;
  count = rc;
  next_up = up;
}
#endif

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

#if defined(__SSE2__)
inline Status check_row(const double* s, int64_t k, double& total, double& top) {
  const __m128d zero = _mm_setzero_pd();
  __m128d a0 = zero, a1 = zero, mx = zero, bad_nan = zero, bad_neg = zero;
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const __m128d v0 = _mm_loadu_pd(s + i), v1 = _mm_loadu_pd(s + i + 2);
    a0 = _mm_add_pd(a0, v0);
    a1 = _mm_add_pd(a1, v1);
    mx = _mm_max_pd(mx, _mm_max_pd(v0, v1));
    // v - v is 0 for finite v and NaN for NaN/inf; "not equal" catches the NaN
    bad_nan = _mm_or_pd(bad_nan, _mm_cmpneq_pd(_mm_sub_pd(v0, v0), zero));
    bad_nan = _mm_or_pd(bad_nan, _mm_cmpneq_pd(_mm_sub_pd(v1, v1), zero));
    bad_neg = _mm_or_pd(bad_neg, _mm_or_pd(_mm_cmplt_pd(v0, zero), _mm_cmplt_pd(v1, zero)));
  }
  alignas(16) double a[2], m[2];
  _mm_store_pd(a, _mm_add_pd(a0, a1));
  _mm_store_pd(m, mx);
  bool finite = _mm_movemask_pd(bad_nan) == 0, nonneg = _mm_movemask_pd(bad_neg) == 0;
  double sum = a[0] + a[1], hi = std::max(m[0], m[1]);
  for (; i < k; ++i) {
    const double v = s[i];
    finite &= (v - v) == 0.0;
    nonneg &= !(v < 0.0);
    sum += v;
    hi = v > hi ? v : hi;
  }
  total = sum;
  top = hi;
  if (!finite) return kNonFiniteInput;
  if (!nonneg) return kNegativeInput;
  return kOk;
}
#endif

// The row check fused with the first elimination pass (one read of the row instead of two).
template <class T>
inline Status check_and_scan(const T* s, int64_t k, double t, double& total, double& top,
                             double& sum, int64_t& count, double& next_up) {
  const Status st = check_row(s, k, total, top);
  if (st == kOk) scan_below(s, k, t, sum, count, next_up);
  return st;
}

#if defined(__SSE2__)
inline Status check_and_scan(const double* s, int64_t k, double t, double& total, double& top,
                             double& sum, int64_t& count, double& next_up) {
  const __m128d zero = _mm_setzero_pd(), tt = _mm_set1_pd(t), big = _mm_set1_pd(inf());
  __m128d tot = zero, mx = zero, bad_nan = zero, bad_neg = zero, acc = zero, up = big;
  __m128i cnt = _mm_setzero_si128();
  int64_t i = 0;
  for (; i + 2 <= k; i += 2) {
    const __m128d v = _mm_loadu_pd(s + i);
    tot = _mm_add_pd(tot, v);
    mx = _mm_max_pd(mx, v);
    bad_nan = _mm_or_pd(bad_nan, _mm_cmpneq_pd(_mm_sub_pd(v, v), zero));
    bad_neg = _mm_or_pd(bad_neg, _mm_cmplt_pd(v, zero));
    const __m128d m = _mm_cmplt_pd(v, tt);
    acc = _mm_add_pd(acc, _mm_and_pd(v, m));
    cnt = _mm_sub_epi64(cnt, _mm_castpd_si128(m));
    up = _mm_min_pd(up, _mm_or_pd(_mm_and_pd(m, big), _mm_andnot_pd(m, v)));
  }
  alignas(16) double a[2], x[2], b[2], u[2];
  alignas(16) int64_t c[2];
  _mm_store_pd(a, tot);
  _mm_store_pd(x, mx);
  _mm_store_pd(b, acc);
  _mm_store_pd(u, up);
  _mm_store_si128(reinterpret_cast<__m128i*>(c), cnt);
  bool finite = _mm_movemask_pd(bad_nan) == 0, nonneg = _mm_movemask_pd(bad_neg) == 0;
  double rt = a[0] + a[1], hi = std::max(x[0], x[1]), rs = b[0] + b[1], nu = std::min(u[0], u[1]);
  int64_t rc = c[0] + c[1];
  for (; i < k; ++i) {
    const double v = s[i];
    finite &= (v - v) == 0.0;
    nonneg &= !(v < 0.0);
    rt += v;
    hi = v > hi ? v : hi;
    const int64_t bl = v < t;
    rs += v * static_cast<double>(bl);
    rc += bl;
    nu = (!bl && v < nu) ? v : nu;
  }
  total = rt;
  top = hi;
  sum = rs;
  count = rc;
  next_up = nu;
  if (!finite) return kNonFiniteInput;
  if (!nonneg) return kNegativeInput;
  return kOk;
}
#endif

// Magnitude: rows far from 1 are solved in units of an exact power of two. A row of subnormal
// variances has too few bits for its level (at s = 5e-324, D/k rounded to 0 and the information
// came out infinite), and the forward level is built from the sum of the noise and the power, which
// must stay finite. range_shift returns the exponent e such that the row divided by 2^e lies in
// range, 0 for every row already in range (those are solved exactly as before, bit for bit): the
// largest entry `top` must not lie below 2^-1000, and with `terms` > 0 (the forward problem: k + 1
// terms, the noise and the power) terms * top must stay below 2^1000. The reverse problem never
// sums above its level, so its large rows need no shift (and a shift down would push a small budget
// into the subnormal range). The information is scale-free; level and allocation are scaled back.
INFOTHEORY_HD inline int range_shift(double top, int64_t terms) {
  if (!(top > 0.0)) return 0;
  int e;
  std::frexp(top, &e);  // top in [2^(e-1), 2^e)
  if (e < -1000) return e;  // the largest entry into [0.5, 1)
  if (terms <= 0) return 0;
  int lk = 0;
  while ((int64_t{1} << lk) < terms && lk < 62) ++lk;  // terms <= 2^lk
  return e + lk > 1000 ? e + lk - 1000 : 0;
}

// A budget in units of 2^shift: a positive one stays positive (a smaller one would read as D = 0,
// infinite information), and one beyond 2^1000 (more than the scaled row's sum) stays finite.
INFOTHEORY_HD inline double scaled_budget(double D, int shift) {
  const double d = std::ldexp(D, -shift);
  if (D > 0.0 && d == 0.0) return std::numeric_limits<double>::denorm_min();
  return d < 0x1p1000 ? d : 0x1p1000;
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

// A problem solved on its row divided by 2^shift (range_shift): `solve` (reverse_one or forward_one
// on double rows) gives the level in those units and the information, which is scale-free; the
// level is scaled back and the allocation `alloc_of(s_i, level)` is taken from the caller's row.
template <class T, class Solve, class AllocOf>
inline Status solve_scaled(const T* s, int64_t k, double budget, int shift, T* alloc,
                           double& level, double& value, Solve solve, AllocOf alloc_of) {
  std::vector<double> work(static_cast<size_t>(2 * k));
  for (int64_t i = 0; i < k; ++i) work[i] = std::ldexp(static_cast<double>(s[i]), -shift);
  double lev;
  const Status st = solve(work.data(), scaled_budget(budget, shift), work.data() + k, lev, value);
  if (st != kOk) return st;
  level = std::ldexp(lev, shift);
  for (int64_t i = 0; i < k; ++i) {
    alloc[i] = static_cast<T>(alloc_of(static_cast<double>(s[i]), level));
  }
  return kOk;
}

// One reverse water-filling problem. Writes alloc[0..k), level and mi (nats).
template <class T>
inline Status reverse_one(const T* s, int64_t k, double D, T* alloc, double& level, double& mi,
                          std::vector<double>& buf) {
  if (!std::isfinite(D) || D < 0.0) return kBadBudget;
  // Active-set elimination from below: tau_0 = D / k <= tau*, and each pass moves the entries below
  // the level to their own variance; the level rises monotonically to tau*.
  double tau = D / static_cast<double>(k);
  double total, top, below_sum, next_up;
  int64_t below;
  const Status st = check_and_scan(s, k, tau, total, top, below_sum, below, next_up);
  if (st != kOk) return st;
  if (const int shift = range_shift(top, 0)) {
    return solve_scaled(
        s, k, D, shift, alloc, level, mi,
        [&](const double* r, double b, double* a, double& t, double& v) {
          return reverse_one(r, k, b, a, t, v, buf);
        },
        [](double v, double t) { return v < t ? v : t; });  // D_i = min(s_i, tau)
  }
  // Every coordinate erased: zero information. A budget within the rounding error of the sum (the
  // caller's sum may add in another order) counts as the whole sum, so I* is exactly 0 there.
  if (D >= total * (1.0 - static_cast<double>(k + 1) * 0x1p-52)) {
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
  bool done = false;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    if (below >= k) break;  // only reachable through rounding; let the exact scan decide
    const double next = (D - below_sum) / static_cast<double>(k - below);
    if (next <= tau || next <= next_up) {  // no entry lies in [tau, next): the set is final
      tau = std::max(next, tau);
      done = true;
      break;
    }
    tau = next;
    scan_below(s, k, tau, below_sum, below, next_up);
  }
  if (!done) tau = reverse_level_sorted(s, k, D, buf);
  level = tau;
  // I* = 1/2 sum_{s_i > tau} ln(s_i / tau), with the allocation written in the same pass
  int64_t above;
  const double log_sum = sum_log_above(s, k, tau, above, alloc);
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
  if (const int shift = range_shift(std::max(top, P), k + 1)) {
    return solve_scaled(
        n, k, P, shift, alloc, level, cap,
        [&](const double* r, double b, double* a, double& nu, double& c) {
          return forward_one(r, k, b, a, nu, c, buf);
        },
        [](double v, double nu) { return v < nu ? nu - v : 0.0; });  // P_i = max(0, nu - N_i)
  }
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
