"""config/cloud.yaml: the project, region, bucket and shipping choices of the submit scripts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

CONTAINERS = ("custom", "prebuilt")


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


def load_settings(path: Path) -> CloudSettings:
    data = read_yaml_mapping(path)
    names = [f.name for f in fields(CloudSettings)]
    missing = [name for name in names if data.get(name) in (None, "")]
    unknown = sorted(set(data) - set(names))
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ConfigError(f"{path}: {'; '.join(problems)}")
    if data["container"] not in CONTAINERS:
        raise ConfigError(f"{path}: container must be one of {', '.join(CONTAINERS)}")
    images = data["executor_images"]
    if not isinstance(images, dict) or set(images) != {"cpu", "gpu"}:
        raise ConfigError(f"{path}: executor_images needs exactly a cpu and a gpu image")
    for key in ("train_files", "eval_files"):
        value = data[key]
        data[key] = tuple([value] if isinstance(value, str) else value)
    return CloudSettings(**{name: data[name] for name in names})
