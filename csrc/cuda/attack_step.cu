// CUDA twin of the fused attack step (csrc/core/attack_step.hpp): one block a sample, grid-stride
// over its coordinates, block reductions for the norms. The L2 step makes the same three passes as
// the CPU kernel; the per-sample slice is read back from L2 cache.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>

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
    linf[p] = T(isnan(s2) ? s2 : mx);  // as finish_norms: max drops NaN, the sum keeps it
  }
}

template <class T>
__global__ void cw_kernel(T* __restrict__ w, T* __restrict__ m, T* __restrict__ v,
                          T* __restrict__ xa, const T* __restrict__ x, const T* __restrict__ g,
                          attack_step::CwAdam<T> p, T* __restrict__ l2sq, int64_t d) {
  __shared__ double shared[kWarps];
  const int64_t o = static_cast<int64_t>(blockIdx.x) * d;
  const T h = (p.hi - p.lo) * T(0.5);
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) {
    T wi = w[o + i], mi = m[o + i], vi = v[o + i];
    const T nx = attack_step::cw_update(wi, mi, vi, xa[o + i], x[o + i], g[o + i], p, h);
    w[o + i] = wi;
    m[o + i] = mi;
    v[o + i] = vi;
    xa[o + i] = nx;
    const double dd = double(nx - x[o + i]);
    s += dd * dd;
  }
  s = block_reduce<false>(s, shared);
  if (threadIdx.x == 0) l2sq[blockIdx.x] = T(s);
}

// One block a sample: the k - 1 norms by block reductions, then the update (deepfool_one).
template <class T>
__global__ void deepfool_kernel(const T* __restrict__ grads, int64_t k, int64_t a,
                                const T* __restrict__ f, const int64_t* __restrict__ sel,
                                const int64_t* __restrict__ rows, T* __restrict__ r_tot,
                                const T* __restrict__ x, T* __restrict__ x_adv, T overshoot, T lo,
                                T hi, int64_t d) {
  __shared__ double shared[kWarps];
  const int64_t p = blockIdx.x;
  const T* g0 = grads + sel[p] * d;
  const T tiny = std::numeric_limits<T>::min();
  int64_t best = 1;
  T best_dist = T(0), best_norm = T(1);
  for (int64_t j = 1; j < k; ++j) {
    const T* gj = grads + (j * a + sel[p]) * d;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < d; i += kThreads) {
      const double e = double(gj[i] - g0[i]);
      s += e * e;
    }
    s = block_reduce<false>(s, shared);  // every thread gets the sum: no broadcast needed
    const T wn = attack_step::vmax(tiny, T(sqrt(s)));  // NaN as deepfool_one
    const T dist = fabs(f[p * (k - 1) + j - 1]) / wn;
    if (j == 1 || dist < best_dist || (dist != dist && best_dist == best_dist)) {
      best = j;
      best_dist = dist;
      best_norm = wn;
    }
  }
  const T coef = (best_dist + T(1e-4)) / best_norm;
  const T scale = T(1) + overshoot;
  const T* gl = grads + (best * a + sel[p]) * d;
  const int64_t o = rows[p] * d;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) {
    const T rt = r_tot[o + i] + coef * (gl[i] - g0[i]);
    r_tot[o + i] = rt;
    x_adv[o + i] = attack_step::clip_value(x[o + i] + scale * rt, lo, hi);
  }
}

}  // namespace

template <class T>
void cw_adam_step(T* w, T* m, T* v, T* xa, const T* x, const T* grad, T step_size, T bc2_sqrt,
                  T b1, T b2, T adam_eps, T lo, T hi, bool box, T* l2sq, int64_t n, int64_t d,
                  std::uintptr_t stream) {
  if (n == 0) return;
  const attack_step::CwAdam<T> p{step_size, bc2_sqrt, b1, b2, adam_eps, lo, hi, box};
  cw_kernel<T><<<static_cast<unsigned>(n), kThreads, 0, as_stream(stream)>>>(w, m, v, xa, x, grad,
                                                                              p, l2sq, d);
  check_launch("cw_adam_step");
}

template <class T>
void deepfool_step(const T* grads, int64_t k, int64_t a, const T* f, const int64_t* sel,
                   const int64_t* rows, T* r_tot, const T* x, T* x_adv, T overshoot, T lo, T hi,
                   int64_t mm, int64_t d, std::uintptr_t stream) {
  if (mm == 0) return;
  deepfool_kernel<T><<<static_cast<unsigned>(mm), kThreads, 0, as_stream(stream)>>>(
      grads, k, a, f, sel, rows, r_tot, x, x_adv, overshoot, lo, hi, d);
  check_launch("deepfool_step");
}

#define INFOTHEORY_ATTACK_INSTANTIATE(T)                                                          \
  template void cw_adam_step<T>(T*, T*, T*, T*, const T*, const T*, T, T, T, T, T, T, T, bool,   \
                                T*, int64_t, int64_t, std::uintptr_t);                            \
  template void deepfool_step<T>(const T*, int64_t, int64_t, const T*, const int64_t*,            \
                                 const int64_t*, T*, const T*, T*, T, T, T, int64_t, int64_t,     \
                                 std::uintptr_t);
INFOTHEORY_ATTACK_INSTANTIATE(float)
INFOTHEORY_ATTACK_INSTANTIATE(double)
#undef INFOTHEORY_ATTACK_INSTANTIATE

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
