"""certkit.pki.planning.make_plan, directly: one test per reason a certificate is due, and "nothing due".

make_plan is a pure function of the profile, what is on disk (CertState) and ``now``, so each
test builds the states in memory with tests/certfactory.py, changes one thing, and checks the
decision it leads to: which certificates are re-issued, why, and whether their keys are kept.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certkit.durations import parse_duration
from certkit.pki.planning import CertState, Plan, make_plan, read_state
from certkit.profile import Profile, load_profile
from tests.certfactory import Issued, make_ca, make_leaf, new_key

NOW = datetime(2030, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
WITHIN = parse_duration("30d")
YEAR = timedelta(days=365)
WINDOW = timedelta(days=30)  # WITHIN as a fixed length

# Shaped like certfactory's output (CN-only subjects, P-256 keys, a root without a path length, an
# intermediate with path length 0, DNS SAN = the name) so that a fresh set has no profile drift.
# root -> inter -> server (key file, bundled with inter) and client (key discarded);
# peer: self-signed with its key beside it (like rethinkdb's), bundled with root.
PROFILE_TOML = """
name = "plan-test"
markers = ["certs/root.crt"]
ca_store = "store/ca"

[certificates.root]
issuer = "self"
ca = true
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "root" }
validity = "3650d"
key_usage = ["key_cert_sign", "crl_sign"]
cert_file = "certs/root.crt"

[certificates.inter]
issuer = "root"
ca = true
path_length = 0
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "inter" }
validity = "3650d"
key_usage = ["key_cert_sign", "crl_sign"]
cert_file = "certs/inter.crt"

[certificates.server]
issuer = "inter"
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "server" }
validity = "365d"
key_usage = ["digital_signature"]
sans = ["DNS:server"]
cert_file = "certs/server.crt"
key_file = "certs/server.key"
chain = ["inter"]

[certificates.client]
issuer = "inter"
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "client" }
validity = "365d"
key_usage = ["digital_signature"]
cert_file = "certs/client.crt"

[certificates.peer]
issuer = "self"
ca = true
key = { type = "ecdsa", curve = "P-256" }
subject = { CN = "peer" }
validity = "365d"
key_usage = ["key_cert_sign", "digital_signature"]
cert_file = "certs/peer.crt"
key_file = "certs/peer.key"
chain = ["root"]
"""


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    path = tmp_path_factory.mktemp("profile") / "plan-test.toml"
    path.write_text(PROFILE_TOML)
    return load_profile(path)


class World:
    """A complete, current set, as read_state would find it; tests then change one part."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        start, end = NOW - YEAR, NOW + YEAR
        self.root = make_ca("root", start, end)
        self.inter = make_ca("inter", start, end, issuer=self.root)
        self.server = make_leaf("server", self.inter, start, end)
        self.client = make_leaf("client", self.inter, start, end, sans=())
        self.peer = make_ca("peer", start, end)
        self.states: dict[str, CertState] = {}
        self.set("root", [self.root], key=self.root)
        self.set("inter", [self.inter], key=self.inter)
        self.set("server", [self.server, self.inter], key=self.server)
        self.set("client", [self.client], key=None)
        self.set("peer", [self.peer, self.root], key=self.peer)

    def set(self, name: str, certs: list[Issued] | None, *, key: Issued | None, problem: str | None = None) -> None:
        spec = self.profile.get(name)
        key_path = Path(spec.key_file) if spec.key_file else (Path(f"store/ca/{name}.key") if spec.ca else None)
        self.states[name] = CertState(
            spec=spec,
            cert_path=Path(spec.cert_file),
            key_path=key_path,
            certs=[c.cert for c in certs] if certs is not None else None,
            cert_problem=problem,
            key=key.key if key is not None else None,
        )

    def plan(self, now: datetime = NOW, **options: bool) -> Plan:
        return make_plan(self.profile, self.states, now, WITHIN, **options)


