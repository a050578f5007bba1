"""Editing compose files in place without disturbing anything but the volumes certkit adds or replaces.

A YAML library that re-emits the whole document (even ruamel.yaml's round-trip mode)
normalises indentation per file, re-wraps long strings and may re-quote scalars; Notary's
own rethink compose file mixes 4- and 2-space indents.  So certkit uses ruamel.yaml only to
*read* the file (node positions, anchors, aliases, merge keys) and splices the new text into
the original at those positions: every other byte, comments, quoting, anchors and
``${VAR}``/``$$`` text included, stays as written.  The result is parsed again and compared
with the original: anything but the edited ``volumes`` differing is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from certkit.compose.files import (
    ComposeFile,
    Project,
    interpolate,
    parse_volume,
    plain,
    split_short_volume,
    yaml_loader,
)
from certkit.compose.model import PlannedMount
from certkit.compose.text import compose_text, relative_text, yaml_scalar
from certkit.errors import ComposeError

_COMMENT = "# certkit: read-only folder mount of renewed TLS files (a file mount goes stale: moby/moby#22627)"


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    text: str


def edit_files(project: Project, mounts: list[PlannedMount], env: Mapping[str, str]) -> dict[Path, str]:
    """New text for each file that changes; each service is edited in the last -f file that defines it."""
    by_file: dict[Path, list[PlannedMount]] = {}
    for mount in mounts:
        service = project.services[mount.service]
        by_file.setdefault(service.defined_in[-1], []).append(mount)
    files = {f.path: f for f in project.files}
    result: dict[Path, str] = {}
    for path, file_mounts in by_file.items():
        new = _edit(files[path], file_mounts, project.directory, env)
        _same_except_volumes(files[path], new, {m.service for m in file_mounts})
        result[path] = new
    return result


def _edit(compose_file: ComposeFile, mounts: list[PlannedMount], directory: Path, env: Mapping[str, str]) -> str:
    text = compose_file.text
    root = yaml_loader().compose(text)
    counts = _reference_counts(root)
    services_node = _get(root, "services")
    assert isinstance(services_node, MappingNode)
    newline = "\r\n" if "\r\n" in text else "\n"
    seq_offset = _sequence_offset(services_node)
    splices: list[_Splice] = []
    for name in dict.fromkeys(m.service for m in mounts):
        own = [m for m in mounts if m.service == name]
        where = f"{compose_file.path}: service {name!r}"
        service_node = _get(services_node, name)
        if not isinstance(service_node, MappingNode):
            raise ComposeError(f"{where} is not a mapping; certkit cannot add volumes to it")
        if counts[id(service_node)] > 1:
            raise ComposeError(
                f"{where} is an alias of another node; certkit will not edit a shared mapping "
                "in place (run without --in-place to write an override)"
            )
        volumes = _get(service_node, "volumes")
        if volumes is None and _merged_key(service_node, "volumes"):
            raise ComposeError(
                f"{where} gets its volumes through a `<<` merge of {_merge_sources(service_node)}; adding a volumes "
                "key would drop them and editing the merged list would change every service that shares it. "
                "Refused: run without --in-place (the override adds to each service alone), or give the service "
                "its own volumes list"
            )
        if volumes is not None and counts[id(volumes)] > 1:
            sharers = [str(k.value) for k, v in services_node.value if _get_node(v, "volumes") is volumes]
            raise ComposeError(
                f"{where} takes its volumes list from an anchor shared with "
                f"{', '.join(s for s in sharers if s != name) or 'another node'}; editing it would change those "
                "too. Refused: run without --in-place (the override adds to each service alone), or give "
                f"{name!r} its own list"
            )
        additions: list[PlannedMount] = []
        for mount in own:
            item = _find_item(volumes, mount, compose_file.path, directory, env)
            if item is None:
                additions.append(mount)
                continue
            if counts[id(item)] > 1:
                raise ComposeError(
                    f"{where}: the volume for {mount.target} is an anchor used elsewhere; "
                    "refused (run without --in-place)"
                )
            splices.extend(_replace(text, item, mount, directory))
        if additions:
            splices.append(_add(text, service_node, volumes, additions, directory, newline, seq_offset))
    for splice in sorted(splices, key=lambda s: s.start, reverse=True):
        text = text[: splice.start] + splice.text + text[splice.end :]
    return text


# -- finding things ------------------------------------------------------------------------------


def _reference_counts(root: Node) -> dict[int, int]:
    """How often each node is reached: more than once means an anchor with aliases."""
    counts: dict[int, int] = {}

    def walk(node: Node) -> None:
        counts[id(node)] = counts.get(id(node), 0) + 1
        if counts[id(node)] > 1:
            return
        if isinstance(node, MappingNode):
            for key, value in node.value:
                walk(key)
                walk(value)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                walk(item)

    walk(root)
    return counts


def _get(node: Node, key: str) -> Node | None:
    return _get_node(node, key)  # the one lookup, under a short name


def _get_node(node: Node, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key and k.tag != "tag:yaml.org,2002:merge":
            found: Node = v
            return found
    return None


def _merged_key(node: MappingNode, key: str) -> bool:
    for k, v in node.value:
        if k.tag == "tag:yaml.org,2002:merge":
            sources = v.value if isinstance(v, SequenceNode) else [v]
            if any(
                _get_node(s, key) is not None or (isinstance(s, MappingNode) and _merged_key(s, key)) for s in sources
            ):
                return True
    return False


def _merge_sources(node: MappingNode) -> str:
    names = []
    for k, v in node.value:
        if k.tag == "tag:yaml.org,2002:merge":
            for source in v.value if isinstance(v, SequenceNode) else [v]:
                names.append(f"&{source.anchor}" if getattr(source, "anchor", None) else "a mapping")
    return ", ".join(names) or "a mapping"


def _find_item(
    volumes: Node | None, mount: PlannedMount, path: Path, directory: Path, env: Mapping[str, str]
) -> Node | None:
    if not isinstance(volumes, SequenceNode):
        return None
    for item in volumes.value:
        parsed = parse_volume(_interpolate_all(_node_value(item), env), directory, path)
        if parsed is not None and parsed.target.rstrip("/") == mount.target.rstrip("/"):
            found: Node = item
            return found
    return None


def _node_value(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return node.value
    if isinstance(node, MappingNode):
        return {str(k.value): _node_value(v) for k, v in node.value}
    if isinstance(node, SequenceNode):
        return [_node_value(v) for v in node.value]
    return None


def _interpolate_all(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {
            k: (True if k == "read_only" and v in ("true", "True") else _interpolate_all(v, env))
            for k, v in value.items()
        }
    return value


# -- positions -----------------------------------------------------------------------------------


def _end(text: str, node: Node, after: int) -> int:
    """Index just after ``node``'s text where it appears after index ``after``.

    An alias (``*name``) is the anchored node itself in ruamel's graph, with the anchor's
    positions, which lie earlier in the file: then the end is that of the ``*name`` token.
    """
    if node.start_mark.index < after and getattr(node, "anchor", None):
        token = f"*{node.anchor}"
        at = text.find(token, after)
        if at < 0:
            raise ComposeError("internal: cannot locate an alias in the file; nothing was written")
        return at + len(token)
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    if isinstance(node, MappingNode) and node.value:
        key, value = node.value[-1]
        return _end(text, value, key.end_mark.index)
    if isinstance(node, SequenceNode) and node.value:
        position = int(node.start_mark.index)
        for item in node.value:
            position = _end(text, item, position)
        return position
    return int(node.end_mark.index)


def _line_after(text: str, index: int) -> int:
    if index > 0 and text[index - 1] == "\n":
        return index
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _sequence_offset(services: MappingNode) -> int:
    """How far this file indents a block list's dashes under its key (0 or 2, usually)."""
    for _, service in services.value:
        if isinstance(service, MappingNode):
            for key, value in service.value:
                if (
                    isinstance(value, SequenceNode)
                    and not value.flow_style
                    and value.start_mark.index > key.end_mark.index
                ):
                    return int(value.start_mark.column - key.start_mark.column)
    return 2


