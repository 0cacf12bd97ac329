"""Running the Google Cloud CLI: every cloud request of the submit scripts goes through `gcloud`,
so it uses the same account and settings as the user's own commands. The project is always
given with --project (the answers' project, config/cloud.mk), never taken from gcloud's config."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys

# The head of gcloud's error message: "ERROR: (gcloud.ai.custom-jobs.list) ".
ERROR_HEAD = re.compile(r"^ERROR: (\(gcloud[.\w-]*\) )?")


class GcloudError(Exception):
    """A gcloud command failed; the message holds the command and what gcloud said, on one
    line, and `stderr` all that gcloud wrote there."""

    def __init__(self, message: str, stderr: str = ""):
        super().__init__(message)
        self.stderr = stderr


def what_gcloud_said(stderr: str) -> str:
    """gcloud's error message on one line: from its last `ERROR:` line on, the cause and the
    fix it gives ("You do not currently have an active account selected. Please run:
    `gcloud auth login` ..."), its commands in backquotes; else the last lines it wrote."""
    lines = stderr.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    said = lines[starts[-1] :] if starts else lines[-10:]
    if starts:
        said[0] = ERROR_HEAD.sub("", said[0])
    words = [
        f"`{line.strip()[2:]}`" if line.strip().startswith("$ ") else line.strip() for line in said
    ]
    return " ".join(word for word in words if word) or "no message"


def executable() -> str:
    path = shutil.which("gcloud")
    if path is None:
        raise GcloudError(
            "gcloud is not on PATH: install the Google Cloud CLI "
            "(https://cloud.google.com/sdk/docs/install)"
        )
    return path


def run(args: list[str], show: bool = True) -> str:
    """Runs `gcloud ARGS`; returns its stdout. With `show`, prints the command first."""
    command = ["gcloud", *args]
    if show:
        print(f"$ {shlex.join(command)}", file=sys.stderr, flush=True)
    result = subprocess.run([executable(), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GcloudError(
            f"`{shlex.join(command)}` failed: {what_gcloud_said(result.stderr)}", result.stderr
        )
    return result.stdout


def run_json(args: list[str], show: bool = True) -> dict:
    """Runs a gcloud command that ends in --format=json; returns the parsed output."""
    return json.loads(run(args, show=show))
