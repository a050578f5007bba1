"""`certkit trust`: files for the Docker CLI and the notary client, the hosts line, and the real notary client."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certkit.deploy.trust import (
    DEFAULT_SERVER,
    HOSTS_COMMENT,
    Server,
    TrustResult,
    docker_config_dir,
    install_trust,
    layout_root,
    parse_server,
    resolves,
)
from certkit.errors import ClientConfigError, FilesystemError, MaterialError, UsageError
from certkit.profile import load_profile
from tests.cli_helpers import run_cli
from tests.notary_harness import NotaryServices, notary_services, run_client

NOW = datetime.now(timezone.utc)
SERVER = parse_server(DEFAULT_SERVER)


def never(host: str, port: int) -> bool:
    return False


def always(host: str, port: int) -> bool:
    return True


@pytest.fixture
def initialized(fresh_layout_template: Path) -> Path:
    """The session's `certkit init` layout; trust only reads it."""
    return fresh_layout_template


@pytest.fixture
def root(initialized: Path) -> Path:
    return initialized / "fixtures" / "root-ca.crt"


def _install(root: Path, home: Path, server: Server = SERVER, **kwargs: Any) -> TrustResult:
    return install_trust(
        root,
        server,
        home=home,
        docker_config=home / ".docker",
        now=NOW,
        resolver=kwargs.pop("resolver", never),
        **kwargs,
    )


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


_cli = run_cli


