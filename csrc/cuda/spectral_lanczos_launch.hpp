// Host-side declaration of the batched Lanczos CUDA launcher (conventions in launch.hpp).
#pragma once

#include <cstdint>

#include "core/spectral_lanczos.hpp"

namespace infotheory::cuda {

// Per-matrix outputs (b,) of spectral_lanczos, device pointers.
using LanczosOutputs = spectral_lanczos::OutputPtrs;

// Certified top singular value of each W[p] (b, m, n) row-major, min(m, n) <= 256: one thread block
// a matrix runs spectral_lanczos::solve (csrc/core/spectral_lanczos.hpp) on `stream`. v (b, n)
// float64: start vectors on entry (zero rows: a random start from seed + p), unit right singular
// vectors on exit; u (b, m) float64 or null: unit left singular vectors. work: b *
// spectral_lanczos::work_size(m, n, max_basis) doubles. gap_cap: the Kato-Temple stop
// (spectral_lanczos::Params); certify: the Cholesky certificate. Outputs as spectral_top_gram's.
template <class T>
void spectral_lanczos(const T* W, double* v, double* u, LanczosOutputs out, double* work,
                      int64_t b, int64_t m, int64_t n, double tol, int max_iter, int max_basis,
                      double gap_cap, std::uint64_t seed, bool certify,
                      std::uintptr_t stream);

}  // namespace infotheory::cuda
