"""certkit.paths: the one inside-the-folder check and the one way output names a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from certkit.paths import inside, shown


@pytest.mark.parametrize(
    ("path", "folder", "expected"),
    [
        ("/srv/notary", "/srv/notary", True),
        ("/srv/notary/fixtures/a.crt", "/srv/notary", True),
        ("/srv/notary-old/a.crt", "/srv/notary", False),  # a shared prefix is not a parent
        ("/srv", "/srv/notary", False),
        ("fixtures/a.crt", "fixtures", True),
        ("fixtures/a.crt", "/srv/notary", False),  # relative against absolute: never inside
        ("/srv/notary", "/", True),
        ("fixtures/a.crt", ".", True),
        (".", ".", True),
        ("/srv/notary", ".", False),
    ],
)
def test_inside(path: str, folder: str, expected: bool) -> None:
    assert inside(Path(path), Path(folder)) is expected
    # The same answer as the lexical definition it replaces (it compares text, for speed).
    assert (Path(path) == Path(folder) or Path(folder) in Path(path).parents) is expected


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/srv/notary/fixtures/root-ca.crt", "/srv/notary", "fixtures/root-ca.crt"),
        ("/srv/notary", "/srv/notary", "."),
        ("/var/lib/certkit/ca/root-ca.key", "/srv/notary", "/var/lib/certkit/ca/root-ca.key"),
        ("/srv/notary-old/x.crt", "/srv/notary", "/srv/notary-old/x.crt"),
    ],
)
def test_shown(path: str, root: str, expected: str) -> None:
    assert shown(Path(path), Path(root)) == expected
