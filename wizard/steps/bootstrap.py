"""Step bootstrap: upload `bootstrap.sh` where the instances' user data fetches it."""

from __future__ import annotations

import difflib

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.render import render_artifacts
from wizard.steps.base import Action, Step, StepContext, StepPlan
from wizard.steps.s3_layout import launch_tagging


class BootstrapStep(Step):
    """The script that mounts the environment's S3 folder on every instance."""

    name = "bootstrap"
    title = CHECKLIST["bootstrap"]
    depends_on = ("s3_layout",)

    def plan(self, ctx: StepContext) -> StepPlan:
        script = render_artifacts(ctx.config, ctx.account_id)["bootstrap.sh"]
        plan = StepPlan(self.name, artifacts={"bootstrap.sh": script})
        plan.warnings += [w for w in ctx.config.warnings() if w.startswith("bootstrap.")]
        current = self._current(ctx)
        uri = ctx.config.bootstrap_uri
        if current is None:
            plan.actions.append(Action("create", "s3:object", uri))
        elif current == script:
            plan.actions.append(Action("no-op", "s3:object", uri, "up to date"))
        else:
            diff = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    script.splitlines(keepends=True),
                    fromfile=f"{uri} (in S3)",
                    tofile="bootstrap.sh (rendered)",
                )
            )
            plan.actions.append(Action("update", "s3:object", uri, "content differs", diff))
        return plan

    def apply(self, ctx: StepContext) -> None:
        plan = self.plan(ctx)
        (action,) = plan.actions
        s3, bucket, key = ctx.aws.client("s3"), ctx.config.s3.bucket, ctx.config.bootstrap_key
        if action.verb != "create" and not self.is_recorded(ctx, "s3:object", action.name):
            found = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            self.record_found(ctx, "s3:object", action.name, found)
        if action.verb != "no-op":
            ours = action.verb == "create" or self.is_own(ctx, "s3:object", action.name)
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=plan.artifacts["bootstrap.sh"].encode(),
                ContentType="text/x-shellscript",
                ServerSideEncryption="AES256",
                # an object that was there before keeps no tag: it must not become ours
                **({"Tagging": launch_tagging(ctx)} if ours else {}),
            )
        if action.verb == "create":
            self.created(ctx, "s3:object", action.name)
        self.set_outputs(ctx, bootstrap_uri=ctx.config.bootstrap_uri)

    def _current(self, ctx: StepContext) -> str | None:
        try:
            body = ctx.aws.client("s3").get_object(
                Bucket=ctx.config.s3.bucket, Key=ctx.config.bootstrap_key
            )["Body"]
        except ClientError as error:
            if error_code(error) in {"NoSuchKey", "404", "NoSuchBucket"}:
                return None
            raise
        return str(body.read().decode("utf-8", errors="replace"))
