"""Step iam: the task execution role (pulls the image, reads the launch's parameters, writes
awslogs) and the task role (Airflow's remote logs in S3, reading dags and plugins).

Created with least-privilege inline policies when the config names none (inline, so they go with
the role, and because emulators do not load AWS managed policies); otherwise checked, with a
warning for each permission a given role seems to lack (the operator may manage it elsewhere).
IAM's policy simulator judges a given role when it can be asked; otherwise the role's documents
are read and judged by `wizard.steps.iam_policies`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any, Literal

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from wizard import naming
from wizard.aws import error_code, is_read
from wizard.checklist import CHECKLIST
from wizard.steps.base import Action, Step, StepContext, StepPlan
from wizard.steps.iam_policies import Document, Need, allows, listed, needs_of, parse_document
from wizard.taskdefs import LAUNCH_TAG, taskdef_context

Role = Literal["execution", "task"]
ECS_TASKS = "ecs-tasks.amazonaws.com"


def parameter_arn(name: str, partition: str, region: str, account_id: str) -> str:
    """An SSM parameter's ARN: `parameter/NAME`, and `parameter/path/name` for `/path/name`.

    Args:
        name: The parameter's name, or its ARN (returned as it is).
        partition: The AWS partition (`aws`, `aws-cn`, ...).
        region: The parameter's region.
        account_id: The account that holds it.

    Returns:
        The ARN IAM policies name the parameter by.
    """
    if name.startswith("arn:"):
        return name
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter/{name.lstrip('/')}"


def _allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> Document:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _policy(*statements: Document) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def execution_policy(ctx: StepContext) -> Document:
    """What the execution role needs for every task definition of the launch, and no more."""
    config, account = ctx.config, ctx.account_id
    partition, region = config.partition, config.aws.region
    taskdefs = [taskdef_context(config, c, account) for c in config.rendered_components]
    names = sorted({name for taskdef in taskdefs for name in taskdef["secrets"].values()})
    repository = f"arn:{partition}:ecr:{region}:{account}:repository/{config.image.ecr_repository}"
    pull = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    parameters = [parameter_arn(name, partition, region, account) for name in names]
    statements = [
        _allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        _allow("EcrPull", pull, [repository]),
        _allow("ReadLaunchParameters", ["ssm:GetParameters"], parameters),
        # The SecureStrings use the AWS managed key alias/aws/ssm: decrypt only when SSM asks
        # on the role's behalf (a customer managed key would need its key policy as well).
        _allow(
            "DecryptParameters",
            ["kms:Decrypt"],
            [f"arn:{partition}:kms:{region}:{account}:key/*"],
            Condition={"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}},
        ),
    ]
    logs = [t["log_configuration"] for t in taskdefs]
    groups = sorted({c["options"]["awslogs-group"] for c in logs if c["logDriver"] == "awslogs"})
    if groups:
        prefix = f"arn:{partition}:logs:{region}:{account}:log-group:"
        writes = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
        arns = [arn for group in groups for arn in (f"{prefix}{group}", f"{prefix}{group}:*")]
        statements.append(_allow("WriteContainerLogs", writes, arns))
    return _policy(*statements)


def task_policy(ctx: StepContext) -> Document:
    """What Airflow itself needs: its remote log folder, and reading dags/ and plugins/."""
    config, partition = ctx.config, ctx.config.partition
    bucket, _, logs = config.remote_log_folder.removeprefix("s3://").partition("/")
    logs_bucket, dags_bucket = (f"arn:{partition}:s3:::{b}" for b in (bucket, config.s3.bucket))
    folders = [config.s3.key(config.environment, name) for name in ("dags", "plugins")]
    objects = f"{logs_bucket}/{logs}/*" if logs else f"{logs_bucket}/*"
    log_prefixes = [f"{logs}/*", logs] if logs else ["*"]
    return _policy(
        _allow("WriteTaskLogs", ["s3:GetObject", "s3:PutObject"], [objects]),
        _allow(
            "ListTaskLogs",
            ["s3:ListBucket"],
            [logs_bucket],
            Condition={"StringLike": {"s3:prefix": log_prefixes}},
        ),
        _allow("ReadDagsAndPlugins", ["s3:GetObject"], [f"{dags_bucket}/{f}/*" for f in folders]),
        _allow(
            "ListDagsAndPlugins",
            ["s3:ListBucket"],
            [dags_bucket],
            Condition={"StringLike": {"s3:prefix": [p for f in folders for p in (f"{f}/*", f)]}},
        ),
    )


def trust_policy(ctx: StepContext) -> Document:
    """ECS tasks may assume the role, for this account's clusters only."""
    account, source = ctx.account_id, f"arn:{ctx.config.partition}:ecs:{ctx.config.aws.region}"
    return _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": ECS_TASKS},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnLike": {"aws:SourceArn": f"{source}:{account}:*"},
                "StringEquals": {"aws:SourceAccount": account},
            },
        }
    )


