"""What a Dockerfile puts where: the WORKDIR and the build-context copies of the stage compose builds.

Notary's Dockerfiles copy the checkout into the image and run from it, spelling the folder
through variables (``ENV NOTARYPKG github.com/theupdateframework/notary`` in the legacy space
form, then ``COPY . /go/src/${NOTARYPKG}`` and ``WORKDIR /go/src/${NOTARYPKG}``); the
``*.minimal.Dockerfile`` images are multi-stage and copy ``fixtures/`` from the build stage to
``/var/lib/notary``.  To know which container path shows which host file, certkit resolves
them as the builder does: ENV in both forms, ARG defaults overridden by compose's
``build.args``, global ARGs before the first FROM, ``FROM stage AS name`` chains (a stage built
from an earlier one inherits its ENV, WORKDIR and files) and the ``build.target`` stage.

Parsing (line continuations, comments, the escape directive) is dockerfile-parse's, a
maintained parser from the OpenShift build tooling; certkit does the variable substitution
itself because the library silently turns an unset variable into "", while a folder
certkit cannot name must be an error that says which line and why.

Only what decides where a service reads its files is judged: the WORKDIR, the COPY/ADD
destinations and the stages they come from.  An ENV or ARG that refers to a variable the base
image sets (``ENV PATH /osxcross/target/bin:$PATH`` in Notary v0.3.0 to v0.5.0's client image:
PATH comes from ``golang:...``, which certkit cannot see) is kept as unresolved, and is an error
only when one of those instructions uses it.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from certkit.bounded import MIB, TooDeep, parse_nested, read_input
from certkit.errors import ComposeError
from certkit.paths import inside, under

MAX_DOCKERFILE_BYTES = MIB  # Dockerfiles are small; a bigger "Dockerfile" is not one


@dataclass(frozen=True)
class Copy:
    """The build context's ``host`` path (file or folder) appears in the image at ``container``."""

    container: str
    host: Path


@dataclass(frozen=True)
class ImageFacts:
    """What certkit knows of the image a compose service builds."""

    dockerfile: Path | None  # None: the user said where the checkout is (--container-dir)
    stage: str  # the stage built ("" when unnamed)
    workdir: str | None  # None: never set here, and the base image's is unknown
    copies: tuple[Copy, ...]  # in build order; later copies win over earlier ones

    def host_path(self, container: str) -> Path | None:
        """The host file a container path shows as of build time, or None when not from the context."""
        best: Copy | None = None
        for copy in self.copies:
            if under(container, copy.container) and (best is None or len(copy.container) >= len(best.container)):
                best = copy
        if best is None:
            return None
        if container == best.container:
            return best.host
        return best.host / os.path.relpath(container, best.container)


@dataclass(frozen=True)
class _Unresolved:
    """The value of an ENV or ARG that names a variable certkit cannot see (one the base image sets),
    with the refusal to give if a WORKDIR, COPY or ADD ever needs it."""

    why: str


# None: an ARG declared without a value; _Unresolved: a value certkit cannot work out.
_Value = str | None | _Unresolved


@dataclass
class _Stage:
    name: str
    env: dict[str, str | _Unresolved] = field(default_factory=dict)
    args: dict[str, _Value] = field(default_factory=dict)
    workdir: str | None = None
    copies: list[Copy] = field(default_factory=list)


def read_image(
    dockerfile: Path, context: Path, *, target: str | None = None, build_args: Mapping[str, str] | None = None
) -> ImageFacts:
    """Resolve ``dockerfile`` (built with ``context``) up to the ``target`` stage, or the last one."""
    from dockerfile_parse import DockerfileParser

    text = _read(dockerfile)
    parser = DockerfileParser(fileobj=io.StringIO(text), env_replace=False)
    resolver = _Resolver(dockerfile, context, dict(build_args or {}))
    for instruction in parser.structure:
        resolver.step(instruction["instruction"], instruction["value"], int(instruction["startline"]) + 1)
    return resolver.result(target)


def _read(path: Path) -> str:
    if not os.path.lexists(path):
        raise ComposeError(f"{path}: the Dockerfile named under `build:` does not exist")
    data = read_input(path, MAX_DOCKERFILE_BYTES, ComposeError, "Dockerfile")
    return data.decode("utf-8", errors="replace")


