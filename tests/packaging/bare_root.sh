# Sourced by test_wheel_bare_root.sh: makes (or reuses) a tarball of a clean
# Debian 12 minbase root holding only python3 and python3-venv.
#
#   bare_root_tarball   prints the tarball path; returns 2 with a reason on
#                       stderr when this machine cannot make one.

MOONCAKE_ROOT_CACHE=${MOONCAKE_ROOT_CACHE:-/var/cache/mooncake-test-root}
MOONCAKE_ROOT_SUITE=${MOONCAKE_ROOT_SUITE:-bookworm}

# The Debian mirror apt is configured with (deb822 or one-line sources).
debian_mirror() {
    local uri
    uri=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -v -- '-security' | head -n1)
    if [[ -z $uri ]]; then
        uri=$(grep -hs -E '^deb +(\[[^]]*\] +)?https?://' /etc/apt/sources.list \
            /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v -- '-security' |
            sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '{print $1}' | head -n1)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

bare_root_tarball() {
    local tarball="$MOONCAKE_ROOT_CACHE/debian-$MOONCAKE_ROOT_SUITE-minbase-python3.tar.gz"
    if [[ -s $tarball ]]; then
        echo "$tarball"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "not root: debootstrap and chroot need root" >&2
        return 2
    fi
    if ! command -v debootstrap >/dev/null; then
        echo "debootstrap is not installed (apt-get install debootstrap)" >&2
        return 2
    fi
    mkdir -p "$MOONCAKE_ROOT_CACHE" || return 2
    local mirror staging
    mirror=$(debian_mirror)
    staging=$(mktemp -d "$MOONCAKE_ROOT_CACHE/staging.XXXXXX") || return 2
    echo "bare_root: debootstrap $MOONCAKE_ROOT_SUITE from $mirror (once; cached in $tarball)" >&2
    if ! debootstrap --variant=minbase --include=python3,python3-venv \
        "$MOONCAKE_ROOT_SUITE" "$staging/root" "$mirror" >"$staging/debootstrap.log" 2>&1; then
        echo "debootstrap from $mirror failed (no network to the mirror?):" >&2
        tail -n 5 "$staging/debootstrap.log" >&2
        rm -rf --one-file-system "$staging"
        return 2
    fi
    # Keep the cached root small: package caches and lists are not needed.
    rm -rf "$staging/root/var/cache/apt/archives/"*.deb "$staging/root/var/lib/apt/lists/"*
    tar -C "$staging/root" -czf "$staging/root.tar.gz" . && mv "$staging/root.tar.gz" "$tarball"
    local rc=$?
    rm -rf --one-file-system "$staging"
    [[ $rc -eq 0 ]] || return 2
    echo "$tarball"
}
