"""Property-based fuzzing (hypothesis) of everything certkit reads from a checkout.

The property: whatever the bytes, certkit ends in one of its documented errors (a CertkitError,
which the CLI prints as one line with its exit code) or succeeds, and never writes outside the
folder.  A short run is part of `make test`; `make test-slow` runs each with many more cases
(CERTKIT_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certkit.certificates import NotACertificate, parse_certificates
from certkit.compose.apply import prepare
from certkit.compose.dockerfiles import read_image
from certkit.compose.model import Options
from certkit.errors import CertkitError
from certkit.profile import load_profile

EXAMPLES = int(os.environ.get("CERTKIT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("CERTKIT_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text that looks like the inputs: YAML/TOML/Dockerfile punctuation, paths, variables, line breaks.
ALPHABET = string.ascii_letters + string.digits + " \t\n:-_./${}[]\"'!*&#=,|>\\@%~\r\x85\u2028"
text = st.text(alphabet=ALPHABET, max_size=400)
lines = st.lists(
    st.sampled_from(
        [
            "services:",
            "  server:",
            "    build: .",
            "    image: x",
            "    command: notary-server -config=fixtures/server-config.json",
            "    volumes:",
            "      - ./fixtures:/app/fixtures",
            "      - type: bind",
            "        source: ./fixtures",
            "        target: /app",
            "    environment: [A=${B:-c}]",
            "x-a: &a [1, 2]",
            "    labels: *a",
            "include: [other.yml]",
            "    profiles: [p]",
            "    depends_on: !reset []",
            "    volumes: !override",
            "  <<: *a",
            "---",
            "\t",
            "{",
            "]",
        ]
    ),
    max_size=14,
).map("\n".join)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "fixtures").mkdir(parents=True)
    (root / "fixtures/server-config.json").write_text('{"server": {"tls_cert_file": "./a.crt"}}')
    (root / "Dockerfile").write_text("FROM a\nWORKDIR /app\nCOPY . .\n")
    return root


def _outside_untouched(tmp_path: Path, before: set[Path]) -> None:
    after = {p for p in tmp_path.iterdir()}
    assert after == before, f"written outside the checkout: {after - before}"


@FUZZ
@given(body=st.one_of(lines, text))
def test_compose_files(folder: Path, tmp_path: Path, body: str) -> None:
    (folder / "docker-compose.yml").write_text(body)
    before = set(tmp_path.iterdir())
    try:
        prepare(folder, (), Options(load_profile(), environ={}))
    except CertkitError as exc:
        assert "\n" not in str(exc)
    _outside_untouched(tmp_path, before)


@FUZZ
@given(
    body=st.one_of(
        text,
        st.lists(
            st.sampled_from(
                [
                    "FROM a AS b",
                    "FROM b",
                    "ARG X",
                    "ARG X=/x",
                    "ENV Y /y",
                    'ENV Y=$X Z="q r"',
                    "WORKDIR $Y",
                    "WORKDIR ${X:-/d}",
                    "WORKDIR rel",
                    "COPY . .",
                    "COPY --from=b /x /y",
                    'COPY ["a", "/b/"]',
                    "ADD http://x /y",
                    "COPY <<EOF /x",
                    "# c",
                    "\\",
                    "WORKDIR ${X",
                    "ENV",
                    "COPY --from=0 / /",
                ]
            ),
            max_size=10,
        ).map("\n".join),
    ),
    target=st.sampled_from([None, "b", "nope"]),
)
def test_dockerfiles(folder: Path, body: str, target: str | None) -> None:
    (folder / "Dockerfile").write_text(body)
    try:
        facts = read_image(folder / "Dockerfile", folder, target=target, build_args={"X": "/given"})
    except CertkitError as exc:
        assert "\n" not in str(exc)
        return
    for copy in facts.copies:  # whatever it resolved stays inside the build context
        assert copy.host == folder or folder in copy.host.parents


@FUZZ
@given(
    body=st.one_of(
        text,
        st.lists(
            st.sampled_from(
                [
                    'extends = "notary"',
                    'extends = "nope"',
                    "[certificates.x]",
                    "[certificates.notary-server]",
                    'issuer = "self"',
                    'issuer = "x"',
                    'key = { type = "rsa", size = 1 }',
                    'key = { type = "ecdsa", curve = "P-256" }',
                    'subject = { CN = "' + "a" * 70 + '" }',
                    'subject = { C = "USA" }',
                    'validity = "0d"',
                    "validity = -1",
                    'sans = ["DNS:"]',
                    'sans = ["IP:999.1.1.1"]',
                    'cert_file = "../x"',
                    'key_usage = ["nope"]',
                    "enabled = false",
                    'chain = ["x", "x"]',
                    'copies = ["/etc/x"]',
                    'ca_store = ""',
                    "markers = []",
                ]
            ),
            max_size=12,
        ).map("\n".join),
    )
)
def test_profiles(tmp_path: Path, body: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    try:
        load_profile(path)
    except CertkitError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=600),
        text.map(
            lambda t: ("-----BEGIN CERTIFICATE-----\n" + t + "\n-----END CERTIFICATE-----\n").encode(errors="replace")
        ),
    )
)
def test_pem_and_der(data: bytes) -> None:
    try:
        parse_certificates(data)
    except NotACertificate:
        pass


@settings(
    max_examples=max(10, EXAMPLES // 4),
    deadline=None,
    derandomize=not os.environ.get("CERTKIT_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=800), config=text)
def test_check_expiry_on_fuzzed_files(tmp_path: Path, data: bytes, config: str) -> None:
    from certkit.cli import cli

    target = tmp_path / "fuzz"
    (target / "fixtures").mkdir(parents=True, exist_ok=True)
    (target / "fixtures/root-ca.crt").write_bytes(data)
    (target / "fixtures/server-config.json").write_text(config)
    result = CliRunner().invoke(cli, ["check-expiry", "--format", "json", str(target)])
    assert result.exit_code in (0, 1, 2, 3), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
