"""The network step's ingress rules: which the launch needs on the instances', the load
balancer's and an existing database's or cache's groups, and which of them rules already there
cover (`plan_rule`). The step (`wizard.steps.network`) surveys the groups and applies the rest."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from wizard.steps import flows as model
from wizard.steps import reachability as reach
from wizard.steps.base import Action, StepContext, StepPlan, Verb
from wizard.steps.instance_groups import GROUP_KIND, RULE_KIND
from wizard.steps.reachability import AwsItem, Ingress, Subnet, Target

GroupRole = Literal["instances", "load-balancer"]


@dataclass(frozen=True)
class Rule:
    """An ingress rule the launch needs, and the existing rule that already admits it.

    `verb` is `create` on the launch's own groups and `update` on others'; `consent` is what
    the plan lists as needing the user's consent when the rule opens someone else's group.
    """

    ingress: Ingress
    verb: Verb
    consent: str = ""
    existing: AwsItem | None = None


@dataclass
class Survey:
    """What `plan` found, kept for `apply`: the plan, the groups and the rules."""

    plan: StepPlan
    vpc_id: str
    instance_ids: list[str] = field(default_factory=list)
    label: str = ""
    """The instances' first group, or a label for it while it is still to be created."""
    instances_owner: str = ""
    """Whose the instances' groups are when rules on them need consent (a console stack's)."""
    own: dict[GroupRole, AwsItem | None] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)


def web_rules(ctx: StepContext, survey: Survey, balancer: str) -> list[Rule]:
    """The load balancer admits the allowed CIDRs; the instances admit the load balancer
    on the dynamic host ports (and on the web server's own port, for a fixed host port)."""
    web = ctx.config.web
    rules = [
        Rule(Ingress(balancer, port, port, cidr, "Airflow web UI"), "create")
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
        on_instances(survey, Ingress(survey.label, start, end, balancer, description))
        for start, end in ranges
    ]


def between_instances(ctx: StepContext, survey: Survey) -> list[Rule]:
    """The instances admit each other on the ports of the flows between components (the
    API server's Service Connect proxy, the worker's log server): tasks land on any
    instance, and traffic between two instances crosses their group."""
    instances = survey.label
    return [
        on_instances(
            survey,
            Ingress(instances, flow.from_port, flow.to_port, instances, flow.description),
        )
        for flow in model.launch_flows(ctx.config)
        if flow.source == flow.target == "instances"
    ]


def existing_targets(ctx: StepContext) -> list[Target]:
    """The existing database and cache: new ones get their groups in their own steps."""
    config, targets = ctx.config, []
    if config.database.mode == "existing":
        rds = ctx.aws.client("rds")
        port = config.database.default_port
        targets.append(reach.rds_target(rds, config.rds_instance_id, port))
    if config.redis.mode == "existing":
        targets.append(reach.cache_target(ctx.aws.client("elasticache"), config.redis.endpoint))
    return targets


def reach_rules(
    ctx: StepContext,
    survey: Survey,
    target: Target,
    rules: list[AwsItem],
    instances: str,
    private: list[Subnet],
) -> list[Rule]:
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
    want = [Rule(ingress, "update", consent)]
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


def plan_rule(survey: Survey, rules: list[AwsItem], want: Rule) -> None:
    """Plan `want`: a no-op when an existing rule covers it (on any instance group, for a rule
    on the instances), else its action, and its consent when it needs one."""
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


def on_instances(survey: Survey, ingress: Ingress) -> Rule:
    """A rule on the instances' groups: created on the launch's own group, an update on given
    ones or a console stack's (those need consent)."""
    if "instances" in survey.own:
        return Rule(ingress, "create")
    consent = ""
    if survey.instances_owner:
        consent = (
            f"security group {ingress.group_id} of {survey.instances_owner} does not admit "
            f"{ingress.description}: the wizard adds an inbound rule to it (tcp {ingress.ports} "
            f"from {ingress.source}), a group this launch does not own; or add it yourself"
        )
    return Rule(ingress, "update", consent)
