// CUDA twins of the batched water-filling kernels (csrc/core/waterfill.hpp): one warp a problem, the
// same active-set elimination with warp reductions. Each pass drops at least one coordinate or ends,
// so the loop is bounded by k + 1 passes without the CPU's sort fallback.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "check.cuh"
#include "core/common.hpp"
#include "core/waterfill.hpp"
#include "waterfill_launch.hpp"

namespace infotheory::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;

template <class T>
__device__ bool load_row_stats(const T* s, int64_t k, int lane, double& total, double& top,
                               int32_t& bad) {
  double sum = 0.0, mx = 0.0;
  int nonfinite = 0, negative = 0;
  for (int64_t i = lane; i < k; i += 32) {
    const double v = static_cast<double>(s[i]);
    nonfinite |= !isfinite(v);
    negative |= (v < 0.0);
    sum += v;
    mx = fmax(mx, v);
  }
  total = warp_sum(sum);
  top = warp_max(mx);
  nonfinite = __any_sync(0xffffffffu, nonfinite);
  negative = __any_sync(0xffffffffu, negative);
  bad = nonfinite ? kNonFiniteInput : (negative ? kNegativeInput : kOk);
  return bad == kOk;
}

// Entry i of a row in units of 2^shift (waterfill::range_shift; 0 for rows in range, read as is).
template <class T>
__device__ inline double scaled_entry(const T* s, int64_t i, int shift) {
  const double v = static_cast<double>(s[i]);
  return shift ? ldexp(v, -shift) : v;
}

// Sum and maximum of a row in units of 2^shift (the unscaled sum may have overflowed).
template <class T>
__device__ void scaled_row_stats(const T* s, int64_t k, int lane, int shift, double& total,
                                 double& top) {
  double sum = 0.0, mx = 0.0;
  for (int64_t i = lane; i < k; i += 32) {
    const double v = scaled_entry(s, i, shift);
    sum += v;
    mx = fmax(mx, v);
  }
  total = warp_sum(sum);
  top = warp_max(mx);
}

template <class T>
__global__ void reverse_kernel(const T* __restrict__ sigma2, const T* __restrict__ budget,
                               T* __restrict__ level, T* __restrict__ alloc, T* __restrict__ mi,
                               int32_t* __restrict__ status, int64_t n, int64_t k) {
  const int lane = threadIdx.x & 31;
  const int64_t p = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (p >= n) return;  // whole warps exit together: p is warp-uniform
  const T* s = sigma2 + p * k;
  T* a = alloc + p * k;
  double D = static_cast<double>(budget[p]);
  if (!isfinite(D) || D < 0.0) {
    if (lane == 0) status[p] = kBadBudget;
    return;
  }
  double total, top;
  int32_t bad;
  if (!load_row_stats(s, k, lane, total, top, bad)) {
    if (lane == 0) status[p] = bad;
    return;
  }
  // rows far from 1 are solved in units of 2^shift, as on the CPU (warp-uniform)
  const int shift = waterfill::range_shift(top, 0);
  if (shift) {
    scaled_row_stats(s, k, lane, shift, total, top);
    D = waterfill::scaled_budget(D, shift);
  }
  double tau, info;
  if (D >= total * (1.0 - static_cast<double>(k + 1) * 0x1p-52)) {  // as the CPU kernel
    tau = top;
    info = 0.0;
  } else if (D == 0.0) {
    tau = 0.0;
    info = inf();
  } else {
    tau = D / static_cast<double>(k);
    int64_t count = -1;
    for (int64_t pass = 0; pass <= k; ++pass) {
      double below_sum = 0.0;
      int below = 0;
      for (int64_t i = lane; i < k; i += 32) {
        const double v = scaled_entry(s, i, shift);
        const bool b = v < tau;
        below_sum += b ? v : 0.0;
        below += b;
      }
      below_sum = warp_sum(below_sum);
      below = warp_sum(below);
      if (below == count || below >= k) break;
      count = below;
      tau = (D - below_sum) / static_cast<double>(k - below);
    }
    double log_sum = 0.0;
    for (int64_t i = lane; i < k; i += 32) {
      const double v = scaled_entry(s, i, shift);
      if (v > tau) log_sum += log(v / tau);
    }
    info = fmax(0.5 * warp_sum(log_sum), 0.0);
  }
  if (shift) tau = ldexp(tau, shift);  // back to the caller's units; D_i from the caller's row
  for (int64_t i = lane; i < k; i += 32) {
    const double v = static_cast<double>(s[i]);
    a[i] = static_cast<T>(v < tau ? v : tau);
  }
  if (lane == 0) {
    level[p] = static_cast<T>(tau);
    mi[p] = static_cast<T>(info);
    status[p] = kOk;
  }
}