# --- the server URL -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url", "host", "port", "netloc"),
    [
        ("https://notary-server:4443", "https://notary-server:4443", "notary-server", 4443, "notary-server:4443"),
        ("https://notary-server:4443/", "https://notary-server:4443", "notary-server", 4443, "notary-server:4443"),
        (
            "notary.example.com:443",
            "https://notary.example.com:443",
            "notary.example.com",
            443,
            "notary.example.com:443",
        ),
        ("https://127.0.0.1:4443", "https://127.0.0.1:4443", "127.0.0.1", 4443, "127.0.0.1:4443"),
        ("https://[::1]:4443", "https://[::1]:4443", "::1", 4443, "[::1]:4443"),
    ],
)
def test_parse_server(value: str, url: str, host: str, port: int, netloc: str) -> None:
    assert parse_server(value) == Server(url, host, port, netloc)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://notary-server", "give the port explicitly"),
        ("https://:4443", "no host name"),
        ("http://notary-server:4443", "use an https:// URL"),
        ("https://notary-server:99999", "not a URL"),
        ("https://notary-server:port", "not a URL"),
        ("https://notary-server:4443/v2/", "only https://HOST:PORT"),
        ("https://user@notary-server:4443", "only https://HOST:PORT"),
    ],
)
def test_parse_server_refuses(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_server(value)


# --- installing -----------------------------------------------------------------------------


def test_installs_for_docker_and_notary(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _install(root, home)
    docker_ca = home / ".docker" / "tls" / "notary-server:4443" / "ca.crt"
    notary_copy = home / ".notary" / "certkit-root-ca.crt"
    assert docker_ca.read_bytes() == root.read_bytes() == notary_copy.read_bytes()
    config = json.loads((home / ".notary" / "config.json").read_text())
    assert config == {"remote_server": {"url": "https://notary-server:4443", "root_ca": str(notary_copy)}}
    assert stat.S_IMODE((home / ".notary").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".docker").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".notary" / "config.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(docker_ca.stat().st_mode) == 0o644
    assert result.docker_ca.action == result.notary_root.action == result.notary_config.action == "created"
    assert result.exports == [
        "export DOCKER_CONTENT_TRUST=1",
        "export DOCKER_CONTENT_TRUST_SERVER=https://notary-server:4443",
    ]
    assert result.root_subject.startswith("CN=Notary Testing CA")
    assert not result.resolves and result.hosts_line == "127.0.0.1 notary-server" and result.hosts_file is None


def test_second_run_changes_nothing(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _install(root, home)
    before = {p: p.stat().st_mtime_ns for p in home.rglob("*") if p.is_file()}
    again = _install(root, home)
    assert not again.changed
    assert {p: p.stat().st_mtime_ns for p in home.rglob("*") if p.is_file()} == before


def test_merges_into_an_existing_notary_config(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = home / ".notary" / "config.json"
    config.parent.mkdir(parents=True)
    original = {
        "trust_dir": "/srv/trust",
        "trust_pinning": {"disable_tofu": True},
        "remote_server": {"url": "https://old:1", "root_ca": "old.crt", "skipTLSVerify": False},
    }
    config.write_text(json.dumps(original))
    os.chmod(config, 0o640)
    os.chmod(config.parent, 0o755)
    result = _install(root, home)
    merged = json.loads(config.read_text())
    assert merged == {
        "trust_dir": "/srv/trust",
        "trust_pinning": {"disable_tofu": True},
        "remote_server": {
            "url": "https://notary-server:4443",
            "skipTLSVerify": False,
            "root_ca": str(home / ".notary" / "certkit-root-ca.crt"),
        },
    }
    assert result.notary_config.action == "updated"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # the owner's choice is kept
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o755  # an existing folder is not re-moded


def test_an_up_to_date_config_keeps_its_formatting(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _install(root, home)
    config = home / ".notary" / "config.json"
    compact = json.dumps(json.loads(config.read_text()), separators=(",", ":"))
    config.write_text(compact)
    assert _install(root, home).notary_config.action == "kept"
    assert config.read_text() == compact


def test_docker_config_env_and_server_name_the_folder(root: Path, tmp_path: Path) -> None:
    assert docker_config_dir(tmp_path, {"DOCKER_CONFIG": "/x/docker"}) == Path("/x/docker")
    assert docker_config_dir(tmp_path, {}) == tmp_path / ".docker"
    install_trust(
        root,
        parse_server("https://localhost:14443"),
        home=tmp_path / "home",
        docker_config=tmp_path / "dockercfg",
        now=NOW,
        resolver=never,
    )
    assert (tmp_path / "dockercfg" / "tls" / "localhost:14443" / "ca.crt").read_bytes() == root.read_bytes()


# --- bad input: one error, nothing changed --------------------------------------------------


def _assert_nothing_written(home: Path, before: dict[str, bytes]) -> None:
    assert _tree(home) == before
    assert not (home / ".docker").exists()


def test_invalid_existing_config_is_refused_untouched(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".notary").mkdir(parents=True)
    (home / ".notary" / "config.json").write_text('{"trust_dir": "x",}')
    before = _tree(home)
    with pytest.raises(ClientConfigError, match="not valid JSON") as failure:
        _install(root, home)
    assert failure.value.exit_code == 18
    _assert_nothing_written(home, before)


@pytest.mark.parametrize("content", ['["a list"]', '{"remote_server": "https://x:1"}'])
def test_config_of_the_wrong_shape_is_refused(root: Path, tmp_path: Path, content: str) -> None:
    home = tmp_path / "home"
    (home / ".notary").mkdir(parents=True)
    (home / ".notary" / "config.json").write_text(content)
    before = _tree(home)
    with pytest.raises(ClientConfigError, match="not a JSON object"):
        _install(root, home)
    _assert_nothing_written(home, before)


def test_read_only_config_is_refused_untouched(root: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = home / ".notary" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"trust_dir": "x"}')
    config.chmod(0o444)  # refused even for root, who could write it anyway
    before = _tree(home)
    with pytest.raises(FilesystemError, match="read-only") as failure:
        _install(root, home)
    assert failure.value.exit_code == 13
    _assert_nothing_written(home, before)


def test_root_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "root-ca.crt"
    bogus.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    home = tmp_path / "home"
    with pytest.raises(MaterialError, match="not a certificate") as failure:
        _install(bogus, home)
    assert failure.value.exit_code == 12
    assert not home.exists()


def test_leaf_certificate_is_refused_as_root(initialized: Path, tmp_path: Path) -> None:
    with pytest.raises(MaterialError, match="CN=notary-server.*is not a CA certificate"):
        _install(initialized / "fixtures" / "notary-server.crt", tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_expired_root_is_refused(root: Path, tmp_path: Path) -> None:
    later = datetime(2100, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(MaterialError, match="expired on .*run `certkit renew` first"):
        install_trust(root, SERVER, home=tmp_path / "home", docker_config=tmp_path / "d", now=later, resolver=never)
    assert not (tmp_path / "home").exists()


def test_der_root_is_installed_as_pem(root: Path, tmp_path: Path) -> None:
    der = tmp_path / "root.der"
    der.write_bytes(x509.load_pem_x509_certificate(root.read_bytes()).public_bytes(serialization.Encoding.DER))
    _install(der, tmp_path / "home")
    assert (tmp_path / "home" / ".notary" / "certkit-root-ca.crt").read_bytes() == root.read_bytes()


# --- the host name and /etc/hosts ------------------------------------------------------------


def test_resolver_uses_the_system() -> None:
    assert resolves("localhost", 443)


def test_hosts_line_is_added_once(root: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost")  # no final newline
    hosts.chmod(0o644)
    first = _install(root, tmp_path / "home", edit_hosts=True, hosts_file=hosts)
    assert first.hosts_file is not None and first.hosts_file.action == "updated"
    assert first.hosts_line is None
    expected = f"127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 notary-server  {HOSTS_COMMENT}\n"
    assert hosts.read_text() == expected
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o644
    second = _install(root, tmp_path / "home", edit_hosts=True, hosts_file=hosts)
    assert second.hosts_file is not None and second.hosts_file.action == "kept"
    assert hosts.read_text() == expected


def test_bind_mounted_hosts_file_is_appended_in_place(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a container /etc/hosts is a bind mount and rename() over it fails with EBUSY.
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == hosts:
            raise OSError(errno.EBUSY, "Device or resource busy")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    result = _install(root, tmp_path / "home", edit_hosts=True, hosts_file=hosts)
    assert result.hosts_file is not None and result.hosts_file.action == "updated"
    assert hosts.read_text() == f"127.0.0.1 localhost\n127.0.0.1 notary-server  {HOSTS_COMMENT}\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".hosts")] == []  # no temp file left


def test_hosts_entry_with_another_address_is_respected(root: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.5   Notary-Server notaryserver  # lab machine\n")
    result = _install(root, tmp_path / "home", edit_hosts=True, hosts_file=hosts)
    assert result.hosts_file is not None and result.hosts_file.action == "kept"
    assert hosts.read_text() == "10.0.0.5   Notary-Server notaryserver  # lab machine\n"


def test_hosts_untouched_when_the_name_resolves(root: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    result = _install(root, tmp_path / "home", edit_hosts=True, hosts_file=hosts, resolver=always)
    assert result.resolves and result.hosts_line is None
    assert hosts.read_text() == "127.0.0.1 localhost\n"


def test_ip_server_needs_no_hosts_line(root: Path, tmp_path: Path) -> None:
    result = _install(root, tmp_path / "home", parse_server("https://127.0.0.1:4443"))
    assert result.resolves and result.hosts_line is None


def test_read_only_hosts_file_is_refused_before_any_write(root: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    hosts.chmod(0o444)
    with pytest.raises(FilesystemError, match="read-only"):
        _install(root, tmp_path / "home", edit_hosts=True, hosts_file=hosts)
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    assert not (tmp_path / "home").exists()


# --- the command ----------------------------------------------------------------------------


def test_cli_output_can_be_evaluated(
    initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))  # no --home: $HOME is honoured
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    code, out, err = _cli(
        capsys,
        "trust",
        str(initialized),
        "--server",
        "https://notary-server:4443",
        "--hosts",
        "--hosts-file",
        str(tmp_path / "hosts"),
    )
    assert code == 0, err
    assert (home / ".docker" / "tls" / "notary-server:4443" / "ca.crt").exists()
    assert (tmp_path / "hosts").read_text().startswith("127.0.0.1 notary-server")
    shell = subprocess.run(
        ["/bin/sh", "-c", 'eval "$1"; echo "$DOCKER_CONTENT_TRUST $DOCKER_CONTENT_TRUST_SERVER"', "sh", out],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout == "1 https://notary-server:4443\n"


def test_cli_prints_the_hosts_line_when_the_name_does_not_resolve(
    initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(
        capsys,
        "trust",
        str(initialized),
        "--home",
        str(tmp_path / "home"),
        "--server",
        "https://certkit-test-unresolvable.invalid:4443",
    )
    assert code == 0, err
    assert "#   127.0.0.1 certkit-test-unresolvable.invalid" in out.splitlines()


def test_cli_json(initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(
        capsys,
        "trust",
        str(initialized),
        "--home",
        str(tmp_path / "home"),
        "--docker-config",
        str(tmp_path / "d"),
        "--server",
        "https://127.0.0.1:4443",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["docker_ca"] == {"path": str(tmp_path / "d" / "tls" / "127.0.0.1:4443" / "ca.crt"), "action": "created"}
    assert data["changed"] is True and data["hosts_line"] is None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--server", "https://notary-server"], 2, "give the port explicitly"),
        (["--server", "notary-server:"], 2, "give the port explicitly"),
        (["--root", "/etc/hostname"], 12, "not a certificate"),
        (["--root", "/nonexistent/root.crt"], 12, "cannot read the root certificate"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(
    initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    home = tmp_path / "home"
    got, out, err = _cli(capsys, "trust", str(initialized), "--home", str(home), *args)
    assert got == code
    assert out == "" and err.count("\n") == 1 and err.startswith("certkit: error: ") and message in err
    assert not home.exists()


def test_cli_refuses_a_folder_without_a_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "trust", str(tmp_path), "--home", str(tmp_path / "home"))
    assert code == 10 and "not a Notary checkout" in err and "fixtures/root-ca.crt" in err
    assert not (tmp_path / "home").exists()


def test_layout_root(initialized: Path) -> None:
    assert layout_root(initialized, load_profile()) == initialized / "fixtures" / "root-ca.crt"


# A layout that is not Notary's: its root lives in pki/ca/, and nothing is at fixtures/root-ca.crt.
_ELSEWHERE = """
name = "elsewhere"
[certificates.site-ca]
issuer = "self"
ca = true
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "Elsewhere Root CA" }
validity = "3650d"
key_usage = ["key_cert_sign", "crl_sign"]
cert_file = "pki/ca/root.crt"
[certificates.web]
issuer = "site-ca"
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "web.example" }
validity = "90d"
sans = ["DNS:web.example"]
cert_file = "pki/web.crt"
key_file = "pki/web.key"
"""


def test_cli_trust_profile_finds_the_root_where_the_profile_puts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "elsewhere.toml"
    profile.write_text(_ELSEWHERE)
    layout = tmp_path / "site"
    code, _, err = _cli(capsys, "init", "--profile", str(profile), str(layout))
    assert code == 0, err
    home = tmp_path / "home"
    # Without --profile the built-in notary profile looks for fixtures/root-ca.crt: not there.
    code, out, err = _cli(capsys, "trust", str(layout), "--home", str(home))
    assert code == 10 and out == "" and "fixtures/root-ca.crt" in err and "--profile" in err
    assert not home.exists()

    code, out, err = _cli(capsys, "trust", str(layout), "--profile", str(profile), "--home", str(home), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["root"] == str(layout / "pki" / "ca" / "root.crt")
    assert report["root_subject"] == "CN=Elsewhere Root CA"
    installed = home / ".docker" / "tls" / "notary-server:4443" / "ca.crt"
    assert report["docker_ca"] == {"path": str(installed), "action": "created"}
    assert installed.read_bytes() == (layout / "pki" / "ca" / "root.crt").read_bytes()
    assert (home / ".notary" / "certkit-root-ca.crt").read_bytes() == installed.read_bytes()


def test_cli_trust_profile_without_a_ca_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "leaf-only.toml"
    profile.write_text(
        '[certificates.solo]\nissuer = "self"\nkey = { type = "ecdsa" }\nsubject = { CN = "solo" }\n'
        'validity = "30d"\ncert_file = "solo.crt"\n'
    )
    code, out, err = _cli(capsys, "trust", str(tmp_path), "--profile", str(profile), "--home", str(tmp_path / "home"))
    assert code == 10 and out == "" and err.count("\n") == 1 and "has no self-signed CA to trust" in err
    assert "--root FILE" in err and not (tmp_path / "home").exists()


def test_cli_invalid_config_exit_code(initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "home" / ".notary" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text("{oops")
    code, out, err = _cli(capsys, "trust", str(initialized), "--home", str(tmp_path / "home"))
    assert code == 18 and out == "" and err.count("\n") == 1
    assert config.read_text() == "{oops"


# --- end to end with the real notary client --------------------------------------------------


def _notary_steps(workdir: Path, services: NotaryServices, config: Path, gun: str) -> subprocess.CompletedProcess[str]:
    """init, add, publish, list with the client config only; the first failing step's result, or list's."""
    payload = workdir / "payload.txt"
    payload.write_text("certkit trust end-to-end payload\n")
    result = None
    for step in (["init", gun], ["add", gun, "v1", str(payload)], ["publish", gun], ["list", gun]):
        # root_ca is unused when a config is given: the config alone decides what is trusted.
        result = run_client(workdir, services, Path("/nonexistent"), *step, config=config)
        if result.returncode != 0:
            return result
    assert result is not None
    return result


@pytest.mark.e2e
def test_real_notary_client_trusts_the_server_after_certkit_trust(
    initialized: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "notary"
    shutil.copytree(initialized, layout)
    home = tmp_path / "home"
    config = home / ".notary" / "config.json"
    config.parent.mkdir(parents=True)
    with notary_services(layout, tls_dir="fixtures") as services:
        # What a user has before certkit trust: a client config naming the server, no root_ca.
        config.write_text(
            json.dumps({"trust_dir": str(home / ".notary" / "trust"), "remote_server": {"url": services.server_url}})
        )
        before = _notary_steps(tmp_path, services, config, "example.com/before")
        assert before.returncode != 0
        assert "x509: certificate signed by unknown authority" in before.stdout + before.stderr

        code, out, err = _cli(
            capsys,
            "trust",
            str(layout),
            "--server",
            services.server_url,
            "--home",
            str(home),
            "--docker-config",
            str(home / ".docker"),
        )
        assert code == 0, err
        after = _notary_steps(tmp_path, services, config, "example.com/after")
        assert after.returncode == 0, after.stdout + after.stderr
        assert "v1" in after.stdout.split()
    merged = json.loads(config.read_text())
    assert merged["trust_dir"] == str(home / ".notary" / "trust")  # the user's key survived the merge
    docker_ca = home / ".docker" / "tls" / f"localhost:{services.server_port}" / "ca.crt"
    assert docker_ca.read_bytes() == (home / ".notary" / "certkit-root-ca.crt").read_bytes()


# --- printed text is eval'ed: data from outside must never become a command ----------------


def test_root_subject_and_path_cannot_inject_commands_into_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from tests.certfactory import make_ca

    # A root CA whose CN holds a newline, kept in a folder whose name holds one too (the shell
    # below runs in tmp_path, so a forged `touch PWNED...` would create the file there).
    ca = make_ca("Evil CA\ntouch PWNED-cn #", NOW - timedelta(days=1), NOW + timedelta(days=30))
    folder = tmp_path / "x\ntouch PWNED-path #"
    folder.mkdir()
    root_file = ca.write(folder / "root-ca.crt")
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    code, out, err = _cli(
        capsys,
        "trust",
        "--root",
        str(root_file),
        "--home",
        str(tmp_path / "home"),
        "--server",
        "https://notary-server:4443",
    )
    assert code == 0, err
    shell = subprocess.run(
        ["/bin/sh", "-c", 'eval "$1"; echo "$DOCKER_CONTENT_TRUST $DOCKER_CONTENT_TRUST_SERVER"', "sh", out],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == "1 https://notary-server:4443\n"
    assert not list(tmp_path.glob("PWNED*")), "a command hidden in the root certificate ran"
    # The information is still there, visibly escaped.
    assert "Evil CA\\ntouch PWNED-cn #" in out


@pytest.mark.parametrize(
    "value", ["https://a b:4443", "https://$(id):4443", "https://x;reboot:4443", "https://a`id`:4443"]
)
def test_server_host_must_be_a_host_name(value: str) -> None:
    with pytest.raises(UsageError, match="not a host name or IP address"):
        parse_server(value)


def test_the_hosts_line_names_the_hosts_file_given(root: Path, tmp_path: Path) -> None:
    """`--hosts-file FILE` without `--hosts`: the line to add is said for FILE, not /etc/hosts (review)."""
    from certkit.render.trust import trust_text

    hosts = tmp_path / "my-hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    result = _install(root, tmp_path / "home", hosts_file=hosts)
    assert result.hosts_line == "127.0.0.1 notary-server" and result.hosts_file is None
    assert f"add this line to {hosts} " in trust_text(result) and "/etc/hosts" not in trust_text(result)