class _Resolver:
    def __init__(self, dockerfile: Path, context: Path, build_args: dict[str, str]) -> None:
        self.dockerfile = dockerfile
        self.context = Path(os.path.normpath(context))
        self.build_args = build_args
        self.global_args: dict[str, _Value] = {}
        self.stages: list[_Stage] = []
        self.by_name: dict[str, _Stage] = {}

    # -- instructions ----------------------------------------------------------------------

    def step(self, instruction: str, value: str, line: int) -> None:
        where = f"{self.dockerfile}:{line}"
        if instruction == "FROM":
            self._from(value, where)
        elif instruction == "ARG":
            self._arg(value, where)
        elif not self.stages:
            return  # only ARG may precede the first FROM; the builder refuses anything else itself
        elif instruction == "ENV":
            self._env(value, where)
        elif instruction == "WORKDIR":
            stage = self.stages[-1]
            folder = _dequote(self._substitute(value.strip(), where, "WORKDIR"))
            stage.workdir = self._absolute(folder, where, "WORKDIR")
        elif instruction in ("COPY", "ADD"):
            self._copy(instruction, value, where)

    def result(self, target: str | None) -> ImageFacts:
        if not self.stages:
            raise ComposeError(f"{self.dockerfile}: no FROM instruction; not a Dockerfile")
        if target is not None:
            stage = self.by_name.get(target.lower())
            if stage is None:
                known = ", ".join(sorted(self.by_name)) or "none"
                raise ComposeError(
                    f"{self.dockerfile}: the build target stage {target!r} does not exist "
                    f"(stages named here: {known}); fix `build.target`"
                )
        else:
            stage = self.stages[-1]
        return ImageFacts(self.dockerfile, stage.name, stage.workdir, tuple(stage.copies))

    def _from(self, value: str, where: str) -> None:
        words = [w for w in value.split() if not w.startswith("--")]
        if not words:
            raise ComposeError(f"{where}: FROM names no image")
        image = self._substitute(words[0], where, "FROM", scope=self._global_scope())
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
        parent = self.by_name.get(image.lower())
        stage = _Stage(name)
        if parent is not None:
            # FROM an earlier stage: its ENV, WORKDIR and files carry over; ARGs do not.
            stage.env = dict(parent.env)
            stage.workdir = parent.workdir
            stage.copies = list(parent.copies)
        self.stages.append(stage)
        if name:
            self.by_name[name] = stage

    def _arg(self, value: str, where: str) -> None:
        for word in _words(value):
            key, eq, default = word.partition("=")
            if not key:
                continue
            if not self.stages:
                given = self.build_args.get(key)
                self.global_args[key] = (
                    given
                    if given is not None
                    else (self._lazy(default, where, "ARG", scope=self._global_scope()) if eq else None)
                )
                continue
            stage = self.stages[-1]
            if key in self.build_args:
                stage.args[key] = self.build_args[key]
            elif eq:
                stage.args[key] = self._lazy(default, where, "ARG")
            elif key in self.global_args:
                stage.args[key] = self.global_args[key]  # `ARG NAME` in a stage takes the global default
            else:
                stage.args[key] = None

    def _env(self, value: str, where: str) -> None:
        stage = self.stages[-1]
        words = _words(value)
        if words and "=" not in words[0]:
            # The legacy form `ENV KEY VALUE`: everything after the first word is the value.
            key, _, rest = value.strip().partition(" ")
            stage.env[key] = self._lazy(rest.strip(), where, "ENV")
            return
        pending: dict[str, str | _Unresolved] = {}
        for word in words:
            key, eq, raw = word.partition("=")
            if not eq:
                raise ComposeError(f"{where}: ENV {word!r} is not KEY=VALUE")
            # All pairs of one ENV line see the values from before the line, as in the builder.
            pending[key] = self._lazy(raw, where, "ENV")
        stage.env.update(pending)

    def _copy(self, instruction: str, value: str, where: str) -> None:
        stage = self.stages[-1]
        words, source_stage = self._copy_words(value, where, instruction)
        if words is None or len(words) < 2:
            return
        *sources, dest = [self._substitute(w, where, instruction) for w in words]
        if source_stage is None and any(s.startswith(("http://", "https://", "git@")) for s in sources):
            return  # a download, not the build context
        if not dest.startswith("/") and stage.workdir is None:
            return  # relative to a WORKDIR of the base image certkit does not know
        target_dir = dest.endswith("/") or len(sources) > 1
        dest_abs = self._absolute(dest, where, instruction)
        for source in sources:
            if any(ch in source for ch in "*?["):
                continue  # a wildcard: the files it picks are not a folder certkit can mount
            host = self._source_host(source, source_stage)
            if host is None:
                continue
            if host.is_dir() or source in (".", "./"):
                stage.copies.append(Copy(dest_abs, host))  # a folder's contents land in dest
            else:
                container = str(PurePosixPath(dest_abs) / host.name) if target_dir else dest_abs
                stage.copies.append(Copy(container, host))

    def _copy_words(self, value: str, where: str, instruction: str) -> tuple[list[str] | None, _Stage | None]:
        text = value.strip()
        flags: dict[str, str] = {}
        while text.startswith("--"):
            flag, _, text = text.partition(" ")
            key, _, flag_value = flag[2:].partition("=")
            flags[key] = flag_value
            text = text.lstrip()
        if text.startswith("<<"):
            return None, None  # a heredoc: inline content, not context files
        if text.startswith("["):
            try:
                parsed = parse_nested(lambda: json.loads(text))
            except TooDeep as exc:
                raise ComposeError(f"{where}: {instruction}: its JSON list is {exc}") from None
            except ValueError:
                raise ComposeError(f"{where}: {instruction} {text}: not a valid JSON list") from None
            words = [str(w) for w in parsed]
        else:
            words = _words(text)
            words = [_dequote(w) for w in words]
        source_stage: _Stage | None = None
        if "from" in flags:
            name = self._substitute(flags["from"], where, instruction).lower()
            if name.isdigit() and int(name) < len(self.stages) - 1:
                source_stage = self.stages[int(name)]
            else:
                source_stage = self.by_name.get(name)
            if source_stage is None:
                return None, None  # --from another image: not from this checkout
        return words, source_stage

    def _source_host(self, source: str, source_stage: _Stage | None) -> Path | None:
        if source_stage is not None:
            return ImageFacts(
                self.dockerfile, source_stage.name, source_stage.workdir, tuple(source_stage.copies)
            ).host_path(self._absolute_in(source, source_stage.workdir) or "")
        host = Path(os.path.normpath(self.context / source.lstrip("/")))
        if not inside(host, self.context):
            return None  # outside the context: the builder refuses it
        return host

    # -- variables -------------------------------------------------------------------------

    def _global_scope(self) -> dict[str, _Value]:
        return dict(self.global_args)

    def _scope(self) -> dict[str, _Value]:
        stage = self.stages[-1]
        return {**stage.args, **stage.env}  # ENV wins over ARG of the same name

    def _substitute(self, text: str, where: str, instruction: str, scope: Mapping[str, _Value] | None = None) -> str:
        values = self._scope() if scope is None else scope
        return _substitute(text, values, f"{where}: {instruction} {text.strip()}")

    def _lazy(
        self, text: str, where: str, instruction: str, scope: Mapping[str, _Value] | None = None
    ) -> str | _Unresolved:
        """An ENV or ARG value: resolved, or kept unresolved with the reason (see the module doc).

        The builder takes such a value from the base image (PATH, GOPATH, ...); it matters to
        certkit only when a WORKDIR or COPY/ADD destination uses it, and is refused there.
        """
        try:
            return _dequote(self._substitute(text, where, instruction, scope))
        except ComposeError as exc:
            # Shown inside the refusal of the line that needs it, which names the file already.
            return _Unresolved(str(exc).replace(f"{self.dockerfile}:", "line ", 1))

    def _absolute(self, path: str, where: str, instruction: str) -> str:
        resolved = self._absolute_in(path, self.stages[-1].workdir)
        if resolved is None:
            raise ComposeError(
                f"{where}: {instruction} {path} is relative to the base image's working folder, "
                "which certkit cannot see; make it absolute, or give --container-dir SERVICE=DIR"
            )
        return resolved

    @staticmethod
    def _absolute_in(path: str, workdir: str | None) -> str | None:
        if path.startswith("/"):
            return os.path.normpath(path)
        if workdir is None:
            return None
        return os.path.normpath(str(PurePosixPath(workdir) / path))


