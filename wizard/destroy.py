"""`destroy`: remove what this launch created, newest first.

Only resources the state records as created by this launch are touched; adopted ones (an
existing bucket, RDS instance, role) are left alone. The data — the database instance, the
bucket and its contents, the secrets, the image repository — stays unless `--delete-data`.
Each deletion is forgotten in the state as soon as it succeeded, so an interrupted destroy
resumes too.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import Aws, error_code
from wizard.errors import WizardError, aws_failure, failure_text
from wizard.state import Resource, StateFile

DATA_KINDS = frozenset(
    {"s3:bucket", "s3:object", "ssm:parameter", "rds:instance", "ecr:repository"}
)
"""Kept unless --delete-data: what the launch's users and their work depend on."""

GONE = {
    "NoSuchBucket",
    "NoSuchKey",
    "ParameterNotFound",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "RepositoryNotFoundException",
    "ServiceNotFoundException",
    "TargetGroupNotFound",
    "LoadBalancerNotFound",
    "ListenerNotFound",
    "InvalidGroup.NotFound",
    "InvalidPermission.NotFound",
    "NoSuchEntity",
    "ReplicationGroupNotFoundFault",
    "CacheSubnetGroupNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "NamespaceNotFound",
    "InvalidSecurityGroupRuleId.NotFound",
}
"""Error codes that mean "already deleted": fine on a resumed destroy."""

WAITER_DELAY = 15
"""Seconds between polls while something is being deleted."""


@dataclass
class DestroyResult:
    """What destroy did."""

    deleted: list[Resource] = field(default_factory=list)
    kept: list[Resource] = field(default_factory=list)
    failed: list[tuple[Resource, str]] = field(default_factory=list)


def targets(state: StateFile, *, delete_data: bool) -> tuple[list[Resource], list[Resource]]:
    """What destroy would delete and what it keeps, newest first."""
    created = state.created_resources(created_only=True)
    delete = [r for r in created if delete_data or r.kind not in DATA_KINDS]
    keep = [r for r in created if r not in delete]
    return delete, keep


def destroy(
    aws: Aws,
    state: StateFile,
    *,
    delete_data: bool,
    progress: Callable[[str], None] = lambda message: None,
) -> DestroyResult:
    """Delete the launch's created resources, newest first, forgetting each once it is gone.

    Each is deleted in the region it was made in (`Resource.region`; the state's own region
    for records of early versions), so "not found" means gone, never "looked elsewhere"."""
    delete, keep = targets(state, delete_data=delete_data)
    result = DestroyResult(kept=keep)
    regional = _Regions(aws, state.state.region)
    for resource in delete:
        deleter = DELETERS.get(resource.kind)
        if deleter is None:
            result.failed.append((resource, f"no way to delete a {resource.kind}; left in place"))
            continue
        progress(f"deleting {resource.kind} {resource.id}")
        try:
            deleter(regional.of(resource), resource.id)
        except ClientError as error:
            if error_code(error) not in GONE:
                result.failed.append((resource, failure_text(error)))
                continue
        except Exception as error:  # any other failure: report it, the rest can still go
            everyday = aws_failure(error)
            text = failure_text(error) if everyday else f"{type(error).__name__}: {error}"
            result.failed.append((resource, text))
            continue
        state.forget_resource(resource.kind, resource.id)
        result.deleted.append(resource)
    for name in list(state.state.steps):
        state.reset_step(name)
    return result


class _Regions:
    """An `Aws` per region, sharing the settings (profile, endpoint) and call recorder."""

    def __init__(self, aws: Aws, default: str) -> None:
        self._default = default or aws.region
        self._clients = {aws.region: aws}
        self._base = aws

    def of(self, resource: Resource) -> Aws:
        region = resource.region or self._default
        if region not in self._clients:
            settings = dataclasses.replace(self._base.settings, region=region)
            self._clients[region] = Aws(
                settings, read_only=self._base.read_only, recorder=self._base.recorder
            )
        return self._clients[region]


def _retry_dependency(aws: Aws, call: Callable[[], Any], attempts: int = 40) -> None:
    """Security groups and subnet groups stay in use for a while after what used them."""
    for attempt in range(attempts):
        try:
            call()
            return
        except ClientError as error:
            if (
                error_code(error)
                not in {"DependencyViolation", "ResourceInUse", "InvalidDBSubnetGroupStateFault"}
                or attempt == attempts - 1
            ):
                raise
            aws.pause(WAITER_DELAY)


def _stack(aws: Aws, stack_id: str) -> None:
    cloudformation = aws.client("cloudformation")
    cloudformation.delete_stack(StackName=stack_id)
    cloudformation.get_waiter("stack_delete_complete").wait(
        StackName=stack_id, WaiterConfig={"Delay": aws.delay(WAITER_DELAY), "MaxAttempts": 240}
    )


def _service(aws: Aws, arn: str) -> None:
    cluster = arn.split("/")[-2]
    ecs = aws.client("ecs")
    ecs.update_service(cluster=cluster, service=arn, desiredCount=0)
    ecs.delete_service(cluster=cluster, service=arn, force=True)


