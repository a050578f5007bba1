"""Who else could change what certkit reads and writes: the checks made before the first write.

certkit replaces keys by renaming a new file over the old one.  Anyone who may write a
folder on the way to a key could, between certkit's checks and its renames, swap the
key, plant a symlink, or rename a folder away; anyone who owns a certificate or CA key
certkit reads could change what it signs.  So, like OpenSSH's StrictModes and sudo's
checks of sudoers, every folder from the Notary folder down to each file certkit
writes, and every file it reads or replaces, must be:

- owned by the user running certkit or by root (a leaf private key may also belong to
  the user of the container that reads it, e.g. postgres: see ``check``);
- not writable by everyone;
- not writable by its group, unless that group is the owner's *private* group: the
  owner's primary group with no other member.  This is the rule of Debian's OpenSSH
  (debian/patches/user-group-modes.patch, ``secure_permissions``): with user private
  groups, Ubuntu's default umask 002 makes every clone 0775/0664, and a group whose only
  member is the owner gives nobody else any access.

All problems are gathered into one refusal with one command that fixes them all, so a
clone is fixed in one step instead of one folder per run.  The line stays readable for a whole
clone in a shared group (40 paths): a count and the first few paths, and ``chmod -R go-w`` on
the folder when more than a few need it.

Membership is read with the ``grp``/``pwd`` modules (NSS): a directory service that does
not enumerate its users (sssd with ``enumerate = false``) may hide a second member of a
group, exactly as it hides them from OpenSSH's check.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from certkit.errors import FilesystemError
from certkit.paths import inside


@dataclass
class _Findings:
    root: Path
    real_root: Path
    runner: int
    problems: dict[str, list[str]] = field(default_factory=dict)  # why -> paths shown
    chmod: list[str] = field(default_factory=list)  # paths for `chmod go-w`
    chown: list[str] = field(default_factory=list)  # paths for `chown RUNNER`
    run_as_root: bool = False
    private: dict[tuple[int, int], bool] = field(default_factory=dict)  # (gid, owner): one pass over passwd each

    def private_group(self, gid: int, owner: int) -> bool:
        if (gid, owner) not in self.private:
            self.private[(gid, owner)] = private_group(gid, owner)
        return self.private[(gid, owner)]

    def add(self, why: str, shown: str) -> None:
        self.problems.setdefault(why, []).append(shown)


def check(root: Path, folders: Iterable[Path], files: Iterable[Path], keys: Iterable[Path] = ()) -> None:
    """Refuse, with nothing changed, when other users could change what certkit writes or reads.

    Args:
        root: the Notary folder as the user named it.
        folders: real paths of the folders certkit may write in (they need not exist: their
            nearest existing parent is checked).  For folders inside ``root`` every folder on
            the way down from ``root`` is checked too, since renaming a parent moves the child.
        files: real paths of the files certkit reads or replaces (missing ones are skipped).
        keys: the leaf private keys among ``files``.  One may belong to another user: an
            administrator (root) gave it to the container user that must read it (postgres
            runs as uid 999 and wants to own its key).  That owner already holds the key,
            so it gains nothing by changing it; certkit keeps the owner on renewal, which
            needs root, so a non-root runner is refused such a key.

    Raises:
        FilesystemError: (exit 13) one line naming every offending path and one command
            that fixes them all.
    """
    real_root = Path(os.path.realpath(root))
    found = _Findings(root, real_root, os.geteuid())
    for folder in sorted(_folders_to_check(real_root, folders)):
        _check_entry(found, folder, key=False)
    key_set = {Path(k) for k in keys}
    for path in sorted(set(files)):
        if os.path.lexists(path) and not os.path.isdir(path):
            _check_entry(found, path, key=path in key_set)
    if found.problems:
        raise FilesystemError(_message(found))


def private_group(gid: int, owner: int) -> bool:
    """True when ``gid`` is the private group of user ``owner``: their primary group, and
    nobody else's primary or supplementary group (Debian OpenSSH's rule, see module doc)."""
    try:
        group = grp.getgrgid(gid)
        user = pwd.getpwuid(owner)
    except KeyError:
        return False
    if user.pw_gid != gid:
        return False
    if any(member != user.pw_name for member in group.gr_mem):
        return False
    return all(entry.pw_uid == owner for entry in pwd.getpwall() if entry.pw_gid == gid)


def user_name(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def group_name(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


def _folders_to_check(real_root: Path, folders: Iterable[Path]) -> set[Path]:
    result = {real_root}
    for folder in folders:
        existing = Path(os.path.realpath(folder))
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if inside(existing, real_root):
            current = existing
            while current != real_root:
                result.add(current)
                current = current.parent
        else:
            result.add(existing)  # a CA store outside the checkout (--ca-store)
    return result


def _check_entry(found: _Findings, path: Path, *, key: bool) -> None:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FilesystemError(f"{path}: cannot inspect ({exc.strerror or exc})") from exc
    shown, command_path = _shown(found, path)
    owner = st.st_uid
    if owner not in (found.runner, 0):
        if key and found.runner == 0:
            pass  # a key given to a container user; kept on renewal (see check)
        elif key:
            found.add(f"owned by {user_name(st.st_uid)} (only root can give a renewed key the same owner)", shown)
            found.run_as_root = True
            return
        else:
            found.add(f"owned by {user_name(st.st_uid)}", shown)
            found.chown.append(command_path)
            owner = found.runner  # the fix makes the runner its owner: judge its group for them
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o002:
        found.add("writable by everyone", f"{shown} ({mode:04o})")
        found.chmod.append(command_path)
    elif mode & 0o020 and not found.private_group(st.st_gid, owner):
        found.add(f"writable by {_group_why(st.st_gid, owner)}", f"{shown} ({mode:04o})")
        found.chmod.append(command_path)


def _group_why(gid: int, owner: int) -> str:
    """Why a group is not the owner's private group, for the refusal."""
    others: list[str] = []
    try:
        group = grp.getgrgid(gid)
        others += [m for m in group.gr_mem]
    except KeyError:
        return f"{group_name(gid)}, which no longer exists"
    others += [e.pw_name for e in pwd.getpwall() if e.pw_gid == gid and e.pw_uid != owner]
    try:
        owner_name = pwd.getpwuid(owner).pw_name
    except KeyError:
        owner_name = ""
    others = sorted({o for o in others if o != owner_name})
    if others:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        return f"group {group_name(gid)}, which has other members ({listed})"
    return f"group {group_name(gid)}, which is not the owner's private group"


