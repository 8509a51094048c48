#!/usr/bin/env bash
# Shows that scripts/check_sizes.py can fail: a scratch tree with a short
# function is accepted, one with an 81-line function or a 701-line file is
# refused.
set -euo pipefail
checker="$(cd "$(dirname "$0")/.." && pwd)/scripts/check_sizes.py"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src/client"
body() { for i in $(seq "$1"); do printf '    ++n;\n'; done; }
{ printf 'int Short(int n) {\n'; body 10; printf '    return n;\n}\n'; } > "$scratch/src/client/ok.cpp"
python3 "$checker" "$scratch" > /dev/null || { echo "a clean tree was refused"; exit 1; }
{ printf 'int Long(int n,\n         int m) {\n'; body 77; printf '    return n;\n}\n'; } \
    > "$scratch/src/client/long.cpp"
if python3 "$checker" "$scratch" > /dev/null; then
    echo "an 81-line function was not refused"
    exit 1
fi
rm "$scratch/src/client/long.cpp"
for i in $(seq 701); do printf '// line\n'; done > "$scratch/src/client/big.h"
if python3 "$checker" "$scratch" > /dev/null; then
    echo "a 701-line file was not refused"
    exit 1
fi
echo "check_sizes self-test: ok"
