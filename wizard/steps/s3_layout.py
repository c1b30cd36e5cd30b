"""Step s3_layout: the bucket and the `dags/ plugins/ logs/ bootstrap/` folders of each
environment under `s3://BUCKET/PREFIX/`."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan
from wizard.taskdefs import LAUNCH_TAG

FOLDERS = ("dags", "plugins", "logs", "bootstrap")
BLOCK_PUBLIC = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def launch_tagging(ctx: StepContext) -> str:
    """The launch tag as PutObject's `Tagging` takes it (URL query form)."""
    return urllib.parse.urlencode({LAUNCH_TAG: ctx.config.name})


def _read(call: Callable[..., dict[str, Any]], missing: str, bucket: str) -> dict[str, Any]:
    """A bucket setting, or {} when AWS says it has none (`missing`)."""
    try:
        return call(Bucket=bucket)
    except ClientError as error:
        if error_code(error) == missing:
            return {}
        raise


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
            # CreateBucket tags in the same call only through a field this tool does not rely
            # on (see _create_bucket): the intent marks the bucket as ours until it is tagged
            with self.creating(ctx, "s3:bucket", bucket):
                self._create_bucket(ctx, bucket)
            self.created(ctx, "s3:bucket", bucket)
        elif not self.is_recorded(ctx, "s3:bucket", bucket):
            self.record_found(ctx, "s3:bucket", bucket, self._tags(ctx, bucket))
        if self.is_own(ctx, "s3:bucket", bucket):
            self._complete_bucket(ctx, bucket)  # also what a run that died half-way left out
        for action in plan.actions:
            if action.kind != "s3:folder":
                continue
            key = action.name.removeprefix(f"s3://{bucket}/")
            if action.verb == "create":
                s3.put_object(Bucket=bucket, Key=key, Body=b"", Tagging=launch_tagging(ctx))
                self.created(ctx, "s3:object", action.name)
            elif not self.is_recorded(ctx, "s3:object", action.name):
                tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
                self.record_found(ctx, "s3:object", action.name, tags)
        self.set_outputs(ctx, bucket=bucket, mount_source=ctx.config.mount_source)

    def _create_bucket(self, ctx: StepContext, bucket: str) -> None:
        """CreateBucket alone. Its `CreateBucketConfiguration.Tags` needs s3:TagResource, which
        an operator's policy made for the two-call way (PutBucketTagging) may lack, and the
        emulator ignores it: the intent and `_complete_bucket` cover the gap instead."""
        arguments: dict[str, Any] = {"Bucket": bucket}
        if ctx.aws.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": ctx.aws.region}
        try:
            ctx.aws.client("s3").create_bucket(**arguments)
        except ClientError as error:
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise

    def _complete_bucket(self, ctx: StepContext, bucket: str) -> None:
        """Give the launch's bucket its tag, public access block and default encryption, each
        only when it lacks it (a run may have died between the create and these calls)."""
        s3 = ctx.aws.client("s3")
        tags = self._tags(ctx, bucket)
        if {"Key": LAUNCH_TAG, "Value": ctx.config.name} not in tags:
            kept = [tag for tag in tags if tag["Key"] != LAUNCH_TAG]
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [*kept, *ctx.launch_tags]})
        if _read(s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", bucket).get(
            "PublicAccessBlockConfiguration"
        ) != dict.fromkeys(BLOCK_PUBLIC, True):
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(BLOCK_PUBLIC, True)
            )
        encryption = _read(
            s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", bucket
        )
        if not encryption.get("ServerSideEncryptionConfiguration", {}).get("Rules"):
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

    @staticmethod
    def _tags(ctx: StepContext, bucket: str) -> list[dict[str, str]]:
        found = _read(ctx.aws.client("s3").get_bucket_tagging, "NoSuchTagSet", bucket)
        return list(found.get("TagSet", []))

    def _existing_keys(self, ctx: StepContext, bucket: str) -> set[str]:
        paginator = ctx.aws.client("s3").get_paginator("list_objects_v2")
        keys: set[str] = set()
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{ctx.config.s3.prefix}/"):
            keys |= {item["Key"] for item in page.get("Contents", [])}
        return keys
