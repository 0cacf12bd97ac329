"""Running the Google Cloud CLI: every cloud request of the submit scripts goes through `gcloud`,
so it uses the same account and settings as the user's own commands. The project is always
given with --project (the answers' project, config/cloud.mk), never taken from gcloud's config."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys


class GcloudError(Exception):
    """A gcloud command failed; the message holds the command and what gcloud said."""


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
        said = "\n  ".join(result.stderr.strip().splitlines()[-10:])
        raise GcloudError(f"`{shlex.join(command)}` failed:\n  {said}")
    return result.stdout


def run_json(args: list[str], show: bool = True) -> dict:
    """Runs a gcloud command that ends in --format=json; returns the parsed output."""
    return json.loads(run(args, show=show))
