"""What the serving commands (deploy, predict, undeploy) share: their settings, how they print a
dry run, and one `error:` line instead of a traceback for every failure a user can fix."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workflow.cloud import errors, gcloud
from workflow.cloud.preflight import PreflightError
from workflow.cloud.settings import CloudSettings, ConfigError, load_settings
from workflow.serving import config
from workflow.serving.vertex import ServingError


@dataclass(frozen=True)
class Context:
    root: Path
    cloud: CloudSettings
    serving: config.ServingSettings


def dry_run_header(context: Context, what: str) -> None:
    print(
        f"# Dry run: {what} in project {context.cloud.project}, region {context.cloud.region} "
        "(config/cloud.mk, config/serving.yaml); nothing is sent."
    )


def print_command(args: list[str]) -> None:
    print(f"gcloud {shlex.join(args)}")


def run(command: Callable[[Context], None]) -> int:
    """Runs `command` with the project's settings; returns the exit status."""
    root = Path.cwd()

    def with_settings() -> None:
        gcloud.executable()
        cloud = load_settings(root / "config")
        command(Context(root, cloud, config.load(root / config.DEFAULT_PATH)))

    return errors.exit_status(
        with_settings, (ConfigError, PreflightError, ServingError, gcloud.GcloudError)
    )
