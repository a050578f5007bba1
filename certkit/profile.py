"""The declarative PKI profile: which certificates exist and where they are written.

A profile is a TOML file (see certkit/profiles/notary.toml, the built-in default).
``load_profile`` turns it into frozen dataclasses and rejects anything invalid with
a ProfileError naming the file, the field and the reason.  A user profile may say
``extends = "notary"`` and then only list what it adds or changes: each
``[certificates.NAME]`` table is merged field by field over the base one, and
``enabled = false`` drops a certificate of the base.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from certkit import defaults
from certkit.bounded import TooDeep, parse_nested
from certkit.durations import parse_duration
from certkit.errors import CertkitError, ProfileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Validity is given in days/hours only, so any fixed anchor gives the exact length.
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)

# Names as in cryptography's x509.KeyUsage, plus the OpenSSL spelling of content_commitment.
KEY_USAGES = frozenset(
    {
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    }
)
_KEY_USAGE_ALIASES = {"non_repudiation": "content_commitment"}
EXTENDED_KEY_USAGES = frozenset(
    {
        "server_auth",
        "client_auth",
        "code_signing",
        "email_protection",
        "time_stamping",
        "ocsp_signing",
    }
)
SUBJECT_ATTRIBUTES = ("C", "ST", "L", "O", "OU", "CN", "emailAddress")
# RFC 5280 appendix A upper bounds (ub-common-name etc.); cryptography enforces some of them
# (CN, C) only when the certificate is built, which would fail after planning, not here.
_SUBJECT_UPPER_BOUNDS = {"C": 2, "ST": 128, "L": 128, "O": 64, "OU": 64, "CN": 64, "emailAddress": 255}
# Deeper issuer chains than this are refused: OpenSSL's default verify depth is 100
# (X509_VERIFY_PARAM), so nothing could verify them, and a profile is data that should not
# be able to exhaust the planner.
MAX_CHAIN_DEPTH = 100
CURVES = ("P-256", "P-384", "P-521")
_CERT_FIELDS = frozenset(
    {
        "issuer",
        "ca",
        "path_length",
        "key",
        "subject",
        "validity",
        "key_usage",
        "extended_key_usage",
        "sans",
        "cert_file",
        "key_file",
        "chain",
        "copies",
        "enabled",
        "trust_hint",
        "key_owner_hint",
    }
)


class KeyType(Enum):
    """A key's algorithm, as the profile spells it (``key = { type = "rsa", size = 4096 }``)."""

    RSA = "rsa"
    ECDSA = "ecdsa"


class KeyLocation(Enum):
    """Where a certificate's private key lives."""

    CA_STORE = "ca-store"  # a CA's key: in the CA store, never beside the certificates
    FILE = "file"  # its key_file, beside the certificate, reused at each renewal
    DISCARDED = "discarded"  # made for one issuance and thrown away (Notary's self-signed code-signing certificates)


# The profile's word for a certificate that signs itself (``issuer = "self"``); CertSpec.issuer is then None.
SELF_ISSUER = "self"


@dataclass(frozen=True)
class KeySpec:
    type: KeyType
    size: int = 0  # RSA modulus bits
    curve: str = ""  # ECDSA curve name, "P-256" ...

    def describe(self) -> str:
        return f"RSA-{self.size}" if self.type is KeyType.RSA else f"ECDSA {self.curve}"


