#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine and runs the main job:
# installs the packages, builds, installs the Python package into .venv,
# starts mooncake_master with its embedded HTTP metadata server on the
# default ports (gRPC 50051, metadata 8080, metrics 9003), shows /health and
# /metrics, runs the hello world of the Python API, and stops the master.
set -euo pipefail
cd "$(dirname "$0")/.."

# MOONCAKE_QUICKSTART_SKIP_BUILD=1 reuses the existing build and .venv (the
# test suite runs the rest of this script that way).
if [[ "${MOONCAKE_QUICKSTART_SKIP_BUILD:-0}" != 1 ]]; then
    ./scripts/install_deps.sh
    ./scripts/build.sh
fi

for port in 50051 8080 9003; do
    if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "quickstart: port $port is in use; stop whatever listens there first" >&2
        exit 1
    fi
done

log=$(mktemp -t mooncake_master.XXXXXX.log)
.venv/bin/mooncake_master --enable_http_metadata_server=true \
    --http_metadata_server_host=0.0.0.0 --http_metadata_server_port=8080 >"$log" 2>&1 &
master_pid=$!
trap 'kill -TERM $master_pid 2>/dev/null || true; wait $master_pid 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    if curl -fsS http://127.0.0.1:8080/health >/dev/null 2>&1 &&
        (echo > /dev/tcp/127.0.0.1/50051) 2>/dev/null; then
        break
    fi
    if ! kill -0 $master_pid 2>/dev/null; then
        echo "quickstart: mooncake_master exited; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done

echo "--- GET /health"
curl -fsS http://127.0.0.1:8080/health
echo
echo "--- GET /metrics (first lines)"
# Fetched whole first: `curl | grep | head` would kill curl and grep with
# SIGPIPE once head has its lines, which fails the script under pipefail.
metrics=$(curl -fsS http://127.0.0.1:9003/metrics)
printf '%s\n' "$metrics" | awk '!/^#/ && shown < 12 { print; shown++ }'

echo "--- hello world"
.venv/bin/python scripts/hello_world.py
echo "quickstart: done (master log: $log)"
