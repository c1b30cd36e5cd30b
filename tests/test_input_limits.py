"""Bytes that are not UTF-8, absurd sizes, deep nesting and YAML bombs: each is bad input (exit 2)
with a message, refused before it is parsed whole, never "Unexpected error" (exit 1)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, ROOT
from wizard.cli import main
from wizard.input_limits import MAX_YAML_ALIASES

TEMPLATE_ARGS = ["--cluster", "c1", "--bootstrap-uri", "s3://b-1/airflow/bootstrap.sh"]
CONSOLE_TEMPLATE = ROOT / "tests" / "fixtures" / "console"


def _main(*args: str) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return code, stderr.getvalue()


def test_a_config_that_is_not_utf8_is_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    config.write_bytes(EXAMPLE.read_bytes().replace(b"airflow-staging", b"airflow-stag\xe9", 1))
    code, stderr = _main("validate", "--config", str(config))
    assert code == 2, stderr
    assert "is not UTF-8 text (byte 0xe9" in stderr and "Save it as UTF-8" in stderr


def test_a_config_nested_100000_deep_is_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    config.write_text("name = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, stderr = _main("validate", "--config", str(config))
    assert code == 2, stderr
    assert "nests arrays or tables deeper" in stderr


def test_a_config_over_four_megabytes_is_refused_unread(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    config.write_text(EXAMPLE.read_text() + "#" * (8 << 20) + "\n")
    code, stderr = _main("validate", "--config", str(config))
    assert code == 2, stderr
    assert "larger than 4,194,304 bytes" in stderr


def test_a_state_of_100000_nested_brackets_is_bad_input(tmp_path: Path) -> None:
    state = tmp_path / "airflow-staging.state.json"
    state.write_text("[" * 100_000 + "]" * 100_000)
    before = state.read_bytes()
    code, stderr = _main("status", "--state", str(state))
    assert code == 2, stderr
    assert "Unreadable state file" in stderr
    assert state.read_bytes() == before


def _template_bytes() -> bytes:
    return next(CONSOLE_TEMPLATE.glob("*.json")).read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("binary", lambda: bytes(range(256)) * 8, "not UTF-8 text"),
        ("utf16-bom", lambda: _template_bytes().decode().encode("utf-16"), "not UTF-8 text"),
        ("utf16-le", lambda: _template_bytes().decode().encode("utf-16-le"), "NUL bytes"),
        ("deep-json", lambda: b"[" * 100_000 + b"]" * 100_000, "nests lists or mappings"),
        ("deep-json-object", lambda: b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nests lists"),
        ("deep-yaml-flow", lambda: b"a: " + b"[" * 100_000 + b"]" * 100_000, "nests lists"),
        (
            "deep-yaml-block",
            lambda: "".join(f"{'  ' * i}k{i}:\n" for i in range(300)).encode(),
            "nests lists",
        ),
        ("too-large", lambda: b"Resources: {}\n" + b"#" * (15 << 20) + b"\n", "larger than"),
    ],
)
def test_patch_template_refuses_unusable_input(
    tmp_path: Path, name: str, make: object, words: str
) -> None:
    template = tmp_path / f"{name}.template"
    template.write_bytes(make())  # type: ignore[operator]
    code, stderr = _main("patch-template", str(template), *TEMPLATE_ARGS)
    assert code == 2, stderr
    assert words in stderr
    assert "Unexpected error" not in stderr


def _billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    return "Resources: {}\nMetadata:\n" + "".join(f"  {line}\n" for line in lines)


def _run_bounded(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter held to 1 GiB of address space (the old code took 2 GB)."""

    def limit_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit_memory,
        check=False,
    )


def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    bomb = _billion_laughs()
    assert len(bomb) < 4096
    result = _run_bounded("patch-template", "-", *TEMPLATE_ARGS, stdin=bomb)
    assert result.returncode == 2, result.stderr
    assert f"more than {MAX_YAML_ALIASES} YAML aliases" in result.stderr


def test_few_aliases_that_expand_hugely_are_refused_too(tmp_path: Path) -> None:
    # 2 aliases a level, 25 levels: 50 aliases, 2**25 nodes once expanded
    template = tmp_path / "doubling.yaml"
    template.write_text(_billion_laughs(levels=25, width=2))
    code, stderr = _main("patch-template", str(template), *TEMPLATE_ARGS)
    assert code == 2, stderr
    assert "more than 500,000 nodes" in stderr


def test_a_template_with_a_few_aliases_still_patches(tmp_path: Path) -> None:
    yaml_fixture = next(CONSOLE_TEMPLATE.glob("*.yaml"))
    text = yaml_fixture.read_text() + "Metadata:\n  a: &tags [x, y]\n  b: *tags\n  c: *tags\n"
    template = tmp_path / "aliases.yaml"
    template.write_text(text)
    out = tmp_path / "out.yaml"
    code, stderr = _main("patch-template", str(template), *TEMPLATE_ARGS, "--out", str(out))
    assert code == 0, stderr
    assert "  c:\n    - x\n    - y\n" in out.read_text()
    assert "changed: " in stderr
