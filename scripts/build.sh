#!/usr/bin/env bash
# Configures and builds everything (C++ libraries, mooncake_master, tools,
# tests, benchmarks, the Python extension) into build/, then installs the
# Python package into the virtual environment .venv (made from Debian's
# /usr/bin/python3 with --system-site-packages, so apt's numpy/torch/pytest
# are visible). Re-running only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${MOONCAKE_BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
PYTHON=/usr/bin/python3
# Let ccache share results between checkouts in different directories.
export CCACHE_BASEDIR="$(pwd)" CCACHE_NOHASHDIR=true

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython_EXECUTABLE=$PYTHON \
    -DPYTHON_EXECUTABLE=$PYTHON
cmake --build "$BUILD_DIR" -j "$JOBS"

if [ ! -x .venv/bin/python ]; then
    $PYTHON -m venv --system-site-packages .venv
fi
# Reuse the build directory above instead of compiling everything again.
MOONCAKE_BUILD_DIR="$(pwd)/$BUILD_DIR" .venv/bin/pip install --no-build-isolation --no-deps -q .
echo "build: done (binaries in $BUILD_DIR, Python package in .venv)"
