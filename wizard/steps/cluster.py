"""Step cluster: the ECS cluster's CloudFormation stack, created from `cluster.cfn.json`, or a
console-made stack patched the way the runbook patches it by hand (through a change set)."""

from __future__ import annotations

import difflib
import json
import time
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.cfn_template import load_template
from wizard.checklist import CHECKLIST
from wizard.errors import WizardError
from wizard.patch_template import patch_template
from wizard.render import AMI_PARAMETERS, render_artifacts
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
        plan = StepPlan(self.name)
        stack = self._stack(ctx)
        name = ctx.config.stack_name
        if stack is not None and stack["StackStatus"] in FAILED_STATES:
            reason = FAILED_STATES[stack["StackStatus"]].format(stack=name)
            plan.problems.append(f"stack {name} is {stack['StackStatus']}: {reason}")
            return plan
        if ctx.config.cluster.existing_stack:
            return self._plan_patch(ctx, plan, stack)
        template = render_artifacts(ctx.config, ctx.account_id)["cluster.cfn.json"]
        plan.artifacts["cluster.cfn.json"] = template
        if stack is None:
            plan.actions.append(
                Action("create", "cloudformation:stack", name, f"cluster {ctx.config.cluster_name}")
            )
            return plan
        current = self._template_text(ctx)
        if json.loads(current) == json.loads(template):
            plan.actions.append(Action("no-op", "cloudformation:stack", name, "up to date"))
        else:
            diff = _diff(current, template, f"{name} (deployed)", "cluster.cfn.json (rendered)")
            plan.actions.append(Action("update", "cloudformation:stack", name, "template", diff))
        return plan

    def _plan_patch(
        self, ctx: StepContext, plan: StepPlan, stack: dict[str, Any] | None
    ) -> StepPlan:
        name = ctx.config.stack_name
        if stack is None:
            plan.problems.append(
                f"stack {name} (cluster.existing_stack) does not exist in {ctx.aws.region}"
            )
            return plan
        loaded = load_template(self._template_text(ctx), source_name=name)
        patched, paths = patch_template(
            loaded.doc,
            cluster_name=ctx.config.cluster_name,
            bootstrap_uri=ctx.config.bootstrap_uri,
        )
        plan.artifacts["patched-template"] = loaded.dump(patched)
        if not paths:
            plan.actions.append(Action("no-op", "cloudformation:stack", name, "already patched"))
            return plan
        diff = _diff(loaded.dump(), loaded.dump(patched), f"{name} (deployed)", f"{name} (patched)")
        detail = "change set: " + ", ".join(paths)
        plan.actions.append(Action("update", "cloudformation:stack", name, detail, diff))
        plan.actions += self._ami_changes(ctx, stack)
        plan.warnings.append(
            "running instances keep the old launch configuration or template until they are "
            "replaced: apply --yes starts an instance refresh of the Auto Scaling group"
        )
        return plan

    def _ami_changes(self, ctx: StepContext, stack: dict[str, Any]) -> list[Action]:
        """An SSM-typed AMI parameter re-resolves on update: show the AMI that will change."""
        ssm = ctx.aws.client("ssm")
        actions = []
        for parameter in stack.get("Parameters", []):
            resolved = parameter.get("ResolvedValue")
            if not resolved or not str(parameter.get("ParameterValue", "")).startswith("/aws/"):
                continue
            try:
                latest = ssm.get_parameter(Name=parameter["ParameterValue"])["Parameter"]["Value"]
            except ClientError:
                continue
            if latest != resolved:
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
        plan = self.plan(ctx)
        self.blocked(plan)
        (stack_action, *_) = plan.actions
        if stack_action.verb == "create":
            self._create(ctx, plan.artifacts["cluster.cfn.json"])
        elif stack_action.verb == "update" and ctx.config.cluster.existing_stack:
            self._change_set(ctx, plan.artifacts["patched-template"])
        elif stack_action.verb == "update":
            ctx.aws.client("cloudformation").update_stack(
                StackName=ctx.config.stack_name,
                TemplateBody=plan.artifacts["cluster.cfn.json"],
                Parameters=self._parameters(ctx),
                Capabilities=["CAPABILITY_IAM"],
            )
            self._wait(ctx, "UPDATE_COMPLETE")
        stack = self._stack(ctx)
        assert stack is not None
        if not self.is_recorded(ctx, "cloudformation:stack", stack["StackId"]):
            self.record_found(ctx, "cloudformation:stack", stack["StackId"], stack.get("Tags", []))
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        self.set_outputs(
            ctx,
            stack_id=stack["StackId"],
            cluster_name=ctx.config.cluster_name,
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

    def _change_set(self, ctx: StepContext, template: str) -> None:
        cloudformation = ctx.aws.client("cloudformation")
        stack = self._stack(ctx)
        assert stack is not None
        name = f"airflow-ecs-wizard-{int(time.time())}"
        cloudformation.create_change_set(
            StackName=ctx.config.stack_name,
            ChangeSetName=name,
            TemplateBody=template,
            Parameters=[
                {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                for p in stack.get("Parameters", [])
            ],
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
        if ctx.yes:
            self._instance_refresh(ctx)

    def _instance_refresh(self, ctx: StepContext) -> None:
        resources = ctx.aws.client("cloudformation").describe_stack_resources(
            StackName=ctx.config.stack_name
        )["StackResources"]
        groups = [
            r["PhysicalResourceId"]
            for r in resources
            if r.get("ResourceType") == "AWS::AutoScaling::AutoScalingGroup"
        ]
        for group in groups:
            ctx.aws.client("autoscaling").start_instance_refresh(
                AutoScalingGroupName=group, Preferences={"MinHealthyPercentage": 50}
            )
            ctx.progress(f"instance refresh started for {group}")

    def _parameters(self, ctx: StepContext) -> list[dict[str, str]]:
        network = ctx.outputs("network")
        groups = network.get("instance_security_group_ids") or ctx.config.network.security_group_ids
        parameters = {
            "EcsAmiId": AMI_PARAMETERS[(ctx.config.bootstrap.os, ctx.config.cluster.arm64)],
            "SubnetIds": ",".join(ctx.config.network.subnet_ids),
            "InstanceSecurityGroupIds": ",".join(groups),
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


def _diff(before: str, after: str, before_name: str, after_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=before_name,
            tofile=after_name,
        )
    )
