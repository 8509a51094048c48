#!/usr/bin/env bash
# Shows that scripts/check_layers.sh can fail: a scratch tree whose client
# includes a master header must be refused, the same tree without it accepted.
set -euo pipefail
checker="$(cd "$(dirname "$0")/.." && pwd)/scripts/check_layers.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src/client" "$scratch/src/master"
printf '#include "rpc/master_types.h"\n' > "$scratch/src/client/ok.cpp"
"$checker" "$scratch" > /dev/null || { echo "a clean tree was refused"; exit 1; }
printf '#include "master/master_service.h"\n' > "$scratch/src/client/bad.cpp"
if "$checker" "$scratch" > /dev/null; then
    echo "a client file including a master header was not refused"
    exit 1
fi
echo "check_layers self-test: ok"
