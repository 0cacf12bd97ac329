"""The switch of a run's outputs: each new file is written beside its target under a temporary
name, and all of them replace their targets together at the end, so that a refusal, an error or
an interruption part-way leaves the previous files as they were."""

from __future__ import annotations

import csv
import os
import re
from contextlib import ExitStack
from pathlib import Path

# A temporary file of a run: hidden, beside its target, named for the process that writes it
# (.train.csv.prepare-1234), so that no glob of the split's files (the Makefile's, the trainer's,
# `make stage-data`'s) matches it, and a later run can remove those of a process that died.
TEMP_NAME = re.compile(r"\.(?P<target>.+)\.prepare-(?P<pid>\d+)")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def remove_leftovers(directory: Path) -> list[Path]:
    """Removes the temporary files that runs which died (killed, or the machine stopped) left in
    `directory`; returns them."""
    left = [
        path
        for path in (directory.iterdir() if directory.is_dir() else ())
        if (match := TEMP_NAME.fullmatch(path.name))
        and int(match["pid"]) != os.getpid()
        and not _running(int(match["pid"]))
    ]
    for path in left:
        path.unlink(missing_ok=True)
    return left


class Staging:
    """New files written beside their targets under temporary names (TEMP_NAME), then switched
    in together once every one of them is complete: a refusal, an error or an interruption
    part-way leaves the targets as they were. The switch is one rename per file, and the removal
    of the files the new ones make stale (`remove`)."""

    def __init__(self) -> None:
        self.temps: dict[Path, Path] = {}  # target -> its temporary file
        self.removals: list[Path] = []
        self.created: list[Path] = []  # directories made for the targets, removed on a refusal
        self.cleaned: set[Path] = set()  # directories rid of the leftovers of dead runs
        self.files = ExitStack()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.files.close()
        if exc_type is not None:
            self.discard()

    def temp_of(self, target: Path) -> Path:
        return self.temps[target]

    def open(self, target: Path):
        """A new text file that will replace `target` at the switch."""
        missing = [d for d in (target.parent, *target.parent.parents) if not d.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        self.created += missing
        if target.parent not in self.cleaned:
            remove_leftovers(target.parent)
            self.cleaned.add(target.parent)
        temp = target.parent / f".{target.name}.prepare-{os.getpid()}"
        f = self.files.enter_context(open(temp, "w", newline="", encoding="utf-8"))
        self.temps[target] = temp
        return f

    def csv_writer(self, target: Path):
        return csv.writer(self.open(target), lineterminator="\n")

    def remove(self, path: Path) -> None:
        """Removes `path` at the switch."""
        self.removals.append(path)

    def switch(self) -> None:
        self.files.close()
        for target, temp in self.temps.items():
            _replace(temp, target)
        for path in self.removals:
            if path not in self.temps:
                path.unlink(missing_ok=True)
        self.temps, self.removals = {}, []

    def discard(self) -> None:
        self.files.close()
        for temp in self.temps.values():
            temp.unlink(missing_ok=True)
        for directory in self.created:  # deepest first
            try:
                directory.rmdir()
            except OSError:
                break
        self.temps = {}


def _replace(temp: Path, path: Path) -> None:
    """Moves a complete temporary file onto `path`, with the target's mode or the usual one."""
    os.chmod(temp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
    os.replace(temp, path)
