# Cross-compiling for linux-arm64 (glibc) on x86-64 Debian with its aarch64 toolchain
# (apt-get install g++-aarch64-linux-gnu; scripts/prebuild-arm64.sh installs it when missing).
# Usage: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake …
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SLUICE_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "Prefix of the cross compiler's executables")
set(CMAKE_C_COMPILER ${SLUICE_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${SLUICE_CROSS_PREFIX}g++)
set(CMAKE_STRIP ${SLUICE_CROSS_PREFIX}strip CACHE FILEPATH "")

# Libraries and headers come from the cross toolchain's sysroot only; programs (cmake helpers) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Tests and try_run programs run under qemu user-mode emulation (qemu-user-static), with the toolchain's
# libraries as the target's root.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static;-L;/usr/aarch64-linux-gnu)
