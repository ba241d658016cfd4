#!/usr/bin/env bash
# Developer build without installing: configure + build the extension into build/dev-<cuda> and copy
# it into infotheory/ so that `PYTHONPATH=$PWD pytest` imports this checkout. Works in any git worktree.
# Usage: tools/devbuild.sh [AUTO|ON|OFF]   (default OFF: fastest loop; CI builds with AUTO)
set -euo pipefail
cuda=${1:-OFF}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
build="$root/build/dev-$cuda"
pybind11_dir=$("$py" -c 'import pybind11; print(pybind11.get_cmake_dir())')
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DINFOTHEORY_CUDA="$cuda" \
  -Dpybind11_DIR="$pybind11_dir" -DPython_EXECUTABLE="$(command -v "$py")" \
  -DSKBUILD_PROJECT_VERSION=0.1.0.dev >/dev/null
cmake --build "$build" -j "${JOBS:-2}"
cp "$build"/_core*.so "$root/infotheory/"
echo "built $(ls "$root"/infotheory/_core*.so)"
