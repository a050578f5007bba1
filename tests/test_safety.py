"""Folder and file safety (certkit.store.safety) on the real Notary checkout, and "nothing changes on refusal".

Clones are made the way Ubuntu makes them under umask 002 (folders 0775, files 0664, the
group the user's private group).  Runs as root here; where the runner must be an ordinary
user, the run drops privileges with setpriv, as test_cli_renew does.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from certkit.store import storage
from certkit.store.safety import private_group
from tests.test_cli_renew import assert_one_line_error, certkit

ROOT = Path(__file__).resolve().parent.parent
NOGROUP = 65534  # Debian's nogroup: the primary group of nobody and _apt, so never private
POSTGRES_UID = 999  # the postgres image's user


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: changes owners and groups, and drops to other users")


def tree(folder: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``folder`` (itself included): type, mode, owner, group and content hash."""
    state: dict[str, tuple[object, ...]] = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            content: object = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            content = None
        state[str(path.relative_to(folder))] = (
            stat.S_IFMT(st.st_mode),
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            content,
        )
    return state


def clone_like(folder: Path, uid: int, gid: int) -> None:
    """Make ``folder`` look like a `git clone` under umask 002 by user uid with group gid."""
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, uid, gid)
        if not path.is_symlink():
            path.chmod(0o775 if path.is_dir() else 0o664)


def fix_command(line: str) -> str:
    found = re.search(r"fix them all with `([^`]+)`", line)
    assert found, line
    return found.group(1)


def as_user(user: pwd.struct_passwd, *args: str) -> subprocess.CompletedProcess[str]:
    """`certkit ARGS` as ``user`` with their primary group only (as a login would have it)."""
    argv = [
        "setpriv",
        "--reuid",
        str(user.pw_uid),
        "--regid",
        str(user.pw_gid),
        "--clear-groups",
        sys.executable,
        "-m",
        "certkit",
        *args,
    ]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )


# -- umask 002 clones ------------------------------------------------------------------


def test_root_group_is_private_and_nogroup_is_not() -> None:
    # The premise of the tests below, read from this machine's /etc/passwd and /etc/group.
    assert private_group(0, 0)
    assert not private_group(NOGROUP, 0)
    assert not private_group(NOGROUP, pwd.getpwnam("nobody").pw_uid)  # _apt shares it