def _load_balancer(aws: Aws, arn: str) -> None:
    elbv2 = aws.client("elbv2")
    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    elbv2.get_waiter("load_balancers_deleted").wait(
        LoadBalancerArns=[arn], WaiterConfig={"Delay": aws.delay(WAITER_DELAY), "MaxAttempts": 40}
    )


def _namespace(aws: Aws, arn: str) -> None:
    discovery = aws.client("servicediscovery")
    for page in discovery.get_paginator("list_namespaces").paginate():
        for namespace in page["Namespaces"]:
            if namespace["Arn"] == arn:
                discovery.delete_namespace(Id=namespace["Id"])


def _security_group_rule(aws: Aws, rule_id: str) -> None:
    ec2 = aws.client("ec2")
    rules = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"]
    for rule in rules:
        revoke = (
            ec2.revoke_security_group_egress
            if rule["IsEgress"]
            else (ec2.revoke_security_group_ingress)
        )
        revoke(GroupId=rule["GroupId"], SecurityGroupRuleIds=[rule_id])


def _role_policy(aws: Aws, identifier: str) -> None:
    role, _, policy = identifier.partition("/")
    aws.client("iam").delete_role_policy(RoleName=role, PolicyName=policy)


def _role(aws: Aws, arn_or_name: str) -> None:
    """Delete a role the launch made, unless it holds a policy the launch did not write (its
    own were deleted before it, newest first): an operator's policy is never deleted."""
    iam = aws.client("iam")
    name = arn_or_name.rsplit("/", 1)[-1]
    foreign = list(iam.list_role_policies(RoleName=name)["PolicyNames"]) + [
        attached["PolicyArn"]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    ]
    if foreign:
        raise WizardError(
            f"role {name} also holds {', '.join(foreign)}, which this launch did not write: "
            "left in place",
            title="Role in use",
            hint="Remove those policies (or keep the role), then run destroy again.",
        )
    iam.delete_role(RoleName=name)


def _bucket(aws: Aws, name: str) -> None:
    s3 = aws.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        objects = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if objects:
            s3.delete_objects(Bucket=name, Delete={"Objects": objects})
    s3.delete_bucket(Bucket=name)


def _object(aws: Aws, uri: str) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    aws.client("s3").delete_object(Bucket=bucket, Key=key)


def _db_instance(aws: Aws, identifier: str) -> None:
    rds = aws.client("rds")
    rds.delete_db_instance(
        DBInstanceIdentifier=identifier,
        FinalDBSnapshotIdentifier=f"{identifier}-final-{int(time.time())}",
        DeleteAutomatedBackups=False,
    )
    rds.get_waiter("db_instance_deleted").wait(
        DBInstanceIdentifier=identifier,
        WaiterConfig={"Delay": aws.delay(WAITER_DELAY), "MaxAttempts": 240},
    )


def _replication_group(aws: Aws, identifier: str) -> None:
    elasticache = aws.client("elasticache")
    try:
        elasticache.delete_replication_group(ReplicationGroupId=identifier)
    except ClientError as error:  # an interrupted destroy asked already: wait for it
        if error_code(error) != "InvalidReplicationGroupState":
            raise
    elasticache.get_waiter("replication_group_deleted").wait(
        ReplicationGroupId=identifier,
        WaiterConfig={"Delay": aws.delay(WAITER_DELAY), "MaxAttempts": 120},
    )


DELETERS: dict[str, Callable[[Aws, str], None]] = {
    "cloudformation:stack": _stack,
    "ecs:service": _service,
    "ecs:task-definition": lambda aws, arn: aws.client("ecs").deregister_task_definition(
        taskDefinition=arn
    ),
    "elbv2:listener": lambda aws, arn: aws.client("elbv2").delete_listener(ListenerArn=arn),
    "elbv2:load-balancer": _load_balancer,
    "elbv2:target-group": lambda aws, arn: _retry_dependency(
        aws, lambda: aws.client("elbv2").delete_target_group(TargetGroupArn=arn)
    ),
    "servicediscovery:namespace": _namespace,
    "ec2:security-group": lambda aws, group: _retry_dependency(
        aws, lambda: aws.client("ec2").delete_security_group(GroupId=group)
    ),
    "ec2:security-group-rule": _security_group_rule,
    "iam:role-policy": _role_policy,
    "iam:role": _role,
    "elasticache:replication-group": _replication_group,
    "elasticache:subnet-group": lambda aws, name: _retry_dependency(
        aws, lambda: aws.client("elasticache").delete_cache_subnet_group(CacheSubnetGroupName=name)
    ),
    "rds:subnet-group": lambda aws, name: _retry_dependency(
        aws, lambda: aws.client("rds").delete_db_subnet_group(DBSubnetGroupName=name)
    ),
    "rds:instance": _db_instance,
    "ssm:parameter": lambda aws, name: aws.client("ssm").delete_parameter(Name=name),
    "s3:object": _object,
    "s3:bucket": _bucket,
    "ecr:repository": lambda aws, name: aws.client("ecr").delete_repository(
        repositoryName=name, force=True
    ),
}
"""How to delete each kind of resource the steps record."""
