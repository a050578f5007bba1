"""POSIX ACLs (issue 19, item 3): the parser (certkit.store.acl) against the kernel's own bytes and
getfacl, and the ownership check against real `setfacl` grants (Debian's `acl` package).

Mode bits do not show who else may write when an ACL grants it: `setfacl -m u:nobody:rwx` leaves a
root-owned folder 0775 root:root (root's private group), which the mode check alone accepted.
"""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notary_harness import IN_CI, require_binary
from tests.test_cli_renew import assert_one_line_error, certkit
from tests.test_safety import fix_command, needs_root, tree

NOBODY = 65534
NOGROUP = 65534


@pytest.fixture
def setfacl(tmp_path: Path) -> Iterator[str]:
    """Debian's setfacl, on a temp file system that keeps POSIX ACLs (a failure under CI=true if not)."""
    binary = require_binary("setfacl", "acl")
    probe = tmp_path / "acl-probe"
    probe.mkdir()
    result = subprocess.run([binary, "-m", "u:nobody:rwx", str(probe)], capture_output=True, text=True)
    try:
        supported = result.returncode == 0 and bool(os.getxattr(probe, "system.posix_acl_access"))
    except OSError as exc:
        supported, result.stderr = False, str(exc)
    if not supported:
        message = f"{tmp_path}: this file system does not keep POSIX ACLs ({result.stderr.strip()})"
        if IN_CI:
            pytest.fail(message + " -- the ACL tests need one under CI=true (ext4, tmpfs with CONFIG_TMPFS_POSIX_ACL)")
        pytest.skip(message)
    probe.rmdir()
    yield binary


def getfacl_entries(path: Path, default: bool = False) -> list[tuple[str, int | None, str]]:
    """(tag, id, perms) as getfacl prints them, numeric ids: the independent reading of the same ACL."""
    args = ["getfacl", "--numeric", "--omit-header", "--no-effective", "--default" if default else "--access"]
    out = subprocess.run([*args, str(path)], capture_output=True, text=True, check=True).stdout
    entries = []
    for line in out.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.removeprefix("default:").split(":")
        entries.append((parts[0], int(parts[1]) if parts[1] else None, parts[2]))
    return entries


# -- the parser -----------------------------------------------------------------------------------


