"""Step services: wait for the instances, migrate the database, put the web server behind a load
balancer, and run one service per long-running component until it is stable."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.config import API_SERVER_ALIAS
from wizard.errors import WizardError
from wizard.steps import load_balancer
from wizard.steps.base import Action, Step, StepContext, StepPlan

INSTANCE_WAIT_SECONDS = 900.0
POLL_SECONDS = 10.0
WAITER_DELAY = 10
"""Seconds between the waiters' polls (the migrate task, the services)."""
NO_INSTANCES_HINT = (
    "The usual causes: the instance role lacks AmazonEC2ContainerServiceforEC2Role; the user "
    "data did not write ECS_CLUSTER (see /var/log/cloud-init-output.log on an instance); the "
    "private subnets have no route to the ECS endpoints (a NAT gateway or VPC endpoints)."
)


class ServicesStep(Step):
    """The migrate task, the load balancer and the services; ends with the UI's address."""

    name = "services"
    title = CHECKLIST["services"]
    depends_on = ("cluster", "task_definitions", "network")

    def service_name(self, ctx: StepContext, component: str) -> str:
        """The ECS service of a component."""
        return f"{ctx.config.name}-{component.replace('_', '-')}"

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        if self._needs_migration(ctx):
            plan.actions.append(
                Action("create", "ecs:task", ctx.config.family("initdb"), self._migrate_reason(ctx))
            )
        plan.actions += load_balancer.plan_actions(ctx)
        existing = self._services(ctx)
        for component in ctx.config.long_running:
            name = self.service_name(ctx, component)
            count = ctx.config.components[component].desired_count
            service = existing.get(name)
            if service is None:
                plan.actions.append(Action("create", "ecs:service", name, f"desired {count}"))
            elif (
                service["taskDefinition"] != self._taskdef_arn(ctx, component)
                or service["desiredCount"] != count
            ):
                plan.actions.append(Action("update", "ecs:service", name, f"desired {count}"))
            else:
                plan.actions.append(Action("no-op", "ecs:service", name, "running"))
        return plan

    def apply(self, ctx: StepContext) -> None:
        self._wait_for_instances(ctx)
        if self._needs_migration(ctx):
            self._migrate(ctx)
        target_group, address = load_balancer.ensure(
            ctx, lambda kind, identifier: self.created(ctx, kind, identifier)
        )
        namespace = self._namespace(ctx) if ctx.config.airflow.parsed_version.major >= 3 else ""
        existing = self._services(ctx)
        for component in ctx.config.long_running:
            self._ensure_service(ctx, component, existing, target_group, namespace)
        self._wait_stable(ctx)
        self.set_outputs(
            ctx,
            web_url=address,
            web_health=load_balancer.web_health(ctx, target_group),
            services=[self.service_name(ctx, c) for c in ctx.config.long_running],
        )

    def _ensure_service(
        self,
        ctx: StepContext,
        component: str,
        existing: dict[str, Any],
        target_group: str,
        namespace: str,
    ) -> None:
        ecs = ctx.aws.client("ecs")
        name = self.service_name(ctx, component)
        count = ctx.config.components[component].desired_count
        arn = self._taskdef_arn(ctx, component)
        service = existing.get(name)
        if service is not None:
            if service["taskDefinition"] != arn or service["desiredCount"] != count:
                ecs.update_service(
                    cluster=ctx.config.cluster_name,
                    service=name,
                    taskDefinition=arn,
                    desiredCount=count,
                )
            return
        arguments: dict[str, Any] = {
            "cluster": ctx.config.cluster_name,
            "serviceName": name,
            "taskDefinition": arn,
            "desiredCount": count,
            "launchType": "EC2",
            "deploymentConfiguration": {
                "minimumHealthyPercent": 50,
                "maximumPercent": 200,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
            "enableECSManagedTags": True,
            "propagateTags": "SERVICE",
            "tags": [{"key": t["Key"], "value": t["Value"]} for t in ctx.launch_tags],
            "clientToken": f"{name}-create"[:36],
        }
        if component == "webserver" and target_group:
            arguments["loadBalancers"] = [
                {
                    "targetGroupArn": target_group,
                    "containerName": "webserver",
                    "containerPort": ctx.config.container_port("webserver"),
                }
            ]
            arguments["healthCheckGracePeriodSeconds"] = 300
        if namespace:
            arguments["serviceConnectConfiguration"] = self._service_connect(
                ctx, component, namespace
            )
        service = ecs.create_service(**arguments)["service"]
        self.created(ctx, "ecs:service", service["serviceArn"])

    def _service_connect(self, ctx: StepContext, component: str, namespace: str) -> dict[str, Any]:
        """Airflow 3: the API server is served under a stable name every other service calls
        (`AIRFLOW__CORE__EXECUTION_API_SERVER_URL` in the task definitions)."""
        configuration: dict[str, Any] = {"enabled": True, "namespace": namespace}
        if component == "webserver":
            port = ctx.config.container_port("webserver")
            configuration["services"] = [
                {
                    "portName": "api",
                    "discoveryName": API_SERVER_ALIAS,
                    "clientAliases": [{"port": port, "dnsName": API_SERVER_ALIAS}],
                }
            ]
        return configuration

    def _namespace(self, ctx: StepContext) -> str:
        """The Cloud Map HTTP namespace of the launch's services (created once)."""
        discovery = ctx.aws.client("servicediscovery")
        wanted = ctx.config.service_connect_namespace
        for page in discovery.get_paginator("list_namespaces").paginate():
            for namespace in page["Namespaces"]:
                if namespace["Name"] == wanted:
                    return str(namespace["Arn"])
        operation = discovery.create_http_namespace(
            Name=wanted,
            Description=f"airflow-ecs-wizard {ctx.config.name}",
            Tags=ctx.launch_tags,
            CreatorRequestId=f"{ctx.config.name}-namespace",
        )["OperationId"]
        while True:
            status = discovery.get_operation(OperationId=operation)["Operation"]
            if status["Status"] == "SUCCESS":
                break
            if status["Status"] == "FAIL":
                raise WizardError(
                    f"creating the Cloud Map namespace {wanted} failed: "
                    f"{status.get('ErrorMessage', 'no reason given')}",
                    title="Service Connect namespace",
                    hint="Check the servicediscovery quotas and permissions, then apply again.",
                )
            ctx.aws.pause(POLL_SECONDS / 5)
        namespace_id = status["Targets"]["NAMESPACE"]
        arn = discovery.get_namespace(Id=namespace_id)["Namespace"]["Arn"]
        self.created(ctx, "servicediscovery:namespace", str(arn))
        return str(arn)

    def _wait_for_instances(self, ctx: StepContext) -> None:
        ecs = ctx.aws.client("ecs")
        deadline = time.monotonic() + INSTANCE_WAIT_SECONDS
        while True:
            arns = ecs.list_container_instances(cluster=ctx.config.cluster_name, status="ACTIVE")[
                "containerInstanceArns"
            ]
            if arns:
                ctx.progress(f"{len(arns)} container instance(s) joined {ctx.config.cluster_name}")
                return
            if time.monotonic() > deadline:
                raise WizardError(
                    f"no container instance joined cluster {ctx.config.cluster_name} in "
                    f"{int(INSTANCE_WAIT_SECONDS)} s",
                    title="No container instances",
                    hint=NO_INSTANCES_HINT,
                )
            ctx.progress("waiting for container instances to join the cluster")
            ctx.aws.pause(POLL_SECONDS)

    def _needs_migration(self, ctx: StepContext) -> bool:
        done = ctx.outputs(self.name)
        return (done.get("migrated_image"), done.get("migrated_version")) != (
            ctx.config.image_uri(ctx.account_id),
            ctx.config.airflow.version,
        )

    def _migrate_reason(self, ctx: StepContext) -> str:
        done = ctx.outputs(self.name).get("migrated_image")
        return f"migrate for {ctx.config.image.tag}" + (f" (was {done})" if done else "")

    def _migrate(self, ctx: StepContext) -> None:
        ecs = ctx.aws.client("ecs")
        cluster = ctx.config.cluster_name
        task = ecs.run_task(
            cluster=cluster,
            taskDefinition=self._taskdef_arn(ctx, "initdb"),
            count=1,
            launchType="EC2",
            startedBy="airflow-ecs-wizard",
        )["tasks"][0]
        ctx.progress(f"migrate task {task['taskArn'].rsplit('/', 1)[-1]} started")
        ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster,
            tasks=[task["taskArn"]],
            WaiterConfig={"Delay": ctx.aws.delay(WAITER_DELAY), "MaxAttempts": 180},
        )
        stopped = ecs.describe_tasks(cluster=cluster, tasks=[task["taskArn"]])["tasks"][0]
        codes = [c.get("exitCode") for c in stopped.get("containers", [])]
        if codes != [0]:
            reasons = "; ".join(
                filter(
                    None,
                    [stopped.get("stoppedReason")]
                    + [c.get("reason") for c in stopped.get("containers", [])],
                )
            )
            raise WizardError(
                f"the migrate task stopped with exit code {codes[0] if codes else 'none'}"
                + (f": {reasons}" if reasons else ""),
                title="Database migration failed",
                hint="Read the task's log (docker logs on the instance, or CloudWatch with "
                "awslogs); fix the database or the image, then apply again.",
            )
        self.set_outputs(
            ctx,
            migrated_image=ctx.config.image_uri(ctx.account_id),
            migrated_version=ctx.config.airflow.version,
        )

    def _wait_stable(self, ctx: StepContext) -> None:
        names = [self.service_name(ctx, c) for c in ctx.config.long_running]
        ctx.progress(f"waiting for {len(names)} services to be stable")
        ecs = ctx.aws.client("ecs")
        for start in range(0, len(names), 10):  # the waiter takes ten services at a time
            ecs.get_waiter("services_stable").wait(
                cluster=ctx.config.cluster_name,
                services=names[start : start + 10],
                WaiterConfig={"Delay": ctx.aws.delay(WAITER_DELAY), "MaxAttempts": 120},
            )

    def _services(self, ctx: StepContext) -> dict[str, Any]:
        names = [self.service_name(ctx, c) for c in ctx.config.long_running]
        found: dict[str, Any] = {}
        ecs = ctx.aws.client("ecs")
        for start in range(0, len(names), 10):
            try:
                response = ecs.describe_services(
                    cluster=ctx.config.cluster_name, services=names[start : start + 10]
                )
            except ClientError as error:
                if error_code(error) == "ClusterNotFoundException":
                    return {}  # planned before the cluster step made it
                raise
            for service in response.get("services", []):
                if service.get("status") == "ACTIVE":
                    found[service["serviceName"]] = service
        return found

    def _taskdef_arn(self, ctx: StepContext, component: str) -> str:
        recorded = ctx.outputs("task_definitions").get(component)
        return str(recorded) if recorded else ctx.config.family(component)
