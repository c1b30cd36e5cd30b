"""The emulator's missing instance refresh, filled inside its own process (as
`wizard.emulator_gaps.fill_change_set_gap` fills the change-set gap).

moto 5.2 answers `StartInstanceRefresh` and `DescribeInstanceRefreshes` with a 500 ("not
implemented"). This gives its Auto Scaling service both, as AWS documents them
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-instance-refresh.html): a refresh
replaces every instance of the group with one from the group's current launch template or
configuration; it starts `InProgress`, and AWS refuses a second one on the group meanwhile
(`InstanceRefreshInProgress`). The emulator replaces the instances at once; the refresh reads
`Successful` from the first `DescribeInstanceRefreshes` after it, so a caller that waits for it
polls at least once, as on AWS.

Only the sandbox's emulator process and the tests' emulator call `fill_instance_refresh_gap`:
nothing here runs in a wizard talking to AWS.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")


def fill_instance_refresh_gap() -> None:
    """Give moto's Auto Scaling `StartInstanceRefresh` and `DescribeInstanceRefreshes`."""
    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    if getattr(AutoScalingResponse, "filled_instance_refresh", False):
        return
    refreshes: dict[str, list[dict[str, Any]]] = {}

    def start_instance_refresh(self: AutoScalingResponse) -> ActionResult:
        name = str(self._get_param("AutoScalingGroupName"))
        group = self.autoscaling_backend.autoscaling_groups.get(name)
        if group is None:
            raise AutoscalingClientError("ValidationError", f"AutoScalingGroup {name} not found.")
        known = refreshes.setdefault(group._id, [])  # a group made again is another group
        if any(refresh["Status"] in ACTIVE for refresh in known):
            raise AutoscalingClientError(
                "InstanceRefreshInProgress",
                f"An Instance Refresh is already in progress and blocks the execution of this "
                f"Instance Refresh for {name}.",
            )
        replaced = _replace_instances(self.autoscaling_backend, group)
        now = datetime.datetime.now(datetime.UTC)
        refresh = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": name,
            "Status": "InProgress",
            "StatusReason": "",
            "StartTime": now,
            "PercentageComplete": 0,
            "InstancesToUpdate": replaced,
            "Preferences": dict(self._get_param("Preferences") or {}),
        }
        known.insert(0, refresh)  # AWS lists the newest first
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe_instance_refreshes(self: AutoScalingResponse) -> ActionResult:
        name = str(self._get_param("AutoScalingGroupName"))
        group = self.autoscaling_backend.autoscaling_groups.get(name)
        wanted = set(self._get_param("InstanceRefreshIds") or [])
        listed = []
        for refresh in refreshes.get(group._id, []) if group is not None else []:
            if wanted and refresh["InstanceRefreshId"] not in wanted:
                continue
            shown = dict(refresh)
            if refresh["Status"] == "InProgress":  # done by the next look, as the caller polls
                refresh.update(
                    Status="Successful",
                    PercentageComplete=100,
                    InstancesToUpdate=0,
                    EndTime=datetime.datetime.now(datetime.UTC),
                )
            listed.append(shown)
        return ActionResult({"InstanceRefreshes": listed})

    AutoScalingResponse.start_instance_refresh = start_instance_refresh  # type: ignore[attr-defined]
    AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes  # type: ignore[attr-defined]
    AutoScalingResponse.filled_instance_refresh = True  # type: ignore[attr-defined]


def _replace_instances(backend: Any, group: Any) -> int:
    """Terminate the group's instances and let the group launch as many from its current
    launch template (moto launches with the template's current image and type)."""
    old = list(group.instance_states)
    if old:
        backend.ec2_backend.terminate_instances([state.instance.id for state in old])
        group.instance_states = [state for state in group.instance_states if state not in old]
    group.set_desired_capacity(group.desired_capacity)
    return len(old)
