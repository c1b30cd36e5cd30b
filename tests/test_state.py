"""The state file: what it holds after each change, and what it refuses (leaving it as it was)."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from wizard.errors import BadInput, WizardError
from wizard.state import SCHEMA_VERSION, Resource, StateFile, contains_secret

ACCOUNT, REGION = "123456789012", "eu-west-1"
SECRET = "p@ss/w0rd+?&= é~>>>"  # changes under every encoding; its base64 holds "+" and "/"


def new_state(path: Path, launch: str = "demo") -> StateFile:
    return StateFile.create(
        path, launch=launch, account_id=ACCOUNT, region=REGION, config_digest="sha256:cfg"
    )


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "demo.state.json"


@pytest.fixture
def state(state_path: Path) -> StateFile:
    return new_state(state_path)


def test_round_trip_keeps_every_change(state: StateFile, state_path: Path) -> None:
    state.start_step("network")
    sg = Resource(kind="ec2:security-group", id="sg-0abc", created=True, region=REGION)
    state.record_resource("network", sg)
    state.set_outputs("network", security_group="sg-0abc", port=5432, open=False, subnets=["a"])
    state.finish_step("network", preview_digest="sha256:plan")
    state.start_step("database")
    state.fail_step("database", "RDS instance airflow-db not found")

    reopened = StateFile.open(state_path, launch="demo")

    assert reopened.state == state.state
    network = reopened.step("network")
    assert network.status == "applied" and network.preview_digest == "sha256:plan"
    assert network.outputs == {
        "security_group": "sg-0abc",
        "port": 5432,
        "open": False,
        "subnets": ["a"],
    }
    assert network.resources == [sg] and network.started_at <= network.finished_at
    assert reopened.step("database").error == "RDS instance airflow-db not found"
    assert reopened.applied_steps() == ["network"]
    assert reopened.summary_rows() == [
        ("network", "applied", 1, ""),
        ("database", "failed", 0, "RDS instance airflow-db not found"),
    ]


def test_file_is_private_pretty_and_keeps_step_order(state: StateFile, state_path: Path) -> None:
    for step in ("network", "iam", "database", "cache"):
        state.start_step(step)
    text = state_path.read_text()
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    assert text.endswith("}\n") and '\n  "steps": {\n    "network": {' in text
    assert list(json.loads(text)["steps"]) == ["network", "iam", "database", "cache"]
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


def test_saving_refreshes_updated_at_only(state: StateFile, state_path: Path) -> None:
    before = json.loads(state_path.read_text())
    state.save()
    after = json.loads(state_path.read_text())
    assert after["updated_at"] > before["updated_at"]
    assert after["created_at"] == before["created_at"]


def test_writes_leave_no_temp_files(state: StateFile, tmp_path: Path) -> None:
    for n in range(5):
        state.set_outputs("image", tag=f"v{n}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.state.json"]


def test_a_crash_at_the_rename_leaves_the_old_file(
    state: StateFile, state_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.set_outputs("image", tag="v1")
    before = state_path.read_bytes()

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(WizardError, match="No space left on device"):
        state.set_outputs("image", tag="v2")

    assert state_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.state.json"]
    assert state.step("image").outputs == {"tag": "v1"}  # memory still matches the file


def test_fault_hook_before_save_means_nothing_was_written(
    state: StateFile, state_path: Path
) -> None:
    events: list[str] = []
    state.fault_hook = events.append
    state.record_resource("s3_layout", Resource(kind="s3:bucket", id="b1", created=True))
    assert events == ["before-save", "after-save"]

    def crash(event: str) -> None:
        if event == "before-save":
            raise KeyboardInterrupt  # as if killed between the create and its state write

    state.fault_hook = crash
    before = state_path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        state.record_resource("s3_layout", Resource(kind="s3:bucket", id="b2", created=True))
    assert state_path.read_bytes() == before
    assert [r.id for r in StateFile.open(state_path).step("s3_layout").resources] == ["b1"]


def _truncated(valid: bytes) -> bytes:
    return valid[: len(valid) // 2]


def _newer(valid: bytes) -> bytes:
    document = json.loads(valid)
    document["schema_version"] = SCHEMA_VERSION + 1
    document["steps_v2"] = {}
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda valid: b"\x00\xffgarbage", "it may be truncated or corrupt"),
        (_truncated, "it may be truncated or corrupt"),
        (lambda valid: b"", "it may be truncated or corrupt"),
        (lambda valid: b'{"hello": 1}', "is JSON, but not a state file"),
        (lambda valid: b"[1, 2]", "is JSON, but not a state file"),
        (lambda valid: valid.replace(b'"account_id"', b'"acct"'), "not a state file"),
        (_newer, "written by a newer airflow-ecs-wizard"),
    ],
    ids=["garbage", "truncated", "empty", "foreign", "list", "wrong-field", "newer-schema"],
)
def test_unusable_files_are_refused_and_left_untouched(
    state_path: Path, make: Callable[[bytes], bytes], words: str
) -> None:
    new_state(state_path)
    state_path.write_bytes(make(state_path.read_bytes()))
    before, mtime = state_path.read_bytes(), state_path.stat().st_mtime_ns

    with pytest.raises(BadInput) as refused:
        StateFile.open(state_path)

    assert refused.value.exit_code == 2
    assert words in str(refused.value) and str(state_path) in str(refused.value)
    assert "left as it is" in refused.value.hint
    assert state_path.read_bytes() == before and state_path.stat().st_mtime_ns == mtime


def test_newer_schema_says_upgrade(state_path: Path) -> None:
    new_state(state_path)
    state_path.write_bytes(_newer(state_path.read_bytes()))
    with pytest.raises(BadInput, match="Upgrade airflow-ecs-wizard"):
        StateFile.open(state_path)


def test_corrupt_file_says_what_to_do(state_path: Path) -> None:
    state_path.write_text('{"schema_version": 1, "launch": "de')
    with pytest.raises(BadInput) as refused:
        StateFile.open_or_create(
            state_path, launch="demo", account_id=ACCOUNT, region=REGION, config_digest="x"
        )
    assert "restore it from a backup or move it aside to start over" in str(refused.value).lower()
    assert state_path.read_text() == '{"schema_version": 1, "launch": "de'


def test_another_launch_is_refused(state: StateFile, state_path: Path) -> None:
    before = state_path.read_bytes()
    with pytest.raises(BadInput, match="launch 'demo', not 'prod'") as refused:
        StateFile.open_or_create(
            state_path, launch="prod", account_id=ACCOUNT, region=REGION, config_digest="x"
        )
    assert refused.value.exit_code == 2 and state_path.read_bytes() == before
    assert StateFile.open(state_path, launch="demo").state.launch == "demo"


def test_missing_file_and_existing_file(tmp_path: Path, state_path: Path) -> None:
    with pytest.raises(BadInput, match="Cannot read the state file"):
        StateFile.open(tmp_path / "nope.state.json")
    first = StateFile.open_or_create(
        state_path, launch="demo", account_id=ACCOUNT, region=REGION, config_digest="x"
    )
    first.set_outputs("image", tag="v1")
    with pytest.raises(BadInput, match="already exists"):
        new_state(state_path)
    again = StateFile.open_or_create(
        state_path, launch="demo", account_id=ACCOUNT, region=REGION, config_digest="x"
    )
    assert again.step("image").outputs == {"tag": "v1"}


def test_credentials_for_another_account_or_region_are_refused(state: StateFile) -> None:
    state.check_target(ACCOUNT, REGION)
    with pytest.raises(BadInput) as refused:
        state.check_target("210987654321", "us-east-1")
    assert refused.value.exit_code == 2
    assert (
        "This state belongs to account 123456789012 in eu-west-1; your credentials are for "
        "210987654321 in us-east-1" in refused.value.message
    )
    with pytest.raises(BadInput, match="in eu-west-1; your credentials are for 1234"):
        state.check_target(ACCOUNT, "eu-west-2")


def test_lock_refuses_a_second_holder_in_the_same_process(
    state: StateFile, state_path: Path
) -> None:
    other = StateFile.open(state_path)
    with state.lock("apply --yes"):
        info = json.loads(state.lock_info_path.read_text())
        assert info["pid"] == os.getpid() and info["description"] == "apply --yes"
        for contender in (other, state):
            with pytest.raises(BadInput) as refused, contender.lock("apply"):
                pass
            message = str(refused.value)
            assert refused.value.exit_code == 2
            assert f"Launch demo is being applied by pid {os.getpid()} on host" in message
            assert "(apply --yes" in message and info["started_at"] in message
            assert f"if that process is gone remove {state.lock_path}" in message
    assert not state.lock_info_path.exists()
    with other.lock("apply"):
        assert json.loads(other.lock_info_path.read_text())["description"] == "apply"


def test_lock_rereads_the_file_once_held(state: StateFile, state_path: Path) -> None:
    stale = StateFile.open(state_path)
    state.set_outputs("image", tag="v2")
    with stale.lock("apply"):
        assert stale.step("image").outputs == {"tag": "v2"}


CHILD = """
import sys, time
from wizard.state import StateFile
with StateFile.open(sys.argv[1]).lock("apply from the child"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_lock_held_by_another_process_then_freed_by_its_death(
    state: StateFile, state_path: Path
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        with pytest.raises(BadInput) as refused, state.lock("apply"):
            pass
        assert f"being applied by pid {child.pid} on host" in str(refused.value)
        assert "apply from the child" in str(refused.value)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()

    stale = json.loads(state.lock_info_path.read_text())
    assert stale["pid"] == child.pid  # a dead holder leaves its info file behind
    with state.lock("apply again"):
        info = json.loads(state.lock_info_path.read_text())
        assert info["pid"] == os.getpid() and info["description"] == "apply again"


def _forms(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "raw": value,
        "quote": urllib.parse.quote(value),
        "quote-safe-none": urllib.parse.quote(value, safe=""),
        "quote_plus": urllib.parse.quote_plus(value),
        "base64": base64.b64encode(raw).decode(),
        "urlsafe-base64": base64.urlsafe_b64encode(raw).decode(),
    }


def test_the_encoded_forms_differ() -> None:
    assert len(set(_forms(SECRET).values())) == len(_forms(SECRET))


@pytest.mark.parametrize("form", list(_forms(SECRET)))
def test_save_refuses_a_secret_in_any_form(state: StateFile, state_path: Path, form: str) -> None:
    state.set_outputs("database", host="db.internal")
    state.register_secret(SECRET)
    before = state_path.read_bytes()
    leaked = f"postgresql://airflow:{_forms(SECRET)[form]}@db.internal/airflow"

    with pytest.raises(WizardError, match="nothing was written") as refused:
        state.set_outputs("database", sql_alchemy_conn=leaked)

    assert state_path.read_bytes() == before
    assert not contains_secret(str(refused.value), [SECRET])
    assert state.step("database").outputs == {"host": "db.internal"}
    state.set_outputs("database", sql_alchemy_conn="ssm:/demo/sql_alchemy_conn")  # still saves
    assert not contains_secret(state_path.read_text(), [SECRET])


def test_contains_secret_finds_values_escaped_in_json() -> None:
    quoted = 'pa"ss\\wörd'
    assert contains_secret(json.dumps({"x": quoted}), [quoted])
    assert contains_secret(json.dumps({"x": quoted}, ensure_ascii=False), [quoted])
    assert not contains_secret("nothing to see", [quoted, SECRET])


def test_concurrent_records_all_land_once(state: StateFile, state_path: Path) -> None:
    start = threading.Barrier(8)

    def record(thread: int) -> None:
        start.wait()
        for n in range(25):
            state.record_resource(
                "parallel", Resource(kind="ssm:parameter", id=f"/t{thread}/{n}", created=True)
            )
            state.record_resource(
                "parallel", Resource(kind="ssm:parameter", id="/shared", created=True)
            )

    threads = [threading.Thread(target=record, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [r.id for r in StateFile.open(state_path).step("parallel").resources]
    expected = {f"/t{t}/{n}" for t in range(8) for n in range(25)} | {"/shared"}
    assert len(ids) == len(expected) == 201 and set(ids) == expected


def test_recording_twice_keeps_the_first(state: StateFile) -> None:
    assert state.record_resource(
        "network", Resource(kind="ec2:security-group", id="sg-1", created=False)
    )
    assert not state.record_resource(
        "network", Resource(kind="ec2:security-group", id="sg-1", created=True)
    )
    assert [r.created for r in state.step("network").resources] == [False]


def test_created_resources_newest_first(state: StateFile) -> None:
    def record(step: str, kind: str, id_: str, created: bool = True) -> None:
        state.record_resource(step, Resource(kind=kind, id=id_, created=created))

    record("network", "ec2:security-group", "sg-instances")
    record("iam", "iam:role", "ecsTaskExecutionRole", created=False)
    record("s3_layout", "s3:bucket", "demo-airflow")
    record("network", "ec2:security-group-ingress", "sgr-1")
    record("secrets", "ssm:parameter", "/demo/fernet_key")

    assert [r.id for r in state.created_resources()] == [
        "/demo/fernet_key",
        "sgr-1",
        "demo-airflow",
        "sg-instances",
    ]
    everything = [r.id for r in state.created_resources(created_only=False)]
    assert everything[3:] == ["ecsTaskExecutionRole", "sg-instances"]


def test_fail_and_reset_lose_nothing(state: StateFile, state_path: Path) -> None:
    state.start_step("redis")
    state.record_resource(
        "redis", Resource(kind="elasticache:replication-group", id="rg", created=True)
    )
    state.set_outputs("redis", endpoint="rg.cache.amazonaws.com")
    state.fail_step("redis", "timed out waiting for rg")
    failed = StateFile.open(state_path).step("redis")
    assert failed.status == "failed" and failed.error == "timed out waiting for rg"
    assert failed.outputs == {"endpoint": "rg.cache.amazonaws.com"} and len(failed.resources) == 1

    state.reset_step("redis")
    reset = StateFile.open(state_path).step("redis")
    assert reset.status == "pending" and reset.resources == failed.resources
    assert reset.outputs == failed.outputs

    state.finish_step("redis")
    assert state.step("redis").error == "" and state.applied_steps() == ["redis"]


def test_unknown_step_reads_as_pending_without_being_stored(state: StateFile) -> None:
    assert state.step("services").status == "pending"
    assert "services" not in state.state.steps and state.summary_rows() == []


def test_a_symlink_to_the_state_shares_its_lock_and_its_file(
    state: StateFile, state_path: Path, tmp_path: Path
) -> None:
    link = tmp_path / "elsewhere" / "link.state.json"
    link.parent.mkdir()
    link.symlink_to(state_path)
    through_link = StateFile.open(link)
    with state.lock("apply through the path"):
        with pytest.raises(BadInput) as refused, through_link.lock("apply through the link"):
            pass
        assert "apply through the path" in str(refused.value)
    with through_link.lock("apply through the link"):
        with pytest.raises(BadInput, match="apply through the link"), state.lock("apply"):
            pass
        through_link.set_outputs("image", tag="v3")
    assert link.is_symlink() and os.readlink(link) == str(state_path)  # still a link
    assert StateFile.open(state_path).step("image").outputs == {"tag": "v3"}
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in link.parent.iterdir()) == ["link.state.json"]


def test_a_process_holding_the_lock_through_a_link_refuses_the_path(
    state: StateFile, state_path: Path, tmp_path: Path
) -> None:
    link = tmp_path / "link.state.json"
    link.symlink_to(state_path.name)  # relative, as `ln -s` is often used
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(link)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        with pytest.raises(BadInput) as refused, state.lock("apply"):
            pass
        assert f"being applied by pid {child.pid} on host" in str(refused.value)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def _with_resource(state: StateFile) -> dict[str, Any]:
    state.record_resource("image", Resource(kind="ecr:repository", id="zdp", created=True))
    document: dict[str, Any] = json.loads(state.path.read_text())
    return document


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: d["steps"]["image"]["resources"][0].update(created="yes"), "created"),
        (lambda d: d["steps"]["image"]["resources"][0].update(created=1), "created"),
        (lambda d: d["steps"]["image"]["resources"][0].update(region="../x"), "region"),
        (lambda d: d.update(schema_version="1"), "no schema_version"),
        (lambda d: d.update(region="us-east-1; rm"), "region"),
        (lambda d: d["steps"]["image"].update(status=None), "status"),
    ],
    ids=["created-yes", "created-1", "resource-region", "version-text", "region", "status-null"],
)
def test_values_of_another_type_are_refused_not_coerced(
    state: StateFile, state_path: Path, damage: Callable[[dict[str, Any]], None], words: str
) -> None:
    document = _with_resource(state)
    damage(document)
    state_path.write_text(json.dumps(document))
    before = state_path.read_bytes()
    with pytest.raises(BadInput) as refused:
        StateFile.open(state_path)
    assert refused.value.exit_code == 2 and words in refused.value.message
    assert "not a state file" in refused.value.message
    assert state_path.read_bytes() == before


