"""The image step against the emulator: the image must be built for the instances' CPU (a
Graviton instance type runs arm64 images), read from the tag's manifest list, else from
`image.architecture`."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.test_steps import _context
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.sandbox import push_image
from wizard.steps.image import ImageStep

STEP = ImageStep()


def _push_list(config: LaunchConfig, *architectures: str) -> None:
    """A multi-platform push (`docker buildx --platform ...`): a manifest list."""
    ctx = _context(config)
    ctx.aws.client("ecr").create_repository(repositoryName=config.image.ecr_repository)
    manifests = [
        {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "size": 1000,
            "digest": f"sha256:{index + 1:064x}",
            "platform": {"architecture": architecture, "os": "linux"},
        }
        for index, architecture in enumerate(architectures)
    ]
    manifests.append(  # buildx's attestation entry
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 500,
            "digest": f"sha256:{99:064x}",
            "platform": {"architecture": "unknown", "os": "unknown"},
        }
    )
    ctx.aws.client("ecr").put_image(
        repositoryName=config.image.ecr_repository,
        imageTag=config.image.tag,
        imageManifest=json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                "manifests": manifests,
            }
        ),
    )


def test_an_amd64_image_on_graviton_instances_is_refused(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, cluster__instance_type="m7g.large")
    _push_list(config, "amd64")
    plan = STEP.plan(_context(config))
    (problem,) = plan.problems
    assert problem.startswith("cluster.instance_type m7g.large runs arm64 images, but ")
    assert "is built for amd64 (its manifest list)" in problem
    with pytest.raises(WizardError, match="runs arm64 images"):
        STEP.apply(_context(config))


@pytest.mark.parametrize("instance_type", ["m7g.large", "m6i.xlarge"])
def test_a_multi_platform_image_runs_on_either(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, instance_type: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, cluster__instance_type=instance_type)
    _push_list(config, "amd64", "arm64")
    plan = STEP.plan(_context(config))
    assert plan.problems == [] and plan.warnings == []


def test_a_single_platform_image_is_judged_by_the_config_field(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, cluster__instance_type="c7g.xlarge")
    ctx = _context(config)
    ctx.aws.client("ecr").create_repository(repositoryName=config.image.ecr_repository)
    push_image(ctx.aws, config.image.ecr_repository, config.image.tag, digest="sha256:" + "b" * 64)
    (warning,) = STEP.plan(ctx).warnings
    assert "set image.architecture" in warning

    said = make_config(
        aws__endpoint_url=aws_endpoint,
        cluster__instance_type="c7g.xlarge",
        image__architecture="amd64",
    )
    (problem,) = STEP.plan(_context(said)).problems
    assert "is built for amd64 (image.architecture)" in problem
    right = make_config(
        aws__endpoint_url=aws_endpoint,
        cluster__instance_type="c7g.xlarge",
        image__architecture="arm64",
    )
    assert STEP.plan(_context(right)).problems == []