def _text(document: Document) -> str:
    return json.dumps(document, indent=2) + "\n"


def _trusts_ecs(role: Document) -> bool:
    """Whether a role's trust policy lets ECS tasks assume it."""
    trust = parse_document(role.get("AssumeRolePolicyDocument", {}))
    return any(
        s.get("Effect") == "Allow" and ECS_TASKS in json.dumps(s.get("Principal"))
        for s in listed(trust.get("Statement", []))
    )


def _unless_missing(call: Callable[[], Document]) -> Document | None:
    """The result of an IAM read, or None when the entity does not exist."""
    try:
        return call()
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


class IamStep(Step):
    """The two roles every task definition names."""

    name = "iam"
    title = CHECKLIST["iam"]
    depends_on = ("account",)

    def policies(self, ctx: StepContext) -> dict[Role, Document]:
        """The inline policy each role gets (for a given role: what it must allow)."""
        return {"execution": execution_policy(ctx), "task": task_policy(ctx)}

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        for role, policy in self.policies(ctx).items():
            plan.artifacts[f"{role}-role-policy.json"] = _text(policy)
            if _given(ctx, role):
                self._check_given(ctx, plan, role, policy)
            else:
                self._plan_owned(ctx, plan, role, policy)
        return plan

    def apply(self, ctx: StepContext) -> None:
        self.blocked(self.plan(ctx))
        iam = ctx.aws.client("iam")
        outputs: dict[str, str] = {}
        for role, policy in self.policies(ctx).items():
            arn = _given(ctx, role)
            if arn:
                self.adopted(ctx, "iam:role", arn.rsplit("/", 1)[-1])
                outputs[f"{role}_role_arn"] = arn
                continue
            name = ctx.config.role_name(role)
            found = _role(ctx, name)
            if found is None:
                found = iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust_policy(ctx)),
                    Description=f"airflow-ecs-wizard {ctx.config.name}: ECS task {role} role",
                    Tags=ctx.launch_tags,
                )["Role"]
                self.created(ctx, "iam:role", name)
                ctx.progress(f"role {name} created")
            else:
                self.record_found(ctx, "iam:role", name, found.get("Tags", []))
            policy_id = f"{name}/{ctx.config.policy_name}"
            if _inline(ctx, name, ctx.config.policy_name) != policy:
                # an inline policy carries no tag: the intent marks it as the launch's
                with self.creating(ctx, "iam:role-policy", policy_id):
                    iam.put_role_policy(
                        RoleName=name,
                        PolicyName=ctx.config.policy_name,
                        PolicyDocument=json.dumps(policy),
                    )
                self.created(ctx, "iam:role-policy", policy_id)
            elif not self.is_recorded(ctx, "iam:role-policy", policy_id):
                self.record_found(ctx, "iam:role-policy", policy_id, found.get("Tags", []))
            outputs[f"{role}_role_arn"] = str(found["Arn"])
        self.set_outputs(ctx, **outputs)

    def retire(self, ctx: StepContext) -> None:
        """Delete the roles and policies earlier versions of this launch created under names
        it no longer uses (`NAME-execution`, policy `airflow-ecs-wizard`): called once every
        step applied, so the services already run with the new roles. Only what the state
        records as created by this launch is deleted."""
        from wizard.destroy import DELETERS

        if ctx.state is None:
            return
        wanted = {
            f"{ctx.config.role_name(role)}{suffix}"
            for role in self.policies(ctx)
            if not _given(ctx, role)
            for suffix in ("", f"/{ctx.config.policy_name}")
        }
        old = [
            r
            for r in ctx.state.step(self.name).resources
            if r.created and r.kind in {"iam:role", "iam:role-policy"} and r.id not in wanted
        ]
        for resource in sorted(old, key=lambda r: r.kind != "iam:role-policy"):
            DELETERS[resource.kind](ctx.aws, resource.id)
            ctx.state.forget_resource(resource.kind, resource.id)
            ctx.progress(f"{resource.kind} {resource.id} retired (replaced by a new name)")

    def _plan_owned(self, ctx: StepContext, plan: StepPlan, role: Role, policy: Document) -> None:
        name, policy_name = ctx.config.role_name(role), ctx.config.policy_name
        policy_id, artifact = f"{name}/{policy_name}", f"{role}-role-policy.json"
        found = _role(ctx, name)
        if found is None:
            plan.actions.append(Action("create", "iam:role", name, f"trusted by {ECS_TASKS}"))
            plan.actions.append(Action("create", "iam:role-policy", policy_id, artifact))
            return
        mine = _ours(ctx, found)
        detail = "exists" if mine else "exists without this launch's tag: adopted, kept on destroy"
        plan.actions.append(Action("no-op", "iam:role", name, detail))
        if not _trusts_ecs(found):
            plan.warnings.append(f"role {name} does not trust {ECS_TASKS}: ECS cannot use it")
        current = _inline(ctx, name, policy_name)
        if current is None:
            plan.actions.append(Action("create", "iam:role-policy", policy_id, artifact))
        elif current != policy and not (mine or _policy_is_ours(ctx, policy_id)):
            plan.problems.append(
                f"role {name} holds an inline policy {policy_name} this launch did not write: "
                "it is never overwritten. Rename or delete it, or name the role in "
                f"iam.{role}_role_arn"
            )
        elif current != policy:
            before, after = (_text(d).splitlines(keepends=True) for d in (current, policy))
            diff = difflib.unified_diff(before, after, f"{policy_id} (in IAM)", artifact)
            plan.actions.append(
                Action("update", "iam:role-policy", policy_id, artifact, "".join(diff))
            )
        else:
            plan.actions.append(Action("no-op", "iam:role-policy", policy_id, "up to date"))

    def _check_given(self, ctx: StepContext, plan: StepPlan, role: Role, policy: Document) -> None:
        arn = _given(ctx, role)
        account = naming.role_arn_account(arn)
        if account != ctx.account_id:
            plan.warnings.append(
                f"the {role} role {arn} is in account {account}, not {ctx.account_id}: "
                "it cannot be checked from here"
            )
            return
        found = _role(ctx, arn.rsplit("/", 1)[-1])
        if found is None:
            plan.problems.append(
                f"the {role} role {arn} (iam.{role}_role_arn) does not exist: create it, or "
                "leave the field empty to let the wizard create one"
            )
            return
        plan.actions.append(Action("check", "iam:role", arn, "given"))
        if not _trusts_ecs(found):
            plan.warnings.append(f"the {role} role {arn} does not trust {ECS_TASKS}")
        needs = needs_of(policy)
        lacking = _simulate(ctx, arn, needs)
        if lacking is None:  # no simulator: read the role's own policies (not its boundary)
            documents = _documents(ctx, str(found["RoleName"]))
            lacking = [need for need in needs if not allows(documents, need)]
        if lacking:
            plan.warnings.append(
                f"the {role} role {arn} seems to lack "
                f"{'; '.join(f'{n.action} on {n.resource}' for n in lacking)} "
                f"(see {role}-role-policy.json for what it needs)"
            )


