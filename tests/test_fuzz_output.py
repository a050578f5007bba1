"""Property-based fuzzing (hypothesis) of everything certkit writes, with hostile text in its input.

Issue 19, item 6: arbitrary characters in a certificate's subject, issuer and SANs, arbitrary
bytes in a file name, in files and from a real TLS server (--connect), through every output
format.  The properties, checked by independent parsers: the table and the Nagios line hold no
control character but newlines (and certkit's own colours with --color), the Nagios line is one
line; the JSON parses and holds the exact subject and path; the Prometheus textfile passes
`promtool check metrics` and Prometheus' own parser with one sample per line; the HTML parses
(html.parser) with one row per certificate and no element from the input; status's tree and
JSON likewise.  A short run is part of `make test`; CERTKIT_FUZZ_EXAMPLES runs more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tests.certfactory import Issued, new_key
from tests.cli_helpers import run_cli
from tests.notary_harness import require_binary
from tests.tls_server import Served, switchable_tls_server

EXAMPLES = int(os.environ.get("CERTKIT_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("CERTKIT_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOW = datetime.now(timezone.utc)
OWN_STYLES = ("\x1b[0m", "\x1b[1m", "\x1b[22m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[1;31m")

# Every character, with the dangerous ones drawn often: C0 and C1 controls, DEL, bidi overrides,
# separators, and what JSON, HTML, Prometheus and Nagios give meaning to.
DANGEROUS = list("\x1b\x07\r\n\t\x00\x7f\x85\x9b\u202e\u2028\u2029\ufeff[];\"'\\<>&|=,{}")
names = st.text(alphabet=st.one_of(st.sampled_from(DANGEROUS), st.characters(exclude_categories=["Cs"])), max_size=64)
ascii_names = st.text(alphabet=st.characters(max_codepoint=127), min_size=1, max_size=40)
file_names = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)
KEY = new_key()  # one key for every example: building a certificate is then a millisecond


def fit(text: str, limit: int = 64) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary: cryptography checks a
    common name's length in UTF-8 bytes, and one astral character is four of them."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def hostile(cn: str, org: str, sans: list[str]) -> Issued:
    cn, org = fit(cn), fit(org)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn or "x"),
            *([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=100))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    try:
        return Issued(builder.sign(KEY, hashes.SHA256()), KEY)
    except ValueError:  # a name cryptography will not encode (it is then no certificate anyone serves)
        assume(False)
        raise


def shown(text: str, keep: str = "") -> str:
    """How a visible text looks (restated here, not imported: the test does not take certkit's word)."""
    return "".join(c if c.isprintable() or c in keep else ascii(c)[1:-1] for c in text)


def assert_printable(text: str, *, colours: bool = False) -> None:
    if colours:
        for style in OWN_STYLES:
            text = text.replace(style, "")
    bad = sorted({repr(c) for c in text if c != "\n" and not c.isprintable()})
    assert not bad, f"control characters {bad} in:\n{text!r}"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cert_rows = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        classes = (dict(attrs).get("class") or "").split()
        if tag == "li" and "file" in classes:  # every place a certificate was found (one row lists all of them)
            self.cert_rows += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Served]]:
    with switchable_tls_server(tmp_path_factory.mktemp("tls") / "server") as running:
        yield running


