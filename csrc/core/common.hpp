// Shared helpers for the header-only math: no Python, no CUDA headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define INFOTHEORY_HD __host__ __device__
#else
#define INFOTHEORY_HD
#endif

namespace infotheory {

// Per-problem status written by the kernels; the binding layer turns a non-zero code into a
// ValueError naming the argument and the first offending problem.
enum Status : int32_t {
  kOk = 0,
  kNonFiniteInput = 1,  // NaN or inf in the main array argument
  kNegativeInput = 2,   // negative entry where >= 0 is required
  kBadBudget = 3,       // budget (D or power) negative or not finite
  kNoConvergence = 4,   // iterative solver stopped at its iteration cap
};

INFOTHEORY_HD inline double inf() { return std::numeric_limits<double>::infinity(); }

}  // namespace infotheory
