"""Benchmark: how close a full apply comes to its longest wait, and what a no-op re-apply costs.

Against the emulator (moto as a server on loopback, seeded like the sandbox), each long wait —
the new RDS instance, the ElastiCache replication group, the CloudFormation stack — is made to
last D seconds: a botocore handler reports them as still being created until D seconds after
their create call. Prints the makespan of a full apply divided by D (target <= 1.2; 1.0 is
the physical limit, the longest single wait; run one after another they would take 3 x D),
then the calls of a second, no-op apply (target: 0 mutating; reads about one per resource, as
a Terraform refresh would make).

Run: python bench/apply_parallel.py [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CREATING = {
    # service: (create operation, describe operation, how to mark the answer as still creating)
    "cloudformation": (
        "CreateStack",
        "DescribeStacks",
        ("Stacks", "StackStatus", "CREATE_IN_PROGRESS"),
    ),
    "rds": (
        "CreateDBInstance",
        "DescribeDBInstances",
        ("DBInstances", "DBInstanceStatus", "creating"),
    ),
    "elasticache": (
        "CreateReplicationGroup",
        "DescribeReplicationGroups",
        ("ReplicationGroups", "Status", "creating"),
    ),
}


class SlowWaits:
    """Makes each long-running create look in progress for `seconds` after it was made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()

    def install(self, aws: Any) -> None:
        for service, (create, describe, mark) in CREATING.items():
            aws.register(f"after-call.{service}.{create}", self._created(service))
            aws.register(f"after-call.{service}.{describe}", self._described(service, mark))

    def _created(self, service: str) -> Any:
        def handler(**_: Any) -> None:
            with self.lock:
                self.started.setdefault(service, time.monotonic())

        return handler

    def _described(self, service: str, mark: tuple[str, str, str]) -> Any:
        collection, field, status = mark

        def handler(parsed: dict[str, Any], **_: Any) -> None:
            with self.lock:
                started = self.started.get(service)
            if started is not None and time.monotonic() - started < self.seconds:
                for item in parsed.get(collection, []):
                    item[field] = status

        return handler


def _config(endpoint: str, seeded: Any) -> Any:
    from wizard.config import LaunchConfig

    data = tomllib.loads((ROOT / "examples" / "launch.example.toml").read_text())
    data = copy.deepcopy(data)
    data["aws"].update(endpoint_url=endpoint, account_id="123456789012")
    data["network"].update(
        vpc_id=seeded.vpc_id,
        subnet_ids=seeded.subnet_ids,
        public_subnet_ids=seeded.public_subnet_ids,
    )
    data["s3"]["create_bucket"] = True
    data["iam"] = {}
    # a new instance, so that its wait is one of the three; the SQL is printed (no server)
    data["database"].update(
        mode="new", rds_instance_id="airflow-bench-db", run_sql="print", engine_version="16.4"
    )
    for component in data["components"].values():
        component["desired_count"] = 1
    return LaunchConfig.model_validate(data)


def _speed_up_polls(poll: float) -> None:
    from wizard.steps import cluster, services
    from wizard.steps.database import DatabaseStep
    from wizard.steps.redis import RedisStep

    cluster.POLL_SECONDS = poll
    services.POLL_SECONDS = poll
    services.WAITER_DELAY = 0
    DatabaseStep.poll_seconds = poll
    RedisStep.poll_seconds = poll


def _apply(config: Any, state_path: Path, waits: SlowWaits | None) -> tuple[float, Any]:
    from wizard.engine import apply_launch, connect, open_state
    from wizard.runner import StepEvent
    from wizard.sandbox import join_container_instances

    launch = connect(config, read_only=False)
    launch.yes = True
    launch.state = open_state(launch, state_path)
    if waits is not None:
        waits.install(launch.aws)
    launch.aws.recorder.reset()

    def on_event(event: StepEvent) -> None:
        if event.step == "cluster" and event.kind == "applied":
            join_container_instances(launch.aws, config.cluster_name)

    start = time.monotonic()
    with launch.state.lock("bench"):
        result = apply_launch(launch, on_event=on_event)
    elapsed = time.monotonic() - start
    if not result.ok:
        raise SystemExit(f"apply failed: {result.failed} skipped {result.skipped}")
    return elapsed, launch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wait", type=float, default=60.0, help="D: each long wait, seconds (AWS: minutes)"
    )
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    from wizard.aws import Aws, AwsSettings
    from wizard.sandbox import seed_account

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = "1"
    os.environ["AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD"] = "bench-only"
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    import logging
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)  # "no CloudFormation support for ..."
    warnings.filterwarnings("ignore", module="moto")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server._server.server_address[:2]  # the port the OS chose
    endpoint = f"http://{host}:{port}"
    try:
        aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
        seeded = seed_account(
            aws,
            google_parameters=(
                "dataplatform.production.airflow.google_client_id",
                "dataplatform.production.airflow.google_client_secret",
            ),
        )
        config = _config(endpoint, seeded)
        _speed_up_polls(min(1.0, args.wait / 20))
        with tempfile.TemporaryDirectory() as folder:
            state_path = Path(folder) / "bench.state.json"
            makespan, _ = _apply(config, state_path, SlowWaits(args.wait))
            _, again = _apply(config, state_path, None)
            resources = len(again.state.created_resources(created_only=False))
        counts = again.aws.recorder.counts
    finally:
        server.stop()

    ratio = makespan / args.wait
    print(f"full apply, three long waits of D = {args.wait:.0f} s each: {makespan:.1f} s")
    print(f"makespan / D: {ratio:.2f} (target <= 1.2; serial waits alone would be 3.00)")
    mutating = again.aws.recorder.mutating()
    reads = sum(counts.values()) - sum(mutating.values())
    print(
        f"no-op re-apply: {sum(mutating.values())} mutating calls (target 0), {reads} reads "
        f"for {resources} recorded resources"
    )
    by_service = Counter({name.split(".")[0]: n for name, n in counts.items()})
    for service, n in sorted(
        Counter(
            {s: sum(v for k, v in counts.items() if k.startswith(s + ".")) for s in by_service}
        ).items()
    ):
        print(f"  {service:16} {n:4} reads")
    return 0 if ratio <= 1.2 and not mutating else 1


if __name__ == "__main__":
    sys.exit(main())
