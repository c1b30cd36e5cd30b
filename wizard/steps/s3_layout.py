"""Step s3_layout: the bucket and the `dags/ plugins/ logs/ bootstrap/` folders of each
environment under `s3://BUCKET/PREFIX/`."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan
from wizard.taskdefs import LAUNCH_TAG

FOLDERS = ("dags", "plugins", "logs", "bootstrap")


class S3LayoutStep(Step):
    """The bucket (created only when asked: public access blocked, encrypted) and folders."""

    name = "s3_layout"
    title = CHECKLIST["s3_layout"]
    depends_on = ("account",)

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        buckets = ctx.aws.client("s3").list_buckets().get("Buckets", [])
        return {"s3.bucket": [Choice(b["Name"], b["Name"]) for b in buckets]}

    def folder_keys(self, ctx: StepContext) -> list[str]:
        """Every folder marker of the layout."""
        s3 = ctx.config.s3
        return [f"{s3.prefix}/{env}/{folder}/" for env in s3.environments for folder in FOLDERS]

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        bucket = ctx.config.s3.bucket
        exists = self._bucket_exists(ctx, bucket)
        if exists:
            plan.actions.append(Action("no-op", "s3:bucket", bucket, "exists"))
        elif ctx.config.s3.create_bucket:
            plan.actions.append(
                Action("create", "s3:bucket", bucket, "public access blocked, SSE-S3 encryption")
            )
        else:
            plan.problems.append(
                f"bucket {bucket} does not exist (or is not yours): create it, or set "
                "s3.create_bucket = true"
            )
        present = self._existing_keys(ctx, bucket) if exists else set()
        for key in self.folder_keys(ctx):
            folder = f"s3://{bucket}/{key}"
            if key in present:
                plan.actions.append(Action("no-op", "s3:folder", folder))
            else:
                plan.actions.append(Action("create", "s3:folder", folder))
        return plan

    def apply(self, ctx: StepContext) -> None:
        plan = self.plan(ctx)
        self.blocked(plan)
        bucket = ctx.config.s3.bucket
        s3 = ctx.aws.client("s3")
        if any(a.kind == "s3:bucket" and a.verb == "create" for a in plan.actions):
            self._create_bucket(ctx, bucket)
        elif not self._tagged_ours(ctx, bucket):
            self.adopted(ctx, "s3:bucket", bucket)
        else:
            self.created(ctx, "s3:bucket", bucket)  # an interrupted run of ours made it
        for action in plan.actions:
            if action.kind == "s3:folder" and action.verb == "create":
                key = action.name.removeprefix(f"s3://{bucket}/")
                s3.put_object(Bucket=bucket, Key=key, Body=b"")
                self.created(ctx, "s3:object", action.name)
        self.set_outputs(ctx, bucket=bucket, mount_source=ctx.config.mount_source)

    def _create_bucket(self, ctx: StepContext, bucket: str) -> None:
        s3 = ctx.aws.client("s3")
        arguments: dict[str, Any] = {"Bucket": bucket}
        if ctx.aws.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": ctx.aws.region}
        try:
            s3.create_bucket(**arguments)
        except ClientError as error:
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise
        self.created(ctx, "s3:bucket", bucket)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": ctx.launch_tags})
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )

    @staticmethod
    def _bucket_exists(ctx: StepContext, bucket: str) -> bool:
        try:
            ctx.aws.client("s3").head_bucket(Bucket=bucket)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchBucket", "403", "Forbidden"}:
                return False
            raise
        return True

    def _tagged_ours(self, ctx: StepContext, bucket: str) -> bool:
        try:
            tags = ctx.aws.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
        except ClientError as error:
            if error_code(error) == "NoSuchTagSet":
                return False
            raise
        return {"Key": LAUNCH_TAG, "Value": ctx.config.name} in tags

    def _existing_keys(self, ctx: StepContext, bucket: str) -> set[str]:
        paginator = ctx.aws.client("s3").get_paginator("list_objects_v2")
        keys: set[str] = set()
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{ctx.config.s3.prefix}/"):
            keys |= {item["Key"] for item in page.get("Contents", [])}
        return keys
