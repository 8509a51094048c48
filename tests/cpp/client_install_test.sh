#!/usr/bin/env bash
# Installs the client component of a build into a scratch prefix, builds
# examples/ against it (find_package(Mooncake), Mooncake::client) and runs
# the example against a real mooncake_master on free loopback ports.
#
#   client_install_test.sh BUILD_DIR SOURCE_DIR MOONCAKE_MASTER_BIN
set -euo pipefail

build_dir=$1
source_dir=$2
master_bin=$3
source "$(dirname "$0")/master_test_ports.sh"

work=$(mktemp -d /tmp/mooncake_install_test.XXXXXX)
master_pid=
cleanup() {
    if [[ -n $master_pid ]]; then
        kill "$master_pid" 2>/dev/null || true
        wait "$master_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cmake --install "$build_dir" --prefix "$work/prefix" --component client >"$work/install.log"
test -f "$work/prefix/include/mooncake/client.h"
test -f "$work/prefix/lib/cmake/Mooncake/MooncakeConfig.cmake" ||
    test -f "$work/prefix/lib64/cmake/Mooncake/MooncakeConfig.cmake"

# Nothing of the source or build tree may leak into the example's build.
cmake -S "$source_dir/examples" -B "$work/example-build" \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/example-build" -j2 >"$work/build.log"

rpc_port=$(free_port)
http_port=$(free_port)
metrics_port=$(free_port)
"$master_bin" --rpc_address=127.0.0.1 --port="$rpc_port" \
    --enable_http_metadata_server=true --http_metadata_server_host=127.0.0.1 \
    --http_metadata_server_port="$http_port" --metrics_port="$metrics_port" \
    --hot_rpc_port=0 --enable_metric_reporting=false --default_kv_lease_ttl=200 \
    >"$work/master.log" 2>&1 &
master_pid=$!
if ! wait_for_master "$master_pid" "$rpc_port" "$http_port"; then
    echo "mooncake_master did not start:" >&2
    cat "$work/master.log" >&2
    exit 1
fi

if ! "$work/example-build/hello_store" "127.0.0.1:$rpc_port" \
    "http://127.0.0.1:$http_port/metadata" >"$work/example.log" 2>&1; then
    echo "hello_store failed:" >&2
    cat "$work/example.log" >&2
    exit 1
fi
grep -q "get: Hello, Mooncake Store!" "$work/example.log"
grep -q "empty key refused: INVALID_KEY (-400): the key is empty" "$work/example.log"
grep -q "get_into: 22 bytes, identical" "$work/example.log"
echo "installed package OK: example built against $work/prefix and ran"
