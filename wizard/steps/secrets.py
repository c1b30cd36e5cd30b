"""Step secrets: the Fernet key, the keys every component shares and a new cache's AUTH token,
generated once into SSM SecureStrings; an existing parameter is never replaced (rotation is
explicit)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from wizard.checklist import CHECKLIST
from wizard.fernet import generate_key
from wizard.steps.base import Action, Step, StepContext, StepPlan
from wizard.steps.provisioning import record_parameter, registered_secret, store_parameter

MASK = "••••••••"


def _token(length: int) -> Callable[[], str]:
    return lambda: secrets.token_urlsafe(length)


class SecretsStep(Step):
    """Fernet key, `secret_key`, `jwt_secret` (3.x) and the Admin password."""

    name = "secrets"
    title = CHECKLIST["secrets"]
    depends_on = ("account",)

    def generated(self, ctx: StepContext) -> dict[str, Callable[[], str]]:
        """Each secret this step owns, by config key, with how its value is made."""
        owned: dict[str, Callable[[], str]] = {
            "fernet_key": generate_key,
            "secret_key": _token(32),
        }
        if ctx.config.airflow.parsed_version.major >= 3:
            owned["jwt_secret"] = _token(48)
        if ctx.config.airflow.admin_user:
            owned["admin_password"] = _token(18)
        redis = ctx.config.redis
        if redis.mode == "new" and redis.uses_auth_token:
            # ElastiCache's AUTH token: 16-128 characters, letters, digits and a few specials
            # (no '_'), so hex: it also needs no quoting in the broker URL
            owned["redis_auth_token"] = lambda: secrets.token_hex(32)
        return owned

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        names = {key: ctx.config.secret_name(key) for key in self.generated(ctx)}
        existing = self._existing(ctx, list(names.values()))
        for key, parameter in names.items():
            if parameter in existing:
                plan.actions.append(Action("no-op", "ssm:parameter", parameter, "kept as it is"))
            else:
                plan.actions.append(
                    Action("create", "ssm:parameter", parameter, f"SecureString {key} = {MASK}")
                )
        google = ctx.config.airflow.secrets
        if google.google_login:
            wanted = [
                ctx.config.secret_name("google_client_id"),
                ctx.config.secret_name("google_client_secret"),
            ]
            present = self._existing(ctx, wanted)
            for parameter in wanted:
                if parameter in present:
                    plan.actions.append(Action("check", "ssm:parameter", parameter, "exists"))
                else:
                    plan.problems.append(
                        f"Google login needs parameter {parameter}: create it as a SecureString "
                        "(aws ssm put-parameter --type SecureString ...), or leave "
                        "airflow.secrets.google_client_id/_secret empty to turn Google login off"
                    )
        return plan

    def apply(self, ctx: StepContext) -> None:
        plan = self.plan(ctx)
        self.blocked(plan)
        makers = self.generated(ctx)
        for action in plan.changes:
            key = next(k for k in makers if ctx.config.secret_name(k) == action.name)
            value = registered_secret(ctx, makers[key]())
            assert value is not None
            # one made meanwhile by another run is adopted and kept, never replaced
            store_parameter(self, ctx, action.name, value, key, replace=False)
        for action in plan.actions:
            if action.verb == "no-op":
                record_parameter(self, ctx, action.name)
        self.set_outputs(ctx, parameters=[a.name for a in plan.actions])

    @staticmethod
    def _existing(ctx: StepContext, names: list[str]) -> set[str]:
        ssm = ctx.aws.client("ssm")
        found: set[str] = set()
        for start in range(0, len(names), 10):  # GetParameters takes ten names at a time
            response = ssm.get_parameters(Names=names[start : start + 10], WithDecryption=False)
            found |= {parameter["Name"] for parameter in response["Parameters"]}
        return found