def _given(ctx: StepContext, role: Role) -> str:
    iam = ctx.config.iam
    return iam.execution_role_arn if role == "execution" else iam.task_role_arn


def _role(ctx: StepContext, name: str) -> Document | None:
    return _unless_missing(lambda: dict(ctx.aws.client("iam").get_role(RoleName=name)["Role"]))


def _inline(ctx: StepContext, name: str, policy: str) -> Document | None:
    iam = ctx.aws.client("iam")
    found = _unless_missing(lambda: iam.get_role_policy(RoleName=name, PolicyName=policy))
    return None if found is None else parse_document(found["PolicyDocument"])


def _policy_is_ours(ctx: StepContext, policy_id: str) -> bool:
    """Whether the state says this launch wrote that policy (recorded, or its write under way)."""
    if ctx.state is None:
        return False
    record = ctx.state.recorded("iam:role-policy", policy_id)
    return bool(record and record.created) or ctx.state.intended("iam:role-policy", policy_id)


def _ours(ctx: StepContext, role: Document) -> bool:
    return {"Key": LAUNCH_TAG, "Value": ctx.config.name} in role.get("Tags", [])


def _simulate(ctx: StepContext, arn: str, needs: list[Need]) -> list[Need] | None:
    """The needs IAM's policy simulator denies; None when it cannot be asked."""
    if not is_read("SimulatePrincipalPolicy"):
        return None  # the read-only guard would refuse it: read the documents instead
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Need]] = {}
    for need in needs:
        groups.setdefault((need.resource, need.context), []).append(need)
    lacking = []
    try:
        for (resource, context), group in groups.items():
            results = ctx.aws.client("iam").simulate_principal_policy(
                PolicySourceArn=arn,
                ActionNames=[need.action for need in group],
                ResourceArns=[resource],
                ContextEntries=[
                    {"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"}
                    for k, v in context
                ],
            )["EvaluationResults"]
            allowed = {r["EvalActionName"] for r in results if r["EvalDecision"] == "allowed"}
            lacking += [need for need in group if need.action not in allowed]
    except (ClientError, ResponseParserError):  # not allowed to simulate, or not implemented
        return None
    return lacking


def _documents(ctx: StepContext, name: str) -> list[Document]:
    """A role's inline policies and the default versions of its attached managed policies."""
    iam = ctx.aws.client("iam")
    documents = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy in page["PolicyNames"]:
            found = iam.get_role_policy(RoleName=name, PolicyName=policy)
            documents.append(parse_document(found["PolicyDocument"]))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            found = iam.get_policy_version(PolicyArn=arn, VersionId=version)
            documents.append(parse_document(found["PolicyVersion"]["Document"]))
    return documents
