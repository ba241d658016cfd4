// CUDA batched power iteration for the spectral family (csrc/core/spectral.hpp holds the CPU
// solvers). One step is three launches: Av = W u (a warp a row), v = W^T Av (a thread a column over
// a chunk of rows, atomics across chunks), then a block a problem normalises v and writes the
// Rayleigh quotient and residual. Accumulation is in double for both dtypes.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "check.cuh"
#include "spectral_launch.hpp"

namespace infotheory::cuda {
namespace {

constexpr int kRowWarps = 8;      // rows a block in the W u kernel
constexpr int kColThreads = 256;  // columns a block in the W^T Av kernel
constexpr int kColRows = 64;      // rows a block reads in the W^T Av kernel
constexpr int kNormThreads = 256;
constexpr int64_t kMaxGridZ = 65535;

// Av[p, i] = sum_j W[p, i, j] v[p, j] * scale[p], where scale = 1 / ||v|| (from the previous step,
// or set by the caller), so Av = W u for the unit u = v scale.
template <class T>
__global__ void rows_kernel(const T* __restrict__ W, const T* __restrict__ v, T* __restrict__ Av,
                            const double* __restrict__ vscale, int64_t m, int64_t n, int64_t p0) {
  const int64_t p = p0 + blockIdx.z;
  const int lane = threadIdx.x & 31;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kRowWarps + (threadIdx.x >> 5);
  if (i >= m) return;  // warp-uniform
  const T* row = W + (p * m + i) * n;
  const T* vp = v + p * n;
  double s = 0.0;
  for (int64_t j = lane; j < n; j += 32) s += static_cast<double>(row[j]) * static_cast<double>(vp[j]);
  s = warp_sum(s);
  if (lane == 0) Av[p * m + i] = static_cast<T>(s * vscale[p]);
}

template <class T>
__device__ inline void atomic_add(T* addr, double x) {
  atomicAdd(addr, static_cast<T>(x));
}

template <class T>
__global__ void cols_kernel(const T* __restrict__ W, const T* __restrict__ Av, T* __restrict__ v,
                            int64_t m, int64_t n, int64_t p0) {
  __shared__ double a[kColRows];
  const int64_t p = p0 + blockIdx.z;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kColRows;
  const int64_t rows = min(static_cast<int64_t>(kColRows), m - r0);
  for (int t = threadIdx.x; t < rows; t += blockDim.x) {
    a[t] = static_cast<double>(Av[p * m + r0 + t]);
  }
  __syncthreads();
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColThreads + threadIdx.x;
  if (j >= n) return;
  const T* base = W + (p * m + r0) * n + j;
  double s = 0.0;
  for (int64_t r = 0; r < rows; ++r) s += static_cast<double>(base[r * n]) * a[r];
  atomic_add(v + p * n + j, s);
}

template <class T>
__device__ double block_sum(double x, double* shared) {
  x = warp_sum(x);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  x = threadIdx.x < (blockDim.x >> 5) ? shared[threadIdx.x] : 0.0;
  if (warp == 0) x = warp_sum(x);
  __syncthreads();
  return x;  // valid in warp 0
}

// theta = ||Av||^2 (Av = W u, u unit), w = v = W^T Av; resid = sqrt(max(||w||^2 - theta^2, 0))
// since u . w = theta. Leaves v unnormalised and vscale = 1 / ||w|| for the next rows_kernel.
template <class T>
__global__ void norm_kernel(const T* __restrict__ Av, T* __restrict__ v, T* __restrict__ sigma,
                            T* __restrict__ resid, double* __restrict__ vscale, int64_t m,
                            int64_t n, int64_t p0) {
  __shared__ double sh[kNormThreads / 32];
  __shared__ double out[2];
  const int64_t p = p0 + blockIdx.x;
  double a = 0.0, w = 0.0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double x = static_cast<double>(Av[p * m + i]);
    a += x * x;
  }
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const double x = static_cast<double>(v[p * n + j]);
    w += x * x;
  }
  a = block_sum<T>(a, sh);
  if (threadIdx.x == 0) out[0] = a;
  w = block_sum<T>(w, sh);
  if (threadIdx.x == 0) {
    out[1] = w;
    const double theta = out[0];
    sigma[p] = static_cast<T>(sqrt(theta));
    resid[p] = static_cast<T>(sqrt(fmax(w - theta * theta, 0.0)));
    vscale[p] = w > 0.0 ? 1.0 / sqrt(w) : 1.0;
  }
}

}  // namespace

template <class T>
void spectral_power(const T* W, T* v, T* Av, T* sigma, T* resid, double* scale, int64_t b,
                    int64_t m, int64_t n, int iters, std::uintptr_t stream) {
  if (b == 0 || m == 0 || n == 0 || iters < 1) return;
  const cudaStream_t s = as_stream(stream);
  for (int it = 0; it < iters; ++it) {
    for (int64_t p0 = 0; p0 < b; p0 += kMaxGridZ) {
      const auto nb = static_cast<unsigned>(std::min<int64_t>(kMaxGridZ, b - p0));
      const dim3 g1(static_cast<unsigned>((m + kRowWarps - 1) / kRowWarps), 1, nb);
      rows_kernel<T><<<g1, kRowWarps * 32, 0, s>>>(W, v, Av, scale, m, n, p0);
    }
    check_launch("spectral_power (W v)");
    if (cudaMemsetAsync(v, 0, static_cast<size_t>(b * n) * sizeof(T), s) != cudaSuccess) {
      check_launch("spectral_power (memset)");
    }
    for (int64_t p0 = 0; p0 < b; p0 += kMaxGridZ) {
      const auto nb = static_cast<unsigned>(std::min<int64_t>(kMaxGridZ, b - p0));
      const dim3 g2(static_cast<unsigned>((n + kColThreads - 1) / kColThreads),
                    static_cast<unsigned>((m + kColRows - 1) / kColRows), nb);
      cols_kernel<T><<<g2, kColThreads, 0, s>>>(W, Av, v, m, n, p0);
    }
    check_launch("spectral_power (W^T Av)");
    for (int64_t p0 = 0; p0 < b; p0 += kMaxGridZ) {
      const auto nb = static_cast<unsigned>(std::min<int64_t>(kMaxGridZ, b - p0));
      norm_kernel<T><<<nb, kNormThreads, 0, s>>>(Av, v, sigma, resid, scale, m, n, p0);
    }
    check_launch("spectral_power (normalise)");
  }
}

template void spectral_power<float>(const float*, float*, float*, float*, float*, double*, int64_t,
                                    int64_t, int64_t, int, std::uintptr_t);
template void spectral_power<double>(const double*, double*, double*, double*, double*, double*,
                                     int64_t, int64_t, int64_t, int, std::uintptr_t);

}  // namespace infotheory::cuda
