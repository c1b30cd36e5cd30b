"""What the TUI tests share: an emulated account, a stand-in ECS agent, and Pilot helpers."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from textual.pilot import Pilot

from screens.launch import LaunchScreen
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.sandbox import GOOGLE_PARAMETERS, sandbox_config, seed_account
from wizard.sandbox_account import touch_every_service
from wizard.sandbox_agent import AgentPace, look, run_agent
from wizard.state import StateFile


def seeded_template(
    endpoint: str, folder: Path, *, seed: int | None = None, console_stack: bool = False
) -> Path:
    """Seed the emulator like the sandbox does and write the config new launches start from.

    With `seed`, the emulator's ids are the same on every run (for snapshots).
    """
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
    if seed is not None:
        # moto's reset re-creates at once the services earlier tests used (EC2's default VPC
        # draws ids then) and the others on their first call: call each first, so the ids
        # drawn after the seed do not depend on which tests ran before
        touch_every_service(aws)
        request = urllib.request.Request(f"{endpoint}/moto-api/seed?a={seed}", method="POST")
        urllib.request.urlopen(request).close()
    seeded = seed_account(aws, google_parameters=GOOGLE_PARAMETERS, console_stack=console_stack)
    path = folder / "template" / "launch.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_config(sandbox_config(endpoint, seeded), path)
    return path


@contextmanager
def ecs_agent(endpoint: str) -> Iterator[None]:
    """The emulator has no ECS agent: register each cluster's instances, as the agent would,
    and each load-balanced service's instances with its target group, as ECS would."""
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
    stop = threading.Event()
    # the sandbox's own stand-in, at a steady pace: the tests' emulator does not say when the
    # account changes (stop wakes it, to end)
    thread = threading.Thread(
        target=run_agent,
        args=(lambda: look(aws), stop, lambda: not stop.is_set(), AgentPace(0.2, 0.2)),
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def refuse(aws: Aws, operation: str, action: str, *, times: int | None = None) -> list[str]:
    """Make the emulator-backed `aws` refuse `operation` ("s3.CreateBucket") with AccessDenied,
    as AWS refuses a caller whose policy lacks `action` ("s3:CreateBucket"): the first `times`
    calls, or every one. Returns the list the refused operations' names are added to."""
    refused: list[str] = []

    def deny(model: Any, **_: Any) -> None:
        if times is None or len(refused) < times:
            refused.append(model.name)
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": f"not allowed: {action}"}},
                model.name,
            )

    aws.register(f"before-call.{operation}", deny)
    return refused


def half_done_launch(
    folder: Path, config: LaunchConfig, *, config_digest: str = "test"
) -> StateFile:
    """A launch of `config` kept in `folder` (its config, and a state with the first four
    steps applied, account 123456789012); its state file."""
    folder.mkdir(parents=True, exist_ok=True)
    save_config(config, folder / f"{config.name}.toml")
    state = StateFile.create(
        folder / f"{config.name}.state.json",
        launch=config.name,
        account_id="123456789012",
        region=config.aws.region,
        config_digest=config_digest,
    )
    for step in ("account", "network", "iam", "s3_layout"):
        state.start_step(step)
        state.finish_step(step)
    return state


def applied_launch(
    template: Path, folder: Path, steps: tuple[str, ...] = ("account", "network")
) -> Path:
    """A new launch from `template` kept in `folder`, with `steps` confirmed and applied as the
    wizard applies them; its state file."""
    from wizard.config_file import load_config
    from wizard.session import WizardSession

    session = WizardSession.new(load_config(template), folder)
    for step in steps:
        session.confirm(step, session.preview(step))
    assert session.apply_ready().ok
    session.close()
    return session.state_path


async def launch_screen(pilot: Pilot[Any]) -> LaunchScreen:
    """Wait until a launch's screen is open (a dialog may be over it already); the screen."""

    def found() -> LaunchScreen | None:
        return next((s for s in pilot.app.screen_stack if isinstance(s, LaunchScreen)), None)

    await wait_for(pilot, found)
    screen = found()
    assert screen is not None
    return screen


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 30, interval: float = 0.05
) -> None:
    """Let the app run until `condition()` holds (fails the test after `timeout` seconds).

    A costly condition (a screenshot's text) polls at a longer `interval`."""
    steps = int(timeout / interval)
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(interval)
    raise AssertionError(f"timed out waiting for {condition}")


def screen_text(app: Any) -> str:
    """Everything the screen shows, as text (the SVG screenshot's text)."""
    import html
    import re

    svg = re.sub(r"<style>.*?</style>", "", app.export_screenshot(), flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def emulator_contents(aws: Aws) -> dict[str, Any]:
    """What the emulated account holds, for before/after comparisons."""
    ec2, ssm = aws.client("ec2"), aws.client("ssm")
    return {
        "security_groups": sorted(
            g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]
        ),
        "buckets": sorted(b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]),
        "parameters": sorted(p["Name"] for p in ssm.describe_parameters()["Parameters"]),
        "roles": sorted(r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]),
        "stacks": sorted(
            s["StackName"] for s in aws.client("cloudformation").describe_stacks()["Stacks"]
        ),
        "clusters": sorted(aws.client("ecs").list_clusters()["clusterArns"]),
        "task_definitions": sorted(aws.client("ecs").list_task_definitions()["taskDefinitionArns"]),
        "caches": sorted(
            g["ReplicationGroupId"]
            for g in aws.client("elasticache").describe_replication_groups()["ReplicationGroups"]
        ),
    }
