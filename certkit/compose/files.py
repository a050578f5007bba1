"""Reading compose files the way Docker Compose v2 does: discovery, parsing, interpolation, merging.

Only the parts certkit needs to know which files a container reads are modelled: build,
image, working_dir, command, entrypoint, environment and volumes, merged across ``-f``
files and ``extends`` by the Compose Specification's merge rules
(https://github.com/compose-spec/compose-spec/blob/main/13-merge.md): mappings are merged,
``volumes`` by their container target, ``environment`` by variable, ``command`` and
``entrypoint`` replaced.  Parsing uses ruamel.yaml with duplicate keys refused, as Compose
does; every problem a user can cause becomes a ComposeError naming the file and line.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certkit.bounded import MIB, TooDeep, parse_nested, read_input
from certkit.errors import ComposeError
from certkit.text import one_line

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    from certkit.compose.cache import ParseCache

# compose-go cli/options.go: DefaultFileNames and DefaultOverrideFileNames, in order of
# preference.  Compose loads the first base file found and then the first override found.
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)

MAX_COMPOSE_BYTES = 4 * MIB  # far above any real compose file; a bigger one is not read
# Expanded YAML nodes allowed per compose file: aliases make a "billion laughs" file tiny on disk
# and enormous once expanded, which would hang renew while it holds the renewal lock.
MAX_NODES = 200_000

# The first line of every override certkit writes; certkit regenerates only files that carry it.
OVERRIDE_MARKER = "# certkit-compose-override"


@dataclass(frozen=True)
class ComposeFile:
    path: Path
    text: str
    data: Any  # the ruamel round-trip document (a CommentedMap)
    certkit_override: bool


@dataclass(frozen=True)
class Mount:
    """One entry of a service's ``volumes``, normalised (short and long syntax alike)."""

    type: str  # "bind", "volume", "tmpfs", ...
    source: str  # absolute host path for a bind mount; the volume name otherwise ("" when anonymous)
    target: str
    read_only: bool
    declared_in: Path


@dataclass
class Service:
    """A service as Compose will run it, after extends, merging and interpolation."""

    name: str
    defined_in: list[Path] = field(default_factory=list)  # the -f files that mention it, in order
    image: str | None = None
    build_context: Path | None = None
    dockerfile: Path | None = None
    build_target: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)
    working_dir: str | None = None
    command: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, Mount] = field(default_factory=dict)  # by container target
    # Compose's `!reset` (drop what earlier files said) and `!override` (replace instead of merging).
    resets: set[str] = field(default_factory=set)
    overrides: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Project:
    directory: Path  # where relative paths of the -f files resolve: the first file's folder
    files: tuple[ComposeFile, ...]
    services: dict[str, Service]


def discover(directory: Path) -> list[Path]:
    """The files `docker compose` loads in ``directory`` without -f: one base file and its override.

    Unlike Compose, certkit does not climb to parent folders: it works on the Notary folder given.
    """
    # lexists, not is_file: a FIFO or dangling link under a default name is found, then refused by
    # the reader with the reason, instead of "no compose file".
    base = [directory / name for name in DEFAULT_FILES if os.path.lexists(directory / name)]
    if not base:
        return []
    overrides = [directory / name for name in OVERRIDE_FILES if (directory / name).is_file()]
    return [base[0], *overrides[:1]]


_SERVICES_KEY = re.compile(rb"(?m)^services[ \t]*:")


def has_services(path: Path) -> bool:
    """A top-level ``services:`` key: compose files have one; codecov.yml, CI configs and the like do not."""
    try:
        return _SERVICES_KEY.search(read_input(path, MAX_COMPOSE_BYTES, ComposeError, "compose file")) is not None
    except ComposeError:
        return False


def override_path_for(base: Path) -> Path:
    """Where certkit writes the override for ``base``: docker-compose.yml -> docker-compose.override.yml."""
    stem, dot, ext = base.name.rpartition(".")
    if not dot or ext not in ("yml", "yaml"):
        return base.with_name(base.name + ".override.yml")
    return base.with_name(f"{stem}.override.{ext}")


