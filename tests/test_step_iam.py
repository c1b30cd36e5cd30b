"""The iam step against the emulator server: the roles and policy documents IAM holds after
apply, policy updates only when the document changed, checks of given roles, idempotence by the
call recorder, read-only plans."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import launch_state
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.destroy import destroy
from wizard.errors import WizardError
from wizard.state import Resource, StateFile
from wizard.steps import iam as iam_module
from wizard.steps.base import StepContext
from wizard.steps.iam import IamStep, parameter_arn
from wizard.steps.iam_policies import Need, allows
from wizard.taskdefs import LAUNCH_TAG

ACCOUNT = "123456789012"
STEP = IamStep()
SSM = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/"
EXECUTION_ARN = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
TASK_ARN = f"arn:aws:iam::{ACCOUNT}:role/AirflowTaskRole"
EXECUTION, TASK = "airflow-staging-us-east-1-execution", "airflow-staging-us-east-1-task"
POLICY = "airflow-ecs-wizard-airflow-staging-us-east-1"
ECS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
_SESSIONS: dict[tuple[str, str, bool], Aws] = {}


def _aws(config: LaunchConfig, *, read_only: bool = False) -> Aws:
    """An `Aws` with a fresh call count (sessions are shared: clients are slow to make)."""
    key = (config.aws.endpoint_url, config.aws.region, read_only)
    if key not in _SESSIONS:
        settings = AwsSettings(region=config.aws.region, endpoint_url=config.aws.endpoint_url)
        _SESSIONS[key] = Aws(settings, read_only=read_only)
    aws = _SESSIONS[key]
    aws.recorder.reset()
    return aws


def _context(
    config: LaunchConfig, state: StateFile | None = None, *, read_only: bool = False
) -> StepContext:
    aws = _aws(config, read_only=read_only)
    return StepContext(config=config, aws=aws, account_id=ACCOUNT, state=state, yes=True)


def _state(tmp_path: Path, config: LaunchConfig) -> StateFile:
    state: StateFile = launch_state(tmp_path, config)
    return state


@pytest.fixture
def owned(make_config: Callable[..., LaunchConfig], aws_endpoint: str) -> LaunchConfig:
    """The example config with no roles named: the step creates both."""
    return make_config(
        aws__endpoint_url=aws_endpoint, iam__execution_role_arn="", iam__task_role_arn=""
    )


@pytest.fixture
def given(make_config: Callable[..., LaunchConfig], aws_endpoint: str) -> LaunchConfig:
    """The example config, which names existing roles."""
    return make_config(aws__endpoint_url=aws_endpoint)


def _statements(ctx: StepContext, role: str) -> dict[str, dict[str, Any]]:
    document = ctx.aws.client("iam").get_role_policy(RoleName=role, PolicyName=POLICY)[
        "PolicyDocument"
    ]
    if isinstance(document, str):
        document = json.loads(document)
    return {s["Sid"]: s for s in document["Statement"]}


def _make_role(ctx: StepContext, name: str, *statements: dict[str, Any], trust: Any = None) -> None:
    iam = ctx.aws.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust or ECS_TRUST))
    if statements:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        iam.put_role_policy(RoleName=name, PolicyName="ops", PolicyDocument=json.dumps(document))


def test_roles_are_created_with_least_privilege_policies_and_a_second_apply_changes_nothing(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    state = _state(tmp_path, owned)
    ctx = _context(owned, state)
    STEP.apply(ctx)

    iam = ctx.aws.client("iam")
    role = iam.get_role(RoleName=EXECUTION)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Statement"][0]["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    tags = iam.list_role_tags(RoleName=EXECUTION)["Tags"]
    assert {"Key": LAUNCH_TAG, "Value": "airflow-staging"} in tags

    execution = _statements(ctx, EXECUTION)
    staging = [
        f"{SSM}dataplatform.staging.airflow.{key}"
        for key in (
            "fernet_key",
            "sql_alchemy_url",
            "result_backend",
            "secret_key",
            "jwt_secret",
            "admin_password",
            "broker_url",
        )
    ]
    google = [f"{SSM}dataplatform.production.airflow.google_client_{k}" for k in ("id", "secret")]
    assert sorted(execution["ReadLaunchParameters"]["Resource"]) == sorted(staging + google)
    assert execution["ReadLaunchParameters"]["Action"] == ["ssm:GetParameters"]
    assert execution["EcrLogin"]["Resource"] == ["*"]
    assert execution["EcrPull"]["Resource"] == [
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/zdp-airflow"
    ]
    assert execution["DecryptParameters"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    }
    assert "WriteContainerLogs" not in execution  # json-file logging writes no CloudWatch logs

    task = _statements(ctx, TASK)
    logs = "arn:aws:s3:::acme-dataplatform-airflow/airflow/staging/logs/*"
    assert task["WriteTaskLogs"]["Resource"] == [logs]
    assert sorted(task["WriteTaskLogs"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert task["ListTaskLogs"]["Condition"] == {
        "StringLike": {"s3:prefix": ["airflow/staging/logs/*", "airflow/staging/logs"]}
    }
    assert task["ReadDagsAndPlugins"]["Resource"] == [
        "arn:aws:s3:::acme-dataplatform-airflow/airflow/staging/dags/*",
        "arn:aws:s3:::acme-dataplatform-airflow/airflow/staging/plugins/*",
    ]
    outputs = state.step("iam").outputs
    assert outputs["execution_role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION}"
    assert outputs["task_role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/{TASK}"
    created = {(r.kind, r.id) for r in state.created_resources()}
    assert ("iam:role", TASK) in created
    assert ("iam:role-policy", f"{TASK}/{POLICY}") in created

    again = _context(owned, StateFile.open(state.path))
    assert STEP.plan(again).changes == []
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


def test_a_path_parameter_gets_a_path_arn(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(
        aws__endpoint_url=aws_endpoint,
        iam__execution_role_arn="",
        iam__task_role_arn="",
        airflow__secrets__fernet_key="/airflow/staging/fernet_key",
    )
    ctx = _context(config)
    STEP.apply(ctx)
    resources = _statements(ctx, EXECUTION)["ReadLaunchParameters"]["Resource"]
    derived = ("fernet_key", "secret_key", "jwt_secret", "admin_password", "broker_url")
    assert sorted(resources) == sorted(
        [f"{SSM}airflow/staging/{key}" for key in derived]  # one slash: the name's own
        + [f"{SSM}dataplatform.staging.airflow.{k}" for k in ("sql_alchemy_url", "result_backend")]
        + [f"{SSM}dataplatform.production.airflow.google_client_{k}" for k in ("id", "secret")]
    )
    assert parameter_arn("/a/b", "aws-cn", "cn-north-1", ACCOUNT) == (
        f"arn:aws-cn:ssm:cn-north-1:{ACCOUNT}:parameter/a/b"
    )


def test_switching_to_awslogs_updates_only_the_execution_policy(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    STEP.apply(_context(owned))
    awslogs = owned.model_copy(
        update={"airflow": owned.airflow.model_copy(update={"log_driver": "awslogs"})}
    )
    ctx = _context(awslogs)
    plan = STEP.plan(ctx)
    (change,) = plan.changes
    assert (change.verb, change.name) == ("update", f"{EXECUTION}/{POLICY}")
    assert '+      "Sid": "WriteContainerLogs",' in change.diff
    assert '+        "logs:PutLogEvents"' in change.diff
    assert f"--- {EXECUTION}/{POLICY} (in IAM)" in change.diff
    assert '"logs:PutLogEvents"' in plan.artifacts["execution-role-policy.json"]

    STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {"iam.PutRolePolicy": 1}
    logs = _statements(ctx, EXECUTION)["WriteContainerLogs"]["Resource"]
    assert f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/airflow-staging:*" in logs


def test_plan_is_read_only_and_shows_the_policies(owned: LaunchConfig) -> None:
    ctx = _context(owned, read_only=True)
    plan = STEP.plan(ctx)
    assert ctx.aws.recorder.mutating() == {}
    assert [(a.verb, a.name) for a in plan.changes] == [
        ("create", EXECUTION),
        ("create", f"{EXECUTION}/{POLICY}"),
        ("create", TASK),
        ("create", f"{TASK}/{POLICY}"),
    ]
    for name in ("execution-role-policy.json", "task-role-policy.json"):
        assert json.loads(plan.artifacts[name])["Version"] == "2012-10-17"


def test_a_role_made_by_an_interrupted_run_is_adopted(owned: LaunchConfig, tmp_path: Path) -> None:
    ctx = _context(owned, _state(tmp_path, owned))
    # an earlier run created the role, then died before writing the state or the policy
    ctx.aws.client("iam").create_role(
        RoleName=TASK,
        AssumeRolePolicyDocument=json.dumps(ECS_TRUST),
        Tags=[{"Key": LAUNCH_TAG, "Value": "airflow-staging"}],
    )
    ctx.aws.recorder.reset()
    STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {"iam.CreateRole": 1, "iam.PutRolePolicy": 2}
    recorded = {(r.id, r.created) for r in ctx.state.created_resources(created_only=False)}  # type: ignore[union-attr]
    assert (TASK, True) in recorded
    assert "WriteTaskLogs" in _statements(ctx, TASK)


def test_given_roles_that_can_do_the_job_are_adopted(given: LaunchConfig, tmp_path: Path) -> None:
    ctx = _context(given, _state(tmp_path, given))
    _make_role(
        ctx,
        "ecsTaskExecutionRole",
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "ssm:GetParameter*", "Resource": f"{SSM}dataplatform.*"},
    )
    _make_role(
        ctx,
        "AirflowTaskRole",
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::acme-dataplatform-*"},
    )
    ctx.aws.recorder.reset()
    plan = STEP.plan(ctx)
    assert plan.warnings == [] and plan.problems == [] and plan.changes == []
    assert [(a.verb, a.name) for a in plan.actions] == [
        ("check", EXECUTION_ARN),
        ("check", TASK_ARN),
    ]
    STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {}
    recorded = {(r.kind, r.id, r.created) for r in ctx.state.created_resources(created_only=False)}  # type: ignore[union-attr]
    assert recorded == {
        ("iam:role", "ecsTaskExecutionRole", False),
        ("iam:role", "AirflowTaskRole", False),
    }
    assert ctx.state.step("iam").outputs == {  # type: ignore[union-attr]
        "execution_role_arn": EXECUTION_ARN,
        "task_role_arn": TASK_ARN,
    }


def test_given_roles_that_lack_permissions_are_warned_about(given: LaunchConfig) -> None:
    ctx = _context(given)
    _make_role(ctx, "ecsTaskExecutionRole", {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"})
    _make_role(
        ctx,
        "AirflowTaskRole",
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
        trust={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
    )
    plan = STEP.plan(ctx)
    assert plan.problems == []  # the operator may manage these policies elsewhere
    execution, untrusted, task = plan.warnings
    assert execution.startswith(
        f"the execution role {EXECUTION_ARN} seems to lack ssm:GetParameters on"
    )
    assert f"{SSM}dataplatform.staging.airflow.fernet_key" in execution
    assert "ecr:" not in execution
    assert untrusted == f"the task role {TASK_ARN} does not trust ecs-tasks.amazonaws.com"
    lacking = "s3:PutObject on arn:aws:s3:::acme-dataplatform-airflow/airflow/staging/logs/"
    assert lacking in task
    assert "s3:GetObject" not in task


def test_given_roles_that_do_not_exist_block_apply(given: LaunchConfig) -> None:
    ctx = _context(given)
    plan = STEP.plan(ctx)
    assert plan.problems == [
        f"the execution role {EXECUTION_ARN} (iam.execution_role_arn) does not exist: create it, "
        "or leave the field empty to let the wizard create one",
        f"the task role {TASK_ARN} (iam.task_role_arn) does not exist: create it, or leave the "
        "field empty to let the wizard create one",
    ]
    with pytest.raises(WizardError, match="ecsTaskExecutionRole"):
        STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {}


def test_the_policy_simulator_is_used_when_it_answers(
    given: LaunchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today's read-only guard does not count SimulatePrincipalPolicy as a read, so the step
    reads the documents; once it does, the simulator decides. moto does not implement it (HTTP
    500, then the documents are read), so the test answers in its place with botocore handlers
    on a session of its own."""
    ctx = _context(given)
    _make_role(ctx, "ecsTaskExecutionRole", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    _make_role(ctx, "AirflowTaskRole", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    monkeypatch.setattr(iam_module, "is_read", lambda operation: True)
    assert STEP.plan(ctx).warnings == []  # moto's 500: back to reading the documents
    assert ctx.aws.recorder.counts["iam.SimulatePrincipalPolicy"] == 2  # once per role
    assert ctx.aws.recorder.counts["iam.GetRolePolicy"] >= 2

    asked: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        asked.append(dict(params))

    def simulator(**_: Any) -> tuple[Any, dict[str, Any]]:
        request = asked[-1]
        results = [
            {
                "EvalActionName": action,
                "EvalResourceName": request["ResourceArns"][0],
                "EvalDecision": "implicitDeny" if action == "s3:ListBucket" else "allowed",
            }
            for action in request["ActionNames"]
        ]
        return SimpleNamespace(status_code=200, headers={}), {"EvaluationResults": results}

    settings = AwsSettings(region=given.aws.region, endpoint_url=given.aws.endpoint_url)
    aws = Aws(settings)
    aws.register("before-parameter-build.iam.SimulatePrincipalPolicy", capture)
    aws.register("before-call.iam.SimulatePrincipalPolicy", simulator)
    simulated = StepContext(config=given, aws=aws, account_id=ACCOUNT)
    (warning,) = STEP.plan(simulated).warnings
    assert warning.startswith(f"the task role {TASK_ARN} seems to lack s3:ListBucket on")
    listing = next(a for a in asked if a["ActionNames"] == ["s3:ListBucket"])
    assert listing["ContextEntries"][0]["ContextKeyName"] == "s3:prefix"
    assert listing["PolicySourceArn"] == TASK_ARN


def test_allows_reads_policy_documents_like_iam() -> None:
    need = Need("s3:PutObject", "arn:aws:s3:::b/logs/x", (("s3:prefix", "logs/x"),))
    allow = {"Effect": "Allow", "Action": "S3:Put*", "Resource": "arn:aws:s3:::b/*"}
    assert allows([{"Statement": [allow]}], need)
    assert not allows([{"Statement": [{**allow, "Resource": "arn:aws:s3:::c/*"}]}], need)
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert allows([{"Statement": not_action}], need)
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert not allows([{"Statement": [allow, deny]}], need)
    # a Deny whose condition cannot be judged here is not taken to apply; an Allow's is
    unknown = {"StringEquals": {"aws:SourceVpce": "vpce-1"}}
    assert allows([{"Statement": [allow, {**deny, "Condition": unknown}]}], need)
    assert allows([{"Statement": [{**allow, "Condition": unknown}]}], need)
    prefix = {**allow, "Condition": {"StringLike": {"s3:prefix": ["other/*"]}}}
    assert not allows([{"Statement": [prefix]}], need)


def _launch_state(tmp_path: Path, config: LaunchConfig) -> StateFile:
    return StateFile.create(
        tmp_path / f"{config.aws.region}.state.json",
        launch=config.name,
        account_id=ACCOUNT,
        region=config.aws.region,
        config_digest="test",
    )


def test_the_same_launch_name_in_two_regions_never_touches_the_others_roles(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    east = _context(owned, _launch_state(tmp_path, owned))
    STEP.apply(east)
    east_policy = _statements(east, EXECUTION)
    west_config = owned.model_copy(
        update={"aws": owned.aws.model_copy(update={"region": "us-west-2"})}
    )
    west = _context(west_config, _launch_state(tmp_path, west_config))
    STEP.apply(west)

    names = {r["RoleName"] for r in west.aws.client("iam").list_roles()["Roles"]}
    west_roles = {"airflow-staging-us-west-2-execution", "airflow-staging-us-west-2-task"}
    assert {EXECUTION, TASK} | west_roles <= names
    assert _statements(east, EXECUTION) == east_policy  # still us-east-1 ARNs
    assert west.state is not None
    assert {r.id for r in west.state.created_resources() if r.kind == "iam:role"} == west_roles

    result = destroy(west.aws, west.state, delete_data=True)
    assert result.failed == []
    names = {r["RoleName"] for r in west.aws.client("iam").list_roles()["Roles"]}
    assert {EXECUTION, TASK} <= names and not west_roles & names
    assert _statements(east, EXECUTION) == east_policy


def test_an_operators_role_and_policies_are_never_overwritten_or_deleted(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    ctx = _context(owned, _state(tmp_path, owned))
    operators = {
        "Sid": "Ops",
        "Effect": "Allow",
        "Action": ["s3:ListAllMyBuckets"],
        "Resource": "*",
    }
    _make_role(ctx, TASK, operators)  # the operator's role, untagged, with its own policy
    iam = ctx.aws.client("iam")
    document = json.dumps({"Version": "2012-10-17", "Statement": [operators]})
    iam.put_role_policy(RoleName=TASK, PolicyName="airflow-ecs-wizard", PolicyDocument=document)

    STEP.apply(ctx)
    assert ctx.state is not None
    records = {(r.kind, r.id): r.created for r in ctx.state.created_resources(created_only=False)}
    assert records[("iam:role", TASK)] is False
    assert records[("iam:role-policy", f"{TASK}/{POLICY}")] is True  # added beside, its own
    for name in ("ops", "airflow-ecs-wizard"):
        kept = iam.get_role_policy(RoleName=TASK, PolicyName=name)["PolicyDocument"]
        assert json.loads(json.dumps(kept)) in (json.loads(document), document)

    result = destroy(ctx.aws, ctx.state, delete_data=True)
    assert result.failed == []
    assert sorted(iam.list_role_policies(RoleName=TASK)["PolicyNames"]) == [
        "airflow-ecs-wizard",
        "ops",
    ]


def test_a_policy_of_the_launchs_name_it_did_not_write_blocks_apply(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    ctx = _context(owned, _state(tmp_path, owned))
    operators = {
        "Sid": "Ops",
        "Effect": "Allow",
        "Action": ["s3:ListAllMyBuckets"],
        "Resource": "*",
    }
    _make_role(ctx, EXECUTION)
    iam = ctx.aws.client("iam")
    document = json.dumps({"Version": "2012-10-17", "Statement": [operators]})
    iam.put_role_policy(RoleName=EXECUTION, PolicyName=POLICY, PolicyDocument=document)
    ctx.aws.recorder.reset()

    with pytest.raises(WizardError, match=f"holds an inline policy {POLICY} this launch did not"):
        STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {}
    assert _statements(ctx, EXECUTION) == {"Ops": operators}


def test_a_role_holding_a_foreign_policy_is_left_in_place_by_destroy(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    ctx = _context(owned, _state(tmp_path, owned))
    STEP.apply(ctx)
    iam = ctx.aws.client("iam")
    extra = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=TASK, PolicyName="guardrail", PolicyDocument=json.dumps(extra))
    assert ctx.state is not None

    result = destroy(ctx.aws, ctx.state, delete_data=True)
    assert [(r.id, "guardrail" in error) for r, error in result.failed] == [(TASK, True)]
    assert iam.list_role_policies(RoleName=TASK)["PolicyNames"] == ["guardrail"]
    assert EXECUTION not in {r["RoleName"] for r in iam.list_roles()["Roles"]}


def test_roles_of_an_earlier_version_move_to_the_new_names_and_only_its_own_go(
    owned: LaunchConfig, tmp_path: Path
) -> None:
    state = _state(tmp_path, owned)
    ctx = _context(owned, state)
    iam = ctx.aws.client("iam")
    legacy = {"execution": "airflow-staging-execution", "task": "airflow-staging-task"}
    for role, name in legacy.items():  # as an earlier version made and recorded them
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(ECS_TRUST),
            Tags=[{"Key": LAUNCH_TAG, "Value": "airflow-staging"}],
        )
        old = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_role_policy(
            RoleName=name, PolicyName="airflow-ecs-wizard", PolicyDocument=json.dumps(old)
        )
        if role == "execution":
            state.record_resource("iam", Resource(kind="iam:role", id=name, created=True))
            policy = Resource(kind="iam:role-policy", id=f"{name}/airflow-ecs-wizard", created=True)
            state.record_resource("iam", policy)
    # the task role is recorded as adopted: retiring must leave it alone

    state.record_resource("iam", Resource(kind="iam:role", id=legacy["task"], created=False))
    STEP.apply(ctx)
    assert state.step("iam").outputs["execution_role_arn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION}"
    )
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert {EXECUTION, TASK, *legacy.values()} <= names  # both, until the services moved

    STEP.retire(ctx)
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert legacy["execution"] not in names
    assert {EXECUTION, TASK, legacy["task"]} <= names
    assert iam.list_role_policies(RoleName=legacy["task"])["PolicyNames"] == ["airflow-ecs-wizard"]
    ids = {r.id for r in StateFile.open(state.path).created_resources(created_only=False)}
    assert legacy["execution"] not in ids and f"{legacy['execution']}/airflow-ecs-wizard" not in ids
