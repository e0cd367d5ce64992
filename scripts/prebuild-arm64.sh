#!/usr/bin/env bash
# Cross-builds the linux-arm64 (glibc) prebuild on an x86-64 Debian machine with Debian's aarch64 toolchain
# (installed when missing) and cmake/aarch64-linux-gnu.cmake: writes prebuilds/linux-arm64/sluice.node
# (stripped; CPU only: no CUDA library for arm64). Offline apart from the Debian packages: Node-API headers
# come from the node-api-headers package. SLUICE_BUILD_JOBS sets the compile jobs (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/arm64-common.sh
ensure_packages aarch64-linux-gnu-g++ g++-aarch64-linux-gnu

# build/arm64, not build/: node-gyp-build prefers build/Release, where the host's own addon lives.
run_logged build/arm64-build.log npx cmake-js compile -O build/arm64 -p "${SLUICE_BUILD_JOBS:-2}" \
  --CDCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" --CDSLUICE_CUDA=OFF
mkdir -p prebuilds/linux-arm64
aarch64-linux-gnu-strip -o prebuilds/linux-arm64/sluice.node build/arm64/Release/sluice.node
file prebuilds/linux-arm64/sluice.node 2>/dev/null || ls -l prebuilds/linux-arm64/sluice.node
