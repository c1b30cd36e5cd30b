"""Steps against the emulator server: what AWS holds after apply, idempotence by the call
recorder, read-only plans, adoption after an interrupted run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import launch_state
from wizard.aws import Aws, AwsSettings, ReadOnlyViolation
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.render import render_artifacts
from wizard.sandbox import push_image
from wizard.state import StateFile, contains_secret
from wizard.steps import STEPS
from wizard.steps.base import StepContext

ACCOUNT = "123456789012"
GRAPH = ["account", "s3_layout", "bootstrap", "image", "secrets"]
"""The steps these tests cover; the others have test modules of their own."""


@pytest.fixture
def config(make_config: Callable[..., LaunchConfig], aws_endpoint: str) -> LaunchConfig:
    return make_config(aws__endpoint_url=aws_endpoint, s3__create_bucket=True)


def _context(
    config: LaunchConfig, state: StateFile | None = None, *, read_only: bool = False
) -> StepContext:
    aws = Aws(
        AwsSettings(region=config.aws.region, endpoint_url=config.aws.endpoint_url, wait_scale=0),
        read_only=read_only,
    )
    return StepContext(config=config, aws=aws, account_id=ACCOUNT, state=state)


def _push_image(ctx: StepContext, repository: str, tag: str) -> None:
    ctx.aws.client("ecr").create_repository(repositoryName=repository)
    push_image(ctx.aws, repository, tag, digest="sha256:" + "a" * 64)


def _seed_google_login(ctx: StepContext) -> None:
    """The runbook's Google OAuth parameters, which the operator creates by hand."""
    for key in ("google_client_id", "google_client_secret"):
        ctx.aws.client("ssm").put_parameter(
            Name=ctx.config.secret_name(key), Value=f"{key}-value", Type="SecureString"
        )


def _apply_all(ctx: StepContext) -> None:
    for name in GRAPH:
        STEPS[name].apply(ctx)
        if ctx.state is not None:
            ctx.state.finish_step(name)


def _state(tmp_path: Path, config: LaunchConfig) -> StateFile:
    state: StateFile = launch_state(tmp_path, config)
    return state


def test_apply_creates_the_layout_and_a_second_apply_changes_nothing(
    config: LaunchConfig, tmp_path: Path
) -> None:
    state = _state(tmp_path, config)
    ctx = _context(config, state)
    _push_image(ctx, "zdp-airflow", "3.3.2")
    _seed_google_login(ctx)
    _apply_all(ctx)

    s3 = ctx.aws.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=config.s3.bucket)["Contents"]}
    for env in ("staging", "prod"):
        for folder in ("dags", "plugins", "logs", "bootstrap"):
            assert f"airflow/{env}/{folder}/" in keys
    script = s3.get_object(Bucket=config.s3.bucket, Key=config.bootstrap_key)["Body"].read()
    assert script.decode() == render_artifacts(config)["bootstrap.sh"]
    assert s3.get_public_access_block(Bucket=config.s3.bucket)["PublicAccessBlockConfiguration"][
        "BlockPublicAcls"
    ]
    ssm = ctx.aws.client("ssm")
    for key in ("fernet_key", "secret_key", "jwt_secret", "admin_password"):
        parameter = ssm.get_parameter(Name=config.secret_name(key), WithDecryption=True)
        assert parameter["Parameter"]["Type"] == "SecureString"
    fernet = ssm.get_parameter(Name=config.secret_name("fernet_key"), WithDecryption=True)
    fernet_value = fernet["Parameter"]["Value"]
    assert len(fernet_value) == 44
    outputs = state.step("image").outputs
    assert str(outputs["image_digest"]).startswith("sha256:")

    # the state names what was created, and holds no secret value in any form
    text = state.path.read_text()
    assert not contains_secret(text, [fernet_value])
    kinds = {r.kind for r in state.created_resources()}
    assert {"s3:bucket", "s3:object", "ssm:parameter"} <= kinds

    # a second apply, from a fresh process's point of view, makes no mutating call
    again = _context(config, StateFile.open(state.path))
    _apply_all(again)
    assert again.aws.recorder.mutating() == {}
    value = ssm.get_parameter(Name=config.secret_name("fernet_key"), WithDecryption=True)
    assert value["Parameter"]["Value"] == fernet_value  # never replaced


def test_plan_is_read_only_and_shows_what_apply_would_do(config: LaunchConfig) -> None:
    ctx = _context(config, read_only=True)
    plans = {name: STEPS[name].plan(ctx) for name in GRAPH}
    assert ctx.aws.recorder.mutating() == {}
    assert str(plans["s3_layout"].changes[0]).startswith(
        "create s3:bucket acme-dataplatform-airflow"
    )
    assert len(plans["s3_layout"].changes) == 1 + 8
    assert plans["bootstrap"].changes[0].verb == "create"
    assert "dnf install -y mount-s3" in plans["bootstrap"].artifacts["bootstrap.sh"]
    assert all("••••" in a.detail for a in plans["secrets"].changes)
    assert any("is not in ECR yet" in p for p in plans["image"].problems)
    with pytest.raises(ReadOnlyViolation):
        STEPS["s3_layout"].apply(ctx)  # the guard stops apply itself in read-only mode
    assert _context(config).aws.client("s3").list_buckets()["Buckets"] == []


