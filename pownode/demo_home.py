"""The demos' data folder: a demo replaces the folder of its previous run, and nothing else.

A demo marks its folder with `MARKER`. The next run deletes a marked folder (and says so), and
refuses any other folder that is not empty, so `pownode demo --home ~/my-network` cannot wipe a
network or files of the user's.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

MARKER = ".pownode-demo"


def clear(home: Path, say: Callable[[str], None]) -> None:
    """Delete a previous demo's `home`; refuse a non-empty folder no demo made."""
    if not home.exists() or not any(home.iterdir()):
        return
    if not (home / MARKER).exists():
        raise FileExistsError(f"{home} is not empty and no demo made it: refusing to delete it "
                              "(give --home a new or empty folder)")
    say(f"replacing the previous demo's data in {home}/")
    shutil.rmtree(home)


def mark(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by `pownode demo`: its next run replaces this folder\n")
