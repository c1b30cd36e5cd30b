"""Step network: the VPC and subnets, the cluster's instance security group (owned here when the
config names none), the load balancer's group, and the reachability report over the flows of
`wizard.steps.flows` (instances to RDS and the cache, load balancer to instances, instances to
each other for Service Connect and the worker's log server, private subnets to the AWS
endpoints); the load balancer's subnets must span two Availability Zones."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.config import LaunchConfig
from wizard.steps import flows as model
from wizard.steps import instance_groups
from wizard.steps import reachability as reach
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan, Verb
from wizard.steps.reachability import AwsItem, Ingress, Subnet, Target

GroupRole = Literal["instances", "load-balancer"]
GROUP_KIND = instance_groups.GROUP_KIND
RULE_KIND = instance_groups.RULE_KIND


@dataclass(frozen=True)
class _Rule:
    """An ingress rule the launch needs, and the existing rule that already admits it.

    `verb` is `create` on the launch's own groups and `update` on others'; `consent` is what
    the plan lists as needing the user's consent when the rule opens someone else's group.
    """

    ingress: Ingress
    verb: Verb
    consent: str = ""
    existing: AwsItem | None = None


@dataclass
class _Survey:
    """What `plan` found, kept for `apply`: the plan, the groups and the rules."""

    plan: StepPlan
    vpc_id: str
    instance_ids: list[str] = field(default_factory=list)
    label: str = ""
    """The instances' first group, or a label for it while it is still to be created."""
    instances_owner: str = ""
    """Whose the instances' groups are when rules on them need consent (a console stack's)."""
    own: dict[GroupRole, AwsItem | None] = field(default_factory=dict)
    rules: list[_Rule] = field(default_factory=list)


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

    def _survey(self, ctx: StepContext) -> _Survey:
        """Everything plan shows, from reads only."""
        config, network = ctx.config, ctx.config.network
        survey = _Survey(StepPlan(self.name), network.vpc_id)
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
        wanted: list[_Rule] = []
        if config.web.load_balancer != "none":
            wanted += self._web_rules(ctx, survey, self._own_group(ctx, survey, "load-balancer"))
        wanted += self._between_instances(ctx, survey)
        targets = self._targets(ctx)
        own_ids = [g["GroupId"] for g in survey.own.values() if g is not None]
        target_ids = [group for target in targets for group in target.group_ids]
        rules = reach.group_rules(ec2, [*survey.instance_ids, *own_ids, *target_ids])
        for target in targets:
            wanted += self._reach(ctx, survey, target, rules, instances, private)
        for want in wanted:
            self._plan_rule(ctx, survey, rules, want)

        services = model.endpoint_services(config)
        needy = [s for s in private if not (public_ip and s.internet_gateway)]
        plan.warnings += reach.endpoint_warnings(ec2, network.vpc_id, needy, services)
        plan.warnings += model.endpoint_group_warnings(
            ec2, network.vpc_id, survey.instance_ids or [instances], private, services
        )
        return survey

    # Security groups.

    def _instance_groups(self, ctx: StepContext, survey: _Survey) -> str:
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

    def _own_group(self, ctx: StepContext, survey: _Survey, role: GroupRole) -> str:
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

    # Rules.

    def _web_rules(self, ctx: StepContext, survey: _Survey, balancer: str) -> list[_Rule]:
        """The load balancer admits the allowed CIDRs; the instances admit the load balancer
        on the dynamic host ports (and on the web server's own port, for a fixed host port)."""
        web = ctx.config.web
        rules = [
            _Rule(Ingress(balancer, port, port, cidr, "Airflow web UI"), "create")
            for port in ([443] if web.certificate_arn else [80])  # the listener's one port
            for cidr in web.allowed_cidrs
        ]
        low, high = reach.DYNAMIC_PORTS
        ranges = [(low, high)]
        port = ctx.config.container_port("webserver")
        if port is not None and not low <= port <= high:
            ranges.append((port, port))
        description = "from the Airflow web load balancer"
        return rules + [
            _on_instances(survey, Ingress(survey.label, start, end, balancer, description))
            for start, end in ranges
        ]

    @staticmethod
    def _between_instances(ctx: StepContext, survey: _Survey) -> list[_Rule]:
        """The instances admit each other on the ports of the flows between components (the
        API server's Service Connect proxy, the worker's log server): tasks land on any
        instance, and traffic between two instances crosses their group."""
        instances = survey.label
        return [
            _on_instances(
                survey,
                Ingress(instances, flow.from_port, flow.to_port, instances, flow.description),
            )
            for flow in model.launch_flows(ctx.config)
            if flow.source == flow.target == "instances"
        ]

    @staticmethod
    def _targets(ctx: StepContext) -> list[Target]:
        """The existing database and cache: new ones get their groups in their own steps."""
        config, targets = ctx.config, []
        if config.database.mode == "existing":
            rds = ctx.aws.client("rds")
            port = config.database.default_port
            targets.append(reach.rds_target(rds, config.rds_instance_id, port))
        if config.redis.mode == "existing":
            targets.append(reach.cache_target(ctx.aws.client("elasticache"), config.redis.endpoint))
        return targets

    def _reach(
        self,
        ctx: StepContext,
        survey: _Survey,
        target: Target,
        rules: list[AwsItem],
        instances: str,
        private: list[Subnet],
    ) -> list[_Rule]:
        """The rule that lets the instances reach a target, unless a rule from any instance
        group, or rules from CIDRs that cover every private subnet, admit them already."""
        plan, port = survey.plan, target.port
        if target.unchecked:
            plan.warnings.append(
                f"could not check that the instances reach {target.what} on port {port}: "
                f"{target.unchecked}"
            )
            return []
        description = f"Airflow on ECS ({ctx.config.name}) to {target.what}"
        ingress = Ingress(target.group_ids[0], port, port, instances, description)
        consent = (
            f"{target.what} does not admit the cluster's instances on port {port}: the wizard "
            f"adds an inbound rule to {ingress.group_id} (tcp {ingress.ports} from "
            f"{ingress.source}), a group this launch does not own; or add it yourself"
        )
        want = [_Rule(ingress, "update", consent)]
        if reach.covering_rule(rules, ingress):
            return want  # planned as "exists", and adopted when an interrupted run added it

        def admitted(source: str) -> bool:
            sample = replace(ingress, source=source)
            return any(
                reach.covering_rule(rules, replace(sample, group_id=g)) for g in target.group_ids
            )

        cidrs = [s.cidr for s in private]
        if any(map(admitted, survey.instance_ids)) or (cidrs and all(map(admitted, cidrs))):
            detail = f"admits the instances on port {port}"
            plan.actions.append(Action("check", GROUP_KIND, target.what, detail))
            return []
        if target.vpc_id and target.vpc_id != survey.vpc_id:
            plan.warnings.append(
                f"{target.what} is in {target.vpc_id}, not {survey.vpc_id}: security group "
                f"references do not cross VPCs, so {', '.join(target.group_ids)} must admit "
                f"the private subnets ({', '.join(cidrs)}) on port {port}"
            )
            return []
        return want

    def _plan_rule(
        self, ctx: StepContext, survey: _Survey, rules: list[AwsItem], want: _Rule
    ) -> None:
        plan, ingress = survey.plan, want.ingress
        groups = [ingress.group_id]
        if ingress.group_id in survey.instance_ids:  # a rule on any instance group will do
            groups = survey.instance_ids
        candidates = (reach.covering_rule(rules, replace(ingress, group_id=g)) for g in groups)
        existing = next((rule for rule in candidates if rule is not None), None)
        survey.rules.append(replace(want, existing=existing))
        if existing is not None:
            detail = f"exists as {existing['SecurityGroupRuleId']}"
            plan.actions.append(Action("no-op", RULE_KIND, str(ingress), detail))
            return
        plan.actions.append(Action(want.verb, RULE_KIND, str(ingress), ingress.description))
        if want.consent:
            plan.consents.append(want.consent)

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


def _on_instances(survey: _Survey, ingress: Ingress) -> _Rule:
    """A rule on the instances' groups: created on the launch's own group, an update on given
    ones or a console stack's (those need consent)."""
    if "instances" in survey.own:
        return _Rule(ingress, "create")
    consent = ""
    if survey.instances_owner:
        consent = (
            f"security group {ingress.group_id} of {survey.instances_owner} does not admit "
            f"{ingress.description}: the wizard adds an inbound rule to it (tcp {ingress.ports} "
            f"from {ingress.source}), a group this launch does not own; or add it yourself"
        )
    return _Rule(ingress, "update", consent)


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
