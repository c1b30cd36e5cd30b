"""Step cluster: the ECS cluster's CloudFormation stack, created from `cluster.cfn.json`, or a
console-made stack patched the way the runbook patches it by hand (through a change set).

A change to a stack the launch created (instance type, sizes, a newer AMI, new user data) goes
through a change set too, and the plan lists what changes. When the instances must be replaced
to take it (a new AMI, instance type or launch template), apply runs an instance refresh of the
stack's Auto Scaling groups and waits for it. A refresh the plan promised stays pending in the
state (`pending_instance_refresh`) until it is done, so an apply that failed on the way does it
when run again.
"""

from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.cfn_template import load_template
from wizard.checklist import CHECKLIST
from wizard.errors import WizardError
from wizard.patch_template import patch_template
from wizard.render import AMI_PARAMETERS, render_artifacts
from wizard.steps import console_stack, instance_refresh
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan

POLL_SECONDS = 5.0
FAILED_STATES = {
    "ROLLBACK_COMPLETE": "the stack was never created (it rolled back): delete it with "
    "`aws cloudformation delete-stack --stack-name {stack}` and apply again",
    "ROLLBACK_FAILED": "creating it failed and so did the rollback: delete it (retaining the "
    "resources the events name), then apply again",
    "UPDATE_ROLLBACK_FAILED": "an update failed and could not roll back: run `aws cloudformation "
    "continue-update-rollback --stack-name {stack}`, then apply again",
    "DELETE_FAILED": "a delete failed: look at its events, delete it again, then apply",
}
IN_PROGRESS = "_IN_PROGRESS"


REFRESH_KIND = "autoscaling:instance-refresh"
PENDING = "pending_instance_refresh"
"""The cluster step's output listing the groups whose promised refresh is not done yet."""
REPLACES_INSTANCES = ("InstanceType", "EcsAmiId")
"""Parameters of the launch's template that the instances take only when they are replaced."""


def cluster_name(ctx: StepContext) -> str:
    """The ECS cluster the launch runs in: the one the cluster step recorded (a patched console
    stack's own cluster), else the config's."""
    return str(ctx.outputs("cluster").get("cluster_name") or ctx.config.cluster_name)


@dataclass
class _Survey:
    """What `plan` found, kept for `apply`."""

    plan: StepPlan
    verb: str = "no-op"
    cluster: str = ""
    refresh: list[str] = field(default_factory=list)
    grants: list[console_stack.RoleGrant] = field(default_factory=list)


