"""One entry style: the make targets and scripts call `python -m workflow COMMAND`, whose --help
lists every command, and each command runs its module's main."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

from workflow.__main__ import COMMANDS

from conftest import run_module

ROOT = Path(__file__).resolve().parent.parent
CALLERS = [ROOT / "Makefile", *sorted((ROOT / "scripts").glob("*.sh"))]


def python_m_workflow(*args: str) -> subprocess.CompletedProcess:
    return run_module("workflow", *args, cwd=ROOT)


def test_help_lists_every_command():
    result = python_m_workflow("--help")
    assert result.returncode == 0, result.stderr
    listed = re.findall(r"^  (\S+)  ", result.stdout, re.MULTILINE)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_runs_a_main(name):
    assert callable(importlib.import_module(COMMANDS[name].module).main), name


def test_an_unknown_command_is_named():
    result = python_m_workflow("prepar")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown command 'prepar'")


def test_targets_and_scripts_call_the_one_entry_point():
    """No caller runs a module of workflow/ by its own name, and every command called exists
    (`stats` is for the stats file of files that `make prepare` did not write)."""
    for path in CALLERS:
        text = path.read_text()
        assert not re.search(r"-m workflow\.", text), f"{path.name} runs a module by its name"
        for command in re.findall(r"-m workflow ([a-z][a-z-]*)", text):
            assert command in COMMANDS, f"{path.name}: no command '{command}'"