def test_a_key_given_twice_is_refused(state: StateFile, state_path: Path) -> None:
    text = json.dumps(_with_resource(state), indent=2)
    twice = text.replace('"created": true', '"created": true,\n "created": false', 1)
    state_path.write_text(twice)
    with pytest.raises(BadInput) as refused:
        StateFile.open(state_path)
    assert refused.value.exit_code == 2
    assert "names 'created' twice" in refused.value.message
    assert state_path.read_text() == twice


def test_a_state_whose_resources_are_in_another_region_is_refused(
    state: StateFile, state_path: Path
) -> None:
    document = _with_resource(state)
    document["steps"]["image"]["resources"][0]["region"] = REGION
    document["region"] = "us-west-2"  # edited: the launch's records are in eu-west-1
    state_path.write_text(json.dumps(document))
    edited = StateFile.open(state_path)
    with pytest.raises(BadInput) as refused:
        edited.check_target(ACCOUNT, "us-west-2")
    assert refused.value.exit_code == 2
    assert "says its launch is in us-west-2, but its resources were made in eu-west-1" in str(
        refused.value
    )


def test_a_state_others_can_read_is_made_private_at_once_with_a_warning(
    state: StateFile, state_path: Path
) -> None:
    os.chmod(state_path, 0o666)
    result = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "status", "--state", str(state_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"warning: {state_path} was readable or writable by others (mode 0o666)" in (
        result.stderr
    )
    assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
    again = subprocess.run(
        [sys.executable, "-m", "wizard.cli", "status", "--state", str(state_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "warning" not in again.stderr


def test_new_launch_folders_and_configs_are_private(
    tmp_path: Path, make_config: Callable[..., Any]
) -> None:
    from wizard.config_file import save_config

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    previous = os.umask(0o022)
    try:
        config_path = shared / "launches" / "staging" / "launch.toml"
        save_config(make_config(), config_path)
        state_path = shared / "elsewhere" / "demo.state.json"
        new_state(state_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    for folder in (config_path.parent, config_path.parent.parent, state_path.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # a folder that existed is left alone


def test_a_schema_1_state_is_read_and_saved_as_the_current_schema(
    state: StateFile, state_path: Path
) -> None:
    document = _with_resource(state)
    document["schema_version"] = 1
    del document["steps"]["image"]["intents"]  # schema 1 had none
    state_path.write_text(json.dumps(document))
    old = StateFile.open(state_path)
    assert old.step("image").resources[0].id == "zdp" and old.step("image").intents == []
    old.set_outputs("image", tag="v1")
    assert json.loads(state_path.read_text())["schema_version"] == SCHEMA_VERSION == 2


def test_an_intent_stands_until_its_record_and_counts_as_created(
    state: StateFile, state_path: Path
) -> None:
    bucket = Resource(kind="s3:bucket", id="b", created=True, region=REGION)
    state.record_intent("s3_layout", bucket)
    state.record_intent("s3_layout", bucket)  # once
    reread = StateFile.open(state_path)
    assert reread.intended("s3:bucket", "b") and len(reread.step("s3_layout").intents) == 1
    assert [(r.kind, r.id) for r in reread.created_resources()] == [("s3:bucket", "b")]

    state.record_resource("s3_layout", bucket.model_copy(update={"created": True}))
    reread = StateFile.open(state_path)
    assert not reread.intended("s3:bucket", "b") and reread.step("s3_layout").intents == []
    assert reread.recorded("s3:bucket", "b") is not None

    state.record_intent("iam", Resource(kind="iam:role-policy", id="r/p", created=True))
    state.drop_intent("iam", "iam:role-policy", "r/p")  # AWS refused: nothing was made
    assert not StateFile.open(state_path).intended("iam:role-policy", "r/p")
    state.record_intent("iam", Resource(kind="iam:role-policy", id="r/q", created=True))
    state.forget_resource("iam:role-policy", "r/q")  # destroy deleted it
    assert StateFile.open(state_path).created_resources() == [reread.recorded("s3:bucket", "b")]
