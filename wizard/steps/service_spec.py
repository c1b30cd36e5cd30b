"""A service's spec: everything CreateService sets that UpdateService can change, as one dict.

The plan compares the spec a service has with the one the config asks for and shows the
difference as a diff; apply sends the whole wanted spec on UpdateService, so an update carries
everything a create does (Service Connect, load balancer, deployment settings, health-check
grace, and the capacity provider when the placement moves).

What a service has comes from DescribeServices, and, for what DescribeServices does not report
(Service Connect sits on the deployments; an emulator drops more), from the spec the launch last
applied, recorded in the services step's outputs.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from wizard.steps.capacity import LAUNCH_TYPE, PROVIDER

DEPLOYMENT = {
    "minimumHealthyPercent": 50,
    "maximumPercent": 200,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}
HEALTH_CHECK_GRACE_SECONDS = 300
RECORDED = (
    "placement",
    "deploymentConfiguration",
    "healthCheckGracePeriodSeconds",
    "serviceConnectConfiguration",
)
"""The fields read from the launch's record of what it applied when it has one."""
OUTPUT = "service_specs"
"""The services step's output holding, as JSON, the spec last applied to each service."""


def wanted(
    *,
    task_definition: str,
    count: int,
    placement: str,
    load_balancers: list[dict[str, Any]],
    service_connect: dict[str, Any] | None,
) -> dict[str, Any]:
    """The spec the config asks for."""
    spec: dict[str, Any] = {
        "taskDefinition": task_definition,
        "desiredCount": count,
        "placement": placement,
        "deploymentConfiguration": DEPLOYMENT,
        "loadBalancers": load_balancers,
    }
    if load_balancers:
        spec["healthCheckGracePeriodSeconds"] = HEALTH_CHECK_GRACE_SECONDS
    if service_connect:
        spec["serviceConnectConfiguration"] = service_connect
    return spec


def current(service: dict[str, Any], recorded: dict[str, Any] | None) -> dict[str, Any]:
    """The spec a service has: DescribeServices, completed by the launch's record."""
    deployments = service.get("deployments") or []
    primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    described = service.get("deploymentConfiguration") or {}
    spec: dict[str, Any] = {
        "taskDefinition": service.get("taskDefinition", ""),
        "desiredCount": service.get("desiredCount", 0),
        "placement": PROVIDER if service.get("capacityProviderStrategy") else LAUNCH_TYPE,
        "deploymentConfiguration": {k: described[k] for k in DEPLOYMENT if k in described},
        "loadBalancers": [
            {k: lb[k] for k in ("targetGroupArn", "containerName", "containerPort") if k in lb}
            for lb in service.get("loadBalancers") or []
        ],
    }
    if spec["loadBalancers"] and service.get("healthCheckGracePeriodSeconds"):
        spec["healthCheckGracePeriodSeconds"] = service["healthCheckGracePeriodSeconds"]
    if (primary.get("serviceConnectConfiguration") or {}).get("enabled"):
        spec["serviceConnectConfiguration"] = primary["serviceConnectConfiguration"]
    if recorded:
        for key in RECORDED:
            spec.pop(key, None)
            if key in recorded:
                spec[key] = recorded[key]
    return spec


def changed(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The fields that differ, in the spec's order. Service Connect the config no longer asks
    for (a downgrade to 2.x) is left on: it costs nothing, and turning it off would cut off
    any client still calling through it."""
    keys = [*want, *(k for k in have if k not in want and k != "serviceConnectConfiguration")]
    return [key for key in keys if have.get(key) != want.get(key)]


def diff(name: str, have: dict[str, Any], want: dict[str, Any]) -> str:
    """A unified diff of the two specs, as JSON."""
    return "".join(
        difflib.unified_diff(
            _lines(have), _lines(want), fromfile=f"{name} (running)", tofile=f"{name} (config)"
        )
    )


def _lines(spec: dict[str, Any]) -> list[str]:
    return (json.dumps(spec, indent=2, sort_keys=True) + "\n").splitlines(keepends=True)


def update_arguments(
    have: dict[str, Any], want: dict[str, Any], strategy: list[dict[str, Any]]
) -> dict[str, Any]:
    """UpdateService's arguments (but cluster and service) for going from `have` to `want`.

    The task definition and count always; every other field a create sets when it differs
    (load balancers and Service Connect each start a new deployment, so a count alone does not
    send them). A placement move sends the capacity provider strategy with `forceNewDeployment`:
    a strategy alone "doesn't trigger a new service deployment" (UpdateService API reference),
    and the running tasks must move too.
    """
    arguments: dict[str, Any] = {
        "taskDefinition": want["taskDefinition"],
        "desiredCount": want["desiredCount"],
    }
    for key in ("deploymentConfiguration", "loadBalancers", "healthCheckGracePeriodSeconds"):
        if key in want and have.get(key) != want[key]:
            arguments[key] = want[key]
    connect = want.get("serviceConnectConfiguration")
    if connect and have.get("serviceConnectConfiguration") != connect:
        arguments["serviceConnectConfiguration"] = connect
    if have.get("placement") != want["placement"]:
        # an empty list moves a service back to the launch type (UpdateService API reference)
        arguments["capacityProviderStrategy"] = strategy if want["placement"] == PROVIDER else []
        arguments["forceNewDeployment"] = True
    return arguments


def load_records(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The specs the launch last applied, by service name."""
    text = outputs.get(OUTPUT)
    if not isinstance(text, str) or not text:
        return {}
    loaded = json.loads(text)
    return {str(k): dict(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def dump_records(records: dict[str, dict[str, Any]]) -> str:
    """The records as the output's JSON text."""
    return json.dumps(records, sort_keys=True, separators=(",", ":"))