@FUZZ
@given(cn=names, org=names, sans=st.lists(ascii_names, max_size=3), file_name=file_names)
def test_every_check_expiry_format_with_hostile_text(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    server: tuple[int, Served],
    cn: str,
    org: str,
    sans: list[str],
    file_name: bytes,
) -> None:
    promtool = require_binary("promtool", "prometheus")
    cert = hostile(cn, org, sans)
    port, served = server
    served.serve(cert, [])
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = os.path.join(os.fsencode(folder), file_name + b".crt")
    with open(path, "wb") as handle:
        handle.write(cert.pem())
    args = ["--connect", f"127.0.0.1:{port}", "--servername", "fuzz.invalid", str(folder)]
    subject = cert.cert.subject.rfc4514_string()

    code, table, err = run_cli(capsys, "check-expiry", *args)
    assert code == 2 and err == "", err  # the served leaf does not cover fuzz.invalid
    assert_printable(table)
    rows = [line for line in table.splitlines() if line.startswith(("OK ", "CRITICAL", "WARNING", "UNKNOWN"))]
    assert len(rows) == 2, table  # the file and the served certificate, each on one line
    code, coloured, _ = run_cli(capsys, "check-expiry", "--color", *args)
    assert_printable(coloured, colours=True)

    code, text, _ = run_cli(capsys, "check-expiry", "--format", "json", *args)
    records = json.loads(text)["certificates"]
    assert [r["subject"] for r in records] == [subject, subject]
    assert records[0]["path"] == os.fsdecode(path) and records[1]["path"] == f"127.0.0.1:{port}"
    assert records[0]["sans"] == [f"DNS:{s}" for s in sans]

    code, nagios, _ = run_cli(capsys, "check-expiry", "--format", "nagios", *args)
    assert_printable(nagios)
    assert nagios.count("\n") == 1 and nagios.count(" | ") == 1, nagios

    prom = folder / "certkit.prom"
    code, out, _ = run_cli(capsys, "check-expiry", "--format", "prometheus", "--output", str(prom), *args)
    assert code == 2 and out == ""
    textfile = prom.read_bytes().decode("utf-8")  # strict: a lone surrogate would fail here
    done = subprocess.run([promtool, "check", "metrics"], input=textfile, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr + textfile
    samples = [s for f in text_string_to_metric_families(textfile) for s in f.samples]
    statuses = [s for s in samples if s.name == "certkit_cert_status"]
    assert len(statuses) == 2 and {s.labels["subject"] for s in statuses} == {shown(subject, keep="\n")}
    assert {s.labels["path"] for s in statuses} == {shown(os.fsdecode(path), keep="\n"), f"127.0.0.1:{port}"}
    assert all(line.startswith(("# ", "certkit_")) for line in textfile.splitlines()), textfile

    page_file = folder / "report.html"
    code, out, _ = run_cli(capsys, "check-expiry", "--format", "html", "--output", str(page_file), *args)
    html = page_file.read_bytes().decode("utf-8")
    assert_printable(html)
    page = Page()
    page.feed(html)
    page.close()
    assert page.cert_rows == len(records)
    assert not {"script", "img", "iframe", "object"} & set(page.tags)
    assert shown(subject, keep="\n") in "".join(page.text)


@pytest.fixture(scope="module")
def status_layout(fresh_layout_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("status") / "notary"
    shutil.copytree(fresh_layout_template, target, symlinks=True)
    return target


@FUZZ
@given(cn=names, org=names, include=names.filter(lambda t: t.strip() != ""))
def test_status_tree_and_json_with_hostile_text(
    capsys: pytest.CaptureFixture[str], status_layout: Path, cn: str, org: str, include: str
) -> None:
    """A hostile leaf in the set (its subject in the JSON; its key no longer matches: a problem line)
    and a compose `include:` of a hostile path (a note naming it)."""
    cert = hostile(cn, org, [])
    (status_layout / "fixtures/notary-server.crt").write_bytes(cert.pem())
    (status_layout / "docker-compose.yml").write_text(
        f"include:\n  - {json.dumps(include)}\nservices:\n  a:\n    image: x\n", encoding="utf-8"
    )
    code, tree, err = run_cli(capsys, "status", "--no-color", str(status_layout))
    assert code == 2 and err == "", err
    assert_printable(tree)
    assert "key notary-server.key does not match the certificate" in tree
    code, text, _ = run_cli(capsys, "status", "--json", str(status_layout))
    data = json.loads(text)
    nodes = [data["roots"][0]]
    found = []
    while nodes:
        node = nodes.pop()
        found.append(node)
        nodes.extend(node["children"])
    assert [n["subject"] for n in found if n["name"] == "notary-server"] == [cert.cert.subject.rfc4514_string()]
