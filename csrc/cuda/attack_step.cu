// CUDA twin of the fused attack step (csrc/core/attack_step.hpp): one block a sample, grid-stride
// over its coordinates, block reductions for the norms. The L2 step makes the same three passes as
// the CPU kernel; the per-sample slice is read back from L2 cache.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "attack_step_launch.hpp"
#include "check.cuh"
#include "core/attack_step.hpp"

namespace infotheory::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// Sum (or max) over the block; every thread gets the result.
template <bool Max>
__device__ double block_reduce(double v, double* shared) {
  v = Max ? warp_max(v) : warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // shared may still be read by the previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < kWarps ? shared[lane] : 0.0;
  return Max ? warp_max(v) : warp_sum(v);
}

template <class T>
__global__ void step_kernel(T* __restrict__ x, const T* __restrict__ g, const T* __restrict__ x0,
                            const T* __restrict__ eps, const T* __restrict__ alpha, T lo, T hi,
                            int32_t norm, T* __restrict__ l2, T* __restrict__ linf, int64_t d) {
  __shared__ double shared[kWarps];
  const int64_t p = blockIdx.x;
  T* xs = x + p * d;
  const T* gs = g + p * d;
  const T* bs = x0 + p * d;
  const T e = eps[p], a = alpha[p];
  T factor = T(1), scale = T(0);
  if (norm == 1) {
    double g2 = 0.0;
    for (int64_t i = threadIdx.x; i < d; i += kThreads) g2 += double(gs[i]) * double(gs[i]);
    const double gn = sqrt(block_reduce<false>(g2, shared));
    scale = gn > 0.0 ? T(double(a) / gn) : T(0);
    double d2 = 0.0;
    for (int64_t i = threadIdx.x; i < d; i += kThreads) {
      const T dd = xs[i] + gs[i] * scale - bs[i];
      xs[i] = dd;
      d2 += double(dd) * double(dd);
    }
    const double dn = sqrt(block_reduce<false>(d2, shared));
    factor = dn > double(e) ? T(double(e) / dn) : T(1);
  }
  double s2 = 0.0, mx = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) {
    const T base = bs[i];
    const T v = norm == 1 ? attack_step::l2_value(xs[i], base, factor, lo, hi)
                          : attack_step::linf_value(xs[i], gs[i], base, e, a, lo, hi);
    xs[i] = v;
    const double dd = double(v - base);
    s2 += dd * dd;
    mx = fmax(mx, fabs(dd));
  }
  s2 = block_reduce<false>(s2, shared);
  mx = block_reduce<true>(mx, shared);
  if (threadIdx.x == 0) {
    l2[p] = T(sqrt(s2));
    linf[p] = T(mx);
  }
}

}  // namespace

template <class T>
void attack_step(T* x, const T* grad, const T* x0, const T* eps, const T* alpha, T lo, T hi,
                 int32_t norm, T* l2, T* linf, int64_t n, int64_t d, std::uintptr_t stream) {
  if (n == 0) return;
  step_kernel<T><<<static_cast<unsigned>(n), kThreads, 0, as_stream(stream)>>>(
      x, grad, x0, eps, alpha, lo, hi, norm, l2, linf, d);
  check_launch("attack_step");
}

template void attack_step<float>(float*, const float*, const float*, const float*, const float*,
                                 float, float, int32_t, float*, float*, int64_t, int64_t,
                                 std::uintptr_t);
template void attack_step<double>(double*, const double*, const double*, const double*,
                                  const double*, double, double, int32_t, double*, double*, int64_t,
                                  int64_t, std::uintptr_t);

}  // namespace infotheory::cuda