# -- new text ------------------------------------------------------------------------------------


def _fields(mount: PlannedMount, directory: Path) -> list[tuple[str, str]]:
    return [
        ("type", "bind"),
        ("source", yaml_scalar(compose_text(relative_text(mount.source, directory)))),
        ("target", yaml_scalar(compose_text(mount.target))),
        ("read_only", "true"),
    ]


def _block_item(mount: PlannedMount, directory: Path, dash: int, newline: str) -> str:
    fields = _fields(mount, directory)
    lines = [" " * dash + f"- {fields[0][0]}: {fields[0][1]}"]
    lines += [" " * (dash + 2) + f"{k}: {v}" for k, v in fields[1:]]
    return newline.join(lines) + newline


def _flow_item(mount: PlannedMount, directory: Path) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in _fields(mount, directory)) + "}"


def _add(
    text: str,
    service: MappingNode,
    volumes: Node | None,
    mounts: list[PlannedMount],
    directory: Path,
    newline: str,
    seq_offset: int,
) -> _Splice:
    if isinstance(volumes, SequenceNode) and volumes.flow_style:
        close = text.rfind("]", 0, volumes.end_mark.index)
        before = text[volumes.start_mark.index + 1 : close].strip()
        separator = "" if not before or before.endswith(",") else ", "
        return _Splice(close, close, separator + ", ".join(_flow_item(m, directory) for m in mounts))
    if isinstance(volumes, SequenceNode):
        dash = int(volumes.start_mark.column)
        at = _line_after(text, _end(text, volumes, volumes.start_mark.index))
        body = " " * dash + _COMMENT + newline + "".join(_block_item(m, directory, dash, newline) for m in mounts)
        return _Splice(at, at, ("" if at == 0 or text[at - 1] == "\n" else newline) + body)
    if isinstance(volumes, ScalarNode):  # `volumes:` with no value, or null
        if volumes.value not in ("", "~", "null", "Null", "NULL"):
            raise ComposeError(f"`volumes: {volumes.value}` is not a list; certkit cannot add to it")
        flow = "[" + ", ".join(_flow_item(m, directory) for m in mounts) + "]"
        start, end = volumes.start_mark.index, volumes.end_mark.index
        return _Splice(start, end, (" " if start == end and text[start - 1 : start] == ":" else "") + flow)
    if volumes is not None:
        raise ComposeError("`volumes` is not a list; certkit cannot add to it")
    if service.flow_style:
        close = text.rfind("}", 0, service.end_mark.index)
        before = text[service.start_mark.index + 1 : close].strip()
        separator = "" if not before or before.endswith(",") else ", "
        return _Splice(
            close, close, separator + "volumes: [" + ", ".join(_flow_item(m, directory) for m in mounts) + "]"
        )
    key_col = int(service.start_mark.column)
    at = _line_after(text, _end(text, service, service.start_mark.index))
    dash = key_col + seq_offset
    body = (
        " " * key_col
        + "volumes:"
        + newline
        + " " * dash
        + _COMMENT
        + newline
        + "".join(_block_item(m, directory, dash, newline) for m in mounts)
    )
    return _Splice(at, at, ("" if at == 0 or text[at - 1] == "\n" else newline) + body)


