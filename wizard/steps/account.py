"""Step account: who the credentials are, and that they are for the configured account."""

from __future__ import annotations

from wizard.checklist import CHECKLIST
from wizard.steps.base import Action, Step, StepContext, StepPlan


class AccountStep(Step):
    """Read the caller identity; nothing is created."""

    name = "account"
    title = CHECKLIST["account"]

    def plan(self, ctx: StepContext) -> StepPlan:
        identity = ctx.aws.client("sts").get_caller_identity()
        plan = StepPlan(self.name)
        plan.actions.append(
            Action("check", "sts:identity", identity["Arn"], f"account {identity['Account']}")
        )
        configured = ctx.config.account_id
        if configured and configured != identity["Account"]:
            plan.problems.append(
                f"the config is for account {configured} (aws.account_id or the role ARNs) but "
                f"the credentials are for {identity['Account']}: use the right --profile, or "
                "fix the config"
            )
        if not ctx.aws.region:
            plan.problems.append("no region: set aws.region in the config or pass --region")
        return plan

    def apply(self, ctx: StepContext) -> None:
        plan = self.plan(ctx)
        self.blocked(plan)
        identity = ctx.aws.client("sts").get_caller_identity()
        self.set_outputs(
            ctx, account_id=identity["Account"], caller_arn=identity["Arn"], region=ctx.aws.region
        )
