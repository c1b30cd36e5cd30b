"""Step image: the ECR repository and the tag to run, with its digest, built for the instances'
CPU architecture (a Graviton instance type runs arm64 images only)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan

MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)


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
            self._check_architecture(ctx, plan, uri)
        return plan

    def _check_architecture(self, ctx: StepContext, plan: StepPlan, uri: str) -> None:
        """The image must run on the instance type's CPU: its manifest list says which it was
        built for, else `image.architecture` does. (A console stack's own instance type is
        the cluster step's to judge.)"""
        if ctx.config.cluster.existing_stack:
            return
        cluster = ctx.config.cluster
        wanted = "arm64" if cluster.arm64 else "amd64"
        built, source = self._architectures(ctx), "its manifest list"
        if not built and ctx.config.image.architecture:
            built, source = {ctx.config.image.architecture}, "image.architecture"
        if not built:
            if wanted == "arm64":
                plan.warnings.append(
                    f"cluster.instance_type {cluster.instance_type} is a Graviton (arm64) type "
                    f"and ECR cannot tell which CPU {uri} was built for: set image.architecture "
                    "to check it"
                )
            return
        if wanted not in built:
            plan.problems.append(
                f"cluster.instance_type {cluster.instance_type} runs {wanted} images, but "
                f"{uri} is built for {', '.join(sorted(built))} ({source}): push an {wanted} or "
                f"multi-platform image (docker buildx build --platform linux/{wanted}), or "
                f"choose an instance type for {', '.join(sorted(built))}"
            )

    def _architectures(self, ctx: StepContext) -> set[str]:
        """The platforms of the tag's manifest list (empty for a single-platform image, whose
        architecture is in a config blob this does not download)."""
        try:
            images = ctx.aws.client("ecr").batch_get_image(
                repositoryName=ctx.config.image.ecr_repository,
                imageIds=[{"imageTag": ctx.config.image.tag}],
                acceptedMediaTypes=list(MEDIA_TYPES),
            )["images"]
        except ClientError:
            return set()
        found = set()
        for image in images:
            try:
                manifest = json.loads(image.get("imageManifest") or "{}")
            except ValueError:
                continue
            for entry in manifest.get("manifests", []):
                architecture = entry.get("platform", {}).get("architecture")
                if architecture and architecture != "unknown":  # "unknown": an attestation
                    found.add(str(architecture))
        return found

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
