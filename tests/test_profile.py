from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from certkit.errors import ProfileError
from certkit.profile import KeyLocation, load_profile


def test_builtin_profile_orders_issuers_first() -> None:
    profile = load_profile()
    names = [s.name for s in profile.certificates]
    for spec in profile.certificates:
        if spec.issuer is not None:
            assert names.index(spec.issuer) < names.index(spec.name)
    assert profile.get("notary-server").validity == timedelta(days=750)
    assert profile.get("database-ca").validity == timedelta(hours=43800)
    assert profile.get("root-ca").key_location is KeyLocation.CA_STORE
    assert profile.get("notary-server").key_location is KeyLocation.FILE
    assert profile.get("self-signed-docker").key_location is KeyLocation.DISCARDED


def test_extends_merges_fields_and_can_disable(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'extends = "notary"\n[certificates.notary-escrow]\nenabled = false\n'
        '[certificates.notary-server]\nvalidity = "90d"\nkey = { type = "ecdsa" }\n'
    )
    profile = load_profile(path)
    assert "notary-escrow" not in [s.name for s in profile.certificates]
    server = profile.get("notary-server")
    assert server.validity == timedelta(days=90)
    assert server.key.describe() == "ECDSA P-256"
    assert server.sans == load_profile().get("notary-server").sans


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('extends = "nope"', "unknown base"),
        ('extends = "notary"\nfoo = 1', "unknown top-level field 'foo'"),
        (
            'extends = "notary"\n[certificates.root-ca]\nkey_file = "fixtures/root.key"',
            "CA key is kept in the CA store",
        ),
        ('extends = "notary"\n[certificates.root-ca]\nissuer = "notary-server"', "not a CA"),
        ('extends = "notary"\n[certificates.root-ca]\nissuer = "intermediate-ca"', "loop"),
        (
            'extends = "notary"\n[certificates.notary-signer]\ncert_file = "fixtures/notary-server.crt"',
            "also written by",
        ),
        ('extends = "notary"\n[certificates.notary-signer]\nvalidity = "6 months"', "days or hours"),
        # "30m" meant 30 months before issue 20 and is 30 minutes now: neither is a certificate's lifetime.
        ('extends = "notary"\n[certificates.notary-signer]\nvalidity = "30m"', "not months, years, minutes"),
        ('extends = "notary"\n[certificates.notary-signer]\nsubject = { C = "USA" }', "two letters"),
        ('extends = "notary"\n[certificates.notary-signer]\nkey_usage = ["sign_everything"]', "unknown usage"),
        (
            'extends = "notary"\n[certificates.notary-signer]\nkey = { type = "rsa", size = 1024 }',
            "multiple of 8 between 2048",
        ),
        ('extends = "notary"\n[certificates.notary-signer]\nsans = ["IP:999.1.1.1"]', "not an IP address"),
        (
            'extends = "notary"\n[certificates.notary-signer]\nfavourite = "blue"',
            "notary-signer.favourite: unknown field",
        ),
        ("[certificates]", "at least one"),
        ('extends = "notary"\ntrust_root = "nope"', "trust_root: unknown (or disabled) certificate 'nope'"),
        (
            'extends = "notary"\ntrust_root = "notary-escrow"\n[certificates.notary-escrow]\nenabled = false',
            "trust_root: unknown (or disabled) certificate 'notary-escrow'",
        ),
        ('extends = "notary"\ntrust_root = "notary-server"', "'notary-server' is not a self-signed CA"),
        (
            'extends = "notary"\nservice_configs = ["../etc/passwd"]',
            "service_configs: '../etc/passwd' must be a relative",
        ),
        ('extends = "notary"\ncontainer_root = "srv/notary"', "container_root: 'srv/notary' must be an absolute"),
    ],
)
def test_invalid_profiles(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(body)
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    assert needle in str(error.value)
    assert str(path) in str(error.value)


def test_missing_profile_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="absent.toml: cannot read: No such file"):
        load_profile(tmp_path / "absent.toml")


def test_the_notary_facts_come_from_the_built_in_profile() -> None:
    profile = load_profile()
    root = profile.root()
    assert root is not None and root.name == "root-ca" and root.cert_file == "fixtures/root-ca.crt"
    assert profile.service_configs == (
        "fixtures/server-config.json",
        "fixtures/signer-config.json",
        "cmd/notary/config.json",
    )
    assert profile.container_root == "/go/src/github.com/theupdateframework/notary"


def test_a_profile_without_trust_root_trusts_its_first_self_signed_ca(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[certificates.leaf]\nissuer = "ca"\nkey = { type = "ecdsa" }\nsubject = { CN = "leaf" }\n'
        'validity = "30d"\ncert_file = "leaf.crt"\n'
        '[certificates.ca]\nissuer = "self"\nca = true\nkey = { type = "ecdsa" }\nsubject = { CN = "ca" }\n'
        'validity = "300d"\nkey_usage = ["key_cert_sign"]\ncert_file = "pki/ca.crt"\n'
    )
    profile = load_profile(path)
    assert profile.trust_root == "ca" and profile.service_configs == () and profile.container_root == ""


# Literals that name a Notary fact or an outcome word; each may appear as a whole string constant
# in one module only (its one definition), never as a second copy elsewhere.
_SINGLE_SOURCED = {
    "/go/src/github.com/theupdateframework/notary": set(),  # only in profiles/notary.toml
    "fixtures/root-ca.crt": set(),
    "fixtures/signer-config.json": {"workflows/init.py"},  # the template table, keyed by the profile's paths
    "created": {"outcomes.py"},
    "updated": {"outcomes.py"},
    "kept": {"outcomes.py"},
    "would create": {"outcomes.py"},
    "ca-key": {"outcomes.py"},
    "baked": {"compose/model.py"},
}


def test_facts_and_outcome_words_are_defined_once() -> None:
    import ast

    package = Path(__file__).resolve().parent.parent / "certkit"
    found: dict[str, set[str]] = {text: set() for text in _SINGLE_SOURCED}
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in found:
                found[node.value].add(str(source.relative_to(package)))
    assert found == _SINGLE_SOURCED
