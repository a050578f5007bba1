"""certkit.hints: the one text that tells how to make a server load renewed files."""

from __future__ import annotations

from certkit.hints import stale_hint, stale_text


def test_an_unknown_container_is_recreated_not_restarted() -> None:
    # A container made before certkit's override has no mount: a restart keeps it as it is.
    hint = stale_hint()
    assert "`docker compose up -d --force-recreate SERVICE`" in hint and "restart it" not in hint
    assert stale_hint("server") == hint.replace("SERVICE", "server")
    assert stale_text("signer").startswith("renewed on disk, not reloaded by the server: recreate its container")


def test_a_container_known_to_mount_the_folder_is_restarted() -> None:
    assert stale_hint("server", mounted=True).startswith("restart it: `docker compose restart server`")


def test_a_service_name_is_shell_quoted() -> None:
    assert "--force-recreate 'my service'`" in stale_hint("my service")
