"""The rehearsal's result: one row per component and per check, a verdict, and the rewrites and
relaxed options that made it run here; as a table for people and as JSON for scripts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from wizard.rehearse.plan import Rewrite


@dataclass
class Row:
    """One component or check: whether it started, its health, how long it took."""

    component: str
    started: bool
    health: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class Result:
    """Everything a rehearsal found."""

    runtime: str
    ran: str  # which Airflow ran: the image, or the pip release
    rows: list[Row] = field(default_factory=list)
    rewrites: list[Rewrite] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    ui: str = ""
    admin_username: str = ""
    folder: str = ""
    services: dict[str, str] = field(default_factory=dict)  # what it started, and where
    error: dict[str, str] = field(default_factory=dict)  # title, message, hint: stopped early

    @property
    def ok(self) -> bool:
        """Whether every row holds (and there is at least one)."""
        return bool(self.rows) and all(row.ok for row in self.rows)

    @property
    def failed(self) -> list[str]:
        """The components and checks that did not hold."""
        return [row.component for row in self.rows if not row.ok]

    def to_json(self) -> str:
        """The whole result for scripts (no secret value is in it)."""
        return json.dumps(
            {
                "ok": self.ok,
                "runtime": self.runtime,
                "ran": self.ran,
                "rows": [asdict(row) for row in self.rows],
                "failed": self.failed,
                "rewrites": [asdict(rewrite) for rewrite in self.rewrites],
                "relaxed": self.relaxed,
                "ui": self.ui,
                "folder": self.folder,
                "services": self.services,
                "error": self.error or None,
            },
            indent=2,
        )


def table(result: Result) -> str:
    """The table: component, started, health, seconds; then the verdict."""
    header = ("component", "started", "health", "seconds")
    lines = [
        (row.component, "yes" if row.started else "no", row.health, f"{row.seconds:.0f}")
        for row in result.rows
    ]
    widths = [max(len(str(cells[i])) for cells in [header, *lines]) for i in range(3)]
    out = [f"{header[0]:<{widths[0]}}  {header[1]:<{widths[1]}}  {header[2]:<{widths[2]}}  secs"]
    for (name, started, health, seconds), row in zip(lines, result.rows, strict=True):
        out.append(f"{name:<{widths[0]}}  {started:<{widths[1]}}  {health:<{widths[2]}}  {seconds}")
        if row.detail:  # why it failed; where it is, for what holds
            out.extend(f"    {part}" for part in row.detail.splitlines()[-6:])
    ran = ", ".join(part for part in (result.ran, result.runtime) if part)
    if result.ok:
        out.append(f"verdict: every component and check holds ({ran})")
    else:
        out.append(f"verdict: FAILED: {', '.join(result.failed) or 'nothing ran'} ({ran})")
    return "\n".join(out)


def bad_input_json(title: str, message: str, hint: str) -> str:
    """What `--json` prints when the arguments or the config are refused (exit 2): the
    result's shape, with nothing run."""
    error = {"title": title, "message": message, "hint": hint}
    return json.dumps({"ok": False, "rows": [], "failed": [], "error": error}, indent=2)


def rewrites_text(result: Result) -> str:
    """The rewrites made (the only changes to the definitions) and any relaxed option."""
    lines = ["rewrites (what ECS and AWS would provide):"]
    lines += [f"  {rewrite}" for rewrite in result.rewrites]
    lines += [f"relaxed: {note}" for note in result.relaxed]
    return "\n".join(lines)
