"""A small DER encoder and reader: just the ASN.1 that certkit assembles itself.

Two structures are put together by hand, because cryptography does not make them:

- a certificate signed outside cryptography (a PKCS#11 token): ``SEQUENCE { tbsCertificate,
  signatureAlgorithm, BIT STRING signature }`` (RFC 5280 4.1), the TBS and the algorithm taken
  as DER from a certificate cryptography built;
- a PKCS#8 ``EncryptedPrivateKeyInfo`` with PBES2 (RFC 8018 A.4) and a chosen PBKDF2 count
  (cryptography's ``BestAvailableEncryption`` fixes it at 2048 rounds).

A maintained ASN.1 library (asn1crypto, pyasn1) would bring a schema layer for these few
tags; the encoder is ~60 lines, and tests check its output with ``openssl asn1parse`` and by
loading it back with cryptography.  Only definite lengths, low tag numbers: all DER needs here.
"""

from __future__ import annotations

SEQUENCE = 0x30
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06


class DERError(ValueError):
    """Bytes that are not the DER this module reads."""


def length(n: int) -> bytes:
    """X.690 8.1.3: short form below 128, else 0x80|count followed by the big-endian count."""
    if n < 0:
        raise ValueError("a DER length is not negative")
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def integer(n: int) -> bytes:
    """X.690 8.3: two's complement, the fewest octets (a leading 0x00 keeps a positive high bit)."""
    size = max(1, (n.bit_length() + 8) // 8)  # one spare bit for the sign
    body = n.to_bytes(size, "big", signed=True)
    while len(body) > 1 and ((body[0] == 0 and body[1] < 0x80) or (body[0] == 0xFF and body[1] >= 0x80)):
        body = body[1:]
    return tlv(INTEGER, body)


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def bit_string(data: bytes) -> bytes:
    """Whole octets only (a signature): the first content octet says 0 unused bits."""
    return tlv(BIT_STRING, b"\x00" + data)


def null() -> bytes:
    return tlv(NULL, b"")


def oid(dotted: str) -> bytes:
    """X.690 8.19: the first two arcs as 40*a+b, then each arc base 128, high bit on all but its last octet."""
    arcs = [int(part) for part in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or any(a < 0 for a in arcs):
        raise ValueError(f"{dotted}: not an object identifier")
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return tlv(OID, bytes(body))


def read(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """The element at ``offset``: (tag, start of its content, end of the element)."""
    if offset + 2 > len(data):
        raise DERError("truncated element")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers are not used here")
    start = offset + 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise DERError("bad length")
        size = int.from_bytes(data[start : start + count], "big")
        if size < 0x80 or data[start] == 0:
            raise DERError("length not in its shortest form")
        start += count
    end = start + size
    if end > len(data):
        raise DERError("element runs past the end")
    return tag, start, end


def children(data: bytes, expected_tag: int = SEQUENCE) -> list[bytes]:
    """The encoded elements inside the constructed element ``data`` (which must be all of ``data``)."""
    tag, start, end = read(data)
    if tag != expected_tag or end != len(data):
        raise DERError(f"expected one element of tag 0x{expected_tag:02x}")
    items = []
    offset = start
    while offset < end:
        _, _, item_end = read(data, offset)
        items.append(data[offset:item_end])
        offset = item_end
    return items
