"""Where a command that starts from a state file connects: the flags, else what the state
remembers of the launch's profile and endpoint.

The state is untrusted input: whoever can write it could point a command at their own server,
which would then receive signed requests. So a remembered endpoint is used without asking only
when it is a loopback address (the sandbox's emulator); any other must be confirmed, or given
again with --endpoint-url.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Callable

from wizard.aws import WAIT_SCALE_VARIABLE, AwsSettings, wait_scale_from_environment
from wizard.errors import BadInput
from wizard.state import StateFile

EMULATOR_WAIT_SCALE = 0.02
"""Polls against a loopback emulator: it creates and deletes everything at once."""

Ask = Callable[[str], bool]
"""Asks the user a yes/no question (None: nobody to ask)."""


def is_loopback(endpoint: str) -> bool:
    """Whether the endpoint's host is this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_for_state(
    state: StateFile,
    *,
    profile: str = "",
    region: str = "",
    endpoint_url: str = "",
    ask: Ask | None = None,
) -> AwsSettings:
    """The AWS settings of a command on an existing launch: each flag given wins, then what the
    state remembers.

    Raises:
        BadInput: the state remembers an endpoint that is not loopback, no flag gave one, and
            the user did not confirm it (or could not be asked).
    """
    remembered = state.state.endpoint_url
    endpoint = endpoint_url
    if not endpoint and remembered:
        if not is_loopback(remembered):
            question = (
                f"The state says this launch was applied through {remembered}. Send signed "
                "requests there?"
            )
            if ask is None or not ask(question):
                raise BadInput(
                    f"the state remembers the endpoint {remembered}, which is not this machine",
                    title="Endpoint not confirmed",
                    hint=f"If you trust it, pass --endpoint-url {remembered} (or pass the "
                    "endpoint you mean). Nothing was changed.",
                )
        endpoint = remembered
    wait_scale = wait_scale_from_environment()
    if WAIT_SCALE_VARIABLE not in os.environ and endpoint and is_loopback(endpoint):
        wait_scale = EMULATOR_WAIT_SCALE
    return AwsSettings(
        region=region or state.state.region,
        profile=profile or state.state.profile,
        endpoint_url=endpoint,
        wait_scale=wait_scale,
        # a sandbox launch: its emulator takes any credentials, so none need be set up
        emulator_credentials=endpoint == remembered and is_loopback(endpoint),
    )
