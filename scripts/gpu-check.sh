#!/usr/bin/env bash
# The GPU verification of sluice's CUDA backend, in one run of under 8 minutes, on a machine with an NVIDIA
# GPU, python3 with PyTorch (CUDA build), and no internet. Prints nvidia-smi and backends(); rebuilds
# libsluice_cuda with the compile-time check of native/cuda/cudnn_api.h against the real cudnn.h where nvcc,
# cmake and cudnn.h are present (else uses the carried build/Release/ as is, and says so); then runs
# scripts/gpu-check.js: CUDA vs CPU (≤ 1e-4), sluice vs torch.nn.LSTM on identical weights (≤ 1e-5), and
# throughput/latency of both on this GPU with the goals beside the numbers.
#
# usage: scripts/gpu-check.sh [--quick] [--no-build] [--python CMD]   run the check (exit 0 = all checks passed)
#        scripts/gpu-check.sh --prepare                             on the build machine: pack Node into
#                                                                   .devtools/node.xz and list what to carry
#        scripts/gpu-check.sh --help
# What the GPU machine needs from this checkout besides the tracked files (carry these ignored paths):
#   dist/  build/Release/  node_modules/node-gyp-build/  .devtools/node.xz (only if `node` is absent there)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '9,14p' "$0" | sed 's/^# \{0,1\}//'; }
fail() {
  echo "gpu-check: FAIL: $*" >&2
  exit 1
}
step() { printf '\n== %s\n' "$*"; }

QUICK=()
BUILD=1
PREPARE=0
PYTHON="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick) ;;
    --no-build) BUILD=0 ;;
    --prepare) PREPARE=1 ;;
    --python)
      [ $# -ge 2 ] || { echo "gpu-check: --python needs a value" >&2; usage >&2; exit 2; }
      PYTHON="$2"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "gpu-check: unknown argument: $1" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

CARRY=(dist build/Release node_modules/node-gyp-build)

if [ "$PREPARE" = 1 ]; then
  for path in "${CARRY[@]}"; do [ -e "$path" ] || fail "$path is missing: run npm install && npm run build first"; done
  [ -f build/Release/libsluice_cuda.so ] || fail "build/Release/libsluice_cuda.so is missing: build with nvcc present"
  mkdir -p .devtools
  if [ ! -f .devtools/node.xz ] || [ "$(command -v node)" -nt .devtools/node.xz ]; then
    xz -T0 -6 -c "$(command -v node)" > .devtools/node.xz.tmp && mv .devtools/node.xz.tmp .devtools/node.xz
  fi
  echo "carry: ${CARRY[*]} .devtools/node.xz"
  du -shc "${CARRY[@]}" .devtools/node.xz
  exit 0
fi

SECONDS=0

step "nvidia-smi"
command -v nvidia-smi > /dev/null || fail "nvidia-smi not found: run this on a machine with an NVIDIA GPU and its driver"
nvidia-smi || fail "nvidia-smi failed: no usable NVIDIA driver/GPU"

step "Node.js"
NODE=node
if ! command -v node > /dev/null; then
  [ -f .devtools/node.xz ] || fail "node is not installed and .devtools/node.xz was not carried (make it with scripts/gpu-check.sh --prepare)"
  xz -dc .devtools/node.xz > /tmp/node || fail "cannot unpack .devtools/node.xz"
  chmod +x /tmp/node
  NODE=/tmp/node
fi
"$NODE" --version || fail "$NODE does not run here"
for path in dist/index.js build/Release/sluice.node node_modules/node-gyp-build/package.json; do
  [ -e "$path" ] || fail "$path is missing: carry ${CARRY[*]} (build them with npm install && npm run build)"
done

step "Python and PyTorch"
command -v "$PYTHON" > /dev/null || fail "$PYTHON not found"
"$PYTHON" - << 'EOF' || fail "PyTorch with CUDA is needed for the comparison"
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print("device:", torch.cuda.get_device_name(0))
EOF
# The cuDNN (and cuBLAS) that PyTorch uses: sluice loads the very same libraries, and the header check
# uses their cudnn.h.
SITE_PACKAGES="$("$PYTHON" -c "import site; print(':'.join(site.getsitepackages() + [site.getusersitepackages()]))")"
export SLUICE_PYTHON_SITE_PACKAGES="$SITE_PACKAGES"
CUDNN_DIR="$("$PYTHON" -c "import nvidia.cudnn, os; print(list(nvidia.cudnn.__path__)[0])" 2> /dev/null || true)"
TORCH_LIB="$("$PYTHON" -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")"
if [ -n "$CUDNN_DIR" ] && [ -f "$CUDNN_DIR/lib/libcudnn.so.9" ]; then
  export SLUICE_CUDNN_PATH="$CUDNN_DIR/lib"
