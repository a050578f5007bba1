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
  member is the owner gives nobody else any access;
- with no POSIX ACL entry (access, or default on a folder) that lets another user or group
  write: the mode bits do not show those (certkit.store.acl).

The folders *above* the checkout (and above a CA store outside it) count too, up to ``/``, as
in OpenSSH's ``secure_filename``: whoever may rename one of them can move the checkout away and
put a symlink to their own tree in its place.  They must be root's or the runner's and not
writable by others, except a sticky folder (``/tmp``), where others may add entries but never
rename one they do not own (the entry below it is checked as the runner's or root's).  They are
opened one by one from ``/`` without following a symlink, and the checkout found at the end must
be the folder the renewal pinned (certkit.store.handles), which all writes then go through.

All problems are gathered into one refusal with one command that fixes them all, so a
clone is fixed in one step instead of one folder per run.  The line stays readable for a whole
clone in a shared group (40 paths): a count and the first few paths, and ``chmod -R go-w`` (or
``setfacl -R -b``) on the folder when more than a few inside it need it.

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
from certkit.store import acl, handles


@dataclass
class _Findings:
    root: Path
    real_root: Path
    runner: int
    problems: dict[str, list[str]] = field(default_factory=dict)  # why -> paths shown
    chmod: list[str] = field(default_factory=list)  # paths for `chmod go-w`
    chown: list[tuple[str, int]] = field(default_factory=list)  # (path, its owner) for `chown RUNNER`
    setfacl: list[str] = field(default_factory=list)  # paths for `setfacl -b`
    run_as_root: bool = False
    foreign_ancestor: bool = False  # a folder above the checkout belongs to another user
    seen: set[str] = field(default_factory=set)  # every path judged once
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
            the way down from ``root`` is checked too, since renaming a parent moves the child;
            for ``root`` and each folder outside it (a CA store given with --ca-store), every
            folder above it up to ``/`` (OpenSSH's StrictModes), where a sticky folder (``/tmp``)
            may be writable by others: they cannot rename an entry they do not own.
        files: real paths of the files certkit reads or replaces (missing ones are skipped).
        keys: the leaf private keys among ``files``.  One may belong to another user: an
            administrator (root) gave it to the container user that must read it (postgres
            runs as uid 999 and wants to own its key).  That owner already holds the key,
            so it gains nothing by changing it; certkit keeps the owner on renewal, which
            needs root, so a non-root runner is refused such a key.

    Modes and POSIX ACLs both count: an ACL entry that lets another user or group write is a
    loose mode (certkit.store.acl).

    Raises:
        FilesystemError: (exit 13) one line naming the offending paths (a count and the first few
            when there are many) and one command that fixes them all; or a pinned folder
            (certkit.store.handles) that is no longer the folder at its path.
    """
    real_root = Path(os.path.realpath(root))
    found = _Findings(root, real_root, os.geteuid())
    checked = _folders_to_check(real_root, folders)
    for top in sorted({real_root, *(f for f in checked if not inside(f, real_root))}):
        _check_above(found, top)
    for folder in sorted(checked):
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


def _check_above(found: _Findings, top: Path) -> None:
    """Every folder from ``/`` down to ``top``'s parent, opened one by one without following a
    symlink (certkit.store.handles.walk_from_root): each must be the runner's or root's, and not
    writable by others unless it is sticky.  ``top`` itself must be the folder a renewal pinned."""
    seen: list[tuple[int, int]] = []

    def visit(path: str, fd: int) -> None:
        st = os.fstat(fd)
        if path == str(top):
            seen.append((st.st_dev, st.st_ino))
        elif path not in found.seen:
            found.seen.add(path)
            _judge_above(found, path, fd, st)

    try:
        os.close(handles.walk_from_root(str(top), visit))
    except OSError as exc:
        raise FilesystemError(f"{top}: cannot inspect the folders above it ({exc.strerror or exc})") from exc
    pinned = handles.identity(str(top))
    if pinned is not None and seen and pinned != seen[0]:
        raise FilesystemError(
            f"{top}: is no longer the folder certkit opened at the start of this run (it was moved or replaced "
            "meanwhile); nothing was changed"
        )


def _judge_above(found: _Findings, path: str, fd: int, st: os.stat_result) -> None:
    owner = st.st_uid
    if owner not in (found.runner, 0):
        # Not fixable by a chown from here: it is someone else's folder (a home), and whoever owns a
        # folder above the checkout can rename the checkout away between certkit's checks and writes.
        found.add(f"owned by {user_name(owner)}", path)
        found.foreign_ancestor = True
    if st.st_mode & stat.S_ISVTX:
        return  # sticky (/tmp): others may add entries but not rename ours; the entry below is checked as ours
    _judge_writers(found, path, path, fd, st, owner, folder=True)


def _check_entry(found: _Findings, path: Path, *, key: bool) -> None:
    if str(path) in found.seen:
        return
    found.seen.add(str(path))
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
            found.chown.append((command_path, owner))
            owner = found.runner  # the fix makes the runner its owner: judge its group for them
    _judge_writers(found, shown, command_path, str(path), st, owner, folder=stat.S_ISDIR(st.st_mode))


def _judge_writers(
    found: _Findings, shown: str, command_path: str, source: int | str, st: os.stat_result, owner: int, *, folder: bool
) -> None:
    """Who besides ``owner`` may write, from the mode and the ACLs of ``source`` (a path or a handle)."""
    mode = stat.S_IMODE(st.st_mode)
    try:
        access = acl.read(source, acl.ACCESS)
        default = acl.read(source, acl.DEFAULT) if folder else None
    except ValueError as exc:
        found.add(f"has an ACL certkit cannot read ({exc})", shown)
        found.setfacl.append(command_path)
        return
    except OSError as exc:
        raise FilesystemError(f"{command_path}: cannot read its ACL ({exc.strerror or exc})") from exc
    if mode & 0o002:
        found.add("writable by everyone", f"{shown} ({mode:04o})")
        found.chmod.append(command_path)
    else:
        # With an ACL, the mode's group bits are its mask: the owning group's own entry decides.
        if access is None:
            group_writes = bool(mode & 0o020)
        else:
            group_writes = any(g.kind == "owning group" for g in acl.write_grants(access))
        if group_writes and not found.private_group(st.st_gid, owner):
            found.add(f"writable by {_group_why(st.st_gid, owner)}", f"{shown} ({mode:04o})")
            found.chmod.append(command_path)
    loose = False
    for which, entries in (("ACL", access), ("default ACL", default)):
        for grant in acl.write_grants(entries or []):
            if which == "ACL" and grant.kind in ("other", "owning group"):
                continue  # judged above with the mode (the mode's other bits are the ACL's other entry)
            who = _grantee(found, grant, st.st_gid, owner)
            if who is not None:
                found.add(f"{which} grants write to {who}", shown)
                loose = True
    if loose:
        found.setfacl.append(command_path)


def _grantee(found: _Findings, grant: acl.Grant, gid: int, owner: int) -> str | None:
    """Whom an ACL grant lets write, or None when that is no one else (the runner, root, the owner's private group)."""
    if grant.kind == "user":
        return None if grant.id in (found.runner, 0, owner) else f"user {user_name(grant.id or 0)}"
    if grant.kind in ("group", "owning group"):
        group = grant.id if grant.kind == "group" and grant.id is not None else gid
        return None if found.private_group(group, owner) else f"group {group_name(group)}"
    return "everyone"


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
    runner = shlex.quote(_runner_name(found.runner))
    root = shlex.quote(os.path.normpath(os.path.abspath(found.root)))
    commands = []
    if found.chown:
        if len(found.chown) > _SHOWN + 1:  # one per foreign owner, for the whole checkout
            commands += [f"chown -R --from={uid} {runner} {root}" for uid in sorted({u for _, u in found.chown})]
        else:
            commands.append(f"chown {runner} " + " ".join(shlex.quote(p) for p, _ in found.chown))
    if found.chmod:
        commands += _fix(found, "chmod", "go-w", found.chmod)
    if found.setfacl:
        commands += _fix(found, "setfacl", "-b", found.setfacl)
    fix = ""
    if commands:
        fix = f"; fix them all with `{' && '.join(commands)}`"
        if found.chown and found.runner != 0:
            fix += " (as root)"
    if found.run_as_root:
        fix += "; run certkit as root to keep a key's owner" if fix else "; run certkit as root to keep the key's owner"
    if found.foreign_ancestor:
        fix += (
            "; a folder above the checkout must belong to you or root: move the checkout, "
            "or run certkit as that folder's owner"
        )
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


def _fix(found: _Findings, tool: str, option: str, paths: list[str]) -> list[str]:
    """``TOOL OPTION PATH...`` for a few paths; for more than a few inside the folder, ``TOOL -R OPTION``
    on the folder's tree (removing group and other write, or extra ACL entries, below a checkout takes
    nothing away that certkit's checks would allow), and the paths outside it (a folder above the
    checkout, a CA store elsewhere) each on their own, never recursively."""
    root = os.path.normpath(os.path.abspath(found.root))
    within = [p for p in paths if inside(Path(p), Path(root))]
    if len(paths) <= _SHOWN + 1 or not within:
        return [f"{tool} {option} " + " ".join(shlex.quote(p) for p in paths)]
    outside = [p for p in paths if p not in within]
    return [f"{tool} -R {option} {shlex.quote(root)}"] + (
        [f"{tool} {option} " + " ".join(shlex.quote(p) for p in outside)] if outside else []
    )


def _runner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
