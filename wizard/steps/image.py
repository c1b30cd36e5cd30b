"""Step image: the ECR repository and the tag to run, with its digest."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan


class ImageStep(Step):
    """The repository (created only when asked) and the image tag, which must exist."""

    name = "image"
    title = CHECKLIST["image"]
    depends_on = ("account",)

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        ecr = ctx.aws.client("ecr")
        repositories = ecr.describe_repositories().get("repositories", [])
        choices = {
            "image.ecr_repository": [
                Choice(r["repositoryName"], r["repositoryUri"]) for r in repositories
            ]
        }
        if self._repository(ctx) is not None:
            images = ecr.describe_images(repositoryName=ctx.config.image.ecr_repository)
            tags = sorted(
                (
                    tag
                    for detail in images.get("imageDetails", [])
                    for tag in detail.get("imageTags", [])
                ),
                reverse=True,
            )
            choices["image.tag"] = [Choice(tag, tag) for tag in tags]
        return choices

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        image = ctx.config.image
        repository = self._repository(ctx)
        uri = ctx.config.image_uri(ctx.account_id)
        if repository is None:
            if image.create_repository:
                plan.actions.append(Action("create", "ecr:repository", image.ecr_repository))
            else:
                plan.problems.append(
                    f"ECR repository {image.ecr_repository} does not exist: push the image "
                    "there, or set image.create_repository = true"
                )
            plan.problems.append(f"image {uri} is not in ECR yet: push it, then apply again")
            return plan
        plan.actions.append(Action("no-op", "ecr:repository", image.ecr_repository, "exists"))
        digest = self._digest(ctx)
        if digest is None:
            plan.problems.append(
                f"tag {image.tag} is not in {image.ecr_repository}: push it "
                f"(docker push {uri}), or choose a tag that is there"
            )
        else:
            plan.actions.append(Action("check", "ecr:image", uri, digest))
        return plan

    def apply(self, ctx: StepContext) -> None:
        image = ctx.config.image
        if self._repository(ctx) is None and image.create_repository:
            ctx.aws.client("ecr").create_repository(
                repositoryName=image.ecr_repository,
                imageScanningConfiguration={"scanOnPush": True},
                tags=ctx.launch_tags,
            )
            self.created(ctx, "ecr:repository", image.ecr_repository)
        plan = self.plan(ctx)
        self.blocked(plan)
        self.set_outputs(
            ctx,
            image_uri=ctx.config.image_uri(ctx.account_id),
            image_digest=self._digest(ctx) or "",
        )

    def _repository(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            found = ctx.aws.client("ecr").describe_repositories(
                repositoryNames=[ctx.config.image.ecr_repository]
            )["repositories"]
        except ClientError as error:
            if error_code(error) == "RepositoryNotFoundException":
                return None
            raise
        return dict(found[0]) if found else None

    def _digest(self, ctx: StepContext) -> str | None:
        try:
            details = ctx.aws.client("ecr").describe_images(
                repositoryName=ctx.config.image.ecr_repository,
                imageIds=[{"imageTag": ctx.config.image.tag}],
            )["imageDetails"]
        except ClientError as error:
            if error_code(error) in {"ImageNotFoundException", "RepositoryNotFoundException"}:
                return None
            raise
        return str(details[0]["imageDigest"]) if details else None
