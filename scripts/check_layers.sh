#!/usr/bin/env bash
# Fails when a source file includes a header of a layer it must not depend on
# (docs/architecture.md, "Include rules"). Run by ctest (layering_check) and
# so by scripts/run_tests.sh; run it by hand from anywhere in the checkout.
#
#   folder              may not include
#   src/common          net/ rpc/ transfer/ master/ client/ ha/
#   src/net             rpc/ transfer/ master/ client/ ha/
#   src/rpc             transfer/ master/ client/
#   src/transfer        rpc/ master/ client/
#   src/ha              master/ client/
#   src/master          client/ transfer/
#   src/client          master/
#   python/             master/
set -uo pipefail
root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root" || exit 2

rules=(
    "src/common:net rpc transfer master client ha"
    "src/net:rpc transfer master client ha"
    "src/rpc:transfer master client"
    "src/transfer:rpc master client"
    "src/ha:master client"
    "src/master:client transfer"
    "src/client:master"
    "python:master"
)

violations=0
for rule in "${rules[@]}"; do
    folder=${rule%%:*}
    [ -d "$folder" ] || continue
    for layer in ${rule#*:}; do
        # One line per offending include: file:line:text.
        found=$(grep -rnE --include='*.h' --include='*.hpp' --include='*.cc' --include='*.cpp' \
            "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]${layer}/" "$folder")
        if [ -n "$found" ]; then
            echo "$folder must not include $layer/ headers:"
            echo "$found" | sed 's/^/    /'
            violations=$((violations + 1))
        fi
    done
done

if [ "$violations" -ne 0 ]; then
    echo "check_layers: $violations forbidden include rule(s) broken (see docs/architecture.md)"
    exit 1
fi
echo "check_layers: include rules hold"
