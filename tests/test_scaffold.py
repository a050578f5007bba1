"""certkit.workflows.init (`certkit init`): which service configs it writes is the profile's answer, not its name."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from certkit.profile import load_profile
from certkit.workflows.init import init_layout

NOW = datetime(2027, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
_SMALL = """
name = "notary"
[certificates.ca]
issuer = "self"
ca = true
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "Small CA" }
validity = "300d"
key_usage = ["key_cert_sign"]
cert_file = "pki/ca.crt"
"""


def _files(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and ".certkit" not in p.parts and p.name not in (".gitignore", ".dockerignore")
    )


@pytest.mark.parametrize(
    ("configs", "written"),
    [
        # Named "notary" but listing no service configs: nothing beyond the certificates.
        ("", ["pki/ca.crt"]),
        # Only the configs the profile lists and certkit has a template for (an unknown one is not invented).
        (
            'service_configs = ["cmd/notary/config.json", "etc/other.json"]\n',
            ["CERTKIT-README.txt", "cmd/notary/config.json", "pki/ca.crt"],
        ),
    ],
)
def test_init_writes_the_service_configs_the_profile_lists(tmp_path: Path, configs: str, written: list[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(configs + _SMALL)
    layout = tmp_path / "layout"
    init_layout(layout, load_profile(path), NOW)
    assert _files(layout) == written
    if "cmd/notary/config.json" in written:
        client = json.loads((layout / "cmd" / "notary" / "config.json").read_text())
        assert client["remote_server"]["url"] == "https://notary-server:4443"


def test_init_of_the_built_in_profile_writes_its_three_configs(fresh_layout_template: Path) -> None:
    for relative in load_profile().service_configs:
        assert (fresh_layout_template / relative).is_file(), relative
