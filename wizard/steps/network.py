"""Step network: the VPC and subnets, the cluster's instance security group (owned here when the
config names none), the load balancer's group, and the reachability report over the flows of
`wizard.steps.flows` (instances to RDS and the cache, load balancer to instances, instances to
each other for Service Connect and the worker's log server, private subnets to the AWS
endpoints); the load balancer's subnets must span two Availability Zones. Which ingress rules
the launch needs, and which existing rules cover them, is `wizard.steps.network_rules`."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.config import LaunchConfig
from wizard.steps import flows as model
from wizard.steps import instance_groups
from wizard.steps import network_rules as needed
from wizard.steps import reachability as reach
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan
from wizard.steps.network_rules import GroupRole, Rule, Survey
from wizard.steps.reachability import AwsItem, Ingress, Subnet

GROUP_KIND = instance_groups.GROUP_KIND
RULE_KIND = instance_groups.RULE_KIND


class NetworkStep(Step):
    """Checks the VPC and subnets, owns the security groups, reports what cannot reach what."""

    name = "network"
    title = CHECKLIST["network"]
    depends_on = ("account",)

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        ec2 = ctx.aws.client("ec2")
        vpcs = reach.paginate(ec2, "describe_vpcs", "Vpcs")
        choices = {"network.vpc_id": [Choice(v["VpcId"], _vpc_label(v)) for v in vpcs]}
        vpc_id = ctx.config.network.vpc_id
        if vpc_id not in {v["VpcId"] for v in vpcs}:
            return choices
        subnets = reach.vpc_subnets(ec2, vpc_id).values()
        choices["network.subnet_ids"] = [
            Choice(s.id, s.label) for s in subnets if not s.internet_gateway
        ]
        choices["network.public_subnet_ids"] = [
            Choice(s.id, s.label) for s in subnets if s.internet_gateway
        ]
        groups = reach.paginate(
            ec2, "describe_security_groups", "SecurityGroups", Filters=_filter("vpc-id", vpc_id)
        )
        choices["network.security_group_ids"] = [
            Choice(g["GroupId"], " ".join(filter(None, (g["GroupName"], reach.name_tag(g)))))
            for g in groups
        ]
        return choices

    def plan(self, ctx: StepContext) -> StepPlan:
        return self._survey(ctx).plan

    def apply(self, ctx: StepContext) -> None:
        survey = self._survey(ctx)
        self.blocked(survey.plan, ctx)
        missing = [role for role, found in survey.own.items() if found is None]
        for role in missing:
            self._create_group(ctx, survey.vpc_id, role)
        if missing:  # plan the rules of the new groups, now that their ids exist
            survey = self._survey(ctx)
            self.blocked(survey.plan, ctx)
        for group in survey.own.values():
            if group is not None:
                ours = reach.tagged_for(group, ctx.config.name)
                (self.created if ours else self.adopted)(ctx, GROUP_KIND, group["GroupId"])
        if "instances" not in survey.own:  # the given groups, or a console stack's
            for group_id in survey.instance_ids:
                self.adopted(ctx, GROUP_KIND, group_id)
        for rule in survey.rules:
            if rule.existing is None:
                self._authorize(ctx, rule.ingress)
            elif reach.tagged_for(rule.existing, ctx.config.name):  # an interrupted run's
                self.created(ctx, RULE_KIND, rule.existing["SecurityGroupRuleId"])
        network, balancer = ctx.config.network, survey.own.get("load-balancer")
        self.set_outputs(
            ctx,
            vpc_id=survey.vpc_id,
            subnet_ids=list(network.subnet_ids),
            public_subnet_ids=list(network.public_subnet_ids),
            instance_security_group_id=survey.instance_ids[0],
            instance_security_group_ids=list(survey.instance_ids),
            **({"load_balancer_security_group_id": balancer["GroupId"]} if balancer else {}),
        )

    def retire(self, ctx: StepContext) -> None:
        """Delete the launch's own instance group once no instance carries it (a console
        launch made by an earlier version: see `instance_groups.retire_unused`)."""
        instance_groups.retire_unused(ctx)

    def _survey(self, ctx: StepContext) -> Survey:
        """Everything plan shows, from reads only."""
        config, network = ctx.config, ctx.config.network
        survey = Survey(StepPlan(self.name), network.vpc_id)
        plan, ec2 = survey.plan, ctx.aws.client("ec2")
        if not network.vpc_id:
            plan.problems.append("network.vpc_id is empty: choose the VPC of the cluster")
            return survey
        vpcs = ec2.describe_vpcs(Filters=_filter("vpc-id", network.vpc_id))["Vpcs"]
        if not vpcs:
            plan.problems.append(
                f"VPC {network.vpc_id} (network.vpc_id) does not exist in {ctx.aws.region}"
            )
            return survey
        plan.actions.append(Action("check", "ec2:vpc", network.vpc_id, vpcs[0]["CidrBlock"]))
        if not network.subnet_ids:
            plan.problems.append("network.subnet_ids is empty: choose the instances' subnets")
        subnets = reach.vpc_subnets(ec2, network.vpc_id)
        chosen: dict[str, list[Subnet]] = {}
        for key in ("subnet_ids", "public_subnet_ids"):
            ids = getattr(network, key)
            found, problems = reach.chosen_subnets(
                ec2, subnets, ids, f"network.{key}", network.vpc_id
            )
            chosen[key] = found
            plan.problems += problems
            plan.actions += [Action("check", "ec2:subnet", s.id, s.label) for s in found]
        private, public_ip = chosen["subnet_ids"], config.cluster.associate_public_ip
        plan.warnings += reach.subnet_warnings(private, chosen["public_subnet_ids"], public_ip)
        plan.problems += _balancer_zone_problems(config, chosen)
        plan.warnings += model.placement_warnings(config)

        instances = survey.label = self._instance_groups(ctx, survey)
        wanted: list[Rule] = []
        if config.web.load_balancer != "none":
            balancer = self._own_group(ctx, survey, "load-balancer")
            wanted += needed.web_rules(ctx, survey, balancer)
        wanted += needed.between_instances(ctx, survey)
        targets = needed.existing_targets(ctx)
        own_ids = [g["GroupId"] for g in survey.own.values() if g is not None]
        target_ids = [group for target in targets for group in target.group_ids]
        rules = reach.group_rules(ec2, [*survey.instance_ids, *own_ids, *target_ids])
        for target in targets:
            wanted += needed.reach_rules(ctx, survey, target, rules, instances, private)
        for want in wanted:
            needed.plan_rule(survey, rules, want)

        services = model.endpoint_services(config)
        needy = [s for s in private if not (public_ip and s.internet_gateway)]
        plan.warnings += reach.endpoint_warnings(ec2, network.vpc_id, needy, services)
        plan.warnings += model.endpoint_group_warnings(
            ec2, network.vpc_id, survey.instance_ids or [instances], private, services
        )
        return survey

    # Security groups.

    def _instance_groups(self, ctx: StepContext, survey: Survey) -> str:
        """The instances' groups: a console stack's, the given ones, or this step's own (see
        `wizard.steps.instance_groups`). Returns the id of the first, or a label for the group
        still to be created."""
        if ctx.config.cluster.existing_stack:
            found = instance_groups.of_console_stack(ctx, survey.vpc_id)
        elif ctx.config.network.security_group_ids:
            found = instance_groups.given(ctx, survey.vpc_id)
        else:
            return self._own_group(ctx, survey, "instances")
        survey.plan.actions += found.actions
        survey.plan.problems += found.problems
        survey.instance_ids, survey.instances_owner = found.ids, found.owner
        return found.label

    def _own_group(self, ctx: StepContext, survey: Survey, role: GroupRole) -> str:
        """Find a group this step owns: its id, or a label when it is still to be created."""
        name = f"{ctx.config.name}-{role}"
        found = self._find_group(ctx, survey.vpc_id, name)
        survey.own[role] = found
        if found is None:
            survey.plan.actions.append(Action("create", GROUP_KIND, name, f"in {survey.vpc_id}"))
            return f"{name} (new)"
        group_id = str(found["GroupId"])
        if role == "instances":
            survey.instance_ids = [group_id]
        ours = reach.tagged_for(found, ctx.config.name)
        detail = "exists" if ours else "exists without this launch's tag: used as it is"
        survey.plan.actions.append(Action("no-op", GROUP_KIND, f"{group_id} ({name})", detail))
        return group_id

    @staticmethod
    def _find_group(ctx: StepContext, vpc_id: str, name: str) -> AwsItem | None:
        groups = ctx.aws.client("ec2").describe_security_groups(
            Filters=[*_filter("vpc-id", vpc_id), *_filter("group-name", name)]
        )["SecurityGroups"]
        return dict(groups[0]) if groups else None

    def _create_group(self, ctx: StepContext, vpc_id: str, role: GroupRole) -> None:
        name = f"{ctx.config.name}-{role}"
        what = "ECS container instances" if role == "instances" else "web load balancer"
        group_id = ctx.aws.client("ec2").create_security_group(
            GroupName=name,
            Description=f"airflow-ecs-wizard {ctx.config.name}: {what}",
            VpcId=vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [*ctx.launch_tags, {"Key": "Name", "Value": name}],
                }
            ],
        )["GroupId"]
        self.created(ctx, GROUP_KIND, group_id)
        ctx.progress(f"security group {name} created: {group_id}")

    def _authorize(self, ctx: StepContext, ingress: Ingress) -> None:
        try:
            response = ctx.aws.client("ec2").authorize_security_group_ingress(
                GroupId=ingress.group_id,
                IpPermissions=[ingress.permission()],
                TagSpecifications=[
                    {"ResourceType": "security-group-rule", "Tags": ctx.launch_tags}
                ],
            )
        except ClientError as error:
            if error_code(error) != "InvalidPermission.Duplicate":
                raise
            return  # added meanwhile: nothing to do
        for rule in response.get("SecurityGroupRules", []):
            self.created(ctx, RULE_KIND, rule["SecurityGroupRuleId"])
        ctx.progress(f"ingress rule added: {ingress}")


def _balancer_zone_problems(config: LaunchConfig, chosen: dict[str, list[Subnet]]) -> list[str]:
    """An Application Load Balancer needs subnets in at least two Availability Zones
    (CreateLoadBalancer refuses fewer): the private subnets for an internal one, the public
    subnets for an internet-facing one."""
    if config.web.load_balancer == "none":
        return []
    key = "public_subnet_ids" if config.web.load_balancer == "internet-facing" else "subnet_ids"
    subnets = chosen[key]
    zones = sorted({s.az for s in subnets if s.az})
    if not subnets or len(zones) >= 2:
        return []
    return [
        f"network.{key} are all in {', '.join(zones) or 'one Availability Zone'}: the "
        f"{config.web.load_balancer} load balancer (web.load_balancer) needs subnets in at "
        f"least two Availability Zones; add a subnet of another zone to network.{key}"
    ]


def _filter(name: str, *values: str) -> list[dict[str, Any]]:
    return [{"Name": name, "Values": list(values)}]


def _vpc_label(vpc: AwsItem) -> str:
    default = "(default)" if vpc.get("IsDefault") else ""
    return " ".join(filter(None, (vpc.get("CidrBlock", ""), reach.name_tag(vpc), default)))
