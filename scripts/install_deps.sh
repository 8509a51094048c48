#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the benchmarks need.
# Idempotent: does nothing when everything is installed already.
# With --fuzz, also the compiler for the libFuzzer binaries of tests/fuzz.
# clang-19 is for scripts/check_thread_safety.sh (the build itself is g++).
set -euo pipefail

PACKAGES=(
    build-essential cmake ccache pkg-config git curl iproute2 procps
    libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
    libgoogle-glog-dev libgflags-dev libgtest-dev libgmock-dev libbenchmark-dev
    libcpp-httplib-dev nlohmann-json3-dev libssl-dev
    libibverbs-dev librdmacm-dev libnuma-dev liburing-dev
    pybind11-dev python3-dev python3-venv python3-pip
    python3-numpy python3-pytest python3-setuptools python3-wheel
    python3-torch python3-redis redis-server
    patchelf binutils debootstrap
    python3-aiohttp python3-requests
    etcd-server etcd-client golang-etcd-server-dev
    clang-19
)
if [ "${1:-}" = "--fuzz" ]; then
    # libFuzzer binaries (-DMOONCAKE_BUILD_FUZZERS=ON): clang 14 and 15 cannot
    # compile libstdc++ 12's <expected>, clang 16 can. The g++ replay of the
    # same fuzz targets is part of the normal build and needs none of this.
    PACKAGES+=(clang-16 libclang-rt-16-dev)
fi

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_deps: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
