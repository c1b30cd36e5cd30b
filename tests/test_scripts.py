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
}


def _stub_dir(tmp_path: Path) -> Path:
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        script = stubs / name
        script.write_text(f"#!/bin/bash\n{body}\n")
        script.chmod(0o755)
    return stubs


def _run_bootstrap(script: Path, stubs: Path, fstab: Path, calls: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{stubs}:/usr/bin:/bin",
        "FSTAB": str(fstab),
        "CALLS": str(calls),
        "STUB_DIR": str(stubs),
    }
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


def _psql(postgres: Postgres, script: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    command = [str(postgres.bin_dir / "psql"), postgres.dsn(), "-X", "-q", "-f", str(script)]
    for variable in variables:
        command += ["-v", variable]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_database_sql_twice_against_postgresql(
    make_config: Callable[..., LaunchConfig], tmp_path: Path, postgres: Postgres
) -> None:
    import psycopg

    config = make_config(database__database_name="airflow_sql_test", database__username="af_sql")
    script = tmp_path / "database.sql"
    script.write_text(render_artifacts(config)["database.sql"])

    refused = _psql(postgres, script)
    assert "Set the Airflow user password with -v airflow_password" in refused.stdout
    with psycopg.connect(postgres.dsn()) as admin:
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'af_sql'").fetchone() is None

    for password in ["first'Pass", "second-pass"]:  # a rerun also resets the password
        result = _psql(postgres, script, f"airflow_password={password}")
        assert result.returncode == 0, result.stderr

    with psycopg.connect(postgres.dsn("airflow_sql_test", "af_sql", "second-pass")) as airflow:
        airflow.execute("CREATE TABLE dag (dag_id text primary key)")  # schema public grant
        encoding = airflow.execute("SHOW server_encoding").fetchone()
        assert encoding == ("UTF8",)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres.dsn("airflow_sql_test", "af_sql", "first'Pass"))


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