@dataclass(frozen=True)
class CertSpec:
    name: str
    issuer: str | None  # the certificate that signs it; None when it signs itself (the profile's "self")
    key: KeySpec
    subject: tuple[tuple[str, str], ...]
    validity: timedelta
    validity_text: str
    ca: bool
    path_length: int | None
    key_usage: frozenset[str]
    extended_key_usage: tuple[str, ...]
    sans: tuple[str, ...]  # "DNS:name" or "IP:address"
    cert_file: str
    key_file: str | None
    chain: tuple[str, ...]  # certificates appended after the leaf in cert_file
    copies: tuple[str, ...]
    trust_hint: str = ""  # for a root: who must trust a new one, and how (shown when it changes)
    key_owner_hint: str = ""  # who must own or read key_file (a container's user), shown when it is written

    @property
    def self_signed(self) -> bool:
        return self.issuer is None

    @property
    def key_location(self) -> KeyLocation:
        if self.key_file:
            return KeyLocation.FILE
        return KeyLocation.CA_STORE if self.ca else KeyLocation.DISCARDED


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str  # file path or "built-in"
    markers: tuple[str, ...]
    ca_store: str
    certificates: tuple[CertSpec, ...]  # issuers always before what they sign
    trust_root: str = ""  # the certificate clients must trust (`certkit trust`); "" when there is no CA
    # The services' own configs (Notary: server, signer, client): check-expiry reads the TLS
    # paths they name, and `certkit init` writes the ones it has templates for.
    service_configs: tuple[str, ...] = ()
    # Where the images hold the checkout (Notary's Dockerfiles' WORKDIR): a config's absolute
    # path under it names the checkout's own file.  "" when the images do not copy the checkout.
    container_root: str = ""

    def get(self, name: str) -> CertSpec:
        for spec in self.certificates:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def children(self, name: str) -> list[CertSpec]:
        return [s for s in self.certificates if s.issuer == name]

    def root(self) -> CertSpec | None:
        """The root CA clients must trust (``trust_root``), None when the profile has no CA."""
        return self.get(self.trust_root) if self.trust_root else None


def load_profile(source: str | Path | None = None) -> Profile:
    """Load a built-in profile by name (default "notary") or a TOML file by path."""
    if source is None or str(source) in defaults.BUILTIN_PROFILES:
        name = str(source or defaults.BUILTIN_PROFILES[0])
        return _build(_builtin_data(name), f"built-in profile {name!r}")
    path = Path(source)
    from certkit.bounded import MIB, read_input

    raw = read_input(path, MIB, ProfileError, "profile")
    data = _parse_toml(raw, str(path))
    base_name = data.pop("extends", None)
    if base_name is not None:
        if base_name not in defaults.BUILTIN_PROFILES:
            builtin = ", ".join(defaults.BUILTIN_PROFILES)
            raise ProfileError(f"profile {path}: extends = {base_name!r}: unknown base (built-in: {builtin})")
        data = _merge(_builtin_data(str(base_name)), data)
    return _build(data, f"profile {path}")


def _builtin_data(name: str) -> dict[str, Any]:
    raw = resources.files("certkit.profiles").joinpath(f"{name}.toml").read_bytes()
    return _parse_toml(raw, f"built-in profile {name!r}")


def _parse_toml(raw: bytes, where: str) -> dict[str, Any]:
    try:
        return dict(parse_nested(lambda: tomllib.loads(raw.decode("utf-8"))))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{where}: not UTF-8 text ({exc.reason})") from exc
    except TooDeep as exc:
        raise ProfileError(f"{where}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: invalid TOML: {exc}") from exc


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if key == "certificates" and isinstance(value, dict):
            certs = {name: dict(fields) for name, fields in base.get("certificates", {}).items()}
            for name, fields in value.items():
                if not isinstance(fields, dict):
                    raise ProfileError(f"certificates.{name}: must be a table")
                certs[name] = {**certs.get(name, {}), **fields}
            merged["certificates"] = certs
        else:
            merged[key] = value
    return merged


def _build(data: dict[str, Any], where: str) -> Profile:
    try:
        profile = _build_unchecked(data)
    except ProfileError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    return replace(profile, source=where)