def test_bootstrap_change_is_shown_as_a_diff(config: LaunchConfig) -> None:
    ctx = _context(config)
    STEPS["s3_layout"].apply(ctx)
    STEPS["bootstrap"].apply(ctx)
    moved = config.model_copy(
        update={"bootstrap": config.bootstrap.model_copy(update={"mount_point": "/mnt/data"})}
    )
    plan = STEPS["bootstrap"].plan(_context(moved))
    (action,) = plan.actions
    assert action.verb == "update"
    assert "-MOUNT_POINT=/mnt/airflow\n+MOUNT_POINT=/mnt/data" in action.diff


def test_missing_bucket_and_image_block_apply_with_a_hint(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint)
    ctx = _context(config)
    with pytest.raises(WizardError, match="bucket acme-dataplatform-airflow does not exist"):
        STEPS["s3_layout"].apply(ctx)
    with pytest.raises(WizardError, match="ECR repository zdp-airflow does not exist"):
        STEPS["image"].apply(ctx)
    assert ctx.aws.recorder.mutating() == {}


def test_interrupted_secret_is_adopted_not_replaced(config: LaunchConfig, tmp_path: Path) -> None:
    ctx = _context(config, _state(tmp_path, config))
    _seed_google_login(ctx)
    # an earlier run created the parameter, then died before writing the state
    ctx.aws.client("ssm").put_parameter(
        Name=config.secret_name("fernet_key"), Value="x" * 44, Type="SecureString"
    )
    STEPS["secrets"].apply(ctx)
    value = ctx.aws.client("ssm").get_parameter(
        Name=config.secret_name("fernet_key"), WithDecryption=True
    )["Parameter"]["Value"]
    assert value == "x" * 44
    recorded = {(r.id, r.created) for r in ctx.state.created_resources(created_only=False)}  # type: ignore[union-attr]
    assert (config.secret_name("fernet_key"), False) in recorded
    assert (config.secret_name("secret_key"), True) in recorded


def test_google_parameters_must_exist_when_google_login_is_on(config: LaunchConfig) -> None:
    plan = STEPS["secrets"].plan(_context(config))
    assert any("dataplatform.production.airflow.google_client_id" in p for p in plan.problems)


def test_discover_lists_what_a_user_picks_from(config: LaunchConfig) -> None:
    ctx = _context(config)
    _push_image(ctx, "zdp-airflow", "3.3.2")
    ctx.aws.client("s3").create_bucket(Bucket="another-bucket")
    choices: dict[str, Any] = {}
    for name in GRAPH:
        choices |= STEPS[name].discover(ctx)
    assert [c.value for c in choices["s3.bucket"]] == ["another-bucket"]
    assert [c.value for c in choices["image.tag"]] == ["3.3.2"]
    assert ctx.aws.recorder.mutating() == {
        "ecr.CreateRepository": 1,
        "ecr.PutImage": 1,
        "s3.CreateBucket": 1,
    }


def test_the_checklist_names_every_step_in_order_with_its_title() -> None:
    from wizard.checklist import CHECKLIST
    from wizard.steps import STEPS

    assert {name: step.title for name, step in STEPS.items()} == CHECKLIST
    assert list(STEPS) == list(CHECKLIST)


def test_an_operators_bucket_and_bootstrap_file_stay_theirs(
    config: LaunchConfig, tmp_path: Path
) -> None:
    ctx = _context(config, _state(tmp_path, config))
    s3, bucket = ctx.aws.client("s3"), config.s3.bucket
    s3.create_bucket(Bucket=bucket)  # there before, untagged
    s3.put_object(Bucket=bucket, Key=config.bootstrap_key, Body=b"#!/bin/bash\necho theirs\n")
    for name in ("s3_layout", "bootstrap"):
        STEPS[name].apply(ctx)
    assert ctx.state is not None
    records = {(r.kind, r.id): r.created for r in ctx.state.created_resources(created_only=False)}
    assert records[("s3:bucket", bucket)] is False
    assert records[("s3:object", config.bootstrap_uri)] is False
    assert s3.get_object_tagging(Bucket=bucket, Key=config.bootstrap_key)["TagSet"] == []
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket=bucket)  # an adopted bucket is not completed or tagged
    folders = [r for (kind, _), r in records.items() if kind == "s3:object" and r]
    assert len(folders) == 8  # the folder markers it made are its own (tagged at creation)


def test_an_intent_is_dropped_when_aws_refuses_the_create(
    config: LaunchConfig, tmp_path: Path
) -> None:
    ctx = _context(config, _state(tmp_path, config))
    step = STEPS["s3_layout"]
    s3 = ctx.aws.client("s3")
    with pytest.raises(s3.exceptions.ClientError), step.creating(ctx, "s3:bucket", "x"):
        s3.create_bucket(Bucket="x", CreateBucketConfiguration={"LocationConstraint": "nowhere"})
    assert ctx.state is not None and not ctx.state.intended("s3:bucket", "x")
    with pytest.raises(KeyError), step.creating(ctx, "s3:bucket", "y"):
        raise KeyError("the process died here")  # not AWS's refusal: the intent stays
    assert ctx.state.intended("s3:bucket", "y")