template <class T>
__global__ void forward_kernel(const T* __restrict__ noise, const T* __restrict__ power,
                               T* __restrict__ level, T* __restrict__ alloc, T* __restrict__ cap,
                               int32_t* __restrict__ status, int64_t n, int64_t k) {
  const int lane = threadIdx.x & 31;
  const int64_t p = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (p >= n) return;
  const T* N = noise + p * k;
  T* a = alloc + p * k;
  double P = static_cast<double>(power[p]);
  if (!isfinite(P) || P < 0.0) {
    if (lane == 0) status[p] = kBadBudget;
    return;
  }
  double total, top;
  int32_t bad;
  if (!load_row_stats(N, k, lane, total, top, bad)) {
    if (lane == 0) status[p] = bad;
    return;
  }
  const int shift = waterfill::range_shift(fmax(top, P), k + 1);  // as on the CPU
  if (shift) {
    scaled_row_stats(N, k, lane, shift, total, top);
    P = waterfill::scaled_budget(P, shift);
  }
  double nu = (P + total) / static_cast<double>(k);
  int64_t count = -1;
  for (int64_t pass = 0; pass <= k; ++pass) {
    double in_sum = 0.0;
    int in = 0;
    for (int64_t i = lane; i < k; i += 32) {
      const double v = scaled_entry(N, i, shift);
      const bool b = v < nu;
      in_sum += b ? v : 0.0;
      in += b;
    }
    in_sum = warp_sum(in_sum);
    in = warp_sum(in);
    if (in == count || in == 0) break;
    count = in;
    nu = (P + in_sum) / static_cast<double>(in);
  }
  double log_sum = 0.0;
  int zero_filled = 0;
  const double nu_out = shift ? ldexp(nu, shift) : nu;  // the caller's units
  for (int64_t i = lane; i < k; i += 32) {
    const double v = scaled_entry(N, i, shift);
    const double q = v < nu ? nu - v : 0.0;
    const double v0 = static_cast<double>(N[i]);  // P_i from the caller's row, as on the CPU
    a[i] = static_cast<T>(v0 < nu_out ? nu_out - v0 : 0.0);
    if (q > 0.0) {
      if (v == 0.0) zero_filled = 1;
      else log_sum += log(nu / v);
    }
  }
  log_sum = warp_sum(log_sum);
  zero_filled = __any_sync(0xffffffffu, zero_filled);
  if (lane == 0) {
    level[p] = static_cast<T>(nu_out);
    cap[p] = static_cast<T>(P == 0.0 ? 0.0 : (zero_filled ? inf() : fmax(0.5 * log_sum, 0.0)));
    status[p] = kOk;
  }
}

inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>((n + kWarpsPerBlock - 1) / kWarpsPerBlock);
}

}  // namespace

template <class T>
void reverse_waterfill(const T* sigma2, const T* budget, T* level, T* alloc, T* mi, int32_t* status,
                       int64_t n, int64_t k, std::uintptr_t stream) {
  if (n == 0 || k == 0) return;
  reverse_kernel<T><<<blocks_for(n), kWarpsPerBlock * 32, 0, as_stream(stream)>>>(
      sigma2, budget, level, alloc, mi, status, n, k);
  check_launch("reverse_waterfill");
}

template <class T>
void forward_waterfill(const T* noise, const T* power, T* level, T* alloc, T* capacity,
                       int32_t* status, int64_t n, int64_t k, std::uintptr_t stream) {
  if (n == 0 || k == 0) return;
  forward_kernel<T><<<blocks_for(n), kWarpsPerBlock * 32, 0, as_stream(stream)>>>(
      noise, power, level, alloc, capacity, status, n, k);
  check_launch("forward_waterfill");
}

template void reverse_waterfill<float>(const float*, const float*, float*, float*, float*, int32_t*,
                                       int64_t, int64_t, std::uintptr_t);
template void reverse_waterfill<double>(const double*, const double*, double*, double*, double*,
                                        int32_t*, int64_t, int64_t, std::uintptr_t);
template void forward_waterfill<float>(const float*, const float*, float*, float*, float*, int32_t*,
                                       int64_t, int64_t, std::uintptr_t);
template void forward_waterfill<double>(const double*, const double*, double*, double*, double*,
                                        int32_t*, int64_t, int64_t, std::uintptr_t);

}  // namespace infotheory::cuda