_VARIABLE = re.compile(r"\\\$|\$(?:\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*")


def _substitute(text: str, values: Mapping[str, _Value], where: str) -> str:
    """The builder's substitution ($VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}, \\$), refusing unset variables.

    The builder would substitute "" for an unset variable and build a different folder than the
    author meant; certkit must name a real folder, so it stops and says which variable is unset.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "\\$":
            return "$"
        body = match.group("braced") if match.group("braced") is not None else match.group("plain")
        name_match = _NAME.match(body)
        if name_match is None:
            raise ComposeError(f"{where}: ${{{body}}} is not a variable reference")
        name, rest = name_match.group(), body[name_match.end() :]
        value = values.get(name)
        if isinstance(value, _Unresolved):
            # Only now does it matter: this instruction decides where the service's files are.
            raise ComposeError(f"{where}: the variable {name} has no value certkit can work out ({value.why})")
        if rest.startswith(":-"):
            return value if value else rest[2:]
        if rest.startswith(":+"):
            return rest[2:] if value else ""
        if rest:
            raise ComposeError(f"{where}: ${{{body}}}: only ${{VAR}}, ${{VAR:-word}} and ${{VAR:+word}} are supported")
        if value is None:
            why = (
                "is declared by an ARG with no default, and compose's build.args does not set it"
                if name in values
                else "is not set by any ENV or ARG before this line"
            )
            raise ComposeError(
                f"{where}: the variable {name} {why}; set it (ENV/ARG default or build.args "
                "in the compose file), or give --container-dir SERVICE=DIR"
            )
        return value

    return _VARIABLE.sub(replace, text)


def _words(text: str) -> list[str]:
    from dockerfile_parse.util import WordSplitter

    return [str(w) for w in WordSplitter(text).split(dequote=False)]


def _dequote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
