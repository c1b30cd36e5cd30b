"""Where the emulator (moto 5.2) does less than AWS, the sandbox does the rest.

Each function here either drives the emulator's own API as AWS's machinery would (ECS
registering a service's tasks with its target group), or, inside the emulator's process, gives
moto an operation it lacks. The sandbox's emulator process uses them, and so do the tests'
emulator fixtures, so both see the same account.
"""

from __future__ import annotations

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
    ]
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