elif [ -f "$TORCH_LIB/libcudnn.so.9" ]; then
  export SLUICE_CUDNN_PATH="$TORCH_LIB"
fi
echo "SLUICE_CUDNN_PATH=${SLUICE_CUDNN_PATH:-<not set: the loader searches>}"
CUDNN_INCLUDE=""
for dir in "${SLUICE_CUDNN_INCLUDE_DIR:-}" "${CUDNN_DIR:+$CUDNN_DIR/include}" /usr/include /usr/local/cuda/include; do
  if [ -n "$dir" ] && [ -f "$dir/cudnn.h" ]; then
    CUDNN_INCLUDE="$dir"
    break
  fi
done

step "libsluice_cuda with the cudnn.h check"
NVCC="$(command -v nvcc || true)"
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ "$BUILD" = 1 ] && [ -n "$NVCC" ] && command -v cmake > /dev/null && [ -n "$CUDNN_INCLUDE" ]; then
  ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n1 | tr -d ' .' || true)"
  ARCH_FLAG=()
  # Only this GPU's architecture (fast); the default list when the driver cannot tell.
  [[ "$ARCH" =~ ^[0-9]+$ ]] && ARCH_FLAG=(-DSLUICE_CUDA_ARCHITECTURES="${ARCH}-real")
  TARGET="the default architectures"
  [ ${#ARCH_FLAG[@]} -gt 0 ] && TARGET="sm_$ARCH"
  echo "building for $TARGET with $NVCC, checking against $CUDNN_INCLUDE/cudnn.h"
  rm -rf build/cuda-check
  timeout 240 cmake -S native/cuda -B build/cuda-check -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" \
    -DSLUICE_CUDNN_INCLUDE_DIR="$CUDNN_INCLUDE" "${ARCH_FLAG[@]}" > build/cuda-check.log 2>&1 ||
    { cat build/cuda-check.log; fail "cmake configure of native/cuda failed"; }
  timeout 240 cmake --build build/cuda-check --parallel >> build/cuda-check.log 2>&1 ||
    { cat build/cuda-check.log; fail "building native/cuda failed (a cudnn_api.h mismatch shows as a static assertion above)"; }
  nm -D build/cuda-check/libsluice_cuda.so | grep -q sluice_cuda_cudnn_headers_checked ||
    fail "the rebuilt library lacks the cudnn.h check"
  cp build/cuda-check/libsluice_cuda.so build/Release/libsluice_cuda.so
  echo "cudnn_api.h matches $CUDNN_INCLUDE/cudnn.h (compiled static_asserts); using the rebuilt library"
else
  [ -f build/Release/libsluice_cuda.so ] || fail "build/Release/libsluice_cuda.so is missing and cannot be built here"
  why="--no-build"
  [ "$BUILD" = 1 ] && why="needs nvcc, cmake and cudnn.h (nvcc: ${NVCC:-none}; cudnn.h: ${CUDNN_INCLUDE:-none})"
  echo "WARNING: using the carried build/Release/libsluice_cuda.so; cudnn_api.h is NOT checked against cudnn.h in this run ($why)"
fi

step "gpu-check.js (backends(), CUDA vs CPU, vs PyTorch, throughput)"
LEFT=$((470 - SECONDS))
[ "$LEFT" -gt 60 ] || fail "too little of the 8-minute budget left ($LEFT s) after the build"
rc=0
timeout "$LEFT" "$NODE" scripts/gpu-check.js "${QUICK[@]}" --python "$PYTHON" || rc=$?
[ "$rc" = 124 ] && fail "gpu-check.js ran past the time budget"
[ "$rc" = 0 ] || fail "gpu-check.js reported failures (exit $rc)"
echo "gpu-check: PASS in ${SECONDS}s"