def _replace(text: str, item: Node, mount: PlannedMount, directory: Path) -> list[_Splice]:
    """Make the existing entry at the mount's target a read-only bind of the planned folder."""
    if isinstance(item, ScalarNode):
        parts = split_short_volume(item.value)
        same = (
            mount.replaces is not None and mount.replaces.type == "bind" and mount.replaces.source == str(mount.source)
        )
        if same and len(parts) >= 2:
            options = [o for o in (parts[2].split(",") if len(parts) > 2 else []) if o and o not in ("ro", "rw")]
            new = ":".join([parts[0], parts[1], ",".join(["ro", *options])])
        else:
            new = f"{compose_text(relative_text(mount.source, directory))}:{compose_text(mount.target)}:ro"
        return [_Splice(item.start_mark.index, item.end_mark.index, _quoted(new, item.style))]
    if isinstance(item, MappingNode):
        same = (
            mount.replaces is not None and mount.replaces.type == "bind" and mount.replaces.source == str(mount.source)
        )
        read_only = _get_node(item, "read_only")
        if same and isinstance(read_only, ScalarNode):
            return [_Splice(read_only.start_mark.index, read_only.end_mark.index, "true")]
        if same and item.flow_style:
            close = text.rfind("}", 0, item.end_mark.index)
            return [_Splice(close, close, ", read_only: true")]
        if same:
            key_col = int(item.start_mark.column)
            at = _line_after(text, _end(text, item, item.start_mark.index))
            newline = "\r\n" if "\r\n" in text else "\n"
            return [
                _Splice(
                    at, at, ("" if text[at - 1 : at] == "\n" else newline) + " " * key_col + "read_only: true" + newline
                )
            ]
        if item.flow_style:
            return [_Splice(item.start_mark.index, item.end_mark.index, _flow_item(mount, directory))]
        key_col = int(item.start_mark.column)
        fields = _fields(mount, directory)
        first = f"{fields[0][0]}: {fields[0][1]}"
        rest = "".join(("\r\n" if "\r\n" in text else "\n") + " " * key_col + f"{k}: {v}" for k, v in fields[1:])
        return [_Splice(item.start_mark.index, _end(text, item, item.start_mark.index), first + rest)]
    raise ComposeError(f"the volume entry for {mount.target} is neither a string nor a mapping")


def _quoted(value: str, style: str | None) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(value)
    plain = yaml_scalar(value)
    return plain


# -- verification --------------------------------------------------------------------------------


def _same_except_volumes(original: ComposeFile, new_text: str, services: set[str]) -> None:
    """Refuse an edit that changed anything but the named services' volumes."""
    try:
        new = yaml_loader().load(new_text)
    except Exception as exc:  # the edit produced invalid YAML: a certkit bug, never written
        raise ComposeError(
            f"internal: editing {original.path} produced invalid YAML ({exc}); nothing was written "
            "(run without --in-place to write an override)"
        ) from None
    before, after = plain(original.data), plain(new)
    for data in (before, after):
        for name in services:
            body = (data.get("services") or {}).get(name)
            if isinstance(body, dict):
                body.pop("volumes", None)
    if before != after:
        raise ComposeError(
            f"internal: editing {original.path} would change more than volumes; nothing was written "
            "(run without --in-place to write an override)"
        )
