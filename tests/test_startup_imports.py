"""The start screen's first frame imports only what it draws (issue 10 item 14): the table of
launches and the footer are drawn after it, and imported then (the open-config field is an
Input, which Textual's command palette imports anyway)."""

from __future__ import annotations

from tests.conftest import run_python

DRAWN_LATER = ("textual.widgets._data_table", "textual.widgets._footer")


def test_the_start_screen_module_imports_no_widget_drawn_after_the_first_frame() -> None:
    probe = (
        "import sys, screens.app, screens.start; "
        f"print(sorted(name for name in {DRAWN_LATER!r} if name in sys.modules))"
    )
    printed = run_python(probe)
    assert printed.strip() == "[]", printed
