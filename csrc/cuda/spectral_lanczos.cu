// CUDA batched Lanczos for many small matrices: one thread block a matrix runs the team algorithm
// of csrc/core/spectral_lanczos.hpp (Gram matrix in double, Lanczos with full reorthogonalisation
// on it, the lower end from W, the Cholesky certificate of mu I - G). The CPU binding runs the same
// code with std::threads standing in for the block.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "check.cuh"
#include "core/spectral_lanczos.hpp"
#include "spectral_lanczos_launch.hpp"

namespace infotheory::cuda {
namespace {

namespace sl = infotheory::spectral_lanczos;

constexpr int kMaxThreads = 256;
constexpr int64_t kMaxGridX = int64_t{1} << 30;

// The thread block as a spectral_lanczos team: groups are warps. The methods are host-device only
// so that the header's host-device templates may call them; they run on the device only.
struct BlockTeam {
  double* red;  // one double a warp, in shared memory

  __host__ __device__ int rank() const {
#ifdef __CUDA_ARCH__
    return static_cast<int>(threadIdx.x);
#else
    return 0;
#endif
  }
  __host__ __device__ int size() const {
#ifdef __CUDA_ARCH__
    return static_cast<int>(blockDim.x);
#else
    return 1;
#endif
  }
  __host__ __device__ int lane() const { return rank() & 31; }
  __host__ __device__ int group() const { return rank() >> 5; }
  __host__ __device__ int groups() const { return size() >> 5; }
  __host__ __device__ int group_size() const { return 32; }
  __host__ __device__ void sync() const {
#ifdef __CUDA_ARCH__
    __syncthreads();
#endif
  }
  __host__ __device__ double group_sum(double x) const {
#ifdef __CUDA_ARCH__
    return warp_sum(x);
#else
    return x;
#endif
  }
  // Every thread adds the per-warp totals in the same order, so all get the same bits.
  __host__ __device__ double sum(double x) const {
#ifdef __CUDA_ARCH__
    x = warp_sum(x);
    if (lane() == 0) red[group()] = x;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < groups(); ++w) s += red[w];
    __syncthreads();
    return s;
#else
    return x;
#endif
  }
};

template <class T>
__global__ void __launch_bounds__(kMaxThreads)
    lanczos_kernel(const T* __restrict__ W, double* __restrict__ v, double* __restrict__ u,
                   LanczosOutputs out, double* __restrict__ work, int64_t work_per, sl::Params P,
                   std::uint64_t seed, int64_t p0) {
  extern __shared__ double sh[];
  __shared__ double red[kMaxThreads / 32];
  const int64_t p = p0 + blockIdx.x;
  BlockTeam team{red};
  const sl::Outputs r =
      sl::solve(team, W + p * P.m * P.n, v + p * P.n, u ? u + p * P.m : nullptr,
                work + p * work_per, sh, P, seed + static_cast<std::uint64_t>(p));
  if (threadIdx.x == 0) out.store(p, r);
}

}  // namespace

template <class T>
void spectral_lanczos(const T* W, double* v, double* u, LanczosOutputs out, double* work,
                      int64_t b, int64_t m, int64_t n, double tol, int max_iter, int max_basis,
                      double gap_cap, std::uint64_t seed, bool certify,
                      std::uintptr_t stream) {
  if (b == 0 || m == 0 || n == 0) return;
  const sl::Params P = sl::make_params(m, n, tol, max_iter, max_basis, gap_cap, certify);
  const int64_t k = std::min(m, n);
  const int threads = k <= 64 ? 64 : k <= 128 ? 128 : kMaxThreads;
  const auto shared =
      static_cast<size_t>(sl::shared_size(m, n, max_basis)) * sizeof(double);  // < 48 KB
  const int64_t work_per = sl::work_size(m, n, max_basis);
  const cudaStream_t s = as_stream(stream);
  for (int64_t p0 = 0; p0 < b; p0 += kMaxGridX) {
    const auto nb = static_cast<unsigned>(std::min(kMaxGridX, b - p0));
    lanczos_kernel<T><<<nb, threads, shared, s>>>(W, v, u, out, work, work_per, P, seed, p0);
  }
  check_launch("spectral_lanczos");
}

template void spectral_lanczos<float>(const float*, double*, double*, LanczosOutputs, double*,
                                      int64_t, int64_t, int64_t, double, int, int, double,
                                      std::uint64_t, bool, std::uintptr_t);
template void spectral_lanczos<double>(const double*, double*, double*, LanczosOutputs, double*,
                                       int64_t, int64_t, int64_t, double, int, int, double,
                                       std::uint64_t, bool, std::uintptr_t);

}  // namespace infotheory::cuda
