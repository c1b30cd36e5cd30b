"""Where the emulator (moto 5.2) does less than AWS, the sandbox does the rest.

Each function here either drives the emulator's own API as AWS's machinery would (ECS
registering a service's tasks with its target group), or, inside the emulator's process, gives
moto an operation it lacks. The sandbox's emulator process uses them, and so do the tests'
emulator fixtures, so both see the same account.
"""

from __future__ import annotations

import json
from typing import Any

from wizard.aws import Aws

DYNAMIC_PORT = 32768
"""The first port of the instances' dynamic range, where a `hostPort: 0` task listens."""


def register_service_targets(aws: Aws, cluster: str) -> int:
    """Register each load-balanced service's instances with its target group, as ECS does when
    a service's tasks start (with `hostPort: 0`, on a port of the dynamic range).

    The emulator reports a registered target as healthy, which stands in for the load
    balancer's health check answering. Returns how many targets were registered.
    """
    ecs = aws.client("ecs")
    arns = ecs.list_services(cluster=cluster).get("serviceArns", [])
    instances = ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
    if not arns or not instances:
        return 0
    hosts = [
        detail["ec2InstanceId"]
        for detail in ecs.describe_container_instances(
            cluster=cluster, containerInstances=instances
        )["containerInstances"]
        if detail.get("status", "ACTIVE") == "ACTIVE"
    ]
    # an instance an instance refresh replaced stays a container instance in the emulator; ECS
    # places no task on it, and the load balancer refuses it as a target (InvalidTarget)
    running = (
        {
            instance["InstanceId"]
            for reservation in aws.client("ec2").describe_instances(
                InstanceIds=hosts, Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
            )["Reservations"]
            for instance in reservation["Instances"]
        }
        if hosts
        else set()
    )
    hosts = [host for host in hosts if host in running]
    if not hosts:
        return 0
    elbv2 = aws.client("elbv2")
    registered = 0
    for start in range(0, len(arns), 10):
        services = ecs.describe_services(cluster=cluster, services=arns[start : start + 10])
        for service in services["services"]:
            if service.get("status") != "ACTIVE" or not service.get("runningCount"):
                continue
            for balancer in service.get("loadBalancers", []):
                group = balancer.get("targetGroupArn")
                if not group:
                    continue
                known = {
                    target["Target"]["Id"]
                    for target in elbv2.describe_target_health(TargetGroupArn=group)[
                        "TargetHealthDescriptions"
                    ]
                }
                new = [host for host in hosts[: service["runningCount"]] if host not in known]
                if new:
                    elbv2.register_targets(
                        TargetGroupArn=group,
                        Targets=[{"Id": host, "Port": DYNAMIC_PORT} for host in new],
                    )
                    registered += len(new)
    return registered


def fill_elasticache_gaps() -> None:
    """Give the emulator (moto 5.2, in this process) what ElastiCache does and moto lacks.

    - A deleted replication group leaves `deleting`: AWS removes it once its nodes are gone;
      here the first describe after the delete still shows `deleting`, the next finds nothing
      (`ReplicationGroupNotFoundFault`), so the `replication_group_deleted` waiter ends.
    - `DeleteCacheSubnetGroup` exists: it refuses a group a replication group still uses
      (`CacheSubnetGroupInUse`, as AWS does) and one that does not exist
      (`CacheSubnetGroupNotFoundFault`).
    """
    from moto.core.responses import EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound, ElastiCacheException
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    if getattr(ElastiCacheBackend, "gaps_filled_by_sandbox", False):
        return

    class CacheSubnetGroupInUse(ElastiCacheException):
        code = "CacheSubnetGroupInUse"

    create = ElastiCacheBackend.create_replication_group
    describe = ElastiCacheBackend.describe_replication_groups

    def create_replication_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        group: Any = create(self, *args, **kwargs)
        group.sandbox_subnet_group = kwargs.get("cache_subnet_group_name") or ""
        group.sandbox_deleting_seen = False
        return group

    def describe_replication_groups(self: Any, replication_group_id: str | None = None) -> Any:
        for identifier, group in list(self.replication_groups.items()):
            if group.status == "deleting":
                if getattr(group, "sandbox_deleting_seen", False):
                    del self.replication_groups[identifier]  # its nodes are gone
                else:
                    group.sandbox_deleting_seen = True
        return describe(self, replication_group_id)

    def delete_cache_subnet_group(self: Any, cache_subnet_group_name: str) -> None:
        if cache_subnet_group_name not in self.cache_subnet_groups:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)
        users = [
            identifier
            for identifier, group in self.replication_groups.items()
            if getattr(group, "sandbox_subnet_group", "") == cache_subnet_group_name
        ]
        if users:
            raise CacheSubnetGroupInUse(
                f"Cache subnet group {cache_subnet_group_name} is currently in use by a cache "
                f"cluster ({', '.join(users)})."
            )
        del self.cache_subnet_groups[cache_subnet_group_name]

    def delete_cache_subnet_group_response(self: Any) -> Any:
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]
    ElastiCacheBackend.describe_replication_groups = describe_replication_groups  # type: ignore[method-assign]
    ElastiCacheBackend.delete_cache_subnet_group = delete_cache_subnet_group  # type: ignore[attr-defined]
    ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group_response  # type: ignore[attr-defined]
    ElastiCacheBackend.gaps_filled_by_sandbox = True  # type: ignore[attr-defined]


def join_container_instances(aws: Aws, cluster: str, *, minimum: int = 1) -> int:
    """Register the cluster's EC2 instances with ECS, as each instance's agent would.

    Instances are those of the cluster stack's Auto Scaling groups; when the emulator started
    none, `minimum` are started in the first private subnet the groups use.
    """
    ec2 = aws.client("ec2")
    ecs = aws.client("ecs")
    registered = {
        detail["ec2InstanceId"]
        for arns in [ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]]
        if arns
        for detail in ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
            "containerInstances"
        ]
    }
    groups = aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    instances = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    if not instances:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        subnet = groups[0]["VPCZoneIdentifier"].split(",")[0] if groups else None
        started = ec2.run_instances(
            ImageId=image,
            MinCount=minimum,
            MaxCount=minimum,
            **({"SubnetId": subnet} if subnet else {}),
        )
        instances = [i["InstanceId"] for i in started["Instances"]]
    for instance in instances:
        if instance not in registered:
            ecs.register_container_instance(
                cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance})
            )
    return len(instances)


def fill_change_set_gap() -> None:
    """Make the emulator (moto 5.2, in this process) execute change sets as AWS does.

    Executing a change set whose parameters use UsePreviousValue fails in moto with a 500: it
    carries each previous value as it resolved it (a list parameter already split, an
    SSM-typed one as the AMI id instead of the parameter's name). AWS reuses the original
    values and re-resolves the SSM one; this gives moto those values back.
    """
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.load_parameters
    if getattr(original, "filled_by_sandbox", False):
        return

    def load_parameters(self: ResourceMap) -> None:
        slots = self._template.get("Parameters", {})
        fixed = {}
        for key, value in self.input_parameters.items():
            kind = slots.get(key, {}).get("Type", "")
            if isinstance(value, list):
                value = ",".join(value)
            if kind.startswith("AWS::SSM::Parameter::") and not str(value).startswith("/"):
                value = slots[key].get("Default", value)
            fixed[key] = value
        self.input_parameters = fixed
        original(self)

    load_parameters.filled_by_sandbox = True  # type: ignore[attr-defined]
    ResourceMap.load_parameters = load_parameters  # type: ignore[method-assign]
