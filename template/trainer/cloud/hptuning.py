"""config/hptuning.yaml: the hyperparameter study, in Vertex AI's own field names.

`study_spec()` returns the `studySpec` of a HyperparameterTuningJob; `trial_counts()` the trial
limits beside it. Every parameterId must be a trainer flag, because each trial runs
`python -m trainer.task ... --<parameterId>=<value>`.
"""

from __future__ import annotations

import math
from pathlib import Path

from trainer.cloud.settings import ConfigError, read_yaml_mapping

DEFAULT_PATH = Path("config/hptuning.yaml")
TRIAL_COUNT_KEYS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")
VALUE_SPECS = ("doubleValueSpec", "integerValueSpec", "discreteValueSpec", "categoricalValueSpec")
LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")


def trainer_flags() -> set[str]:
    """The trainer's long options without their dashes: 'learning-rate', 'batch-size', ..."""
    from trainer.task import build_parser  # noqa: PLC0415 -- task.py is light without TensorFlow

    return {
        option[2:]
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    }


def _check_parameter(path: Path, parameter: dict, flags: set[str]) -> None:
    parameter_id = parameter.get("parameterId")
    where = f"{path}: parameter {parameter_id!r}"
    if parameter_id not in flags:
        raise ConfigError(f"{where} is not a trainer flag; use one of {', '.join(sorted(flags))}")
    specs = [key for key in VALUE_SPECS if key in parameter]
    if len(specs) != 1:
        raise ConfigError(f"{where} needs exactly one of {', '.join(VALUE_SPECS)}")
    spec = parameter[specs[0]]
    if specs[0] in ("doubleValueSpec", "integerValueSpec"):
        low, high = spec.get("minValue"), spec.get("maxValue")
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
            raise ConfigError(f"{where}: minValue must be a number below maxValue")
        if parameter.get("scaleType") in LOG_SCALES and not low > 0:
            raise ConfigError(f"{where}: a log scale needs minValue > 0, not {low}")
    elif not spec.get("values"):
        raise ConfigError(f"{where}: {specs[0]} needs a list of values")
    elif specs[0] == "discreteValueSpec" and not all(
        isinstance(v, (int, float)) and math.isfinite(v) for v in spec["values"]
    ):
        raise ConfigError(f"{where}: discreteValueSpec values must be numbers")


def load(path: Path = DEFAULT_PATH) -> dict:
    """The whole tuning config, checked: `studySpec` and the trial counts."""
    config = read_yaml_mapping(path)
    unknown = sorted(set(config) - {"studySpec", *TRIAL_COUNT_KEYS})
    if unknown:
        raise ConfigError(f"{path}: unknown {', '.join(unknown)}")
    study = config.get("studySpec")
    if not isinstance(study, dict) or not study.get("metrics") or not study.get("parameters"):
        raise ConfigError(f"{path}: studySpec needs metrics and parameters")
    if len(study["metrics"]) != 1:
        raise ConfigError(f"{path}: the trainer reports one metric; list exactly one")
    flags = trainer_flags()
    for parameter in study["parameters"]:
        _check_parameter(path, parameter, flags)
    for key in TRIAL_COUNT_KEYS:
        required = key != "maxFailedTrialCount"
        if (required or key in config) and not (
            isinstance(config.get(key), int) and config[key] > 0
        ):
            raise ConfigError(f"{path}: {key} must be a positive whole number")
    if config["parallelTrialCount"] > config["maxTrialCount"]:
        raise ConfigError(f"{path}: parallelTrialCount is above maxTrialCount")
    return config


def study_spec(path: Path = DEFAULT_PATH) -> dict:
    """The Vertex AI studySpec: metrics, parameters and algorithm."""
    return load(path)["studySpec"]


def trial_counts(path: Path = DEFAULT_PATH) -> dict:
    """maxTrialCount, parallelTrialCount and maxFailedTrialCount, as far as the file sets them."""
    config = load(path)
    return {key: config[key] for key in TRIAL_COUNT_KEYS if key in config}
