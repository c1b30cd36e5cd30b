"""The console-made cluster's instance role, as the sandbox seeds it beside the console stack."""

from __future__ import annotations

import json

from wizard.aws import Aws

CONSOLE_ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeTags",
                "ecs:CreateCluster",
                "ecs:DeregisterContainerInstance",
                "ecs:DiscoverPollEndpoint",
                "ecs:Poll",
                "ecs:RegisterContainerInstance",
                "ecs:StartTelemetrySession",
                "ecs:UpdateContainerInstancesState",
                "ecs:Submit*",
                "ecr:GetAuthorizationToken",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}
"""What the console's `ecsInstanceRole` may do (AWS's AmazonEC2ContainerServiceforEC2Role; the
emulator loads no managed policy, so the sandbox's copy is inline): nothing in S3."""


def console_role(aws: Aws) -> None:
    """Create `ecsInstanceRole` and its instance profile, as the ECS console does."""
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName="ecsInstanceRole", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName="ecsInstanceRole",
        PolicyName="AmazonEC2ContainerServiceforEC2Role",
        PolicyDocument=json.dumps(CONSOLE_ROLE_POLICY),
    )
    iam.create_instance_profile(InstanceProfileName="ecsInstanceRole")
    iam.add_role_to_instance_profile(
        InstanceProfileName="ecsInstanceRole", RoleName="ecsInstanceRole"
    )
