"""Replacing a file so that a reader sees the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def make_private_folder(path: Path) -> None:
    """Create `path` and any missing parent as 0700 (a launch's files name its secret
    parameters and hosts); folders that exist already are left as they are."""
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process
            continue
        os.chmod(folder, 0o700)  # the umask may have taken bits off; never adds any


def write_atomically(path: Path, text: str, *, mode: int) -> None:
    """Replace `path` with `text`: a temp file beside it (created with `mode`, so the content
    is never more readable than that, even briefly), fsync, rename, then fsync the folder so
    the rename itself survives a crash."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
