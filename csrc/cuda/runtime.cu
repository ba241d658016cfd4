#include <cuda_runtime.h>

#include "launch.hpp"

namespace infotheory::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
    return 0;
  }
  return n;
}

int runtime_version() { return CUDART_VERSION; }

}  // namespace infotheory::cuda
