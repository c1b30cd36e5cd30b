"""An instance refresh of an Auto Scaling group, started and waited for.

Running instances keep the launch template or configuration they started from; a new AMI,
instance type or user data reaches them only when they are replaced. The cluster step refreshes
its stack's groups after a change set that needs it
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh.html).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.errors import WizardError
from wizard.steps.base import StepContext

REFRESH_POLL_SECONDS = 15.0
REFRESH_DONE = "Successful"
REFRESH_ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
PREFERENCES = {"MinHealthyPercentage": 50}
"""Half the group stays in service while the other half is replaced."""


def refresh(ctx: StepContext, group: str) -> None:
    """Replace the group's instances and wait until they are (an active refresh, from an
    apply that stopped while it ran, is waited for instead of started again)."""
    autoscaling = ctx.aws.client("autoscaling")
    try:
        refresh_id = autoscaling.start_instance_refresh(
            AutoScalingGroupName=group, Preferences=PREFERENCES
        )["InstanceRefreshId"]
        ctx.progress(f"instance refresh started for {group}")
    except ClientError as error:
        if error_code(error) != "InstanceRefreshInProgress":
            raise
        active = autoscaling.describe_instance_refreshes(AutoScalingGroupName=group)
        refresh_id = next(
            r["InstanceRefreshId"]
            for r in active["InstanceRefreshes"]
            if r["Status"] in REFRESH_ACTIVE
        )
        ctx.progress(f"an instance refresh of {group} is running already: waiting for it")
    while True:
        (found,) = autoscaling.describe_instance_refreshes(
            AutoScalingGroupName=group, InstanceRefreshIds=[refresh_id]
        )["InstanceRefreshes"]
        status = found["Status"]
        if status == REFRESH_DONE:
            ctx.progress(f"instance refresh of {group} done")
            return
        if status not in REFRESH_ACTIVE:
            raise WizardError(
                f"the instance refresh of {group} ended {status}: "
                f"{found.get('StatusReason') or 'no reason given'}",
                title="Instance refresh failed",
                hint="Look at the group's activity (aws autoscaling "
                f"describe-scaling-activities --auto-scaling-group-name {group}), fix the "
                "cause, then apply again: the refresh stays pending until it is done.",
            )
        ctx.progress(f"instance refresh of {group}: {found.get('PercentageComplete', 0)}%")
        ctx.aws.pause(REFRESH_POLL_SECONDS)
