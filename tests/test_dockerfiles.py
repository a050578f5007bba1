"""certkit.compose.dockerfiles: WORKDIR and build-context copies resolved as the builder resolves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certkit.compose.dockerfiles import ImageFacts, read_image
from certkit.errors import ComposeError

NOTARY_WD = "/go/src/github.com/theupdateframework/notary"


def image(tmp_path: Path, text: str, **kwargs: Any) -> ImageFacts:
    (tmp_path / "fixtures").mkdir(exist_ok=True)
    (tmp_path / "fixtures" / "a.crt").write_text("x")
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return read_image(path, tmp_path, **kwargs)


# -- Notary's own Dockerfiles, as cloned -----------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["server.Dockerfile", "signer.Dockerfile", "escrow.Dockerfile", "Dockerfile", "cross.Dockerfile"]
)
def test_reference_dockerfiles_copy_the_checkout_to_the_workdir(reference_dir: Path, name: str) -> None:
    facts = read_image(reference_dir / name, reference_dir)
    assert facts.workdir == NOTARY_WD
    assert facts.host_path(f"{NOTARY_WD}/fixtures/notary-server.crt") == reference_dir / "fixtures/notary-server.crt"


@pytest.mark.parametrize("name", ["server.minimal.Dockerfile", "signer.minimal.Dockerfile"])
def test_reference_minimal_images_copy_fixtures_from_the_build_stage(reference_dir: Path, name: str) -> None:
    facts = read_image(reference_dir / name, reference_dir)
    assert facts.workdir == "/var/lib/notary"
    # COPY --from=build-env /go/src/.../fixtures /var/lib/notary/fixtures: through the stage to the host.
    assert facts.host_path("/var/lib/notary/fixtures/root-ca.crt") == reference_dir / "fixtures/root-ca.crt"
    assert facts.host_path("/usr/bin/notary-server") is None  # built in the image, not from the checkout
    build = read_image(reference_dir / name, reference_dir, target="build-env")
    assert build.workdir == NOTARY_WD and build.stage == "build-env"


# -- the builder's rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, workdir",
    [
        ("FROM a\nENV D /srv/app\nWORKDIR $D\n", "/srv/app"),  # legacy ENV form, $VAR
        ('FROM a\nENV D=/srv X="two words"\nWORKDIR ${D}/x\n', "/srv/x"),  # KEY=VALUE form, quotes
        ("FROM a\nARG D=/opt\nWORKDIR ${D}\n", "/opt"),  # ARG default
        ("ARG BASE=/g\nFROM a\nARG BASE\nWORKDIR $BASE/in\n", "/g/in"),  # global ARG taken into the stage
        ("FROM a\nWORKDIR ${UNSET:-/fallback}\n", "/fallback"),
        ("FROM a\nWORKDIR /x\nWORKDIR y\nWORKDIR ../z\n", "/x/z"),  # relative to the previous WORKDIR
        ("FROM a AS one\nWORKDIR /x\nFROM one AS two\nWORKDIR y\n", "/x/y"),  # stage chain inherits WORKDIR
        ("FROM a AS one\nENV P=/p\nFROM one\nWORKDIR $P\n", "/p"),  # and ENV
        ("FROM a\n# WORKDIR /no\nworkdir \\\n  /yes\n", "/yes"),  # comments, lower case, continuation
        ("FROM a AS one\nWORKDIR /x\nFROM b\n", None),  # the last stage's base image WORKDIR is unknown
    ],
)
def test_workdir_resolution(tmp_path: Path, text: str, workdir: str | None) -> None:
    assert image(tmp_path, text).workdir == workdir


def test_build_args_override_arg_defaults(tmp_path: Path) -> None:
    text = "FROM a\nARG D=/default\nWORKDIR $D\nCOPY fixtures $D/f\n"
    facts = image(tmp_path, text, build_args={"D": "/given"})
    assert facts.workdir == "/given"
    assert facts.host_path("/given/f/a.crt") == tmp_path / "fixtures/a.crt"


def test_target_stage_and_copy_forms(tmp_path: Path) -> None:
    text = (
        "FROM a AS build\nWORKDIR /src\nCOPY . .\n"
        'FROM b AS run\nWORKDIR /run\nCOPY --from=build /src/fixtures ./fx\nCOPY ["fixtures/a.crt", "/etc/one/"]\n'
        "FROM c\nWORKDIR /last\n"
    )
    run = image(tmp_path, text, target="run")
    assert run.host_path("/run/fx/a.crt") == tmp_path / "fixtures/a.crt"
    assert run.host_path("/etc/one/a.crt") == tmp_path / "fixtures/a.crt"
    assert image(tmp_path, text, target="build").host_path("/src/fixtures/a.crt") == tmp_path / "fixtures/a.crt"
    assert image(tmp_path, text).host_path("/run/fx/a.crt") is None  # the last stage copies nothing


# -- bad input: one line naming the file, line and reason ----------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "FROM a\nWORKDIR /go/src/${NOTARYPKG}\n",
            r"Dockerfile:2: WORKDIR /go/src/\$\{NOTARYPKG\}: the variable NOTARYPKG is not set",
        ),
        ("FROM a\nARG D\nWORKDIR $D\n", r"Dockerfile:3: .*ARG with no default.*build.args"),
        ("FROM a\nCOPY . /x/${NOPE}\n", r"Dockerfile:2: COPY .*NOPE is not set"),
        ("# only a comment\n", r"no FROM instruction"),
    ],
)
def test_unresolvable_dockerfile_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message) as info:
        image(tmp_path, text)
    assert "\n" not in str(info.value)


def test_missing_target_stage_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match=r"build target stage 'nope' does not exist \(stages named here: one\)"):
        image(tmp_path, "FROM a AS one\nWORKDIR /x\n", target="nope")
    with pytest.raises(ComposeError, match=r"Dockerfile named under `build:` does not exist"):
        read_image(tmp_path / "missing.Dockerfile", tmp_path)


# -- only what decides where files are read is judged (issue 20) ------------------------------------------


@pytest.mark.parametrize(
    "text, workdir",
    [
        # Notary v0.3.0 to v0.5.0's client image: PATH comes from the base image, which certkit cannot see.
        ("FROM golang\nENV PATH /osxcross/target/bin:$PATH\nENV D /go/src/x\nWORKDIR ${D}\n", "/go/src/x"),
        ("FROM golang\nENV PATH=/x:$PATH GOBIN=$GOPATH/bin\nWORKDIR /w\nCOPY . /w\n", "/w"),
        ("FROM golang\nARG CC=${CROSS_CC}\nWORKDIR /w\n", "/w"),  # an ARG default from nowhere, unused
        ("FROM golang\nENV HOMEBIN $HOME/bin\nWORKDIR /w\nENV PATH $HOMEBIN:$PATH\n", "/w"),
    ],
)
def test_a_variable_of_the_base_image_is_no_error_where_no_path_uses_it(
    tmp_path: Path, text: str, workdir: str
) -> None:
    assert image(tmp_path, text).workdir == workdir


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "FROM golang\nENV APP $HOME/app\nWORKDIR $APP\n",
            r"Dockerfile:3: WORKDIR \$APP: the variable APP has no value certkit can work out "
            r"\(line 2: ENV \$HOME/app: the variable HOME is not set by any ENV or ARG before this line",
        ),
        ("FROM golang\nENV D=$GOPATH/src\nCOPY . $D\n", r"Dockerfile:3: COPY .*the variable D has no value"),
    ],
)
def test_an_unresolved_variable_is_an_error_where_a_path_needs_it(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message) as info:
        image(tmp_path, text)
    assert "\n" not in str(info.value)


def test_notary_v050_images_resolve(notary_v050: Path) -> None:
    # The client image (Dockerfile) sets PATH from the base image's; its WORKDIR is still known.
    client = read_image(notary_v050 / "Dockerfile", notary_v050)
    assert client.workdir == "/go/src/github.com/docker/notary"
    server = read_image(notary_v050 / "server.Dockerfile", notary_v050)
    assert (
        server.host_path("/go/src/github.com/docker/notary/fixtures/root-ca.crt")
        == notary_v050 / "fixtures/root-ca.crt"
    )
