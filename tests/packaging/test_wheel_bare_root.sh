#!/usr/bin/env bash
# The wheel installs and runs on a bare Debian 12: builds it (pip wheel .),
# unpacks a clean minbase root holding only python3 and python3-venv
# (debootstrap, cached), installs the wheel there with pip --no-index in a
# venv, checks that ldd resolves every ELF file of the wheel inside the root,
# starts the bundled mooncake_master and runs the README's hello world over
# TCP on free ports; an RDMA setup there (no libibverbs) must fail with the
# documented message.
#
#   test_wheel_bare_root.sh [WHEEL]
#
# Without WHEEL, builds one from the configured build directory
# ${MOONCAKE_BUILD_DIR:-build}. Prints "SKIP: <reason>" and exits 0 where the
# machine cannot make a clean root (not root, no debootstrap, no mirror).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
source tests/packaging/bare_root.sh
source tests/cpp/master_test_ports.sh

skip() {
    echo "test_wheel_bare_root: SKIP: $*"
    exit 0
}
fail() {
    echo "test_wheel_bare_root: FAIL: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || skip "not root: chroot and mount need root"
command -v chroot >/dev/null || skip "no chroot program"

work=$(mktemp -d /tmp/mooncake_wheel_root.XXXXXX)
root=$work/root
master_pid=
cleanup() {
    if [[ -n $master_pid ]]; then
        kill "$master_pid" 2>/dev/null || true
        wait "$master_pid" 2>/dev/null || true
    fi
    if mountpoint -q "$root/proc"; then umount "$root/proc" || umount -l "$root/proc"; fi
    # Never follow a mount that is still there into the host's files.
    if mountpoint -q "$root/proc"; then
        echo "test_wheel_bare_root: $root/proc still mounted; leaving $work" >&2
    else
        rm -rf --one-file-system "$work"
    fi
}
trap cleanup EXIT

if ! tarball=$(bare_root_tarball 2>"$work/root.err"); then
    skip "cannot make a clean Debian root: $(tail -n 1 "$work/root.err")"
fi

# 1. The wheel.
wheel=${1:-}
if [[ -z $wheel ]]; then
    build_dir=${MOONCAKE_BUILD_DIR:-build}
    [[ -f $build_dir/CMakeCache.txt ]] || fail "no configured build in $build_dir (run scripts/build.sh)"
    python=/usr/bin/python3
    [[ -x .venv/bin/python ]] && python=.venv/bin/python
    MOONCAKE_BUILD_DIR=$(realpath "$build_dir") "$python" -m pip wheel --no-build-isolation \
        --no-deps -q -w "$work/dist" . >"$work/wheel.log" 2>&1 || {
        cat "$work/wheel.log" >&2
        fail "pip wheel . failed"
    }
    wheel=$(ls "$work"/dist/*.whl)
fi
echo "test_wheel_bare_root: $(basename "$wheel"), $(du -k "$wheel" | cut -f1) KiB"
/usr/bin/python3 packaging/repair_wheel.py --show "$wheel" | grep -E '^(platform|highest)'
case $(basename "$wheel") in
*-manylinux_2_*_x86_64.whl | *-manylinux_2_*_aarch64.whl) ;;
*) fail "the wheel is not tagged manylinux_2_X: $(basename "$wheel")" ;;
esac

# 2. The clean root, /proc mounted for the programs inside.
mkdir -p "$root"
tar -C "$root" -xzf "$tarball"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root "$@"; }
if in_root /bin/sh -c 'ls /usr/lib/*/libgrpc* /usr/lib/*/libibverbs* 2>/dev/null' | grep -q .; then
    fail "the root is not bare: it holds gRPC or libibverbs"
fi

# 3. Install with pip --no-index into a venv.
cp "$wheel" "$root/tmp/"
in_root python3 -m venv /opt/venv
in_root /opt/venv/bin/pip install -q --no-index "/tmp/$(basename "$wheel")" ||
    fail "pip install --no-index failed in the bare root"

# 4. ldd of every ELF file of the installed wheel resolves inside the root.
elves=$(in_root /opt/venv/bin/python - <<'EOF'
import os, sysconfig
site = sysconfig.get_paths()["platlib"]
for top in ("mooncake", "mooncake.libs"):
    for directory, _, names in os.walk(os.path.join(site, top)):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    print(path)
EOF
)
count=0
for elf in $elves; do
    out=$(in_root ldd "$elf" 2>&1) || fail "ldd $elf failed: $out"
    if grep -q "not found" <<<"$out"; then
        fail "ldd $elf in the bare root: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"
    fi
    count=$((count + 1))
done
[[ $count -ge 4 ]] || fail "only $count ELF files in the installed wheel"
echo "test_wheel_bare_root: ldd resolves all $count ELF files inside the bare root"

# 5. The bundled master, started through the console script, and the hello world.
rpc_port=$(free_port)
http_port=$(free_port)
metrics_port=$(free_port)
# Not through in_root: a backgrounded function runs in a subshell, and $!
# would be that subshell, not the master (which then outlives the test).
# chroot and env exec, and the console script execs the binary, so $! is the
# master itself.
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root \
    /opt/venv/bin/mooncake_master --rpc_address=127.0.0.1 --port="$rpc_port" \
    --enable_http_metadata_server=true --http_metadata_server_host=127.0.0.1 \
    --http_metadata_server_port="$http_port" --metrics_port="$metrics_port" \
    --hot_rpc_port=0 --enable_metric_reporting=false >"$work/master.log" 2>&1 &
master_pid=$!
if ! wait_for_master "$master_pid" "$rpc_port" "$http_port"; then
    cat "$work/master.log" >&2
    fail "mooncake_master from the wheel did not start in the bare root"
fi

hello=$(in_root /opt/venv/bin/python - "$rpc_port" "$http_port" <<'EOF' 2>"$work/hello.err"
import sys
from mooncake.store import MooncakeDistributedStore

rpc_port, http_port = sys.argv[1], sys.argv[2]
store = MooncakeDistributedStore()
rc = store.setup("127.0.0.1", f"http://127.0.0.1:{http_port}/metadata",
                 512 * 1024 * 1024, 128 * 1024 * 1024, "tcp", "", f"127.0.0.1:{rpc_port}")
assert rc == 0, f"setup returned {rc}"
store.put("hello_key", b"Hello, Mooncake Store!")
print(store.get("hello_key").decode())
store.close()
EOF
) || {
    cat "$work/hello.err" >&2
    fail "the hello world failed in the bare root"
}
[[ $(tail -n 1 <<<"$hello") == "Hello, Mooncake Store!" ]] || fail "hello world printed: $hello"
echo "test_wheel_bare_root: hello world over TCP: $(tail -n 1 <<<"$hello")"

# 6. RDMA without rdma-core: setup fails, and the log says why.
in_root /opt/venv/bin/python - "$rpc_port" "$http_port" >"$work/rdma.out" 2>&1 <<'EOF' || true
import sys
from mooncake.store import MooncakeDistributedStore

rpc_port, http_port = sys.argv[1], sys.argv[2]
store = MooncakeDistributedStore()
rc = store.setup("127.0.0.1", f"http://127.0.0.1:{http_port}/metadata",
                 64 * 1024 * 1024, 64 * 1024 * 1024, "rdma", "mlx5_0", f"127.0.0.1:{rpc_port}")
print(f"setup returned {rc}")
sys.exit(0 if rc != 0 else 3)
EOF
if ! grep -q "setup returned -\?[1-9]" "$work/rdma.out" ||
    ! grep -q "RDMA transport unavailable: libibverbs.so.1 cannot be loaded" "$work/rdma.out"; then
    cat "$work/rdma.out" >&2
    fail "an RDMA setup without libibverbs did not fail with the documented message"
fi
echo "test_wheel_bare_root: RDMA without libibverbs: $(grep -o 'RDMA transport unavailable: [^(]*' "$work/rdma.out" | head -n 1)"
echo "test_wheel_bare_root: PASS"
