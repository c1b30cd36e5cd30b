"""Shared fixtures: the example config, and configs built from it with a few fields changed."""

from __future__ import annotations

import copy
import gc
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wizard.config import LaunchConfig

pytest_plugins = ["tests.network_fixtures"]  # `seeded` and `config`: the network tests' VPC


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "breaks_aws_rule(name, ...): the test breaks these rules of tests/aws_rules.py on purpose",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, so fixtures can tell whether the test passed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _aws_rules(request: pytest.FixtureRequest) -> Any:
    """After every test that used the emulator and passed, the calls it made keep AWS's rules
    (tests/aws_rules.py): what moto accepts and AWS would refuse fails the test here."""
    if "aws_endpoint" not in request.fixturenames:
        yield
        return
    from tests.aws_rules import recording, violations

    skip = [name for marker in request.node.iter_markers("breaks_aws_rule") for name in marker.args]
    with recording() as evidence:
        yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.passed:
        return
    with pytest.MonkeyPatch.context() as patch:  # the test's own fake credentials are gone
        _fake_credentials(patch)  # by now, and rules may read the emulator (Evidence.aws)
        broken = violations(evidence, skip=skip)
    if broken:
        pytest.fail("the launch breaks AWS's rules:\n" + "\n".join(broken), pytrace=False)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish() -> None:
    """Collect the session's garbage once, then freeze what is left: pytest's own clean-up
    collects five more times over a heap of emulators, botocore models and apps (seconds each),
    which under pytest-xdist outlasts the 5 s a worker is given to stop and earns it a SIGINT.
    Finalizers still run here, while pytest still reports what they raise."""
    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Rehearsals (minutes each) start each pytest-xdist worker's first chunk, one per worker
    in turn, so they run at once and beside the rest of the suite, never one after another on
    one worker (see tests/xdist_order.py)."""
    from tests.xdist_order import deal_long_tests

    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    items[:] = deal_long_tests(
        items, lambda item: item.get_closest_marker("rehearsal") is not None, workers
    )


ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT.parent / "shared" / "spec" / "launch.example.toml"
if not EXAMPLE.exists():  # a checkout laid out without shared/ beside it
    EXAMPLE = ROOT / "examples" / "launch.example.toml"


@pytest.fixture(scope="session")
def example_path() -> Path:
    """The spec's example config, which must load unchanged."""
    return EXAMPLE


@pytest.fixture(scope="session")
def example_data() -> dict[str, Any]:
    """The example config as parsed TOML."""
    return tomllib.loads(EXAMPLE.read_text())