def _shown(found: _Findings, path: Path) -> tuple[str, str]:
    """(name in the message, path in the fix command): relative to the Notary folder when inside it."""
    if inside(path, found.real_root):
        relative = path.relative_to(found.real_root)
        command = Path(os.path.abspath(found.root)) / relative
        return (str(relative) if str(relative) != "." else f"{found.root} itself"), os.path.normpath(command)
    return str(path), str(path)


_SHOWN = 3  # paths named per problem; the rest are counted


def _message(found: _Findings) -> str:
    commands = []
    if found.chown:
        commands.append(
            f"chown {shlex.quote(_runner_name(found.runner))} " + " ".join(shlex.quote(p) for p in found.chown)
        )
    if found.chmod:
        commands.append(_chmod_command(found))
    fix = ""
    if commands:
        fix = f"; fix them all with `{' && '.join(commands)}`"
        if found.chown and found.runner != 0:
            fix += " (as root)"
    if found.run_as_root:
        fix += "; run certkit as root to keep a key's owner" if fix else "; run certkit as root to keep the key's owner"
    return (
        f"{found.root}: refusing to write where another user could swap or change the files certkit writes: "
        + "; ".join(f"{why}: {_listed(paths)}" for why, paths in found.problems.items())
        + fix
        + "; nothing was changed"
    )


def _listed(paths: list[str]) -> str:
    """Every path when there are a few; else the count and the first few."""
    if len(paths) <= _SHOWN + 1:
        return ", ".join(paths)
    return f"{len(paths)} paths: {', '.join(paths[:_SHOWN])} and {len(paths) - _SHOWN} more"


def _chmod_command(found: _Findings) -> str:
    """`chmod go-w` on each path, or, for more than a few inside the folder, on the folder's tree:
    what a person would type, and short enough to read (removing group and other write below a
    checkout takes nothing away that certkit's checks would allow)."""
    root = os.path.normpath(os.path.abspath(found.root))
    inside_root = [p for p in found.chmod if p == root or p.startswith(root.rstrip("/") + "/")]
    if len(found.chmod) <= _SHOWN + 1 or not inside_root:
        return "chmod go-w " + " ".join(shlex.quote(p) for p in found.chmod)
    outside = [p for p in found.chmod if p not in inside_root]
    return "chmod -R go-w " + " ".join(shlex.quote(p) for p in [root, *outside])


def _runner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
