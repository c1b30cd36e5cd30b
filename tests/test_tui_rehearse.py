"""The wizard's rehearsals, driven with Pilot: the task definitions' preview offers "Rehearse
locally" (its table streams in a worker), and the sandbox's summary rehearses the launch and
keeps it up, its UI on localhost with the Admin login.

The first test's rehearsal really runs but stops early (pip may not reach an index, so Airflow
cannot be installed): cheap, and the same code path. The second boots Airflow (minutes, marked
`rehearsal`) and logs in to the UI through its login form, as a user would."""

from __future__ import annotations

import os
import re
import shutil
import socket
import urllib.parse
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.rehearse import RehearsalScreen
from screens.summary import SummaryScreen
from tests.test_sandbox_resume import _sandbox_ready, sandbox_environment  # noqa: F401
from tests.test_tui_flows import SIZE, _open_launch, template  # noqa: F401
from tests.tui_support import screen_text, wait_for


def _rows(screen: RehearsalScreen) -> dict[str, list[str]]:
    table = screen.query_one("#rehearsal-rows", DataTable)
    return {
        str(key.value): [str(cell) for cell in table.get_row(key)]
        for key in (row.key for row in table.ordered_rows)
    }


async def test_task_definitions_preview_offers_a_rehearsal(
    template: Path,  # noqa: F811
    tmp_path: Path,
    no_pypi: Path,
) -> None:
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_launch(pilot)
        rehearse = screen.query_one("#rehearse", Button)
        await wait_for(pilot, lambda: screen.preview is not None, timeout=60)
        assert not rehearse.display  # only the task definitions' preview offers it
        await screen.show_step("task_definitions")
        # Rehearse is offered with Confirm, once the lint process's findings are in
        await wait_for(
            pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=120
        )
        assert screen.preview is not None and not screen.preview.blocked, screen.preview
        await wait_for(pilot, lambda: rehearse.display)  # shown with the preview
        assert "Rehearse locally" in screen_text(app)
        await pilot.click("#rehearse")
        await wait_for(pilot, lambda: isinstance(app.screen, RehearsalScreen))
        rehearsal = app.screen
        assert isinstance(rehearsal, RehearsalScreen)
        await wait_for(pilot, lambda: rehearsal.result is not None, timeout=300)
        rows = _rows(rehearsal)
        assert list(rows) == ["airflow install"]
        assert rows["airflow install"][1:3] == ["no", "failed"]
        text = screen_text(app)
        assert "FAILED: airflow install" in text
        assert "installing apache-airflow[" in text  # its progress, streamed to the log
        assert "pip could not install" in text
        folder = Path(rehearsal.result.folder)  # type: ignore[union-attr]
        await pilot.click("#close")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), timeout=60)
        assert not folder.exists()


def _closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.rehearsal
async def test_sandbox_summary_rehearses_and_opens_the_ui(
    sandbox_environment: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    """No AWS account: the sandbox's summary rehearses the launch and keeps it up; the Admin
    logs in to the UI on localhost through its login form with the password from the file the
    screen names (never shown); Stop and close stops everything."""
    from tests.test_rehearse import _form_login

    if shutil.which("redis-server") is None or not list(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
    ):
        from tests.services import missing

        missing("PostgreSQL and redis-server")
    app = WizardApp(WizardOptions(sandbox=True, folder=tmp_path / "sandbox"))
    async with app.run_test(size=SIZE) as pilot:
        await _sandbox_ready(pilot, app)
        launch = await _open_launch(pilot)
        app.push_screen(SummaryScreen(launch.session))
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        # its button, and its key (the footer shows the screen's keys a moment after it)
        await wait_for(pilot, lambda: "^l Rehearse locally" in screen_text(app), interval=0.5)
        assert "Rehearse locally and open the UI" in screen_text(app)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, RehearsalScreen))
        screen = app.screen
        assert isinstance(screen, RehearsalScreen)
        await wait_for(pilot, lambda: screen.result is not None, timeout=900, interval=1)
        result = screen.result
        assert result is not None and result.ok, result.to_json()
        rows = _rows(screen)
        assert {"webserver", "worker", "admin login", "remote log"} <= {
            name.split(" (")[0] for name in rows
        }
        assert all(cells[2] not in ("failed", "unhealthy") for cells in rows.values())
        text = screen_text(app)
        shown = re.search(r"Airflow UI at (http://localhost:\d+): log in as (\S+) with", text)
        assert shown, text
        password_file = re.search(r"password in\s+(\S+admin-password)", text)
        assert password_file, text
        password = Path(password_file[1]).read_text().strip()
        assert oct(os.stat(password_file[1]).st_mode & 0o777) == "0o600"
        assert password not in text  # only in its file
        assert screen.query_one("#open-ui", Button).display
        landed = _form_login(shown[1], shown[2], password, "/auth/login/")
        assert "/auth/login" not in urllib.parse.urlsplit(landed).path, landed
        port = int(shown[1].rsplit(":", 1)[1])
        await pilot.click("#close")
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), timeout=300)
        assert _closed(port)
        assert not Path(result.folder).exists()
        for address in (result.services["postgres"], result.services["redis"]):
            assert _closed(int(address.rsplit(":", 1)[1]))


async def test_a_short_terminal_rehearses_with_its_key(
    template: Path,  # noqa: F811
    tmp_path: Path,
    no_pypi: Path,
) -> None:
    """At 80x24 the buttons give way to their footer keys: ctrl+l rehearses, shown in the footer
    only where the task definitions' preview offers it."""
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_launch(pilot)
        await wait_for(pilot, lambda: screen.preview is not None, timeout=60)
        assert "^l Rehearse" not in screen_text(app)
        await pilot.press("ctrl+l")  # not offered here: nothing happens
        assert isinstance(app.screen, LaunchScreen)
        await screen.show_step("task_definitions")
        await wait_for(pilot, lambda: screen.preview is not None, timeout=60)
        await wait_for(pilot, lambda: "^l Rehearse" in screen_text(app), interval=0.2)
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, RehearsalScreen))
        rehearsal = app.screen
        assert isinstance(rehearsal, RehearsalScreen)
        await wait_for(pilot, lambda: rehearsal.result is not None, timeout=300)
        await pilot.click("#close")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), timeout=60)