@pytest.fixture
def world(profile: Profile) -> World:
    return World(profile)


def due(plan: Plan) -> dict[str, list[str]]:
    return {d.name: d.reasons for d in plan.decisions if d.renew}


# -- nothing due -------------------------------------------------------------------------------------


def test_a_current_set_is_not_due(world: World) -> None:
    plan = world.plan()
    assert due(plan) == {}
    assert [(d.name, d.renew, d.reasons, d.new_key) for d in plan.decisions] == [
        (name, False, [], False) for name in ("root", "inter", "server", "client", "peer")
    ]
    assert plan.notices == []


# -- the certificate file ---------------------------------------------------------------------------


def test_missing_certificate_is_reissued_for_the_key_on_disk(world: World) -> None:
    world.set("server", None, key=world.server, problem="missing")
    plan = world.plan()
    assert due(plan) == {"server": ["missing"]}
    assert plan.get("server").new_key is False  # the key file is there and fits: reused


def test_unreadable_certificate_read_from_disk(world: World, tmp_path: Path) -> None:
    """read_state -> make_plan: a damaged PEM file is due, with the parser's reason."""
    for name, certs in (
        ("root", [world.root]),
        ("inter", [world.inter]),
        ("server", [world.server, world.inter]),
        ("client", [world.client]),
        ("peer", [world.peer, world.root]),
    ):
        spec = world.profile.get(name)
        certs[0].write(tmp_path / spec.cert_file, chain=certs[1:])
        if spec.key_file:
            (tmp_path / spec.key_file).write_bytes(certs[0].key_pem())
    for name, issued in (("root", world.root), ("inter", world.inter)):
        (tmp_path / "store/ca").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"store/ca/{name}.key").write_bytes(issued.key_pem())
    states = read_state(world.profile, tmp_path, tmp_path / "store/ca")
    assert due(make_plan(world.profile, states, NOW, WITHIN)) == {}  # as written: current

    server = tmp_path / "certs/server.crt"
    text = server.read_bytes()
    server.write_bytes(text.replace(text[100:110], b"!!!!!!!!!!"))
    states = read_state(world.profile, tmp_path, tmp_path / "store/ca")
    reasons = due(make_plan(world.profile, states, NOW, WITHIN))
    assert list(reasons) == ["server"]
    assert reasons["server"][0].startswith("unreadable (damaged PEM certificate")


