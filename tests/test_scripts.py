"""The rendered scripts run: the bootstrap twice (stubbed package manager and mount), the psql
script twice against a real PostgreSQL, and the user data's lines against a fake ecs.config."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.services import Postgres
from wizard.config import LaunchConfig
from wizard.render import render_artifacts

STUBS = {
    # each records how it was called, so the test can assert on what the script did
    "dnf": 'echo "dnf $*" >> "$CALLS"; touch "$STUB_DIR/mount-s3"; chmod +x "$STUB_DIR/mount-s3"',
    "yum": 'echo "yum $*" >> "$CALLS"; touch "$STUB_DIR/mount-s3"; chmod +x "$STUB_DIR/mount-s3"',
    "mount": 'echo "mount $*" >> "$CALLS"; touch "$STUB_DIR/mounted"',
    "mountpoint": '[ -f "$STUB_DIR/mounted" ]',
    "uname": "echo aarch64",
    # the instance metadata service, as IMDSv2 answers on the host: a token, then the address
    "curl": 'case "$*" in *api/token*) echo token-1 ;; '
    '*"X-aws-ec2-metadata-token: token-1"*local-ipv4*) echo "${PRIVATE_IP:-10.0.1.23}" ;; '
    "*) exit 22 ;; esac",
}


def _stub_dir(tmp_path: Path) -> Path:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        script = stubs / name
        script.write_text(f"#!/bin/bash\n{body}\n")
        script.chmod(0o755)
    return stubs


def _bootstrap_env(stubs: Path, fstab: Path, calls: Path, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{stubs}:/usr/bin:/bin",
        "FSTAB": str(fstab),
        "CALLS": str(calls),
        "STUB_DIR": str(stubs),
        "HOST_DIR": str(stubs.parent / "host"),
        **more,
    }


def _run_bootstrap(script: Path, stubs: Path, fstab: Path, calls: Path) -> None:
    env = _bootstrap_env(stubs, fstab, calls)
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, text=True)


@pytest.mark.parametrize("os_name", ["amazon-linux-2023", "amazon-linux-2"])
def test_bootstrap_twice_leaves_one_fstab_line(
    make_config: Callable[..., LaunchConfig], tmp_path: Path, os_name: str
) -> None:
    mount_point = tmp_path / "mnt" / "airflow"
    config = make_config(bootstrap__os=os_name, bootstrap__mount_point=str(mount_point))
    script = tmp_path / "bootstrap.sh"
    script.write_text(render_artifacts(config)["bootstrap.sh"])
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "UUID=abc / xfs defaults 0 0\n"
        f"s3://old-bucket/old/ {mount_point} mount-s3 _netdev,ro 0 0\n"  # an earlier entry
    )
    stubs, calls = _stub_dir(tmp_path), tmp_path / "calls"

    _run_bootstrap(script, stubs, fstab, calls)
    _run_bootstrap(script, stubs, fstab, calls)

    assert fstab.read_text().splitlines() == [
        "UUID=abc / xfs defaults 0 0",
        f"s3://acme-dataplatform-airflow/airflow/staging/ {mount_point} mount-s3 "
        "_netdev,nosuid,nodev,nofail,ro,allow-other 0 0",
    ]
    assert mount_point.is_dir()
    recorded = calls.read_text().splitlines()
    install = (
        "dnf install -y mount-s3"
        if os_name == "amazon-linux-2023"
        else "yum install -y https://s3.amazonaws.com/mountpoint-s3-release/latest/arm64/mount-s3.rpm"
    )
    # installed once, mounted once: the second run finds both done
    assert recorded == [install, f"mount {mount_point}"]


def test_bootstrap_s3fs_line_for_the_runbook_path(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    mount_point = tmp_path / "mnt"
    config = make_config(
        bootstrap__os="amazon-linux-2",
        bootstrap__mount_tool="s3fs",
        bootstrap__mount_point=str(mount_point),
    )
    script = tmp_path / "bootstrap.sh"
    script.write_text(render_artifacts(config)["bootstrap.sh"])
    stubs, calls, fstab = _stub_dir(tmp_path), tmp_path / "calls", tmp_path / "fstab"
    (stubs / "s3fs").write_text("#!/bin/bash\n")
    (stubs / "s3fs").chmod(0o755)
    fstab.write_text("")
    _run_bootstrap(script, stubs, fstab, calls)
    _run_bootstrap(script, stubs, fstab, calls)
    assert fstab.read_text() == (
        f"s3fs#acme-dataplatform-airflow:/airflow/staging/ {mount_point} fuse "
        "_netdev,iam_role=auto,umask=0022,uid=0,gid=0,allow_other,ro 0 0\n"
    )


def test_user_data_lines_write_the_cluster_once(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    user_data = render_artifacts(make_config())["user-data.sh"]
    ecs_config = tmp_path / "ecs.config"
    ecs_config.write_text("ECS_CLUSTER=default\nECS_ENABLE_TASK_IAM_ROLE=true\n")
    # run the ecs.config lines only (the rest needs an instance), against a file of ours
    lines = [
        line.replace("/etc/ecs/ecs.config", str(ecs_config))
        for line in user_data.splitlines()
        if "ecs.config" in line and not line.startswith(("mkdir", "touch"))
    ]
    for _ in range(2):
        subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], check=True)
    assert ecs_config.read_text().splitlines() == [
        "ECS_ENABLE_TASK_IAM_ROLE=true",
        "ECS_CLUSTER=airflow-staging",
        "ECS_BACKEND_HOST=",
    ]


def _psql(postgres: Postgres, script: Path, password: str) -> subprocess.CompletedProcess[str]:
    """psql runs the script as the admin, with a stand-in `aws` on PATH that prints `password`
    (and fails, as an aws without credentials does, when it is empty)."""
    bin_dir = script.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(
        '#!/bin/sh\n[ -n "$PASSWORD" ] || { echo "Unable to locate credentials" >&2; exit 255; }\n'
        "printf '%s\\n' \"$PASSWORD\"\n"
    )
    (bin_dir / "aws").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PASSWORD": password}
    command = [str(postgres.bin_dir / "psql"), postgres.dsn(), "-X", "-q", "-f", str(script)]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


def test_database_sql_twice_against_postgresql(
    make_config: Callable[..., LaunchConfig], tmp_path: Path, postgres: Postgres
) -> None:
    import psycopg

    config = make_config(database__database_name="airflow_sql_test", database__username="af_sql")
    script = tmp_path / "database.sql"
    script.write_text(render_artifacts(config)["database.sql"])

    refused = _psql(postgres, script, "")  # the password cannot be read from SSM
    assert "Could not read the Airflow user password from SSM" in refused.stdout
    with psycopg.connect(postgres.dsn()) as admin:
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'af_sql'").fetchone() is None

    for password in ["first'Pass", "second-pass"]:  # a rerun also resets the password
        result = _psql(postgres, script, password)
        assert result.returncode == 0, result.stderr

    with psycopg.connect(postgres.dsn("airflow_sql_test", "af_sql", "second-pass")) as airflow:
        airflow.execute("CREATE TABLE dag (dag_id text primary key)")  # schema public grant
        encoding = airflow.execute("SHOW server_encoding").fetchone()
        assert encoding == ("UTF8",)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres.dsn("airflow_sql_test", "af_sql", "first'Pass"))


def _bootstrap_in(tmp_path: Path, config: LaunchConfig) -> tuple[Path, Path, Path, Path]:
    script = tmp_path / "bootstrap.sh"
    script.write_text(render_artifacts(config)["bootstrap.sh"])
    fstab = tmp_path / "fstab"
    fstab.write_text("")
    return script, _stub_dir(tmp_path), fstab, tmp_path / "calls"


def test_bootstrap_leaves_the_instances_address_for_the_workers_hostname(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    import importlib.util

    config = make_config(bootstrap__mount_point=str(tmp_path / "mnt"))
    script, stubs, fstab, calls = _bootstrap_in(tmp_path, config)
    _run_bootstrap(script, stubs, fstab, calls)
    host = tmp_path / "host"
    assert (host / "private-ip").read_text() == "10.0.1.23\n"
    # the module the worker's hostname_callable names, as the worker imports it
    spec = importlib.util.spec_from_file_location("airflow_ecs_host", host / "airflow_ecs_host.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.private_ip() == "10.0.1.23"

    # an answer that is no address stops the bootstrap (and so the ECS agent)
    (host / "private-ip").unlink()
    env = _bootstrap_env(stubs, fstab, calls, PRIVATE_IP="<html>")
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "gave no private IPv4 address" in result.stderr
    assert not (host / "private-ip").exists()


def _drop_in(user_data: str, root: Path, stubs: Path) -> list[str]:
    """Run the user data's lines that write the ecs.service drop-in under `root`; the drop-in's
    ExecStartPre command."""
    lines = [
        line.replace("/etc/systemd/system", str(root))
        for line in user_data.splitlines()
        if "ecs.service.d" in line or line.startswith("systemctl")
    ]
    (stubs / "systemctl").write_text('#!/bin/bash\necho "systemctl $*" >> "$CALLS"\n')
    (stubs / "systemctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:/usr/bin:/bin", "CALLS": str(root / "calls")}
    subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], check=True, env=env)
    assert (root / "calls").read_text() == "systemctl daemon-reload\n"
    unit = (root / "ecs.service.d" / "airflow-ecs-wizard.conf").read_text().splitlines()
    assert unit[0] == "[Service]"
    (command,) = [line.split("=", 1)[1] for line in unit if line.startswith("ExecStartPre=")]
    return command.split()


def test_an_instance_whose_mount_failed_never_starts_the_ecs_agent(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    config = make_config(bootstrap__mount_point=str(tmp_path / "mnt"))
    user_data = render_artifacts(config)["user-data.sh"]
    # the drop-in is in place before the bootstrap is even fetched
    assert user_data.index("ecs.service.d") < user_data.index("aws s3 cp")
    script, stubs, fstab, calls = _bootstrap_in(tmp_path, config)
    command = _drop_in(user_data, tmp_path / "systemd", stubs)
    assert command == ["/bin/bash", "/usr/lib/docker-airflow/bootstrap/bootstrap.sh", "--check"]
    copied = tmp_path / "copied" / "bootstrap.sh"
    env = _bootstrap_env(stubs, fstab, calls)

    def agent_may_start() -> subprocess.CompletedProcess[str]:
        pre = [command[0], str(copied), *command[2:]]
        return subprocess.run(pre, env=env, capture_output=True, text=True, check=False)

    assert agent_may_start().returncode != 0  # the copy from S3 failed: no bootstrap at all
    copied.parent.mkdir()
    copied.write_text(script.read_text())
    refused = agent_may_start()
    assert refused.returncode != 0  # copied, but nothing mounted yet
    assert f"is not mounted at {tmp_path / 'mnt'}: the ECS agent does not start" in refused.stderr
    _run_bootstrap(copied, stubs, fstab, calls)
    assert agent_may_start().returncode == 0
    (stubs / "mounted").unlink()  # the mount is gone (a reboot whose mount failed)
    assert agent_may_start().returncode != 0


def test_a_patched_console_script_gets_the_drop_in_too(tmp_path: Path) -> None:
    from wizard.user_data_patch import BlockMaker

    console = "#!/bin/bash\necho ECS_CLUSTER=console-cluster >> /etc/ecs/ecs.config\n"
    block = BlockMaker("airflow-staging", "s3://bucket/bootstrap.sh").for_script(console)
    assert "ECS_CLUSTER" not in block  # the console's own line stays the one that counts
    assert block.index("ecs.service.d") < block.index("aws s3 cp")
    command = _drop_in(block, tmp_path / "systemd", _stub_dir(tmp_path))
    assert command[-1] == "--check"


def test_bootstrap_falls_back_to_the_mountpoint_rpm_on_older_al2023(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """AL2023 AMIs older than 2023.9.20251110 have no mount-s3 package: the RPM is installed."""
    mount_point = tmp_path / "mnt" / "airflow"
    config = make_config(bootstrap__mount_point=str(mount_point))
    script = tmp_path / "bootstrap.sh"
    script.write_text(render_artifacts(config)["bootstrap.sh"])
    fstab = tmp_path / "fstab"
    fstab.write_text("")
    stubs, calls = _stub_dir(tmp_path), tmp_path / "calls"
    (stubs / "dnf").write_text(
        "#!/bin/bash\n"
        'echo "dnf $*" >> "$CALLS"\n'
        '[ "$3" = mount-s3 ] && { echo "No match for argument: mount-s3" >&2; exit 1; }\n'
        'touch "$STUB_DIR/mount-s3"; chmod +x "$STUB_DIR/mount-s3"\n'
    )

    _run_bootstrap(script, stubs, fstab, calls)

    assert calls.read_text().splitlines() == [
        "dnf install -y mount-s3",
        "dnf install -y https://s3.amazonaws.com/mountpoint-s3-release/latest/arm64/mount-s3.rpm",
        f"mount {mount_point}",
    ]


def test_bootstrap_stops_when_neither_install_works(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    mount_point = tmp_path / "mnt" / "airflow"
    script = tmp_path / "bootstrap.sh"
    script.write_text(
        render_artifacts(make_config(bootstrap__mount_point=str(mount_point)))["bootstrap.sh"]
    )
    stubs, calls = _stub_dir(tmp_path), tmp_path / "calls"
    (stubs / "dnf").write_text('#!/bin/bash\necho "dnf $*" >> "$CALLS"\nexit 1\n')
    with pytest.raises(subprocess.CalledProcessError):
        _run_bootstrap(script, stubs, tmp_path / "fstab", calls)
    assert not [line for line in calls.read_text().splitlines() if line.startswith("mount ")]
