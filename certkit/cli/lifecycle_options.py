"""Options for `certkit renew` that come with the lock and the hooks (stack them as decorators).

    @lifecycle_options.hook_options    # --pre-hook, --post-hook, --deploy-hook, --hook-timeout
    @lifecycle_options.wait_options    # --wait, --wait-timeout
    @lifecycle_options.deploy_options  # --deploy, --docker-host, --engine-timeout, --deploy-timeout

The command then receives pre_hook, post_hook, deploy_hook, hook_timeout, wait, wait_timeout, deploy,
docker_host, engine_timeout, deploy_timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from certkit import defaults
from certkit.cli import options

F = TypeVar("F", bound=Callable[..., Any])


def hook_options(func: F) -> F:
    decorators = [
        click.option(
            "--pre-hook",
            metavar="CMD",
            default=None,
            help="Shell command run before renewing; if it fails nothing is renewed.",
        ),
        click.option(
            "--deploy-hook",
            metavar="CMD",
            default=None,
            help="Shell command run only when files were written (e.g. restart the services). "
            "Gets CERTKIT_RENEWED_FILES_JSON (complete JSON list), CERTKIT_RENEWED_FILES "
            "(one per line), CERTKIT_RENEWED_CERTS(_JSON), CERTKIT_NOTARY_DIR.",
        ),
        click.option(
            "--post-hook", metavar="CMD", default=None, help="Shell command run after every attempt, even a failed one."
        ),
        click.option(
            "--hook-timeout",
            type=options.SecondsType(0, minimum_open=True),
            default=options.seconds_text(defaults.HOOK_TIMEOUT),
            show_default=True,
            help=options.seconds_help(
                "Stop a hook (its whole process group) that runs longer than this (exit 124): "
                "hooks run while the renewal lock is held."
            ),
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def wait_options(func: F) -> F:
    decorators = [
        click.option(
            "--wait",
            is_flag=True,
            help="If another certkit is renewing this folder, wait for it instead of failing (exit 16).",
        ),
        click.option(
            "--wait-timeout",
            type=options.SecondsType(0),
            default=None,
            help=options.seconds_help(
                "With --wait, give up after this long (exit 16). Default: wait as long as it takes."
            ),
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def deploy_options(func: F) -> F:
    """--deploy, --docker-host, --engine-timeout, --deploy-timeout (renew)."""
    from certkit.cli import options

    decorators = [
        click.option(
            "--deploy",
            is_flag=True,
            help="Recreate the running compose services whose files changed (found through the Docker engine: "
            "the projects started from this checkout), with the compose files each was started with plus "
            "certkit's override, through your `docker compose`; run the database step in postgres; then verify "
            "that every recreated container has the renewed files and serves the renewed certificate (exit 21: "
            "no usable engine or `docker compose`; 22: not verified; the renewal is kept and the deploy is owed "
            "to the next run). Off by default: recreating interrupts the services.",
        ),
        # The same options as check-expiry and status (certkit.cli.options): one engine, one spelling.
        options.docker_host_option,
        options.engine_timeout_option,
        click.option(
            "--deploy-timeout",
            type=options.SecondsType(1),
            default=options.seconds_text(defaults.DEPLOY_TIMEOUT),
            show_default=True,
            help=options.seconds_help(
                "With --deploy: bound on the recreate and on every container running and serving the renewed "
                "certificate (exit 22 after it)."
            ),
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