@pytest.fixture
def upg_user() -> Iterator[pwd.struct_passwd]:
    """A throw-away user with a user private group, as `adduser` makes on Debian and Ubuntu."""
    needs_root()
    name = f"ckupg{os.getpid()}"
    subprocess.run(
        ["useradd", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        try:
            grp.getgrnam(name)
            subprocess.run(["groupdel", name], capture_output=True)
        except KeyError:
            pass


@pytest.fixture
def public_base() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="certkit-safety-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("shared", [False, True], ids=["private-group", "group-with-another-member"])
def test_a_users_umask_002_clone_renews_on_the_first_run(
    reference_dir: Path, public_base: Path, upg_user: pwd.struct_passwd, shared: bool
) -> None:
    clone = public_base / "notary"
    shutil.copytree(reference_dir, clone)
    clone_like(clone, upg_user.pw_uid, upg_user.pw_gid)
    group = grp.getgrgid(upg_user.pw_gid).gr_name
    if shared:  # the same clone, but the group now has a second member
        subprocess.run(["gpasswd", "-a", "nobody", group], check=True, capture_output=True)
    before = tree(clone)
    result = as_user(upg_user, "renew", "--no-compose", str(clone))
    if not shared:
        assert result.returncode == 0, result.stderr
        assert "fixtures/notary-server.crt" in result.stdout
        after = tree(clone)
        assert after["fixtures/notary-server.crt"][2:4] == (upg_user.pw_uid, upg_user.pw_gid)
        assert after["fixtures/notary-server.crt"][4] != before["fixtures/notary-server.crt"][4]
        assert stat.S_IMODE((clone / "fixtures/notary-server.key").stat().st_mode) == 0o600
        # The second run is not refused either.
        again = as_user(upg_user, "renew", "--no-compose", str(clone))
        assert again.returncode == 0, again.stderr
        return
    assert_one_line_error(
        result, 13, f"group {group}", "other members (nobody)", f"{clone} itself (0775)", f"chmod -R go-w {clone}`"
    )
    assert tree(clone) == before


def test_a_root_umask_002_copy_renews_on_the_first_run(reference_copy: Path) -> None:
    needs_root()
    clone_like(reference_copy, 0, 0)
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    assert "refusing" not in result.stderr


def test_one_refusal_counts_the_paths_and_its_command_fixes_them_all(reference_copy: Path) -> None:
    needs_root()
    clone_like(reference_copy, 0, NOGROUP)
    (reference_copy / "notarysql").chmod(0o777)
    before = tree(reference_copy)
    dry = certkit("renew", "--no-compose", "--dry-run", str(reference_copy))
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert_one_line_error(result, 13, "nogroup", "other members", "writable by everyone: notarysql (0777)")
    assert dry.returncode == 13 and dry.stderr == result.stderr  # the dry run predicts the same refusal
    line = result.stderr.strip()
    # Every folder and file certkit writes or reads is in a shared group: they are counted (folders
    # first, then files such as a 0664 certificate), the first few named, and one command fixes all.
    found = re.search(r"which has other members \([^)]*\): (\d+) paths: (.+?) and (\d+) more;", line)
    assert found, line
    total, first, rest = int(found.group(1)), found.group(2).split(", "), int(found.group(3))
    assert total > 30 and len(first) == 3 and len(first) + rest == total
    assert first[0] == f"{reference_copy} itself (0775)" and first[1] == "cmd (0775)"
    assert len(line) < 700, len(line)  # was one 2,850-character line listing every path (issue 20)
    assert fix_command(line) == f"chmod -R go-w {reference_copy}"
    assert tree(reference_copy) == before
    command = fix_command(line)
    subprocess.run(command, shell=True, check=True)
    fixed = certkit("renew", "--no-compose", str(reference_copy))
    assert fixed.returncode == 0, fixed.stderr


def test_a_few_loose_paths_are_each_named_with_their_own_command(fresh_layout: Path) -> None:
    needs_root()
    (fresh_layout / "fixtures").chmod(0o777)
    (fresh_layout / "fixtures/root-ca.crt").chmod(0o666)
    result = certkit("renew", str(fresh_layout))
    assert_one_line_error(result, 13, "writable by everyone: fixtures (0777), fixtures/root-ca.crt (0666);")
    assert fix_command(result.stderr) == (
        f"chmod go-w {fresh_layout / 'fixtures'} {fresh_layout / 'fixtures/root-ca.crt'}"
    )


def test_a_folder_with_spaces_is_quoted_in_the_fix_command(fresh_layout: Path, tmp_path: Path) -> None:
    needs_root()
    odd = tmp_path / "my notary's set"
    fresh_layout.rename(odd)
    (odd / "fixtures").chmod(0o777)
    result = certkit("renew", str(odd), "--force")
    assert_one_line_error(result, 13, "writable by everyone: fixtures (0777)")
    subprocess.run(fix_command(result.stderr), shell=True, check=True)
    assert stat.S_IMODE((odd / "fixtures").stat().st_mode) == 0o755


# -- ownership, at every run -----------------------------------------------------------


def test_after_a_renewal_a_world_writable_root_is_refused(fresh_layout: Path) -> None:
    needs_root()
    fresh_layout.chmod(0o777)
    before = tree(fresh_layout)
    result = certkit("renew", str(fresh_layout))  # nothing is due: still refused
    assert_one_line_error(result, 13, f"writable by everyone: {fresh_layout} itself (0777)")
    assert tree(fresh_layout) == before


@pytest.mark.parametrize("what", ["fixtures", "fixtures/root-ca.crt", ".certkit/ca", ".certkit/ca/root-ca.key"])
def test_something_owned_by_another_user_is_refused_rather_than_signed(fresh_layout: Path, what: str) -> None:
    needs_root()
    os.chown(fresh_layout / what, 65534, -1)
    before = tree(fresh_layout)
    for args in (["--dry-run"], ["--force"]):
        result = certkit("renew", *args, str(fresh_layout))
        assert_one_line_error(result, 13, f"owned by nobody (uid 65534): {what}", "chown root ")
        assert tree(fresh_layout) == before
    subprocess.run(fix_command(result.stderr), shell=True, check=True)
    assert certkit("renew", "--force", str(fresh_layout)).returncode == 0


def test_a_key_of_another_user_cannot_be_renewed_by_an_ordinary_user(reference_dir: Path, public_base: Path) -> None:
    needs_root()
    clone = public_base / "notary"
    shutil.copytree(reference_dir, clone)
    for path in [clone, *clone.rglob("*")]:
        os.lchown(path, 65534, 65534)
        path.chmod(0o755 if path.is_dir() else 0o644)
    key = clone / "notarysql/postgresql-initdb.d/server.key"
    os.chown(key, POSTGRES_UID, POSTGRES_UID)
    before = tree(clone)
    result = certkit("renew", "--no-compose", str(clone), user="65534")
    assert_one_line_error(
        result, 13, "notarysql/postgresql-initdb.d/server.key", "only root can give", "run certkit as root"
    )
    assert tree(clone) == before


# -- owners and groups kept --------------------------------------------------------------


@pytest.mark.parametrize(("owner", "mode"), [((POSTGRES_UID, POSTGRES_UID), 0o600), ((0, POSTGRES_UID), 0o640)])
def test_a_renewed_key_keeps_its_owner_group_and_mode(fresh_layout: Path, owner: tuple[int, int], mode: int) -> None:
    needs_root()
    key = fresh_layout / "notarysql/postgresql-initdb.d/server.key"
    os.chown(key, *owner)
    key.chmod(mode)
    old = key.read_bytes()
    result = certkit("renew", "--force", "--rotate-keys", "--json", str(fresh_layout))
    assert result.returncode == 0, result.stderr
    st = key.stat()
    assert key.read_bytes() != old  # a new key ...
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (*owner, mode)  # ... with the old owner and mode
    notices = json.loads(result.stdout)["notices"]
    about = [n for n in notices if n.startswith("notarysql/postgresql-initdb.d/server.key:")]
    assert len(about) == 1, notices
    assert ("keeps its owner uid 999" in about[0]) if owner[0] else ("keeps mode 0640" in about[0])
    # Other keys stay the runner's, 0600.
    other = (fresh_layout / "fixtures/notary-server.key").stat()
    assert (other.st_uid, stat.S_IMODE(other.st_mode)) == (0, 0o600)


def test_the_postgres_key_gets_a_note_on_who_must_read_it(reference_copy: Path) -> None:
    needs_root()
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if "postgresql-initdb.d/server.key: owned by" in line]
    assert len(notes) == 1 and "uid 999" in notes[0] and "chown 999" in notes[0], result.stdout
    # Once postgres owns it, the note says the owner is kept instead.
    os.chown(reference_copy / "notarysql/postgresql-initdb.d/server.key", POSTGRES_UID, POSTGRES_UID)
    again = certkit("renew", "--no-compose", "--force", str(reference_copy))
    assert "notarysql/postgresql-initdb.d/server.key: keeps its owner uid 999" in again.stdout, again.stdout


def test_the_staged_key_has_its_owner_and_mode_before_the_first_byte(tmp_path: Path) -> None:
    needs_root()
    # Killed at its first write (CERTKIT_FAILPOINT), the new file shows what it was before any byte.
    target = tmp_path / "server.key"
    code = (
        "import sys; from pathlib import Path; from certkit.store import storage; "
        f"storage.write_new(Path({str(target)!r}), b'secret', 0o640, ({POSTGRES_UID}, {POSTGRES_UID}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT), "CERTKIT_FAILPOINT": "kill:1"}
    )
    assert result.returncode == -9
    st = target.stat()
    assert (st.st_size, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, POSTGRES_UID, POSTGRES_UID, 0o640)


# -- nothing changes on any refusal ------------------------------------------------------


LATIN1_CRLF = "# caf\xe9 d\xe9j\xe0 vu\r\n/vendor\r\n*.log".encode("latin-1")


def test_a_late_refusal_changes_nothing(reference_copy: Path, tmp_path: Path) -> None:
    # Loose (0644) keys, a Latin-1 CRLF .gitignore, and a .dockerignore that is a symlink
    # leaving the folder: found only after planning, yet before the first write.
    gitignore = reference_copy / ".gitignore"
    gitignore.write_bytes(LATIN1_CRLF)
    gitignore.chmod(0o600)
    outside = tmp_path / "elsewhere.dockerignore"
    outside.write_bytes(b"node_modules\n")
    (reference_copy / ".dockerignore").symlink_to(outside)
    before = tree(reference_copy)
    assert before["fixtures/notary-server.key"][1] == 0o644
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert_one_line_error(result, 13, ".dockerignore", "outside")
    assert tree(reference_copy) == before
    assert not (reference_copy / ".certkit").exists()
    assert outside.read_bytes() == b"node_modules\n"


def test_ignore_files_keep_their_bytes_mode_and_line_ends(reference_copy: Path) -> None:
    gitignore, dockerignore = reference_copy / ".gitignore", reference_copy / ".dockerignore"
    gitignore.write_bytes(LATIN1_CRLF)
    gitignore.chmod(0o600)
    dockerignore.write_bytes(b"bin/\n")
    result = certkit("renew", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    assert gitignore.read_bytes() == LATIN1_CRLF + (
        b"\r\n# certkit: CA private keys must never reach an image or a repository\r\n/.certkit/\r\n"
    )
    assert stat.S_IMODE(gitignore.stat().st_mode) == 0o600
    assert (
        dockerignore.read_bytes()
        == b"bin/\n# certkit: CA private keys must never reach an image or a repository\n/.certkit/\n"
    )
    assert stat.S_IMODE(dockerignore.stat().st_mode) == 0o644
    # Present already: the next run leaves them alone.
    saved = (gitignore.read_bytes(), dockerignore.read_bytes())
    assert certkit("renew", "--no-compose", "--force", str(reference_copy)).returncode == 0
    assert (gitignore.read_bytes(), dockerignore.read_bytes()) == saved


def test_with_lines_handles_bytes() -> None:
    assert storage.with_lines(None, ["/.certkit/"], "c") == b"# c\n/.certkit/\n"
    assert storage.with_lines(b"x\r\n.certkit\r\n", ["/.certkit/"], "c") is None
    assert storage.with_lines(b"\xff", ["/a/", "/b/"], "c") == b"\xff\n# c\n/a/\n/b/\n"


def test_a_group_readable_ca_key_is_still_tightened(fresh_layout: Path) -> None:
    ca_key = fresh_layout / ".certkit/ca/root-ca.key"
    leaf_key = fresh_layout / "fixtures/notary-server.key"
    ca_key.chmod(0o640)
    leaf_key.chmod(0o640)
    result = certkit("renew", str(fresh_layout))
    assert result.returncode == 0, result.stderr
    assert ".certkit/ca/root-ca.key: private key was mode 0640" in result.stdout
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600  # a CA key is never shared with a group
    assert stat.S_IMODE(leaf_key.stat().st_mode) == 0o640  # a leaf key may be, for its container
