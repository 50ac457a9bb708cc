#!/usr/bin/env bash
# The test suite (tests/) under QGIS 3.40 LTR and Python 3.13: a Debian trixie root made with mmdebstrap,
# entered with chroot. Run as root (`make test-ltr` adds sudo when needed).
#
#   scripts/test_ltr.sh root ROOT PACKAGES   build ROOT once (PACKAGES comma-separated); kept while complete
#   scripts/test_ltr.sh test ROOT [ARGS…]    venv in ROOT from requirements-test-ltr.txt (remade when that file
#                                            changes), a fresh copy of the working tree, pytest ARGS (default: tests)
#   scripts/test_ltr.sh unmount ROOT         unmount whatever a killed run left mounted under ROOT
#
# /proc and /dev are bind-mounted into ROOT only while `test` runs, in a mount namespace of its own (unshare)
# so that the host never sees them, not even if the run is killed, and unmounted on every exit (trap).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
STAMP_NAME=.crimemapping-root-ready # written last: a root without it is incomplete and is made again
VENV=/opt/crimemapping-venv         # inside the root
TREE=/src/crime-mapping             # inside the root: the copy of the working tree the tests run in
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

usage() {
    sed -n '2,11p' "$0" >&2
    exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
root=$(realpath -m "$2")
shift 2
case "$root" in / | "") echo "refusing to use / as the trixie root" >&2 && exit 2 ;; esac

elapsed() { echo "test-ltr: $1 took $(($(date +%s) - $2)) s" >&2; }

# Unmount everything mounted under the root (deepest first). /dev is an rslave rbind, so nothing propagates
# back to the host's /dev.
unmount_all() {
    local target
    findmnt -rn -o TARGET | awk -v r="$root/" 'index($0, r) == 1' | sort -r | while read -r target; do
        umount "$target" 2>/dev/null || umount -l "$target"
    done
}

build_root() {
    local packages=$1 stamp="$root/$STAMP_NAME"
    # One build at a time, beside the root (the root itself is removed and remade): a second make waits, then
    # finds the root ready instead of emptying it under the first.
    mkdir -p "$(dirname "$root")"
    exec 8>"$root.build-lock"
    flock 8
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ]; then
        echo "test-ltr: trixie root $root is ready (delete $stamp to rebuild it)" >&2
        return
    fi
    local start
    start=$(date +%s)
    echo "test-ltr: building the trixie root in $root (QGIS 3.40; about 1.7 GB)…" >&2
    unmount_all
    # --one-file-system: never follow a mount that a killed run may have left under the root.
    rm -rf --one-file-system "$root"
    mkdir -p "$(dirname "$root")"
    mmdebstrap --variant=apt --include="$packages" trixie "$root"
    # pip inside the root has to trust what this machine trusts (a proxy's or an organisation's CA).
    mkdir -p "$root/etc/ssl/certs"
    cp "$CA_BUNDLE" "$root$CA_BUNDLE"
    printf '%s\n' "$packages" >"$stamp"
    elapsed "building the trixie root" "$start"
}

# Run a command in the root with a clean environment: nothing of the host's Python, Qt or QGIS set-up leaks in.
in_root() {
    local pass=() var
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_INDEX_URL CI; do
        [ -n "${!var:-}" ] && pass+=("$var=${!var}")
    done
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PIP_CERT="$CA_BUNDLE" PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \
        QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=/tmp/runtime-root PYTHONFAULTHANDLER=1 "${pass[@]}" "$@"
}

run_tests() {
    [ -f "$root/$STAMP_NAME" ] || {
        echo "test-ltr: no complete trixie root at $root: run make test-ltr" >&2
        exit 1
    }
    # One run at a time per root: the tree copy and the mounts are shared.
    exec 9>"$root/.crimemapping-lock"
    flock 9
    trap unmount_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mount --bind /proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"

    local start requirements=requirements-test-ltr.txt
    if ! cmp -s "$SRC/$requirements" "$root$VENV/$requirements"; then
        start=$(date +%s)
        rm -rf "$root$VENV"
        in_root /usr/bin/python3 -m venv --system-site-packages "$VENV"
        cp "$SRC/$requirements" "$root$VENV/$requirements.new"
        in_root "$VENV/bin/python" -m pip install -q -r "$VENV/$requirements.new"
        mv "$root$VENV/$requirements.new" "$root$VENV/$requirements"
        elapsed "the venv in the trixie root" "$start"
    fi

    start=$(date +%s)
    rm -rf "${root:?}$TREE"
    mkdir -p "$root$TREE"
    local own=() # a root kept inside the working tree (LTR_ROOT=…) must not be copied into itself
    case "$root" in "$SRC"/*) own=(--exclude="./${root#"$SRC"/}") ;; esac
    tar -C "$SRC" -cf - "${own[@]}" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./demo_output \
        --exclude=./benchmarks/_work --exclude=./crime_mapping_plugin.zip --exclude=.qgis-settings \
        --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache . | tar -C "$root$TREE" -xf -
    mkdir -p -m 700 "$root/tmp/runtime-root"
    elapsed "copying the working tree" "$start"

    in_root /usr/bin/python3 -c 'import sys, numpy; from qgis.core import Qgis
print(f"test-ltr: QGIS {Qgis.version()}, Python {sys.version.split()[0]}, numpy {numpy.__version__}")' >&2
    start=$(date +%s)
    local status=0
    [ $# -gt 0 ] || set -- tests
    in_root /bin/bash -c 'cd "$1" && shift && exec "$@"' - "$TREE" \
        "$VENV/bin/python" -m pytest --qgis_disable_gui -p no:cacheprovider "$@" || status=$?
    elapsed "the test suite under QGIS 3.40" "$start"
    return "$status"
}

case "$cmd" in
root)
    [ $# -eq 1 ] || usage
    build_root "$1"
    ;;
test)
    # A private mount namespace: the mounts vanish with the run whatever ends it (kill -9 included).
    if [ -z "${CRIMEMAPPING_LTR_NAMESPACE:-}" ] && unshare --mount true 2>/dev/null; then
        CRIMEMAPPING_LTR_NAMESPACE=1 exec unshare --mount --propagation slave "$0" test "$root" "$@"
    fi
    run_tests "$@"
    ;;
unmount) unmount_all ;;
*) usage ;;
esac