# -- time ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left, expected",
    [
        (WINDOW + SECOND, None),  # more than the window left
        (WINDOW, None),  # exactly the window left: not within it (openssl -checkend)
        (WINDOW - SECOND, "expires 2030-07-01 (29 days left)"),
        (timedelta(0), "expires 2030-07-01 (0 days left)"),  # valid through notAfter itself
        (-SECOND, "expired 2030-07-01"),
    ],
)
def test_expiry_edges(world: World, left: timedelta, expected: str | None) -> None:
    not_after = datetime(2030, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
    server = make_leaf("server", world.inter, NOW - YEAR, not_after, key=world.server.key)
    world.set("server", [server, world.inter], key=server)
    plan = world.plan(not_after - left)
    assert due(plan) == ({} if expected is None else {"server": [expected]})


def test_not_yet_valid(world: World) -> None:
    server = make_leaf("server", world.inter, NOW + SECOND, NOW + YEAR, key=world.server.key)
    world.set("server", [server, world.inter], key=server)
    assert due(world.plan()) == {"server": ["not valid before 2030-06-01 12:00"]}
    assert due(world.plan(NOW + SECOND)) == {}  # notBefore itself is inside the validity period


def test_force_reissues_everything_and_keeps_keys(world: World) -> None:
    plan = world.plan(force=True)
    assert due(plan) == {name: ["--force"] for name in ("root", "inter", "server", "client", "peer")}
    keys = {d.name: (d.new_key, d.key_reason) for d in plan.decisions}
    assert keys == {
        "root": (False, ""),
        "inter": (False, ""),
        "server": (False, ""),
        "client": (True, "new key for every issuance"),
        "peer": (False, ""),
    }


# -- keys ---------------------------------------------------------------------------------------------


def test_rotate_keys_replaces_leaf_keys_only(world: World) -> None:
    plan = world.plan(rotate_keys=True)
    assert due(plan) == {"server": ["--rotate-keys"], "peer": ["--rotate-keys"]}
    assert (plan.get("server").new_key, plan.get("server").key_reason) == (True, "--rotate-keys")


def test_key_file_missing(world: World) -> None:
    world.set("server", [world.server, world.inter], key=None)
    plan = world.plan()
    assert due(plan) == {"server": ["key file missing"]}
    assert (plan.get("server").new_key, plan.get("server").key_reason) == (True, "key file missing")


def test_key_does_not_match_certificate(world: World) -> None:
    world.set("server", [world.server, world.inter], key=Issued(world.server.cert, new_key()))
    plan = world.plan()
    assert due(plan) == {"server": ["certificate does not match its key"]}
    assert plan.get("server").new_key is False  # re-issued for the key on disk, which fits the profile


def test_key_type_differs_from_profile(world: World) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = make_leaf("server", world.inter, NOW - YEAR, NOW + YEAR, key=rsa_key)  # type: ignore[arg-type]
    world.set("server", [server, world.inter], key=server)
    plan = world.plan()
    assert due(plan) == {
        "server": ["key is RSA-2048, the profile asks for ECDSA P-256", "differs from the profile (key type RSA-2048)"]
    }
    assert (plan.get("server").new_key, plan.get("server").key_reason) == (
        True,
        "key is RSA-2048, the profile asks for ECDSA P-256",
    )


def test_discarded_key_of_another_type_is_profile_drift(world: World) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = make_leaf("client", world.inter, NOW - YEAR, NOW + YEAR, sans=(), key=rsa_key)  # type: ignore[arg-type]
    world.set("client", [client], key=None)
    plan = world.plan()
    assert due(plan) == {"client": ["differs from the profile (key type RSA-2048)"]}
    assert (plan.get("client").new_key, plan.get("client").key_reason) == (True, "new key for every issuance")


# -- the profile --------------------------------------------------------------------------------------


def test_subject_differs(world: World) -> None:
    server = make_leaf("server-old", world.inter, NOW - YEAR, NOW + YEAR, sans=("server",), key=world.server.key)
    world.set("server", [server, world.inter], key=server)
    assert due(world.plan()) == {"server": ["differs from the profile (subject)"]}


def test_sans_differ(world: World) -> None:
    server = make_leaf("server", world.inter, NOW - YEAR, NOW + YEAR, sans=("server", "extra"), key=world.server.key)
    world.set("server", [server, world.inter], key=server)
    assert due(world.plan()) == {"server": ["differs from the profile (SANs)"]}


def test_sans_changed_in_profile(world: World) -> None:
    spec = replace(world.profile.get("server"), sans=("DNS:server", "IP:127.0.0.1"))
    world.profile = replace(
        world.profile, certificates=tuple(spec if s.name == "server" else s for s in world.profile.certificates)
    )
    world.states["server"].spec = spec
    assert due(world.plan()) == {"server": ["differs from the profile (SANs)"]}


def test_basic_constraints_differ(world: World) -> None:
    client = make_ca("client", NOW - YEAR, NOW + YEAR, issuer=world.inter)  # a CA where the profile has a leaf
    world.set("client", [client], key=None)
    assert due(world.plan()) == {"client": ["differs from the profile (basic constraints)"]}


# -- issuers and bundles ------------------------------------------------------------------------------


def test_not_signed_by_the_current_issuer(world: World) -> None:
    """Same issuer name, another key: an inter re-made outside this run."""
    other_inter = make_ca("inter", NOW - YEAR, NOW + YEAR, issuer=world.root)
    server = make_leaf("server", other_inter, NOW - YEAR, NOW + YEAR, key=world.server.key)
    world.set("server", [server, world.inter], key=server)
    assert due(world.plan()) == {"server": ["not signed by the current inter"]}


def test_root_not_signed_by_itself(world: World) -> None:
    impostor = make_ca("root", NOW - YEAR, NOW + YEAR)
    root = make_ca("root", NOW - YEAR, NOW + YEAR, issuer=impostor, key=world.root.key)
    world.set("root", [root], key=world.root)
    world.set("peer", [world.peer, root], key=world.peer)  # its bundle holds the root as it is on disk
    reasons = due(world.plan())
    assert "not signed by itself" in reasons["root"]
    # Everything below the re-made root is re-issued, and the peer that bundles it too.
    assert reasons["inter"] == ["its issuer root is re-issued"]
    assert reasons["peer"] == ["a certificate in its bundle is re-issued"]


def test_bundle_lacks_the_current_intermediate(world: World) -> None:
    world.set("server", [world.server], key=world.server)
    assert due(world.plan()) == {"server": ["bundle does not hold the current inter"]}


def test_extra_certificates_after_the_leaf(world: World) -> None:
    world.set("client", [world.client, world.inter], key=None)
    assert due(world.plan()) == {"client": ["extra certificates after the leaf"]}


def test_renewed_intermediate_reissues_what_it_signs(world: World) -> None:
    inter = make_ca("inter", NOW - YEAR, NOW - SECOND, issuer=world.root, key=world.inter.key)
    world.set("inter", [inter], key=world.inter)
    world.set("server", [world.server, inter], key=world.server)
    plan = world.plan()
    assert due(plan) == {
        "inter": ["expired 2030-06-01"],
        "server": ["its issuer inter is re-issued"],
        "client": ["its issuer inter is re-issued"],
    }
    assert [d.name for d in plan.decisions if d.new_key] == ["client"]  # the CA keeps its key
    assert plan.notices == []


# -- a CA key that is not in the store (a fresh clone) -----------------------------------------------


def test_ca_without_key_is_kept_until_it_must_sign(world: World) -> None:
    world.set("inter", [world.inter], key=None)
    plan = world.plan()
    assert due(plan) == {}
    assert plan.notices == [
        "inter: its private key is not in the CA store; the next renewal that needs it will make a new CA"
    ]


def test_ca_without_key_is_remade_when_something_below_is_due(world: World) -> None:
    world.set("root", [world.root], key=None)
    world.set("inter", [world.inter], key=None)
    server = make_leaf("server", world.inter, NOW - YEAR, NOW - SECOND, key=world.server.key)
    world.set("server", [server, world.inter], key=server)
    plan = world.plan()
    reasons = due(plan)
    assert reasons["server"][0] == "expired 2030-06-01"
    assert reasons["inter"] == ["its key is not in the CA store, and it must sign server"]
    assert reasons["root"] == ["its key is not in the CA store, and it must sign inter"]
    assert reasons["client"] == ["its issuer inter is re-issued"]
    decisions = {d.name: (d.new_key, d.key_reason) for d in plan.decisions if d.renew}
    assert decisions["root"] == (True, "no key in the CA store")
    assert decisions["inter"] == (True, "no key in the CA store")
    assert decisions["server"] == (False, "")
    assert plan.notices == [
        "new root CA root (certs/root.crt): whatever trusted the old one outside this folder must get the new one"
    ]


def test_the_sha1_self_signed_fixtures_say_sha1_not_not_signed_by_itself(reference_copy: Path) -> None:
    from tests.test_cli_renew import certkit

    result = certkit("renew", "--dry-run", "--no-compose", str(reference_copy))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("fixtures/self-signed_")]
    assert len(rows) == 2, result.stdout
    for row in rows:
        assert row.rstrip().endswith("self-signed with SHA-1 (ecdsa-with-SHA1)"), row
        assert "not signed by itself" not in row
