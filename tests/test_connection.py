"""A launch's state remembers where it was applied; commands on it (destroy) connect there,
but trust a remembered endpoint only when it is this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.aws import WAIT_SCALE_VARIABLE
from wizard.connection import EMULATOR_WAIT_SCALE, is_loopback, settings_for_state
from wizard.errors import BadInput
from wizard.state import Resource, StateFile


def _state(tmp_path: Path, *, endpoint: str = "", profile: str = "") -> StateFile:
    state = StateFile.create(
        tmp_path / "s.state.json",
        launch="airflow-staging",
        account_id="123456789012",
        region="eu-west-1",
        config_digest="x",
    )
    state.remember_connection(profile=profile, endpoint_url=endpoint)
    return StateFile.open(state.path)  # as a later command reads it


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:4566", True),
        ("http://localhost:4566", True),
        ("https://vpce-1.sts.eu-west-1.vpce.amazonaws.com", False),
        ("http://10.0.0.5:5000", False),
        ("http://127.0.0.1.attacker.example", False),
        ("not a url", False),
    ],
)
def test_loopback_is_only_this_machine(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback


def test_a_remembered_loopback_endpoint_and_profile_are_used_without_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WAIT_SCALE_VARIABLE, raising=False)
    state = _state(tmp_path, endpoint="http://127.0.0.1:5123", profile="sandbox")

    def never(question: str) -> bool:
        raise AssertionError(f"asked: {question}")

    settings = settings_for_state(state, ask=never)
    assert settings.endpoint_url == "http://127.0.0.1:5123"
    assert settings.profile == "sandbox"
    assert settings.region == "eu-west-1"
    assert settings.wait_scale == EMULATOR_WAIT_SCALE  # the emulator deletes at once
    monkeypatch.setenv(WAIT_SCALE_VARIABLE, "0")
    assert settings_for_state(state).wait_scale == 0


def test_flags_override_what_the_state_remembers(tmp_path: Path) -> None:
    state = _state(tmp_path, endpoint="https://elsewhere.example", profile="old")
    settings = settings_for_state(
        state, profile="ops", region="us-east-1", endpoint_url="https://vpce.example"
    )
    assert (settings.profile, settings.region, settings.endpoint_url) == (
        "ops",
        "us-east-1",
        "https://vpce.example",
    )


def test_a_remembered_endpoint_elsewhere_needs_the_flag_or_a_yes(tmp_path: Path) -> None:
    state = _state(tmp_path, endpoint="https://collector.example:8443")
    with pytest.raises(BadInput) as refused:
        settings_for_state(state)  # nobody to ask
    assert refused.value.exit_code == 2
    assert "--endpoint-url https://collector.example:8443" in refused.value.hint
    asked: list[str] = []
    with pytest.raises(BadInput):
        settings_for_state(state, ask=lambda question: bool(asked.append(question)))
    assert "https://collector.example:8443" in asked[0]
    settings = settings_for_state(state, ask=lambda question: True)
    assert settings.endpoint_url == "https://collector.example:8443"


def test_the_state_never_keeps_an_endpoints_password(tmp_path: Path) -> None:
    state = _state(tmp_path, endpoint="http://user:hunter2@127.0.0.1:5000/")
    assert state.state.endpoint_url == "http://127.0.0.1:5000/"
    assert "hunter2" not in state.path.read_text()


def test_the_state_lists_what_destroy_deleted_and_the_step_is_no_longer_applied(
    tmp_path: Path,
) -> None:
    state = _state(tmp_path)
    state.start_step("services")
    state.record_resource("services", Resource(kind="ecs:service", id="arn:svc/a", created=True))
    state.record_resource("services", Resource(kind="ecs:service", id="arn:svc/b", created=True))
    state.finish_step("services")
    state.forget_resource("ecs:service", "arn:svc/a")
    again = StateFile.open(state.path)
    assert again.step("services").status == "pending"
    assert [r.id for r in again.step("services").resources] == ["arn:svc/b"]
    assert [(r.kind, r.id) for r in again.state.destroyed] == [("ecs:service", "arn:svc/a")]
    again.record_resource("services", Resource(kind="ecs:service", id="arn:svc/a", created=True))
    assert again.state.destroyed == []  # made again: no longer gone