def read_compose_text(path: Path) -> str:
    """The text of a compose file (bounded, UTF-8), or a ComposeError saying why not."""
    raw = read_input(path, MAX_COMPOSE_BYTES, ComposeError, "compose file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComposeError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_compose_file(path: Path, text: str | None = None, memo: ParseCache | None = None) -> ComposeFile:
    """Read and parse one compose file, refusing anything Docker Compose would also refuse.

    With ``memo`` (renew's compose step), ``data`` may be the plain form of the document from the
    cache (certkit.compose.cache): the same values every reader below takes from it.
    """
    if text is None:
        text = read_compose_text(path)
    data = parse_yaml(text, path) if memo is None else _parse_cached(text, path, memo)
    if data is None:
        raise ComposeError(f"{path}: empty file; a compose file needs a `services:` mapping")
    if not hasattr(data, "items"):
        raise ComposeError(f"{path}: the top level must be a mapping with `services:`")
    services = data.get("services")
    if services is not None and not hasattr(services, "items"):
        raise ComposeError(f"{path}: `services` must be a mapping of service names")
    for name, body in (services or {}).items():
        if body is not None and not hasattr(body, "items"):
            raise ComposeError(f"{path}: service {name!r} must be a mapping")
    return ComposeFile(path, text, data, text.startswith(OVERRIDE_MARKER))


def _parse_cached(text: str, path: Path, memo: ParseCache) -> Any:
    """parse_yaml through the cache: a hit is the plain document; a miss parses, and stores the plain
    form when it holds everything this module reads from the round-trip one."""
    from certkit.compose.cache import missing, plain_exact

    key = memo.key("compose-yaml", text)
    hit = memo.get(key)
    if not missing(hit) and isinstance(hit, dict) and isinstance(hit.get("data"), dict):
        return hit["data"]
    data = parse_yaml(text, path)
    if not hasattr(data, "items"):
        return data
    services = data.get("services")
    if services is not None and not (hasattr(services, "items") and all(type(k) is str for k in services)):
        return data  # the reader refuses it (or names need str()): nothing worth keeping
    if any(any(_merge_tags(body)) for body in (services or {}).values()):
        return data  # !reset / !override live only on the round-trip objects
    try:
        flat = plain(data)
    except ComposeError:
        return data  # over the node budget as a whole: the readers judge it service by service
    if plain_exact(flat):
        memo.put(key, {"data": flat})
    return data


def yaml_loader() -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False  # Compose refuses them too; a silent "last one wins" hides mistakes
    return yaml


def parse_yaml(text: str, path: Path) -> Any:
    # Imported here: renew's compose step usually finds its parses in certkit.compose.cache.
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return parse_nested(lambda: yaml_loader().load(text))
    except TooDeep as exc:
        # Kept as the cause: check-expiry reports such a file UNKNOWN (Compose itself loads it).
        raise ComposeError(f"{path}: {exc}; Docker Compose may load it, certkit cannot analyse it") from exc
    except MarkedYAMLError as exc:
        raise ComposeError(_yaml_message(exc, path)) from None
    except YAMLError as exc:
        raise ComposeError(f"{path}: invalid YAML: {one_line(exc)}") from None


def _yaml_message(exc: MarkedYAMLError, path: Path) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    if "single document" in context:
        return f"{where}: several YAML documents (---); a compose file holds exactly one"
    if "\\t" in problem or "'\t'" in problem:
        return f"{where}: a tab where YAML needs spaces (YAML indents with spaces only)"
    if problem.startswith("found duplicate key"):
        return f"{where}: {problem.split(' with value')[0]} (Compose refuses duplicate keys too)"
    text = f"{context}: {problem}" if context and problem else (problem or context or "invalid YAML")
    return f"{where}: invalid YAML: {text}"


# -- interpolation ---------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:+a}, ${VAR+a}, ${VAR:?e}.

    An unset variable without a default becomes "" (Compose warns and does the same).
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise ComposeError(f"unterminated ${{ in {text!r}")
            out.append(_expand(text[i + 2 : end], env))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if match is None:
                out.append("$")
                i += 1
            else:
                out.append(env.get(match.group(), ""))
                i = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _expand(body: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(body)
    if match is None:
        raise ComposeError(f"invalid variable ${{{body}}}")
    name, rest = match.group(), body[match.end() :]
    value = env.get(name)
    for op in (":-", ":+", ":?", "-", "+", "?"):
        if rest.startswith(op):
            word = interpolate(rest[len(op) :], env)
            set_ = value is not None and (value != "" or ":" not in op)
            if op.endswith("-"):
                return value if set_ and value is not None else word
            if op.endswith("+"):
                return word if set_ else ""
            if not set_:
                raise ComposeError(f"required variable {name} is not set: {word}")
            return value or ""
    if rest:
        raise ComposeError(f"invalid variable ${{{body}}}")
    return value or ""


def project_env(directory: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables Compose substitutes: the ``.env`` file of the project folder, then the shell's (which win)."""
    values: dict[str, str] = {}
    dotenv = directory / ".env"
    if os.path.lexists(dotenv):
        text = read_input(dotenv, MIB, ComposeError, ".env file").decode("utf-8", errors="replace")
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, _, value = line.removeprefix("export ").partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    values.update(environ)
    return values


# -- loading a project -----------------------------------------------------------------------


def load_project(
    files: list[Path], env: Mapping[str, str], texts: Mapping[Path, str] | None = None, memo: ParseCache | None = None
) -> Project:
    """Parse ``files`` (in -f order) and merge their services as Compose does.

    ``texts`` replaces the content of some files (used to re-check an edit before writing it).
    ``memo``: parse the ``files`` through renew's cache (certkit.compose.cache); included and
    extended files are parsed as they are read.
    Services of ``include:``d files join the project; services whose ``profiles`` are not
    enabled by ``COMPOSE_PROFILES`` are left out, as `docker compose up` leaves them out.
    """
    if not files:
        raise ComposeError("no compose file given")
    texts = texts or {}
    parsed = tuple(read_compose_file(p, texts.get(p), memo) for p in files)
    # Compose resolves relative paths of every -f file against the project folder, the first file's.
    directory = files[0].parent
    services: dict[str, Service] = {}
    cache: dict[Path, ComposeFile] = {f.path: f for f in parsed}
    for compose_file in parsed:
        for name, service in _included_services(compose_file, env, cache, (compose_file.path,)).items():
            if name in services:
                raise ComposeError(
                    f"{compose_file.path}: service {name!r} is defined both by an included file "
                    "and by the project (Compose refuses this too)"
                )
            services[name] = service
        for name, body in (compose_file.data.get("services") or {}).items():
            name = str(name)
            loaded = _load_service(compose_file, name, body, directory, env, cache, ())
            current = services.get(name)
            merged = loaded if current is None else _merge(current, loaded)
            merged.defined_in = [*(current.defined_in if current else []), compose_file.path]
            services[name] = merged
    enabled = {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    services = {n: s for n, s in services.items() if not s.profiles or "*" in enabled or enabled & set(s.profiles)}
    return Project(directory, parsed, services)


MAX_INCLUDE_DEPTH = 8


def _included_services(
    compose_file: ComposeFile, env: Mapping[str, str], cache: dict[Path, ComposeFile], chain: tuple[Path, ...]
) -> dict[str, Service]:
    """The services of the files ``compose_file`` includes, each resolved against its own folder."""
    entries = plain(compose_file.data.get("include") or [])
    if not isinstance(entries, list):
        raise ComposeError(f"{compose_file.path}: `include` must be a list")
    services: dict[str, Service] = {}
    for entry in entries:
        paths = entry.get("path") if isinstance(entry, dict) else entry
        paths = paths if isinstance(paths, list) else [paths]
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise ComposeError(f"{compose_file.path}: an `include` entry needs a `path`")
        files = [Path(os.path.normpath(compose_file.path.parent / interpolate(str(p), env))) for p in paths]
        for path in files:
            if path in chain or len(chain) > MAX_INCLUDE_DEPTH:
                raise ComposeError(f"{compose_file.path}: `include` of {path} loops back or nests too deep")
            if not path.is_file():
                raise ComposeError(f"{compose_file.path}: includes {path}, which does not exist")
        project_dir = entry.get("project_directory") if isinstance(entry, dict) else None
        base = Path(os.path.normpath(compose_file.path.parent / str(project_dir))) if project_dir else files[0].parent
        for path in files:
            if path not in cache:
                cache[path] = read_compose_file(path)
            included = cache[path]
            services.update(_included_services(included, env, cache, (*chain, path)))
            for name, body in (included.data.get("services") or {}).items():
                loaded = _load_service(included, str(name), body, base, env, cache, ())
                current = services.get(str(name))
                merged = loaded if current is None else _merge(current, loaded)
                merged.defined_in = [*(current.defined_in if current else []), path]
                services[str(name)] = merged
    return services


def _load_service(
    compose_file: ComposeFile,
    name: str,
    body: Any,
    base_dir: Path,
    env: Mapping[str, str],
    cache: dict[Path, ComposeFile],
    seen: tuple[tuple[Path, str], ...],
) -> Service:
    if (compose_file.path, name) in seen:
        raise ComposeError(f"{compose_file.path}: service {name!r}: `extends` loops back to itself")
    resets, overrides = _merge_tags(body)
    try:
        expanded = plain(body or {})
    except ComposeError as exc:
        raise ComposeError(f"{compose_file.path}: service {name!r}: {exc}") from None
    raw = {k: v for k, v in expanded.items() if k not in resets}
    raw = _interpolated(raw, env, f"{compose_file.path}: service {name!r}")
    service = _normalise(name, raw, base_dir, compose_file.path)
    service.resets, service.overrides = resets, overrides
    extends = raw.get("extends")
    if extends is None:
        return service
    if isinstance(extends, str):
        extends = {"service": extends}
    if not isinstance(extends, dict) or "service" not in extends:
        raise ComposeError(f"{compose_file.path}: service {name!r}: `extends` needs a `service`")
    parent_name = str(extends["service"])
    parent_file = compose_file
    parent_dir = base_dir
    if extends.get("file"):
        parent_path = Path(os.path.normpath(compose_file.path.parent / str(extends["file"])))
        if parent_path not in cache:
            cache[parent_path] = read_compose_file(parent_path)
        parent_file = cache[parent_path]
        # Paths in an extended file are relative to that file (compose-go resolves them there).
        parent_dir = parent_path.parent
    parent_body = (parent_file.data.get("services") or {}).get(parent_name)
    if parent_body is None:
        raise ComposeError(
            f"{compose_file.path}: service {name!r} extends {parent_name!r}, which {parent_file.path} does not define"
        )
    parent = _load_service(
        parent_file, parent_name, parent_body, parent_dir, env, cache, (*seen, (compose_file.path, name))
    )
    parent.name = name
    return _merge(parent, service)


def _merge_tags(body: Any) -> tuple[set[str], set[str]]:
    """The service keys tagged ``!reset`` and ``!override`` (Compose's merge controls)."""
    resets: set[str] = set()
    overrides: set[str] = set()
    for key, value in body.items() if hasattr(body, "items") else ():
        tag = getattr(getattr(value, "tag", None), "value", None)
        if tag == "!reset":
            resets.add(str(key))
        elif tag == "!override":
            overrides.add(str(key))
    return resets, overrides


def plain(node: Any, budget: list[int] | None = None) -> Any:
    """ruamel's round-trip objects as plain dicts/lists/strings (merge keys ``<<`` resolved).

    Aliases are expanded, at most MAX_NODES nodes in all: past that the file is refused.
    """
    budget = [MAX_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise ComposeError(
            f"more than {MAX_NODES} YAML nodes once aliases are expanded (an alias bomb?); "
            "certkit does not read such a file"
        )
    if hasattr(node, "items"):
        return {str(k): plain(v, budget) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [plain(v, budget) for v in node]
    if node is None or isinstance(node, (bool, int, float)):
        return node
    return str(node)


def _interpolated(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        try:
            return interpolate(value, env)
        except ComposeError as exc:
            raise ComposeError(f"{where}: {exc}") from None
    if isinstance(value, dict):
        return {k: _interpolated(v, env, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolated(v, env, where) for v in value]
    return value


# The shapes the Compose specification allows for the fields certkit reads; anything else
# is refused here, with the file and service named, instead of failing later.
_SHAPES: dict[str, tuple[type, ...]] = {
    "volumes": (list,),
    "environment": (dict, list),
    "command": (str, list),
    "entrypoint": (str, list),
    "build": (str, dict),
    "working_dir": (str,),
    "image": (str,),
    "profiles": (list,),
}
_SHAPE_NAMES: dict[type, str] = {list: "a list", dict: "a mapping", str: "a string"}


def _normalise(name: str, raw: dict[str, Any], base_dir: Path, declared_in: Path) -> Service:
    for key, shapes in _SHAPES.items():
        value = raw.get(key)
        if value is not None and not isinstance(value, shapes):
            allowed = " or ".join(_SHAPE_NAMES[t] for t in shapes)
            raise ComposeError(
                f"{declared_in}: service {name!r}: `{key}` must be {allowed}, not {type(value).__name__} {value!r}"
            )
    service = Service(name)
    if raw.get("image") is not None:
        service.image = str(raw["image"])
    build = raw.get("build")
    if isinstance(build, str):
        build = {"context": build}
    if isinstance(build, dict):
        context = str(build.get("context") or ".")
        if "://" in context or context.startswith("git@"):
            service.build_context = None  # a remote context: nothing on this disk to read
        else:
            service.build_context = _host_path(context, base_dir)
            service.dockerfile = service.build_context / str(build.get("dockerfile") or "Dockerfile")
        if build.get("target"):
            service.build_target = str(build["target"])
        service.build_args = _environment(build.get("args"))
    service.profiles = [str(p) for p in raw.get("profiles") or []]
    if raw.get("working_dir"):
        service.working_dir = str(raw["working_dir"])
    service.command = _words(raw.get("command"))
    service.entrypoint = _words(raw.get("entrypoint"))
    service.environment = _environment(raw.get("environment"))
    for item in raw.get("volumes") or []:
        mount = parse_volume(item, base_dir, declared_in)
        if mount is not None:
            service.mounts[mount.target] = mount
    return service


def _merge(base: Service, over: Service) -> Service:
    """Compose merge rules for the fields certkit reads: scalars replaced, volumes by target, env by key.

    A field the later file tags ``!reset`` is dropped; one tagged ``!override`` replaces the earlier
    value whole instead of being merged with it.
    """

    def pick(key: str, later: Any, earlier: Any) -> Any:
        if key in over.resets:
            return type(earlier)() if isinstance(earlier, (list, dict)) else None
        return later or earlier

    merged = Service(over.name or base.name, list(base.defined_in))
    merged.image = pick("image", over.image, base.image)
    reset_build = "build" in over.resets
    merged.build_context = None if reset_build else over.build_context or base.build_context
    merged.dockerfile = None if reset_build else over.dockerfile or base.dockerfile
    merged.build_target = None if reset_build else over.build_target or base.build_target
    merged.build_args = {} if reset_build else {**base.build_args, **over.build_args}
    merged.profiles = pick("profiles", over.profiles, base.profiles)
    merged.working_dir = pick("working_dir", over.working_dir, base.working_dir)
    merged.command = pick("command", over.command, base.command)
    merged.entrypoint = pick("entrypoint", over.entrypoint, base.entrypoint)
    merged.environment = _merged_map("environment", base.environment, over)
    merged.mounts = _merged_map("volumes", base.mounts, over)
    merged.resets = base.resets | over.resets
    merged.overrides = base.overrides | over.overrides
    return merged


def _merged_map(key: str, earlier: dict[str, Any], over: Service) -> dict[str, Any]:
    later: dict[str, Any] = over.environment if key == "environment" else over.mounts
    if key in over.resets:
        return {}
    if key in over.overrides:
        return dict(later)
    return {**earlier, **later}


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(str(value))
    except ValueError:
        return str(value).split()


def _environment(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    result: dict[str, str] = {}
    for item in value or []:
        key, _, val = str(item).partition("=")
        result[key] = val
    return result


def _host_path(text: str, base_dir: Path) -> Path:
    return Path(os.path.normpath(base_dir / os.path.expanduser(text)))


def split_short_volume(text: str) -> list[str]:
    """Split ``SRC:TARGET[:MODE]`` on colons, but not on those inside ``${VAR:-default}``."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and text[i + 1 : i + 2] == "{":
            depth += 1
            current.append("${")
            i += 2
            continue
        if char == "}" and depth:
            depth -= 1
        if char == ":" and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def parse_volume(item: Any, base_dir: Path, declared_in: Path) -> Mount | None:
    """A short (``./src:/target:ro``) or long (mapping) volume entry, already interpolated."""
    if isinstance(item, str):
        parts = split_short_volume(item)
        if len(parts) == 1:
            return Mount("volume", "", parts[0], False, declared_in)
        source, target = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) > 2 else []
        bind = source.startswith((".", "/", "~"))
        return Mount(
            "bind" if bind else "volume",
            str(_host_path(source, base_dir)) if bind else source,
            target,
            "ro" in mode,
            declared_in,
        )
    if isinstance(item, dict) and item.get("target"):
        kind = str(item.get("type") or "volume")
        source = str(item.get("source") or "")
        if kind == "bind" and source:
            source = str(_host_path(source, base_dir))
        read_only = item.get("read_only") in (True, "true", "True")
        return Mount(kind, source, str(item["target"]), read_only, declared_in)
    return None
