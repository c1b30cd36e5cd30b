"""The sandbox's own emulator process over its console-made stack, headless: `apply --yes`
patches the stack (StartInstanceRefresh and DescribeInstanceRefreshes are filled in that
process, as the change sets are), and the services go to the stack's cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_sandbox import _cli
from wizard.aws import Aws, AwsSettings
from wizard.config_file import load_config, save_config
from wizard.sandbox import CONSOLE_STACK, SANDBOX_CREDENTIALS, Sandbox
from wizard.state import StateFile


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = Sandbox(tmp_path / "sandbox")
    running.start()
    yield running
    running.stop()


def test_apply_over_the_console_stack_in_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(sandbox.config_path)
    cluster = config.cluster.model_copy(update={"existing_stack": CONSOLE_STACK})
    save_config(config.model_copy(update={"cluster": cluster}), sandbox.config_path)
    state = sandbox.folder / "airflow-staging.state.json"

    applied = _cli(
        sandbox, "apply", "--config", str(sandbox.config_path), "--state", str(state), "--yes"
    )
    output = applied.stdout + applied.stderr
    assert applied.returncode == 0, output[-4000:]
    assert "instance refresh of" in output and "done" in output
    assert StateFile.open(state).step("cluster").outputs["cluster_name"] == "airflow-console"

    for key, value in SANDBOX_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=sandbox.endpoint))
    assert len(aws.client("ecs").list_services(cluster="airflow-console")["serviceArns"]) == 6