def _build_unchecked(data: dict[str, Any]) -> Profile:
    known = {
        "name",
        "description",
        "markers",
        "ca_store",
        "certificates",
        "trust_root",
        "service_configs",
        "container_root",
    }
    for key in data:
        if key not in known:
            raise ProfileError(f"unknown top-level field {key!r} (known: {', '.join(sorted(known))})")
    certs_data = data.get("certificates")
    if not isinstance(certs_data, dict) or not certs_data:
        raise ProfileError("certificates: at least one [certificates.NAME] table is required")
    specs = {}
    for name, fields in certs_data.items():
        if not isinstance(fields, dict):
            raise ProfileError(f"certificates.{name}: must be a table")
        if fields.get("enabled", True) is False:
            continue
        specs[name] = _cert_spec(name, fields)
    _check_references(specs)
    ordered = _topological(specs)
    _check_paths(ordered)
    ca_store = _rel_path(data.get("ca_store", ".certkit/ca"), "ca_store")
    markers = tuple(_rel_path(m, "markers") for m in _str_list(data.get("markers", []), "markers"))
    if not markers:
        markers = tuple(s.cert_file for s in ordered)
    configs = tuple(
        _rel_path(c, "service_configs") for c in _str_list(data.get("service_configs", []), "service_configs")
    )
    container_root = data.get("container_root", "")
    if container_root != "" and not (
        isinstance(container_root, str)
        and container_root.startswith("/")
        and container_root.strip() == container_root
        and container_root != "/"
    ):
        raise ProfileError(f"container_root: {container_root!r} must be an absolute folder path inside the container")
    return Profile(
        name=str(data.get("name", "custom")),
        description=str(data.get("description", "")),
        source="",
        markers=markers,
        ca_store=ca_store,
        certificates=tuple(ordered),
        trust_root=_trust_root(data.get("trust_root"), ordered),
        service_configs=configs,
        container_root=container_root.rstrip("/"),
    )


def _trust_root(value: Any, ordered: list[CertSpec]) -> str:
    """The ``trust_root`` named, else the first self-signed CA (issuers come first)."""
    if value is None:
        return next((s.name for s in ordered if s.self_signed and s.ca), "")
    name = _str(value, "trust_root")
    spec = next((s for s in ordered if s.name == name), None)
    if spec is None:
        raise ProfileError(
            f"trust_root: unknown (or disabled) certificate {name!r}; name a self-signed CA of the profile"
        )
    if not (spec.self_signed and spec.ca):
        raise ProfileError(f"trust_root: {name!r} is not a self-signed CA; name the root clients must trust")
    return name


def _cert_spec(name: str, f: dict[str, Any]) -> CertSpec:
    where = f"certificates.{name}"
    for key in f:
        if key not in _CERT_FIELDS:
            raise ProfileError(f"{where}.{key}: unknown field (known: {', '.join(sorted(_CERT_FIELDS))})")
    for required in ("issuer", "key", "subject", "validity", "cert_file"):
        if required not in f:
            raise ProfileError(f"{where}.{required}: missing")
    ca = f.get("ca", False)
    if not isinstance(ca, bool):
        raise ProfileError(f"{where}.ca: must be true or false")
    path_length = f.get("path_length")
    if path_length is not None and (not isinstance(path_length, int) or path_length < 0 or not ca):
        raise ProfileError(f"{where}.path_length: must be a non-negative integer, and only on a CA")
    usages = []
    for usage in _str_list(f.get("key_usage", []), f"{where}.key_usage"):
        usage = _KEY_USAGE_ALIASES.get(usage, usage)
        if usage not in KEY_USAGES:
            raise ProfileError(f"{where}.key_usage: unknown usage {usage!r} (known: {', '.join(sorted(KEY_USAGES))})")
        usages.append(usage)
    if ca and "key_cert_sign" not in usages:
        raise ProfileError(f"{where}.key_usage: a CA needs key_cert_sign")
    ekus = _str_list(f.get("extended_key_usage", []), f"{where}.extended_key_usage")
    for eku in ekus:
        if eku not in EXTENDED_KEY_USAGES:
            raise ProfileError(
                f"{where}.extended_key_usage: unknown usage {eku!r} (known: {', '.join(sorted(EXTENDED_KEY_USAGES))})"
            )
    sans = tuple(_check_san(s, f"{where}.sans") for s in _str_list(f.get("sans", []), f"{where}.sans"))
    try:
        validity_text = str(f["validity"])
        duration = parse_duration(validity_text)
    except CertkitError as exc:
        raise ProfileError(f"{where}.validity: {exc}") from None
    if duration.delta.months or duration.delta.years or duration.delta.minutes or duration.delta.seconds:
        # Months and years vary in length; minutes would be "m", which meant months before (issue 20):
        # a validity is days or hours, as Notary's script and cfssl give it.
        raise ProfileError(
            f"{where}.validity: use days or hours (e.g. 750d, 43800h), not months, years, minutes or seconds"
        )
    validity = duration.approx_timedelta(_EPOCH)
    if validity <= timedelta(0):
        raise ProfileError(f"{where}.validity: must be longer than zero")
    key_file = f.get("key_file")
    if key_file is not None:
        key_file = _rel_path(key_file, f"{where}.key_file")
    return CertSpec(
        name=name,
        issuer=_issuer(f["issuer"], f"{where}.issuer"),
        key=_key_spec(f["key"], f"{where}.key"),
        subject=_subject(f["subject"], f"{where}.subject"),
        validity=validity,
        validity_text=validity_text,
        ca=ca,
        path_length=path_length,
        key_usage=frozenset(usages),
        extended_key_usage=tuple(ekus),
        sans=sans,
        cert_file=_rel_path(f["cert_file"], f"{where}.cert_file"),
        key_file=key_file,
        chain=tuple(_str_list(f.get("chain", []), f"{where}.chain")),
        copies=tuple(_rel_path(c, f"{where}.copies") for c in _str_list(f.get("copies", []), f"{where}.copies")),
        trust_hint=_str(f["trust_hint"], f"{where}.trust_hint") if "trust_hint" in f else "",
        key_owner_hint=_str(f["key_owner_hint"], f"{where}.key_owner_hint") if "key_owner_hint" in f else "",
    )


