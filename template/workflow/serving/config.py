"""config/serving.yaml: how the trained model is served on Vertex AI, read and checked before any
request, so that a typo fails here with the file and key named rather than in the cloud."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from workflow.cloud.settings import ConfigError, read_yaml_mapping

DEFAULT_PATH = Path("config/serving.yaml")
KEYS = (
    "model_display_name",
    "endpoint_display_name",
    "labels",
    "image",
    "machine_type",
    "min_replica_count",
    "max_replica_count",
    "gpu",
    "batch",
)
GPU_KEYS = ("enabled", "image", "accelerator_type", "accelerator_count")
BATCH_KEYS = ("machine_type", "starting_replica_count", "max_replica_count")
# Vertex AI's display names: up to 128 characters.
DISPLAY_NAME_LENGTH = 128
# Google Cloud labels: keys start with a lowercase letter; both are at most 63 lowercase letters,
# digits, '-' and '_'.
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
IMAGE_URI = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+)?")
ACCELERATOR_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass(frozen=True)
class Accelerator:
    type: str  # Vertex AI's AcceleratorType, as NVIDIA_TESLA_T4
    count: int


@dataclass(frozen=True)
class BatchSettings:
    """The machines of a batch prediction job, started for it and stopped when it ends."""

    machine_type: str
    starting_replica_count: int
    max_replica_count: int


@dataclass(frozen=True)
class ServingSettings:
    model_display_name: str
    endpoint_display_name: str
    labels: dict[str, str]
    image: str  # the GPU image when the GPU variant is enabled
    machine_type: str
    min_replica_count: int
    max_replica_count: int
    accelerator: Accelerator | None  # set when the GPU variant is enabled
    batch: BatchSettings


def label_value(text: str) -> str:
    """`text` as a label value: lower case, any other character than a letter, digit, '-' or
    '_' turned into '-', cut to 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def _whole_number(path: Path, key: str, value: object, least: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"{path}: {key} must be a whole number >= {least}, not {value!r}")
    return value


def _image(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str) or not IMAGE_URI.fullmatch(value):
        raise ConfigError(
            f"{path}: {key} {value!r} is not a container image URI such as "
            "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
        )
    return value


def _checked_keys(path: Path, where: str, data: dict, keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if data.get(key) in (None, "")]
    unknown = sorted(str(key) for key in set(data) - set(keys))
    problems = [f"missing {', '.join(missing)}"] if missing else []
    problems += [f"unknown {', '.join(unknown)}"] if unknown else []
    if problems:
        raise ConfigError(f"{path}: {where}{'; '.join(problems)}")


def _labels(path: Path, labels: object) -> dict[str, str]:
    if not isinstance(labels, dict):
        raise ConfigError(f"{path}: labels must be a mapping of label names to values")
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(str(key)) or not LABEL_VALUE.fullmatch(str(value)):
            raise ConfigError(
                f"{path}: label {key}: {value!r} is not a Google Cloud label: names start with "
                "a lowercase letter; names and values are at most 63 lowercase letters, digits, "
                "'-' and '_'"
            )
    return {str(key): str(value) for key, value in labels.items()}


def _gpu(path: Path, gpu: object) -> tuple[bool, str, Accelerator]:
    if not isinstance(gpu, dict):
        raise ConfigError(f"{path}: gpu must be a mapping of {', '.join(GPU_KEYS)}")
    _checked_keys(path, "gpu: ", gpu, GPU_KEYS)
    if not isinstance(gpu["enabled"], bool):
        raise ConfigError(f"{path}: gpu: enabled must be true or false, not {gpu['enabled']!r}")
    accelerator_type = str(gpu["accelerator_type"])
    if not ACCELERATOR_TYPE.fullmatch(accelerator_type):
        raise ConfigError(
            f"{path}: gpu: accelerator_type {accelerator_type!r} is not a Vertex AI "
            "AcceleratorType such as NVIDIA_TESLA_T4 or NVIDIA_L4"
        )
    count = _whole_number(path, "gpu: accelerator_count", gpu["accelerator_count"], 1)
    return (
        gpu["enabled"],
        _image(path, "gpu: image", gpu["image"]),
        Accelerator(accelerator_type, count),
    )


def _batch(path: Path, batch: object) -> BatchSettings:
    if not isinstance(batch, dict):
        raise ConfigError(f"{path}: batch must be a mapping of {', '.join(BATCH_KEYS)}")
    _checked_keys(path, "batch: ", batch, BATCH_KEYS)
    least = _whole_number(path, "batch: starting_replica_count", batch["starting_replica_count"], 1)
    most = _whole_number(path, "batch: max_replica_count", batch["max_replica_count"], 1)
    if most < least:
        raise ConfigError(
            f"{path}: batch: max_replica_count ({most}) must not be below "
            f"starting_replica_count ({least})"
        )
    return BatchSettings(str(batch["machine_type"]), least, most)


def load(path: Path) -> ServingSettings:
    """The settings of config/serving.yaml; a ConfigError names the file and the key at fault."""
    data = read_yaml_mapping(path)
    _checked_keys(path, "", data, KEYS)
    names = {}
    for key in ("model_display_name", "endpoint_display_name"):
        name = str(data[key])
        if len(name) > DISPLAY_NAME_LENGTH:
            raise ConfigError(f"{path}: {key} is longer than {DISPLAY_NAME_LENGTH} characters")
        names[key] = name
    least = _whole_number(path, "min_replica_count", data["min_replica_count"], 1)
    most = _whole_number(path, "max_replica_count", data["max_replica_count"], 1)
    if most < least:
        raise ConfigError(
            f"{path}: max_replica_count ({most}) must not be below min_replica_count ({least})"
        )
    image = _image(path, "image", data["image"])
    gpu_enabled, gpu_image, accelerator = _gpu(path, data["gpu"])
    return ServingSettings(
        **names,
        labels=_labels(path, data["labels"]),
        image=gpu_image if gpu_enabled else image,
        machine_type=str(data["machine_type"]),
        min_replica_count=least,
        max_replica_count=most,
        accelerator=accelerator if gpu_enabled else None,
        batch=_batch(path, data["batch"]),
    )
