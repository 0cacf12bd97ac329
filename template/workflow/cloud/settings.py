"""The submit scripts' settings: the GCP project, region and bucket from config/cloud.mk (which
the Makefile includes too, so that both read one place), and how the trainer ships from
config/cloud.yaml."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from workflow.shards import DATA_DIR

CONTAINERS = ("custom", "prebuilt")
MAKE_SETTINGS = {"project": "GCP_PROJECT", "region": "REGION", "bucket": "BUCKET"}
YAML_SETTINGS = (
    "display_name",
    "default_tier",
    "container",
    "executor_images",
    "artifact_repository",
    "image_name",
)
DATA_SETTINGS = ("train_files", "eval_files")
# Optional, with what a project that does not set them gets (one updated from a release before
# them, too): Vertex AI's defaults, and no labels of the team's own.
JOB_SETTINGS = {
    "scheduling": None,
    "service_account": "",
    "tensorboard": "",
    "enable_web_access": False,
    "labels": {},
}
MAKE_ASSIGNMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\??=\s*(.*?)\s*")


class ConfigError(ValueError):
    """A config file the scripts cannot use; the message names the file and the key."""


def read_yaml_mapping(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a YAML mapping")
    return data


def read_make_variables(path: Path, environ: dict[str, str]) -> dict[str, str]:
    """`NAME ?= value` lines of a Makefile fragment; a variable set in `environ` wins, as with
    make's `?=`."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    variables = {}
    for line in lines:
        match = MAKE_ASSIGNMENT.fullmatch(line)
        if match and not line.lstrip().startswith("#"):
            variables[match[1]] = match[2]
    return {name: environ.get(name) or value for name, value in variables.items()}


@dataclass(frozen=True)
class CloudSettings:
    project: str
    region: str
    bucket: str
    display_name: str
    default_tier: str
    container: str
    executor_images: dict[str, str]
    artifact_repository: str
    image_name: str
    train_files: tuple[str, ...]
    eval_files: tuple[str, ...]
    # The project's scheduling defaults (workflow.cloud.scheduling checks them) and the identity
    # of its jobs, as config/cloud.yaml sets them.
    scheduling: dict | None
    service_account: str
    tensorboard: str
    enable_web_access: bool
    labels: dict[str, str]


def load_settings(config_dir: Path, environ: dict[str, str] | None = None) -> CloudSettings:
    """The settings of config_dir/cloud.mk and config_dir/cloud.yaml."""
    make_file, yaml_file = config_dir / "cloud.mk", config_dir / "cloud.yaml"
    variables = read_make_variables(make_file, dict(os.environ) if environ is None else environ)
    missing = [name for name in MAKE_SETTINGS.values() if not variables.get(name)]
    if missing:
        raise ConfigError(f"{make_file}: missing {', '.join(missing)}")
    data = read_yaml_mapping(yaml_file)
    missing = [name for name in YAML_SETTINGS if data.get(name) in (None, "")]
    unknown = sorted(set(data) - {*YAML_SETTINGS, *DATA_SETTINGS, *JOB_SETTINGS})
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ConfigError(f"{yaml_file}: {'; '.join(problems)}")
    if data["container"] not in CONTAINERS:
        raise ConfigError(f"{yaml_file}: container must be one of {', '.join(CONTAINERS)}")
    images = data["executor_images"]
    if not isinstance(images, dict) or set(images) != {"cpu", "gpu"}:
        raise ConfigError(f"{yaml_file}: executor_images needs exactly a cpu and a gpu image")
    bucket = variables["BUCKET"]
    files = {}
    for key, default in zip(DATA_SETTINGS, ("train.csv", "eval.csv"), strict=True):
        value = data.get(key) or [staged_uri(bucket, default)]
        files[key] = tuple([value] if isinstance(value, str) else value)
    return CloudSettings(
        **{key: variables[name] for key, name in MAKE_SETTINGS.items()},
        **{key: data[key] for key in YAML_SETTINGS},
        **files,
        **_job_settings(yaml_file, data),
    )


def staged_uri(bucket: str, name: str) -> str:
    """Where `make stage-data` (workflow/staging.py) puts data/`name`: in the bucket's folder
    named as the local one, where the jobs read by default."""
    return f"gs://{bucket}/{DATA_DIR}/{name}"


def _job_settings(yaml_file: Path, data: dict) -> dict:
    """The optional JOB_SETTINGS of config/cloud.yaml, checked for their types."""
    job = {
        key: data[key] if data.get(key) is not None else default
        for key, default in JOB_SETTINGS.items()
    }
    for key in ("service_account", "tensorboard"):
        if not isinstance(job[key], str):
            raise ConfigError(f"{yaml_file}: {key} must be text")
    if not isinstance(job["enable_web_access"], bool):
        raise ConfigError(f"{yaml_file}: enable_web_access must be true or false")
    if not isinstance(job["labels"], dict):
        raise ConfigError(f"{yaml_file}: labels must be a mapping of names to values")
    return job
