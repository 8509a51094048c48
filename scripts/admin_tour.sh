#!/usr/bin/env bash
# The curl tour of docs/master.md "Admin endpoints": starts a master on free
# loopback ports, puts one object through a store, and calls every admin
# route, failing on an unexpected status. Usage: scripts/admin_tour.sh
# (uses .venv/bin/python and the newest build's mooncake_master, or
# MOONCAKE_MASTER_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
MASTER=${MOONCAKE_MASTER_BIN:-build/src/master/mooncake_master}
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPC=$(free_port) HTTP=$(free_port) METRICS=$(free_port)
LOG=$(mktemp /tmp/admin_tour_master.XXXXXX.log)
"$MASTER" --port="$RPC" --rpc_address=127.0.0.1 --enable_http_metadata_server=true \
    --http_metadata_server_host=127.0.0.1 --http_metadata_server_port="$HTTP" \
    --metrics_port="$METRICS" --hot_rpc_port=0 --logtostderr=1 >"$LOG" 2>&1 &
MASTER_PID=$!
trap 'kill $MASTER_PID 2>/dev/null || true; kill $STORE_PID 2>/dev/null || true' EXIT
BASE=http://127.0.0.1:$METRICS
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

# A store that keeps its segment mounted while the tour runs.
READY=$(mktemp /tmp/admin_tour_store.XXXXXX)
"$PYTHON" - "$RPC" "$HTTP" "$READY" <<'PY' &
import sys, time
from mooncake.store import MooncakeDistributedStore
rpc, http, ready = sys.argv[1:]
store = MooncakeDistributedStore()
assert store.setup("127.0.0.1", f"http://127.0.0.1:{http}/metadata", 64 << 20, 16 << 20,
                   "tcp", "", f"127.0.0.1:{rpc}") == 0
assert store.put("hello", b"world") == 0
open(ready, "w").write(store.get_hostname())
time.sleep(60)
PY
STORE_PID=$!
for _ in $(seq 200); do [ -s "$READY" ] && break; sleep 0.1; done
SEGMENT=$(cat "$READY")

check() {  # check <expected status> <path>
    local status
    status=$(curl -s -o /tmp/admin_tour_body -w '%{http_code}' "$BASE$2")
    echo "GET $2 -> $status"
    sed 's/^/    /' /tmp/admin_tour_body; echo
    [ "$status" = "$1" ] || { echo "expected $1"; exit 1; }
}
check 200 /get_all_segments
grep -qx "$SEGMENT" /tmp/admin_tour_body
check 200 "/query_segment?segment=$SEGMENT"
check 500 "/query_segment?segment=nohost:1"
check 200 /get_segments_detail
check 200 /get_all_keys
grep -qx hello /tmp/admin_tour_body
check 200 "/query_key?key=hello"
check 404 "/query_key?key=nothing"
check 200 "/batch_query_keys?keys=hello,nothing"
check 400 /batch_query_keys
echo "admin tour: all routes answered as documented"
