"""An internal load balancer without a certificate serves the web UI over plain HTTP: the
services step's plan and the launch's summary warn that logins cross the VPC in cleartext.
With a certificate it serves HTTPS on 443 (and says nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import launch_state
from tests.test_steps import _context
from wizard.config import LaunchConfig
from wizard.steps.services import ServicesStep
from wizard.summary import summarize

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
CLEARTEXT = "logins (the Admin password) and session cookies cross the VPC in cleartext"


@pytest.mark.parametrize(
    ("web", "warned"),
    [
        ({}, True),  # the example: internal, no certificate
        ({"web__certificate_arn": CERTIFICATE}, False),
        (
            {
                "web__load_balancer": "internet-facing",
                "web__certificate_arn": CERTIFICATE,
                "network__public_subnet_ids": [
                    "subnet-0aa11bb22cc33dd44",
                    "subnet-0ee55ff66aa77bb88",
                ],
            },
            False,
        ),
    ],
)
def test_the_plan_and_the_summary_warn_of_cleartext_logins(
    make_config: Callable[..., LaunchConfig],
    aws_endpoint: str,
    tmp_path: Path,
    web: dict[str, object],
    warned: bool,
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, **web)
    plan = ServicesStep().plan(_context(config, read_only=True))
    assert any(CLEARTEXT in w for w in plan.warnings) is warned
    assert any("web.certificate_arn" in w for w in plan.warnings) is warned

    state = launch_state(tmp_path, config)
    summary = summarize(config, state, config_path=tmp_path / "launch.toml", state_path=state.path)
    assert [CLEARTEXT in w for w in summary.warnings] == ([True] if warned else [])
