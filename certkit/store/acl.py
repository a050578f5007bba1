"""POSIX ACLs: who else may write a file or folder when its mode bits do not tell.

``setfacl -m u:bob:rwx fixtures`` leaves ``fixtures`` 0775 root:root: the mode's group bits then
show the ACL's *mask*, and root's private group passes the mode check, yet bob may rename any key.
Linux keeps the ACL in the extended attribute ``system.posix_acl_access`` (and, on a folder, the
ACL new entries inherit in ``system.posix_acl_default``), in the format of the kernel's
include/uapi/linux/posix_acl_xattr.h:

    struct posix_acl_xattr_header { __le32 a_version; };        /* POSIX_ACL_XATTR_VERSION 0x0002 */
    struct posix_acl_xattr_entry  { __le16 e_tag; __le16 e_perm; __le32 e_id; };

with the tags and permission bits of include/uapi/linux/posix_acl.h (ACL_USER_OBJ 0x01, ACL_USER
0x02, ACL_GROUP_OBJ 0x04, ACL_GROUP 0x08, ACL_MASK 0x10, ACL_OTHER 0x20; ACL_READ 4, ACL_WRITE 2,
ACL_EXECUTE 1).  The kernel grants access as fs/posix_acl.c:posix_acl_permission() does: the
owner by USER_OBJ; a named user, the owning group and a named group through their entry ANDed
with the MASK (when there is one); everyone else by OTHER.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"

USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_TAGS = {USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER}
WRITE = 0x02
_VERSION = 0x0002
_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
_UNDEFINED_ID = 0xFFFFFFFF  # ACL_UNDEFINED_ID: the entries that name no user or group


@dataclass(frozen=True)
class Entry:
    tag: int
    perm: int
    id: int | None  # the uid (USER) or gid (GROUP); None for the other tags


@dataclass(frozen=True)
class Grant:
    """Someone besides the owner who may write: a named ``user`` or ``group`` (with its id), the
    ``owning group`` (the file's own gid) or ``other`` (everyone)."""

    kind: str
    id: int | None


def parse(data: bytes) -> list[Entry]:
    """The entries of an ACL extended attribute, in the kernel's order.

    Raises:
        ValueError: not the kernel's format (version, length, tag or permission bits).
    """
    if len(data) < _HEADER.size or (len(data) - _HEADER.size) % _ENTRY.size:
        raise ValueError(f"an ACL of {len(data)} bytes is not a header and whole entries")
    (version,) = _HEADER.unpack_from(data)
    if version != _VERSION:
        raise ValueError(f"ACL version {version}, not {_VERSION}")
    entries = []
    for offset in range(_HEADER.size, len(data), _ENTRY.size):
        tag, perm, ident = _ENTRY.unpack_from(data, offset)
        if tag not in _TAGS:
            raise ValueError(f"unknown ACL tag {tag:#x}")
        if perm & ~0o7:
            raise ValueError(f"unknown ACL permission bits {perm:#x}")
        entries.append(Entry(tag, perm, ident if tag in (USER, GROUP) and ident != _UNDEFINED_ID else None))
    return entries


def read(target: int | str | Path, name: str = ACCESS) -> list[Entry] | None:
    """The ACL ``name`` of ``target`` (a path or an open descriptor), or None when it has none (or
    its file system keeps no ACLs).

    Raises:
        OSError: the attribute cannot be read (other than "none here").
        ValueError: it is not the kernel's format.
    """
    try:
        try:
            data = os.getxattr(target, name)
        except OSError as exc:
            if not (isinstance(target, int) and exc.errno == errno.EBADF):
                raise
            # An O_PATH handle (a folder the runner may search but not read): its /proc link names
            # exactly the opened folder, where a path could have been swapped meanwhile.
            data = os.getxattr(f"/proc/self/fd/{target}", name)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise
    return parse(data)


def write_grants(entries: list[Entry]) -> list[Grant]:
    """Everyone besides the owner whom ``entries`` let write, as the kernel decides it."""
    mask = next((e.perm for e in entries if e.tag == MASK), 0o7)
    grants = []
    for entry in entries:
        if entry.tag == USER and entry.perm & mask & WRITE:
            grants.append(Grant("user", entry.id))
        elif entry.tag == GROUP and entry.perm & mask & WRITE:
            grants.append(Grant("group", entry.id))
        elif entry.tag == GROUP_OBJ and entry.perm & mask & WRITE:
            grants.append(Grant("owning group", None))
        elif entry.tag == OTHER and entry.perm & WRITE:
            grants.append(Grant("other", None))
    return grants