def _issuer(value: Any, where: str) -> str | None:
    text = _str(value, where)
    return None if text == SELF_ISSUER else text


def _key_spec(value: Any, where: str) -> KeySpec:
    if not isinstance(value, dict):
        raise ProfileError(f'{where}: must be a table like {{ type = "rsa", size = 2048 }}')
    kind = value.get("type")
    if kind == KeyType.RSA.value:
        size = value.get("size", 2048)
        if not isinstance(size, int) or size < 2048 or size > 16384 or size % 8:
            raise ProfileError(f"{where}.size: RSA size must be a multiple of 8 between 2048 and 16384")
        return KeySpec(KeyType.RSA, size=size)
    if kind == KeyType.ECDSA.value:
        curve = value.get("curve", "P-256")
        if curve not in CURVES:
            raise ProfileError(f"{where}.curve: unknown curve {curve!r} (known: {', '.join(CURVES)})")
        return KeySpec(KeyType.ECDSA, curve=curve)
    raise ProfileError(f'{where}.type: must be "rsa" or "ecdsa", not {kind!r}')


def _subject(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        raise ProfileError(f'{where}: must be a table like {{ O = "Docker", CN = "name" }}')
    for attr, text in value.items():
        if attr not in SUBJECT_ATTRIBUTES:
            raise ProfileError(f"{where}.{attr}: unknown attribute (known: {', '.join(SUBJECT_ATTRIBUTES)})")
        if not isinstance(text, str) or not text:
            raise ProfileError(f"{where}.{attr}: must be a non-empty string")
        if attr == "C" and not (len(text) == 2 and text.isascii() and text.isalpha()):
            raise ProfileError(f'{where}.C: {text!r}: a country is two letters (ASCII, ISO 3166, e.g. "US")')
        if attr == "emailAddress" and not text.isascii():
            raise ProfileError(f"{where}.emailAddress: {text!r}: must be ASCII (an IA5String, RFC 5280)")
        if len(text) > _SUBJECT_UPPER_BOUNDS[attr]:
            raise ProfileError(
                f"{where}.{attr}: {len(text)} characters; RFC 5280 allows at most "
                f"{_SUBJECT_UPPER_BOUNDS[attr]} (shorten it)"
            )
    return tuple((str(a), str(t)) for a, t in value.items())


def _check_san(text: str, where: str) -> str:
    kind, sep, value = text.partition(":")
    if not sep or not value or kind not in ("DNS", "IP"):
        raise ProfileError(f'{where}: {text!r}: write "DNS:name" or "IP:address"')
    if kind == "IP":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ProfileError(f"{where}: {text!r}: not an IP address") from None
    else:
        _check_dns_name(value, text, where)
    return text


def _check_dns_name(value: str, text: str, where: str) -> None:
    """A DNS SAN as certificates carry it: ASCII labels (an IDN in its xn-- A-label form)."""
    if not value.isascii():
        # cryptography (and RFC 5280 section 7.2) want the A-label; the standard library's
        # IDNA 2003 codec gives one to suggest (an IDNA 2008 tool may differ, e.g. for "ß").
        try:
            hint = f' (e.g. "DNS:{value.encode("idna").decode("ascii")}")'
        except UnicodeError:
            hint = ""
        raise ProfileError(f"{where}: {text!r}: an internationalised name must be written as its xn-- A-label{hint}")
    labels = value.split(".")
    if len(value) > 253 or any(not label or len(label) > 63 for label in labels) or any(c.isspace() for c in value):
        raise ProfileError(f"{where}: {text!r}: not a DNS name (labels of 1 to 63 characters, at most 253 in all)")


def _check_references(specs: dict[str, CertSpec]) -> None:
    for spec in specs.values():
        # A CA key beside the certificates would be mounted into containers.  The one
        # exception is a self-signed certificate that signs nothing (rethinkdb's *.rdb):
        # its CA flag only lets peers use it as its own trust anchor; its key is a TLS key.
        if spec.ca and spec.key_file and (not spec.self_signed or any(s.issuer == spec.name for s in specs.values())):
            raise ProfileError(
                f"certificates.{spec.name}.key_file: a CA key is kept in the CA store, never beside the certificates "
                "(only a self-signed certificate that signs nothing may have a key_file)"
            )
        if spec.issuer is not None:
            issuer = specs.get(spec.issuer)
            if issuer is None:
                raise ProfileError(
                    f"certificates.{spec.name}.issuer: unknown certificate {spec.issuer!r} "
                    f"(known: {SELF_ISSUER}, {', '.join(specs)})"
                )
            if not issuer.ca:
                raise ProfileError(f"certificates.{spec.name}.issuer: {spec.issuer!r} is not a CA (ca = true)")
        if len(spec.chain) >= MAX_CHAIN_DEPTH:
            raise ProfileError(
                f"certificates.{spec.name}.chain: {len(spec.chain)} certificates; at most "
                f"{MAX_CHAIN_DEPTH - 1} (OpenSSL's default verify depth is {MAX_CHAIN_DEPTH})"
            )
        for name in spec.chain:
            if name not in specs:
                raise ProfileError(f"certificates.{spec.name}.chain: unknown certificate {name!r}")


def _topological(specs: dict[str, CertSpec]) -> list[CertSpec]:
    """Issuers before what they sign; refuses loops and chains deeper than MAX_CHAIN_DEPTH.

    Iterative, so a long chain in a profile is a profile error, never a RecursionError.
    """
    ordered: list[CertSpec] = []
    placed: set[str] = set()
    for spec in specs.values():
        path: list[CertSpec] = []
        on_path: set[str] = set()
        current = spec
        while current.name not in placed:
            if current.name in on_path:
                raise ProfileError(f"certificates.{current.name}.issuer: issuers form a loop")
            path.append(current)
            on_path.add(current.name)
            if current.issuer is None:
                break
            current = specs[current.issuer]
        for item in reversed(path):
            placed.add(item.name)
            ordered.append(item)
    depth: dict[str, int] = {}
    for spec in ordered:
        depth[spec.name] = 1 if spec.issuer is None else depth[spec.issuer] + 1
        if depth[spec.name] > MAX_CHAIN_DEPTH:
            raise ProfileError(
                f"certificates.{spec.name}.issuer: the chain is {depth[spec.name]} certificates "
                f"deep; at most {MAX_CHAIN_DEPTH} can be verified (OpenSSL's default depth)"
            )
    return ordered


def _check_paths(specs: list[CertSpec]) -> None:
    seen: dict[str, str] = {}
    for spec in specs:
        for path in (spec.cert_file, spec.key_file, *spec.copies):
            if path is None:
                continue
            if path in seen:
                raise ProfileError(f"certificates.{spec.name}: {path} is also written by {seen[path]}")
            seen[path] = spec.name


def _rel_path(value: Any, where: str) -> str:
    text = _str(value, where)
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or text.strip() != text:
        raise ProfileError(f"{where}: {text!r} must be a relative path inside the Notary folder")
    return str(path)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where}: must be a non-empty string")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProfileError(f"{where}: must be a list of strings")
    return list(value)