def with_changes(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `data` with dotted paths set (`"s3.bucket": "x"`); None deletes the key."""
    result = copy.deepcopy(data)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return result


@pytest.fixture
def make_config(example_data: dict[str, Any]) -> Callable[..., LaunchConfig]:
    """Build a valid config from the example with dotted-path changes."""

    def make(**changes: Any) -> LaunchConfig:
        dotted = {key.replace("__", "."): value for key, value in changes.items()}
        return LaunchConfig.model_validate(with_changes(example_data, dotted))

    return make


@pytest.fixture(scope="session")
def postgres() -> Any:
    """A real PostgreSQL server for the whole session."""
    from tests.services import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def ssl_postgres() -> Any:
    """A real PostgreSQL server with `ssl=on` (self-signed certificate: `ca_file`), where every
    role but the admin must connect over TLS."""
    from tests.services import postgres_server

    with postgres_server(ssl=True) as server:
        yield server


@pytest.fixture(scope="session")
def redis() -> Any:
    """A real Redis server for the whole session."""
    from tests.services import redis_server

    with redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def secure_redis() -> Any:
    """A real Redis server for the whole session that wants an AUTH token (`requirepass`) and
    speaks only TLS, with a self-signed certificate (`ca_file`) for 127.0.0.1."""
    from tests.services import redis_server

    with redis_server(password="elasticache-like-token-0123456789abcdef", tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def moto_server() -> Any:
    """The AWS emulator as a server on a free loopback port, one per test session.

    Steps reach it through `endpoint_url`, the same code path that talks to AWS.
    """
    import logging

    from moto.server import ThreadedMotoServer

    from tests.services import free_port
    from wizard.emulator_gaps import fill_elasticache_gaps
    from wizard.instance_refresh_gap import fill_instance_refresh_gap
    from wizard.sandbox import fill_change_set_gap

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    # the emulator's gaps, filled as the sandbox's emulator fills them (the server runs in-process)
    fill_change_set_gap()
    fill_instance_refresh_gap()
    fill_elasticache_gaps()

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials for the emulator, and none of a real account's."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


@pytest.fixture
def aws_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean emulator (reset before the test) and fake credentials, never a real account's."""
    import urllib.request

    _fake_credentials(monkeypatch)
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    return moto_server


@pytest.fixture
def fast_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long waits are instant in the emulator: every connected launch polls without sleeping
    (the sandbox's own knob, `wait_scale`, at 0)."""
    from wizard.aws import WAIT_SCALE_VARIABLE

    monkeypatch.setenv(WAIT_SCALE_VARIABLE, "0")
    # moto's services report this many running tasks whatever their desired count
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")


@pytest.fixture
def make_launch_config(
    aws_endpoint: str,
    example_data: dict[str, Any],
    postgres: Any,
    monkeypatch: pytest.MonkeyPatch,
    fast_waits: None,
) -> Callable[..., LaunchConfig]:
    """Seed the emulator as the sandbox does (`console_stack`: with the console-made cluster
    stack too) and build the example config pointed at it and at the real PostgreSQL server,
    one task per service, with dotted-path `changes` on top; call it once per test."""
    from wizard.aws import Aws, AwsSettings
    from wizard.sandbox import GOOGLE_PARAMETERS, seed_account

    def make(*, console_stack: bool = False, **changes: Any) -> LaunchConfig:
        aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
        seeded = seed_account(aws, google_parameters=GOOGLE_PARAMETERS, console_stack=console_stack)
        monkeypatch.setenv("AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD", "trusted-locally")
        database = f"airflow_{abs(hash(aws_endpoint)) % 10**6}_{id(seeded) % 997}"
        launch: dict[str, Any] = {
            "aws.endpoint_url": aws_endpoint,
            "aws.account_id": "123456789012",
            "network.vpc_id": seeded.vpc_id,
            "network.subnet_ids": seeded.subnet_ids,
            "network.public_subnet_ids": seeded.public_subnet_ids,
            "s3.create_bucket": True,
            "iam": {},
            "database.host": "127.0.0.1",
            "database.port": postgres.port,
            "database.admin_username": postgres.user,
            "database.database_name": database,
        }
        for component in example_data["components"]:
            launch[f"components.{component}.desired_count"] = 1
        dotted = {key.replace("__", "."): value for key, value in changes.items()}
        return LaunchConfig.model_validate(with_changes(example_data, {**launch, **dotted}))

    return make


@pytest.fixture
def launch_config(make_launch_config: Callable[..., LaunchConfig]) -> LaunchConfig:
    """The example launch over the seeded account (see `make_launch_config`)."""
    return make_launch_config()


def launch_state(tmp_path: Path, config: LaunchConfig, **network_outputs: Any) -> Any:
    """A new state file for `config` in `tmp_path` (account 123456789012); `network_outputs`,
    when given, are recorded as if the network step had run."""
    from wizard.state import StateFile

    state = StateFile.create(
        tmp_path / f"{config.name}.state.json",
        launch=config.name,
        account_id="123456789012",
        region=config.aws.region,
        config_digest="test",
    )
    if network_outputs:
        state.set_outputs("network", **network_outputs)
    return state


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere (as `env -i HOME=<empty dir>` leaves a new user): connecting
    fails at once, without a network call."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def no_credentials_env(folder: Path) -> dict[str, str]:
    """The environment of a command run by a user with no AWS credentials: only PATH and an
    empty HOME (made in `folder`)."""
    home = folder / "home"
    home.mkdir()
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "missing-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "missing-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def run_python(code: str, *args: str) -> str:
    """What `code` prints, run in a fresh interpreter from the checkout (what a module imports
    is only seen in a process that had not imported it yet)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> Any:
    """Run `airflow-ecs-wizard ARGS` in a fresh interpreter from the checkout, as a user would;
    the completed process (exit code, stdout, stderr) for the test to read."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def _venv_cache_without_pypi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("venvs-without-pypi")


@pytest.fixture
def no_pypi(_venv_cache_without_pypi: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip may not reach any index, so a rehearsal's Airflow install fails at once; the venv
    cache it uses. The cache is this worker's, shared by its tests: the venv itself (seconds of
    ensurepip) is made by the first, and each test's pip install fails in it as on a fresh one.
    The rehearsal's timeout scale is unset (scripts/test sets it for the suite)."""
    from wizard.rehearse import venv
    from wizard.rehearse.run import TIMEOUT_SCALE_VARIABLE

    monkeypatch.setenv(venv.CACHE_VARIABLE, str(_venv_cache_without_pypi))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.delenv(TIMEOUT_SCALE_VARIABLE, raising=False)
    return _venv_cache_without_pypi
