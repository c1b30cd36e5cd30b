"""The sandbox walk over the console-made cluster stack, as the README's screenshot shows it:
the wizard patches the stack (the instance role's policy and the instance refresh included,
confirmed through the previews) and reaches the summary, with the services in the stack's own
cluster (`airflow-console`), not the config's `cluster.name`."""

from __future__ import annotations

from pathlib import Path

import pytest

from screens.summary import SummaryScreen
from tests.test_tui_flows import SIZE, _app, _confirm_until, _open_launch
from tests.tui_support import ecs_agent, screen_text, seeded_template, wait_for
from wizard.aws import Aws, AwsSettings
from wizard.config_file import load_config, save_config
from wizard.sandbox import CONSOLE_STACK
from wizard.state import StateFile


@pytest.fixture
def console_template(aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sandbox's account with the console stack, and a config that patches it."""
    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_WAIT_SCALE", "0")
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
    path = seeded_template(aws_endpoint, tmp_path, console_stack=True)
    config = load_config(path)
    cluster = config.cluster.model_copy(update={"existing_stack": CONSOLE_STACK})
    save_config(config.model_copy(update={"cluster": cluster}), path)
    return path


async def test_the_console_stack_walk_reaches_the_summary(
    console_template: Path, tmp_path: Path, aws_endpoint: str
) -> None:
    app = _app(tmp_path, console_template)
    with ecs_agent(aws_endpoint):
        async with app.run_test(size=SIZE) as pilot:
            await _open_launch(pilot)
            await _confirm_until(pilot, app)
            assert isinstance(app.screen, SummaryScreen)
            await wait_for(pilot, lambda: "Airflow is up" in screen_text(app), timeout=60)

    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    services = aws.client("ecs").list_services(cluster="airflow-console")["serviceArns"]
    assert len(services) == 6
    state = StateFile.open(tmp_path / "launches" / "airflow-staging.state.json")
    assert len(state.applied_steps()) == 12
    cluster = state.step("cluster").outputs
    assert cluster["cluster_name"] == "airflow-console"
    assert cluster["pending_instance_refresh"] == []
    policies = aws.client("iam").list_role_policies(RoleName="ecsInstanceRole")["PolicyNames"]
    assert "airflow-ecs-wizard-read-airflow-folder" in policies
