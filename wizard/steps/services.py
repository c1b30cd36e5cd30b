"""Step services: wait for the instances, migrate the database, put the web server behind a load
balancer, and run one service per long-running component until it is stable.

On a live launch it converges: each service gets the spec the config asks for (`service_spec`:
an update carries what a create sets), the migrate task reruns for a new image or version, and
services whose component left the config are deleted. Tasks are placed by the cluster's capacity
provider (`capacity`)."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.config import API_SERVER_ALIAS
from wizard.errors import WizardError
from wizard.steps import capacity, load_balancer, service_spec
from wizard.steps.base import Action, Step, StepContext, StepPlan
from wizard.steps.cluster import cluster_name

INSTANCE_WAIT_SECONDS = 900.0
POLL_SECONDS = 10.0
WAITER_DELAY = 10
"""Seconds between the waiters' polls (the migrate task, the services)."""
NO_INSTANCES_HINT = (
    "The usual causes: the instance role lacks AmazonEC2ContainerServiceforEC2Role; the user "
    "data did not write ECS_CLUSTER (see /var/log/cloud-init-output.log on an instance); the "
    "private subnets have no route to the ECS endpoints (a NAT gateway or VPC endpoints); the "
    "bootstrap did not mount the S3 folder, so the ECS agent waits (`systemctl status ecs`)."
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
        plan.warnings += load_balancer.cleartext_warnings(ctx.config)
        found = capacity.capacity(ctx)
        existing = self._services(ctx)
        records = service_spec.load_records(ctx.outputs(self.name))
        target_group = load_balancer.target_group_arn(ctx)
        for component in ctx.config.long_running:
            name = self.service_name(ctx, component)
            count = ctx.config.components[component].desired_count
            service = existing.get(name)
            if service is None:
                plan.actions.append(
                    Action("create", "ecs:service", name, f"desired {count}, {found.placement}")
                )
                continue
            want = self._wanted(ctx, component, target_group, found)
            have = service_spec.current(service, records.get(name))
            fields = service_spec.changed(have, want)
            if fields:
                diff = service_spec.diff(name, have, want)
                plan.actions.append(Action("update", "ecs:service", name, ", ".join(fields), diff))
            else:
                plan.actions.append(Action("no-op", "ecs:service", name, "running"))
        for name in self._left_the_config(ctx):
            plan.actions.append(
                Action("update", "ecs:service", name, "delete: its component left the config")
            )
        return plan

    def apply(self, ctx: StepContext) -> None:
        found = capacity.capacity(ctx)
        self._wait_for_instances(ctx, found)
        if self._needs_migration(ctx):
            self._migrate(ctx, found)
        target_group, address = load_balancer.ensure(ctx, self)
        if ctx.config.airflow.parsed_version.major >= 3:
            self._namespace(ctx)
        existing = self._services(ctx)
        records = service_spec.load_records(ctx.outputs(self.name))
        for component in ctx.config.long_running:
            name = self.service_name(ctx, component)
            want = self._wanted(ctx, component, target_group, found)
            applied = {k: want[k] for k in service_spec.RECORDED if k in want}
            if name not in existing:
                # recorded before the create: one interrupted after AWS made the service
                # leaves no service whose spec is unknown (the record of a service that was
                # never made is never read)
                records[name] = applied
                self.set_outputs(ctx, **{service_spec.OUTPUT: service_spec.dump_records(records)})
            self._ensure_service(ctx, name, want, existing.get(name), records.get(name), found)
            records[name] = applied
            self.set_outputs(ctx, **{service_spec.OUTPUT: service_spec.dump_records(records)})
        for name in self._left_the_config(ctx):
            self._delete_service(ctx, name)
            records.pop(name, None)
            self.set_outputs(ctx, **{service_spec.OUTPUT: service_spec.dump_records(records)})
        self._wait_stable(ctx)
        self.set_outputs(
            ctx,
            web_url=address,
            web_health=load_balancer.web_health(ctx, target_group),
            services=[self.service_name(ctx, c) for c in ctx.config.long_running],
        )

    def _wanted(
        self, ctx: StepContext, component: str, target_group: str, found: capacity.Capacity
    ) -> dict[str, Any]:
        """The service spec the config asks for."""
        balancers = []
        if component == "webserver" and target_group:
            balancers = [
                {
                    "targetGroupArn": target_group,
                    "containerName": "webserver",
                    "containerPort": ctx.config.container_port("webserver"),
                }
            ]
        connect = None
        if ctx.config.airflow.parsed_version.major >= 3:
            connect = self._service_connect(ctx, component, ctx.config.service_connect_namespace)
        return service_spec.wanted(
            task_definition=self._taskdef_arn(ctx, component),
            count=ctx.config.components[component].desired_count,
            placement=found.placement,
            load_balancers=balancers,
            service_connect=connect,
        )

    def _ensure_service(
        self,
        ctx: StepContext,
        name: str,
        want: dict[str, Any],
        service: dict[str, Any] | None,
        recorded: dict[str, Any] | None,
        found: capacity.Capacity,
    ) -> None:
        ecs = ctx.aws.client("ecs")
        cluster = cluster_name(ctx)
        if service is not None:
            self.record_found(ctx, "ecs:service", service["serviceArn"], service.get("tags", []))
            have = service_spec.current(service, recorded)
            if not service_spec.changed(have, want):
                return
            moves = have["placement"] != want["placement"]
            strategy = capacity.strategy(ctx, cluster, found) if moves else []
            changes = service_spec.update_arguments(have, want, strategy)
            ecs.update_service(cluster=cluster, service=name, **changes)
            if moves:
                ctx.progress(f"{name}: moved to the {want['placement']} (new deployment)")
            return
        strategy = capacity.strategy(ctx, cluster, found) if found.mode == "provider" else []
        arguments: dict[str, Any] = {
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": want["taskDefinition"],
            "desiredCount": want["desiredCount"],
            **capacity.placement_arguments(found, strategy),
            "deploymentConfiguration": want["deploymentConfiguration"],
            "enableECSManagedTags": True,
            "propagateTags": "SERVICE",
            "tags": [{"key": t["Key"], "value": t["Value"]} for t in ctx.launch_tags],
            "clientToken": f"{name}-create"[:36],
        }
        if want["loadBalancers"]:
            arguments["loadBalancers"] = want["loadBalancers"]
            arguments["healthCheckGracePeriodSeconds"] = want["healthCheckGracePeriodSeconds"]
        if "serviceConnectConfiguration" in want:
            arguments["serviceConnectConfiguration"] = want["serviceConnectConfiguration"]
        created = ecs.create_service(**arguments)["service"]
        self.created(ctx, "ecs:service", created["serviceArn"])

    def _left_the_config(self, ctx: StepContext) -> list[str]:
        """Services this launch created whose component is no longer in the config."""
        if ctx.state is None:
            return []
        wanted = {self.service_name(ctx, c) for c in ctx.config.long_running}
        names = [
            r.id.rsplit("/", 1)[-1]
            for r in ctx.state.step(self.name).resources
            if r.kind == "ecs:service" and r.created
        ]
        gone = [name for name in dict.fromkeys(names) if name not in wanted]
        if not gone:
            return []
        active = self._describe(ctx, gone)
        return [name for name in gone if name in active]

    def _delete_service(self, ctx: StepContext, name: str) -> None:
        """Stop a service's tasks and delete it (its record goes too: destroy has no more to do)."""
        ecs = ctx.aws.client("ecs")
        deleted = ecs.delete_service(cluster=cluster_name(ctx), service=name, force=True)
        ctx.progress(f"{name}: deleted (its component left the config)")
        if ctx.state is not None:
            ctx.state.forget_resource("ecs:service", deleted["service"]["serviceArn"])

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
                    arn = str(namespace["Arn"])
                    if not self.is_recorded(ctx, "servicediscovery:namespace", arn):
                        tags = discovery.list_tags_for_resource(ResourceARN=arn)["Tags"]
                        self.record_found(ctx, "servicediscovery:namespace", arn, tags)
                    return arn
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

    def _wait_for_instances(self, ctx: StepContext, found: capacity.Capacity) -> None:
        cluster = cluster_name(ctx)
        if found.mode != "launch-type" and self._scales_from_zero(ctx):
            ctx.progress(
                "cluster.min_size is 0: the capacity provider starts instances for the tasks"
            )
            return
        ecs = ctx.aws.client("ecs")
        deadline = time.monotonic() + INSTANCE_WAIT_SECONDS
        while True:
            arns = ecs.list_container_instances(cluster=cluster, status="ACTIVE")[
                "containerInstanceArns"
            ]
            if arns:
                ctx.progress(f"{len(arns)} container instance(s) joined {cluster}")
                return
            if time.monotonic() > deadline:
                raise WizardError(
                    f"no container instance joined cluster {cluster} in "
                    f"{int(INSTANCE_WAIT_SECONDS)} s",
                    title="No container instances",
                    hint=NO_INSTANCES_HINT,
                )
            ctx.progress("waiting for container instances to join the cluster")
            ctx.aws.pause(POLL_SECONDS)

    def _scales_from_zero(self, ctx: StepContext) -> bool:
        """A stack the launch creates with no minimum: no instance runs before a task asks."""
        return not ctx.config.cluster.existing_stack and ctx.config.cluster.min_size == 0

    def _needs_migration(self, ctx: StepContext) -> bool:
        done = ctx.outputs(self.name)
        return (done.get("migrated_image"), done.get("migrated_version")) != (
            ctx.config.image_uri(ctx.account_id),
            ctx.config.airflow.version,
        )

    def _migrate_reason(self, ctx: StepContext) -> str:
        done = ctx.outputs(self.name).get("migrated_image")
        return f"migrate for {ctx.config.image.tag}" + (f" (was {done})" if done else "")

    def _migrate(self, ctx: StepContext, found: capacity.Capacity) -> None:
        ecs = ctx.aws.client("ecs")
        cluster = cluster_name(ctx)
        strategy = capacity.strategy(ctx, cluster, found) if found.mode == "provider" else []
        response = ecs.run_task(
            cluster=cluster,
            taskDefinition=self._taskdef_arn(ctx, "initdb"),
            count=1,
            **capacity.placement_arguments(found, strategy),
            startedBy="airflow-ecs-wizard",
        )
        if not response.get("tasks"):
            raise capacity.not_placed(cluster, response.get("failures", []))
        task = response["tasks"][0]
        ctx.progress(f"migrate task {task['taskArn'].rsplit('/', 1)[-1]} started")
        ctx.aws.wait(
            ecs.get_waiter("tasks_stopped"),
            WAITER_DELAY,
            180,
            cluster=cluster,
            tasks=[task["taskArn"]],
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
            ctx.aws.wait(
                ecs.get_waiter("services_stable"),
                WAITER_DELAY,
                120,
                cluster=cluster_name(ctx),
                services=names[start : start + 10],
            )

    def _services(self, ctx: StepContext) -> dict[str, Any]:
        return self._describe(ctx, [self.service_name(ctx, c) for c in ctx.config.long_running])

    def _describe(self, ctx: StepContext, names: list[str]) -> dict[str, Any]:
        """The active services of these names, by name."""
        found: dict[str, Any] = {}
        ecs = ctx.aws.client("ecs")
        for start in range(0, len(names), 10):
            try:
                response = ecs.describe_services(
                    cluster=cluster_name(ctx),
                    services=names[start : start + 10],
                    include=["TAGS"],
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
