#!/usr/bin/env bash
# Tests the linux-arm64 build on an x86-64 Debian machine under qemu user-mode emulation:
#  1. cross-builds the prebuild (scripts/prebuild-arm64.sh) and the C++ core tests, and runs the core tests
#     under qemu at every SIMD level arm64 has (neon, the default there, and portable);
#  2. unpacks Debian's arm64 Node.js (nodejs:arm64 and its libraries, `apt-get download` + `dpkg -x`, no
#     other download) into build/arm64-sysroot, records test/arm64/smoke.mjs's results with this machine's
#     x86-64 Node and build, stages a package that has only dist/ and prebuilds/linux-arm64/ (so
#     node-gyp-build must pick the prebuild), and runs the smoke suite there with the arm64 Node, at both
#     levels, against the x86-64 results.
# Emulation checks results, not speed. Needs root for the Debian packages it installs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/arm64-common.sh
ensure_packages qemu-aarch64-static qemu-user-static
export SLUICE_BUILD_JOBS=${SLUICE_BUILD_JOBS:-2}
toolchain="$PWD/cmake/aarch64-linux-gnu.cmake"

echo "== arm64 prebuild"
bash scripts/prebuild-arm64.sh

echo "== C++ core tests under qemu (levels: neon, portable)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
run_logged build/arm64-core-tests.log cmake -S native/core -B build/arm64-core-tests "${generator[@]}" \
  -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_CORE_TESTS=ON
run_logged build/arm64-core-tests.log cmake --build build/arm64-core-tests --parallel "$SLUICE_BUILD_JOBS"
# The toolchain file names qemu as CMake's emulator, so CTest runs the aarch64 binary through it.
ctest --test-dir build/arm64-core-tests --output-on-failure

echo "== arm64 Node.js from Debian"
sysroot=build/arm64-sysroot
if [ ! -x "$sysroot/usr/bin/node" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
  apt-cache show nodejs:arm64 >/dev/null 2>&1 || apt-get update -qq
  rm -rf build/arm64-debs "$sysroot"
  mkdir -p build/arm64-debs "$sysroot"
  # nodejs and what it loads at run time (its dpkg/tar dependencies are not needed to run it).
  run_logged build/arm64-debs.log bash -c 'cd build/arm64-debs && apt-get download nodejs:arm64 libnode108:arm64 \
    libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 gcc-12-base:arm64 libicu72:arm64 libssl3:arm64 libuv1:arm64 \
    libbrotli1:arm64 libc-ares2:arm64 libnghttp2-14:arm64 zlib1g:arm64 node-acorn node-cjs-module-lexer node-undici'
  for deb in build/arm64-debs/*.deb; do dpkg -x "$deb" "$sysroot"; done
fi
arm64_node=(qemu-aarch64-static -L "$sysroot" "$sysroot/usr/bin/node")
"${arm64_node[@]}" -e 'console.log(`arm64 node ${process.version} (${process.arch}), Node-API ${process.versions.napi}`)'

echo "== x86-64 reference results"
run_logged build/arm64-smoke/build-ts.log npm run build:ts
# The host's addon as the tests left it (npm install / npm test build it); built here only when absent.
test -f build/Release/sluice.node || run_logged build/arm64-smoke/build-x64.log npx cmake-js compile -p "$SLUICE_BUILD_JOBS"
mkdir -p build/arm64-smoke
node test/arm64/smoke.mjs --package . --record build/arm64-smoke/x64.json
SLUICE_SIMD=portable node test/arm64/smoke.mjs --package . --record build/arm64-smoke/x64-portable.json

echo "== JavaScript smoke suite under qemu"
package=build/arm64-package
rm -rf "$package"
mkdir -p "$package/prebuilds/linux-arm64"
cp package.json "$package/"
cp -r dist "$package/dist"
ln -s "$PWD/node_modules" "$package/node_modules"
cp prebuilds/linux-arm64/sluice.node "$package/prebuilds/linux-arm64/"
"${arm64_node[@]}" test/arm64/smoke.mjs --package "$package" --compare build/arm64-smoke/x64.json --simd neon
# The portable kernels are the same definitions on both machines: LSTM and training must agree bit for bit.
SLUICE_SIMD=portable "${arm64_node[@]}" test/arm64/smoke.mjs --package "$package" \
  --compare build/arm64-smoke/x64-portable.json --simd portable --same-kernels
echo "arm64: all passed"
