"""certkit's override file: where it goes, its text, and the proof that it says only what was planned.

The default way certkit mounts the renewed folders: a file Docker Compose loads by itself beside
the base file (docker-compose.yml -> docker-compose.override.yml), marked as certkit's on its first
line so that certkit rewrites only its own.  Rendered from templates/compose/override.yml.j2, then
parsed back: it must hold exactly the planned mounts and nothing else before anyone writes it.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from certkit.compose.files import OVERRIDE_FILES, OVERRIDE_MARKER, Project, override_path_for, read_compose_text
from certkit.compose.model import PlannedMount
from certkit.compose.text import comment_text, compose_text, relative_text, yaml_scalar
from certkit.errors import ComposeError
from certkit.paths import under

if TYPE_CHECKING:
    from certkit.compose.cache import ParseCache


def override_target(base_files: list[Path], paths: list[Path], discovered: bool, texts: dict[Path, str]) -> Path:
    """Where certkit's override for ``base_files`` goes; refused where Compose would not load it, or
    where a file certkit did not write stands (``discovered``: the files were found as Compose finds them)."""
    target = override_path_for(base_files[0])
    if discovered:
        foreign = [p for p in paths if p not in base_files[:1] and not texts[p].startswith(OVERRIDE_MARKER)]
        if foreign:
            raise ComposeError(
                f"{foreign[0]}: an override not written by certkit; Docker Compose loads only one override file, "
                "so certkit will not add another or overwrite it: run with --in-place to edit the files themselves"
            )
        existing = [base_files[0].parent / n for n in OVERRIDE_FILES if (base_files[0].parent / n).is_file()]
        if existing and existing[0] != target:
            raise ComposeError(
                f"{existing[0]}: Docker Compose would load this override instead of {target.name}; "
                "run with --in-place, or remove it"
            )
    if target.exists() and not read_compose_text(target).startswith(OVERRIDE_MARKER):
        raise ComposeError(
            f"{target}: exists and was not written by certkit; certkit will not overwrite it "
            "(run with --in-place to edit the compose files themselves)"
        )
    return target


def render_override(
    project: Project, mounts: list[PlannedMount], base_files: list[Path], memo: ParseCache | None = None
) -> str:
    """certkit's override for ``mounts``, checked by parsing it back before anyone writes it.

    Text from the checkout (file names, paths from configs) reaches the file only as YAML scalars
    or as one-line comments with every line break escaped: a path in a config file must never be
    able to add YAML of its own (say, `privileged: true`) to a file Compose loads.
    With ``memo``, the text rendered earlier from the same template and values is reused (jinja2
    is then not even imported); the check by parsing it back runs either way.
    """
    services = []
    expected: dict[str, list[dict[str, Any]]] = {}
    for name in project.services:
        own = sorted((m for m in mounts if m.service == name), key=lambda m: m.target)
        if own:
            services.append(
                {
                    "name": yaml_scalar(name),
                    "mounts": [
                        {
                            "source": yaml_scalar(compose_text(relative_text(m.source, project.directory))),
                            "target": yaml_scalar(compose_text(m.target)),
                            "reason": comment_text(m.reason),
                            "serves": comment_text(_serves_text(m)),
                        }
                        for m in own
                    ],
                }
            )
            expected[name] = [
                {
                    "type": "bind",
                    "source": compose_text(relative_text(m.source, project.directory)),
                    "target": compose_text(m.target),
                    "read_only": True,
                }
                for m in own
            ]
    context = {
        "marker": OVERRIDE_MARKER,
        "services": services,
        "sources": [comment_text(relative_text(p, project.directory).removeprefix("./")) for p in base_files],
    }
    text = _render_cached("compose/override.yml.j2", context, memo)
    _check_override(text, expected, project.directory, memo)
    return text


def _render_cached(name: str, context: dict[str, Any], memo: ParseCache | None) -> str:
    if memo is None:
        from certkit.templates import render

        return render(name, **context)
    from certkit.compose.cache import missing
    from certkit.templates import templates_dir

    # The key holds the template's whole source: it includes no other template (one that did would
    # have to add that one's source too).
    source = (templates_dir() / name).read_text(encoding="utf-8")
    key = memo.key("render", name, source, json.dumps(context))  # order matters: not sorted
    hit = memo.get(key)
    if not missing(hit) and isinstance(hit, str):
        return hit
    from certkit.templates import render

    text = render(name, **context)
    memo.put(key, text)
    return text


def _check_override(
    text: str, expected: dict[str, list[dict[str, Any]]], directory: Path, memo: ParseCache | None = None
) -> None:
    from certkit.compose.files import parse_yaml, plain

    data: Any = None
    key = ""
    if memo is not None:
        from certkit.compose.cache import missing

        key = memo.key("override-yaml", text)
        hit = memo.get(key)
        data = None if missing(hit) or not isinstance(hit, dict) else hit.get("data")
    if not isinstance(data, dict):
        data = plain(parse_yaml(text, directory / "docker-compose.override.yml"))
        from certkit.compose.cache import plain_exact

        if memo is not None and isinstance(data, dict) and plain_exact(data):
            memo.put(key, {"data": data})
    actual = {name: body.get("volumes") for name, body in (data.get("services") or {}).items()}
    if set(data) != {"services"} or actual != expected or any(set(b) != {"volumes"} for b in data["services"].values()):
        raise ComposeError(
            "internal: the override certkit rendered does not parse back to exactly the planned "
            "mounts; nothing was written (please report this with --debug)"
        )


def _serves_text(mount: PlannedMount) -> str:
    names = [
        str(PurePosixPath(p).relative_to(mount.target))
        if under(p, mount.target) and p != mount.target
        else PurePosixPath(p).name
        for p in mount.serves
    ]
    text = ", ".join(names[:4])
    return text + (f" and {len(names) - 4} more" if len(names) > 4 else "")


__all__ = ["override_target", "render_override"]
