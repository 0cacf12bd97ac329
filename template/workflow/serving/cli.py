"""What the serving commands (deploy, predict, undeploy) share: their settings, how they print a
dry run, and one `error:` line instead of a traceback for every failure a user can fix."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import google.auth.exceptions
from google.api_core import exceptions as google_exceptions

from workflow.cloud import gcloud
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
    try:
        gcloud.executable()
        cloud = load_settings(root / "config")
        command(Context(root, cloud, config.load(root / config.DEFAULT_PATH)))
    except (ConfigError, PreflightError, ServingError, gcloud.GcloudError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except google_exceptions.GoogleAPICallError as err:
        print(f"error: Cloud Storage refused a request: {err}", file=sys.stderr)
        return 1
    except google.auth.exceptions.RefreshError as err:
        print(
            f"error: the Application Default Credentials do not work ({err}); "
            "run `gcloud auth application-default login`",
            file=sys.stderr,
        )
        return 1
    return 0