def kernel_bytes(*entries: tuple[int, int, int]) -> bytes:
    """include/uapi/linux/posix_acl_xattr.h: le32 version 2, then (le16 tag, le16 perm, le32 id) each."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_parse_reads_the_kernels_format() -> None:
    from certkit.store import acl

    # `setfacl -m u:nobody:rwx DIR` on ext4, as os.getxattr returned it here.
    data = bytes.fromhex("0200000001000700ffffffff02000700feff000004000500ffffffff10000700ffffffff20000500ffffffff")
    assert acl.parse(data) == [
        acl.Entry(acl.USER_OBJ, 7, None),
        acl.Entry(acl.USER, 7, NOBODY),
        acl.Entry(acl.GROUP_OBJ, 5, None),
        acl.Entry(acl.MASK, 7, None),
        acl.Entry(acl.OTHER, 5, None),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        kernel_bytes((1, 7, 0xFFFFFFFF))[:-1],  # cut inside an entry
        struct.pack("<I", 1) + kernel_bytes((1, 7, 0xFFFFFFFF))[4:],  # another version
        kernel_bytes((0x40, 7, 0xFFFFFFFF)),  # no such tag
        kernel_bytes((1, 0x10, 0xFFFFFFFF)),  # no such permission bit
    ],
    ids=["empty", "truncated", "version", "tag", "perm"],
)
def test_parse_refuses_what_the_kernel_never_writes(data: bytes) -> None:
    from certkit.store import acl

    with pytest.raises(ValueError):
        acl.parse(data)


def test_write_grants_follow_the_mask() -> None:
    from certkit.store import acl

    def grants(*entries: tuple[int, int, int]) -> list[tuple[str, int | None]]:
        return [(g.kind, g.id) for g in acl.write_grants(acl.parse(kernel_bytes(*entries)))]

    base = [(acl.USER_OBJ, 7, 0xFFFFFFFF), (acl.GROUP_OBJ, 5, 0xFFFFFFFF), (acl.OTHER, 5, 0xFFFFFFFF)]
    assert grants(*base, (acl.USER, 7, 1001), (acl.MASK, 7, 0xFFFFFFFF)) == [("user", 1001)]
    assert grants(*base, (acl.USER, 7, 1001), (acl.MASK, 5, 0xFFFFFFFF)) == []  # masked out
    assert grants(*base, (acl.GROUP, 6, 50), (acl.MASK, 6, 0xFFFFFFFF)) == [("group", 50)]
    # The owning group's entry is masked too; other is not.
    assert grants(
        (acl.USER_OBJ, 7, 0xFFFFFFFF), (acl.GROUP_OBJ, 7, 0xFFFFFFFF), (acl.MASK, 5, 0xFFFFFFFF), (acl.OTHER, 7, 0)
    ) == [("other", None)]
    assert grants((acl.USER_OBJ, 7, 0xFFFFFFFF), (acl.GROUP_OBJ, 7, 0xFFFFFFFF), (acl.OTHER, 5, 0xFFFFFFFF)) == [
        ("owning group", None)
    ]


def test_parse_agrees_with_getfacl_on_real_acls(setfacl: str, tmp_path: Path) -> None:
    from certkit.store import acl

    names = {acl.USER_OBJ: "user", acl.USER: "user", acl.GROUP_OBJ: "group", acl.GROUP: "group"}
    names |= {acl.MASK: "mask", acl.OTHER: "other"}
    specs = ["u:nobody:rwx", "u:nobody:r,g:nogroup:rw", "u:0:w,g:0:x,m::rw", "g:nogroup:rwx,o::rw,m::r"]
    for index, spec in enumerate(specs):
        folder = tmp_path / f"f{index}"
        folder.mkdir()
        subprocess.run([setfacl, "-m", spec, "-d", "-m", spec, str(folder)], check=True)
        for attribute, default in ((acl.ACCESS, False), (acl.DEFAULT, True)):
            parsed = acl.parse(os.getxattr(folder, attribute))
            ours = [(names[e.tag], e.id, _perms(e.perm)) for e in parsed]
            assert ours == getfacl_entries(folder, default), spec


def _perms(perm: int) -> str:
    return "".join(c if perm & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))


# -- the ownership check --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "spec", "needle"),
    [
        (".", "u:nobody:rwx", "user nobody"),
        ("fixtures", "g:nogroup:rwx", "group nogroup"),
        ("fixtures", "d:u:nobody:rwx", "default ACL"),
        ("fixtures/root-ca.crt", "u:nobody:rw", "user nobody"),
    ],
    ids=["checkout-named-user", "fixtures-named-group", "fixtures-default", "certificate-named-user"],
)
def test_an_acl_write_grant_is_refused_like_a_loose_mode(
    setfacl: str, fresh_layout: Path, what: str, spec: str, needle: str
) -> None:
    needs_root()
    target = fresh_layout / what
    subprocess.run([setfacl, "-m", spec, str(target)], check=True)
    before = tree(fresh_layout)
    for args in (["--dry-run"], ["--force"]):
        result = certkit("renew", *args, str(fresh_layout))
        assert_one_line_error(result, 13, needle, "ACL", "setfacl -b")
        assert tree(fresh_layout) == before
    subprocess.run(fix_command(result.stderr), shell=True, check=True)
    assert not os.listxattr(target)  # setfacl -b removed the grant (a default ACL too)
    fixed = certkit("renew", "--force", str(fresh_layout))
    assert fixed.returncode == 0, fixed.stderr


@pytest.mark.parametrize(
    "spec",
    ["u:nobody:rx", "u:nobody:rwx,m::rx", "g:root:rwx", "u:root:rwx"],
    ids=["read-only", "write-masked-out", "owners-private-group", "root"],
)
def test_an_acl_that_grants_no_one_else_write_is_accepted(setfacl: str, fresh_layout: Path, spec: str) -> None:
    needs_root()
    subprocess.run([setfacl, "-m", spec, "-d", "-m", spec, str(fresh_layout / "fixtures")], check=True)
    result = certkit("renew", "--force", str(fresh_layout))
    assert result.returncode == 0, result.stderr


def test_an_acl_on_a_parent_folder_is_refused(setfacl: str, fresh_layout: Path, tmp_path: Path) -> None:
    needs_root()
    srv = tmp_path / "srv"
    srv.mkdir()
    checkout = srv / "notary"
    fresh_layout.rename(checkout)
    subprocess.run([setfacl, "-m", "u:nobody:rwx", str(srv)], check=True)
    result = certkit("renew", "--force", str(checkout))
    assert_one_line_error(result, 13, "user nobody", str(srv), f"setfacl -b {srv}")


def test_many_loose_paths_make_a_short_line_with_one_command(setfacl: str, fresh_layout: Path) -> None:
    needs_root()
    # Everything but certkit's state folder (whose 0700 mode alone keeps any ACL entry from applying).
    paths = [p for p in [fresh_layout, *fresh_layout.rglob("*")] if ".certkit" not in p.parts]
    subprocess.run([setfacl, "-m", "u:nobody:rwx", *map(str, paths)], check=True)
    result = certkit("renew", "--force", str(fresh_layout))
    assert_one_line_error(result, 13, "and ", "more", f"setfacl -R -b {fresh_layout}")
    assert len(result.stderr) < 600, result.stderr
    subprocess.run(fix_command(result.stderr), shell=True, check=True)
    assert certkit("renew", "--force", str(fresh_layout)).returncode == 0