class ClusterStep(Step):
    """Create the cluster stack, or patch the console's; wait with progress from its events."""

    name = "cluster"
    title = CHECKLIST["cluster"]
    depends_on = ("network", "iam", "bootstrap")

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        paginator = ctx.aws.client("cloudformation").get_paginator("describe_stacks")
        stacks = [s for page in paginator.paginate() for s in page["Stacks"]]
        return {
            "cluster.existing_stack": [
                Choice(s["StackName"], f"{s['StackName']} ({s['StackStatus']})") for s in stacks
            ]
        }

    def plan(self, ctx: StepContext) -> StepPlan:
        return self._survey(ctx).plan

    def _survey(self, ctx: StepContext) -> _Survey:
        survey = _Survey(StepPlan(self.name), cluster=ctx.config.cluster_name)
        plan = survey.plan
        stack = self._stack(ctx)
        name = ctx.config.stack_name
        if stack is not None and stack["StackStatus"] in FAILED_STATES:
            reason = FAILED_STATES[stack["StackStatus"]].format(stack=name)
            plan.problems.append(f"stack {name} is {stack['StackStatus']}: {reason}")
            return survey
        if ctx.config.cluster.existing_stack:
            self._plan_patch(ctx, survey, stack)
        else:
            self._plan_own(ctx, survey, stack)
        pending = [g for g in ctx.outputs(self.name).get(PENDING, []) if g not in survey.refresh]
        groups = self._groups(ctx) if pending and stack is not None else {}
        for logical in pending:
            survey.refresh.append(logical)
            detail = "promised by an earlier apply that did not finish it"
            shown = groups.get(logical) or logical
            plan.actions.append(Action("update", REFRESH_KIND, shown, detail))
        return survey

    def _plan_own(self, ctx: StepContext, survey: _Survey, stack: dict[str, Any] | None) -> None:
        plan, name = survey.plan, ctx.config.stack_name
        template = render_artifacts(ctx.config, ctx.account_id)["cluster.cfn.json"]
        plan.artifacts["cluster.cfn.json"] = template
        if stack is None:
            survey.verb = "create"
            plan.actions.append(
                Action("create", "cloudformation:stack", name, f"cluster {ctx.config.cluster_name}")
            )
            return
        current = self._template_text(ctx)
        deployed, rendered = json.loads(current), json.loads(template)
        resources = _changed_resources(deployed, rendered)
        changes = self._parameter_changes(ctx, stack)
        if not resources and not changes and deployed == rendered:
            plan.actions.append(Action("no-op", "cloudformation:stack", name, "up to date"))
            return
        survey.verb = "update"
        what = [f"{key} {old} -> {new}" for key, old, new in changes]
        what += [f"{logical} ({kind})" for logical, kind in resources]
        diff = _diff(current, template, f"{name} (deployed)", "cluster.cfn.json (rendered)")
        detail = "change set: " + (", ".join(what) or "template")
        plan.actions.append(Action("update", "cloudformation:stack", name, detail, diff))
        for key, old, new in changes:
            plan.actions.append(
                Action("update", "cloudformation:parameter", key, f"{old} -> {new}")
            )
        replace = [key for key, _, _ in changes if key in REPLACES_INSTANCES]
        replace += [logical for logical, kind in resources if kind == "AWS::EC2::LaunchTemplate"]
        if replace:
            why = f"the instances take {', '.join(replace)} only when replaced"
            self._plan_refresh(ctx, survey, why)

    def _parameter_changes(
        self, ctx: StepContext, stack: dict[str, Any]
    ) -> list[tuple[str, str, str]]:
        """The parameters whose values change, AMI included (an SSM-typed parameter re-resolves
        on update: its latest value is what the instances get)."""
        deployed = {p["ParameterKey"]: p for p in stack.get("Parameters", [])}
        changes = []
        for wanted in self._parameters(ctx):
            key, value = wanted["ParameterKey"], wanted["ParameterValue"]
            old = deployed.get(key, {})
            if key == "EcsAmiId":
                resolved = str(old.get("ResolvedValue") or old.get("ParameterValue", ""))
                latest = _latest(ctx, value)
                if latest and resolved != latest:
                    changes.append((key, resolved or "(none)", latest))
            elif key in ("InstanceType", "MinSize", "MaxSize") and (
                str(old.get("ParameterValue", "")) != value
            ):
                changes.append((key, str(old.get("ParameterValue", "(none)")), value))
        return changes

    def _plan_patch(self, ctx: StepContext, survey: _Survey, stack: dict[str, Any] | None) -> None:
        plan, name = survey.plan, ctx.config.stack_name
        if stack is None:
            plan.problems.append(
                f"stack {name} (cluster.existing_stack) does not exist in {ctx.aws.region}"
            )
            return
        console = console_stack.read_stack(ctx, stack)
        checks = StepPlan(self.name)  # listed after the stack's own action
        survey.cluster = console_stack.stack_cluster(ctx, checks, console)
        loaded = load_template(self._template_text(ctx), source_name=name)
        patched, paths = patch_template(
            loaded.doc, cluster_name=survey.cluster, bootstrap_uri=ctx.config.bootstrap_uri
        )
        plan.artifacts["patched-template"] = loaded.dump(patched)
        if not paths:
            plan.actions.append(Action("no-op", "cloudformation:stack", name, "already patched"))
        else:
            survey.verb = "update"
            diff = _diff(
                loaded.dump(), loaded.dump(patched), f"{name} (deployed)", f"{name} (patched)"
            )
            detail = "change set: " + ", ".join(paths)
            plan.actions.append(Action("update", "cloudformation:stack", name, detail, diff))
            plan.actions += self._ami_changes(ctx, stack)
            why = "running instances keep the old launch template or configuration until replaced"
            self._plan_refresh(ctx, survey, why)
        console_stack.own_values(ctx, checks, console)
        console_stack.ami_family(ctx, checks, console)
        survey.grants = console_stack.role_access(ctx, checks, console)
        plan.actions += checks.actions
        plan.warnings += checks.warnings
        plan.problems += checks.problems
        plan.consents += checks.consents

    def _plan_refresh(self, ctx: StepContext, survey: _Survey, why: str) -> None:
        for logical, physical in self._groups(ctx).items():
            survey.refresh.append(logical)
            survey.plan.actions.append(Action("update", REFRESH_KIND, physical or logical, why))

    def _groups(self, ctx: StepContext) -> dict[str, str]:
        """The stack's Auto Scaling groups, by logical id (an update may replace a group, and
        with it its name)."""
        resources = ctx.aws.client("cloudformation").describe_stack_resources(
            StackName=ctx.config.stack_name
        )["StackResources"]
        return {
            str(r["LogicalResourceId"]): str(r.get("PhysicalResourceId", ""))
            for r in resources
            if r.get("ResourceType") == "AWS::AutoScaling::AutoScalingGroup"
        }

    def _ami_changes(self, ctx: StepContext, stack: dict[str, Any]) -> list[Action]:
        """An SSM-typed AMI parameter re-resolves on update: show the AMI that will change."""
        actions = []
        for parameter in stack.get("Parameters", []):
            resolved = parameter.get("ResolvedValue")
            if not resolved or not str(parameter.get("ParameterValue", "")).startswith("/aws/"):
                continue
            latest = _latest(ctx, parameter["ParameterValue"])
            if latest and latest != resolved:
                actions.append(
                    Action(
                        "update",
                        "ec2:ami",
                        parameter["ParameterKey"],
                        f"{resolved} -> {latest} (the instances are replaced to use it)",
                    )
                )
        return actions

    def apply(self, ctx: StepContext) -> None:
        survey = self._survey(ctx)
        self.blocked(survey.plan, ctx)
        console_stack.grant(
            ctx, survey.grants, lambda kind, identifier: self.created(ctx, kind, identifier)
        )
        pending = list(ctx.outputs(self.name).get(PENDING, []))
        if survey.refresh:  # promised: kept until done, whatever stops this apply
            self.set_outputs(ctx, **{PENDING: sorted(set(pending) | set(survey.refresh))})
        if survey.verb == "create":
            self._create(ctx, survey.plan.artifacts["cluster.cfn.json"])
        elif survey.verb == "update" and ctx.config.cluster.existing_stack:
            self._change_set(ctx, survey.plan.artifacts["patched-template"], previous=True)
        elif survey.verb == "update":
            self._change_set(ctx, survey.plan.artifacts["cluster.cfn.json"], previous=False)
        groups = self._groups(ctx) if survey.refresh else {}
        for logical in survey.refresh:
            if groups.get(logical):  # a group the update removed needs no refresh
                instance_refresh.refresh(ctx, groups[logical])
            left = [g for g in ctx.outputs(self.name).get(PENDING, []) if g != logical]
            self.set_outputs(ctx, **{PENDING: left})
        stack = self._stack(ctx)
        assert stack is not None
        if not self.is_recorded(ctx, "cloudformation:stack", stack["StackId"]):
            self.record_found(ctx, "cloudformation:stack", stack["StackId"], stack.get("Tags", []))
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        self.set_outputs(
            ctx,
            stack_id=stack["StackId"],
            cluster_name=survey.cluster,
            autoscaling_group=outputs.get("AutoScalingGroupName", ""),
            capacity_provider=outputs.get("CapacityProviderName", ""),
        )

    def _create(self, ctx: StepContext, template: str) -> None:
        cloudformation = ctx.aws.client("cloudformation")
        response = cloudformation.create_stack(
            StackName=ctx.config.stack_name,
            TemplateBody=template,
            Parameters=self._parameters(ctx),
            Capabilities=["CAPABILITY_IAM"],
            Tags=ctx.launch_tags,
            ClientRequestToken=f"{ctx.config.name}-cluster-create",
            OnFailure="ROLLBACK",
        )
        self.created(ctx, "cloudformation:stack", response["StackId"])  # before the wait
        self._wait(ctx, "CREATE_COMPLETE")

    def _change_set(self, ctx: StepContext, template: str, *, previous: bool) -> None:
        """Create, show and execute a change set: a console stack keeps each parameter's previous
        value (AWS would reset an omitted one to its default); the launch's own stack gets its
        values from the config."""
        cloudformation = ctx.aws.client("cloudformation")
        stack = self._stack(ctx)
        assert stack is not None
        name = f"airflow-ecs-wizard-{int(time.time())}"
        parameters: list[dict[str, Any]] = (
            [
                {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                for p in stack.get("Parameters", [])
            ]
            if previous
            else list(self._parameters(ctx))
        )
        cloudformation.create_change_set(
            StackName=ctx.config.stack_name,
            ChangeSetName=name,
            TemplateBody=template,
            Parameters=parameters,
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            ChangeSetType="UPDATE",
        )
        waiter = cloudformation.get_waiter("change_set_create_complete")
        ctx.aws.wait(waiter, POLL_SECONDS, 120, StackName=ctx.config.stack_name, ChangeSetName=name)
        described = cloudformation.describe_change_set(
            StackName=ctx.config.stack_name, ChangeSetName=name
        )
        for change in described.get("Changes", []):
            detail = change.get("ResourceChange", {})
            ctx.progress(f"change set: {detail.get('Action')} {detail.get('LogicalResourceId')}")
        cloudformation.execute_change_set(StackName=ctx.config.stack_name, ChangeSetName=name)
        self._wait(ctx, "UPDATE_COMPLETE")

    def _parameters(self, ctx: StepContext) -> list[dict[str, str]]:
        """Every parameter of the launch's template, given: on update AWS resets an omitted
        one to its default."""
        network = ctx.outputs("network")
        groups = network.get("instance_security_group_ids") or ctx.config.network.security_group_ids
        cluster = ctx.config.cluster
        parameters = {
            "EcsAmiId": AMI_PARAMETERS[(ctx.config.bootstrap.os, cluster.arm64)],
            "InstanceType": cluster.instance_type,
            "SubnetIds": ",".join(ctx.config.network.subnet_ids),
            "InstanceSecurityGroupIds": ",".join(groups),
            "MinSize": str(cluster.min_size),
            "MaxSize": str(cluster.max_size),
        }
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items() if v]

    def _wait(self, ctx: StepContext, success: str) -> None:
        """Poll the stack until it settles, reporting each new stack event as progress."""
        cloudformation = ctx.aws.client("cloudformation")
        seen: set[str] = set()
        while True:
            events = cloudformation.describe_stack_events(StackName=ctx.config.stack_name)
            for event in reversed(events.get("StackEvents", [])):
                if event["EventId"] not in seen:
                    seen.add(event["EventId"])
                    why = event.get("ResourceStatusReason")
                    reason = f": {why}" if why else ""
                    ctx.progress(f"{event['LogicalResourceId']} {event['ResourceStatus']}{reason}")
            stack = self._stack(ctx)
            status = stack["StackStatus"] if stack else "GONE"
            if status == success:
                return
            if not status.endswith(IN_PROGRESS):
                hint = FAILED_STATES.get(status, "see the stack's events").format(
                    stack=ctx.config.stack_name
                )
                raise WizardError(
                    f"stack {ctx.config.stack_name} ended {status}, not {success}",
                    title="Cluster stack failed",
                    hint=hint,
                )
            ctx.aws.pause(POLL_SECONDS)

    def _stack(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            stacks = ctx.aws.client("cloudformation").describe_stacks(
                StackName=ctx.config.stack_name
            )["Stacks"]
        except ClientError as error:
            if error_code(error) == "ValidationError":
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def _template_text(self, ctx: StepContext) -> str:
        body = ctx.aws.client("cloudformation").get_template(StackName=ctx.config.stack_name)[
            "TemplateBody"
        ]
        # a dict for JSON stacks, a string for YAML ones
        return body if isinstance(body, str) else json.dumps(body, indent=2)


def _latest(ctx: StepContext, parameter: str) -> str:
    """The AMI a public SSM parameter names now ("" when it cannot be read)."""
    try:
        return str(ctx.aws.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"])
    except ClientError:
        return ""


def _changed_resources(deployed: dict[str, Any], rendered: dict[str, Any]) -> list[tuple[str, str]]:
    """The resources whose definitions differ, with their types."""
    before, after = deployed.get("Resources", {}), rendered.get("Resources", {})
    return [
        (logical, str(after.get(logical, before.get(logical, {})).get("Type", "")))
        for logical in sorted(set(before) | set(after))
        if before.get(logical) != after.get(logical)
    ]


def _diff(before: str, after: str, before_name: str, after_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=before_name,
            tofile=after_name,
        )
    )
