// CUDA twin of the batched binary attack (csrc/core/channel.hpp): the same host/device solver, one
// thread a problem. A problem is a few dozen flops and logs: nothing to share in a warp.
#include <cuda_runtime.h>

#include <cstdint>

#include "channel_launch.hpp"
#include "check.cuh"
#include "core/channel.hpp"

namespace infotheory::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void binary_kernel(const double* __restrict__ p, const double* __restrict__ eps,
                              double* __restrict__ mi, double* __restrict__ flip,
                              double* __restrict__ alpha, double* __restrict__ lambda,
                              double* __restrict__ zero_budget, int32_t* __restrict__ status,
                              int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= n) return;
  channel::BinaryResult r;
  status[i] = channel::binary_one(p + 4 * i, eps[i], r);
  mi[i] = r.mi;
  for (int j = 0; j < 4; ++j) flip[4 * i + j] = r.flip[j];
  alpha[2 * i] = r.alpha[0];
  alpha[2 * i + 1] = r.alpha[1];
  lambda[i] = r.lambda;
  zero_budget[i] = r.zero_budget;
}

}  // namespace

void binary_attack(const double* p, const double* eps, double* mi, double* flip, double* alpha,
                   double* lambda, double* zero_budget, int32_t* status, int64_t n,
                   std::uintptr_t stream) {
  if (n <= 0) return;
  const auto blocks = static_cast<unsigned>((n + kThreads - 1) / kThreads);
  binary_kernel<<<blocks, kThreads, 0, as_stream(stream)>>>(p, eps, mi, flip, alpha, lambda,
                                                            zero_budget, status, n);
  check_launch("binary_attack");
}

}  // namespace infotheory::cuda
