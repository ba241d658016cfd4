#!/usr/bin/env bash
# Everything that needs a GPU, in one bounded run: build the CUDA kernels for this machine's GPU, run
# the CUDA tests, the GPU benchmarks, and compute-sanitizer (memcheck, racecheck) over the CUDA tests.
# Usage: tools/gpu_check.sh [OUTDIR]   (default: ./gpu_check). Each step has its own time limit, so
# one stuck step cannot eat the others' time; the log says which step failed. Total <= ~9 minutes.
# GPU_STEPS picks steps (default: "build tests bench lanczos memcheck racecheck"; "gdb" adds a host
# backtrace of GDB_TEST under cuda-gdb); PYTEST_EXTRA adds pytest options (--deselect ...).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/gpu_check}
mkdir -p "$out"
cd "$root"
export PATH=/usr/local/cuda/bin:$PATH PYTHONPATH=$root PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
log=$out/gpu_check.log
steps=" ${GPU_STEPS:-build tests bench lanczos memcheck racecheck} "
read -r -a extra <<<"${PYTEST_EXTRA:-}"
step() {  # step NAME SECONDS CMD...
  local name=$1 limit=$2
  shift 2
  [[ $steps == *" $name "* ]] || return 0
  echo "=== $name (limit ${limit}s) $(date -u +%T)" | tee -a "$log"
  local t0=$SECONDS
  timeout "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  echo "=== $name: rc=$rc after $((SECONDS - t0)) s" | tee -a "$log"
}
nvidia-smi -L >>"$log" 2>&1
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' >>"$log" 2>&1
arch=$(python3 -c 'import torch; c = torch.cuda.get_device_capability(0); print(f"{c[0]}{c[1]}")')
step build 180 env CUDAARCHS="$arch" JOBS="$(nproc)" tools/devbuild.sh ON
cuda_tests=(tests/test_attacks_fused.py tests/test_attacks_step.py tests/test_channels_binary.py
  tests/test_estimators.py tests/test_lipschitz_cuda_lanczos.py tests/test_lipschitz_dense.py
  tests/test_reproduce_paper1.py tests/test_waterfill.py)
step tests 120 python3 -m pytest -m cuda -v -p no:cacheprovider "${extra[@]}" "${cuda_tests[@]}"
step bench 75 python3 bench/gpu.py --out "$out"
step lanczos 120 python3 bench/spectral_lanczos.py --out "$out"
step memcheck 60 compute-sanitizer --tool memcheck --error-exitcode 9 python3 -m pytest -m cuda -q \
  -p no:cacheprovider -k "not fig1" "${extra[@]}" "${cuda_tests[@]}"
step racecheck 40 compute-sanitizer --tool racecheck --error-exitcode 9 python3 -m pytest -m cuda -q \
  -p no:cacheprovider tests/test_lipschitz_cuda_lanczos.py -k "equals_its_cpu or rejects"
step gdb 90 cuda-gdb -batch -ex run -ex bt --args python3 -m pytest -x -q -p no:cacheprovider \
  "${GDB_TEST:-tests/test_lipschitz_cuda_lanczos.py::test_cuda_kernel_rejects_bad_input}"
grep "^===" "$log"
