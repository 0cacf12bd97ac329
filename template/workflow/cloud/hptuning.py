"""config/hptuning.yaml: the hyperparameter study, in Vertex AI's own field names.

`load()` reads and checks it; from the loaded config, `trial_counts()` gives the trial limits
beside the `studySpec`, `metric()` the metric and its goal, and `trial_args()` the trainer flags
every trial gets. Every parameterId must be a hyperparameter flag of the trainer, because each
trial runs `python -m trainer.task ... --<parameterId>=<value>`; the metricId must be a metric the
trainer reports for this task type (trainer.trial.TUNING_METRICS), and the goal must be the way
that metric improves. The cloud job (`scripts/hptune.sh`) and the local sweep
(`python -m workflow.sweep`) both read the study through `load()`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from trainer.features import SCHEMA
from trainer.hparams import HParams
from trainer.task import build_parser
from trainer.trial import TUNING_METRICS
from workflow.cloud.settings import ConfigError, read_yaml_mapping

DEFAULT_PATH = Path("config/hptuning.yaml")
TRIAL_COUNT_KEYS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")
VALUE_SPECS = ("doubleValueSpec", "integerValueSpec", "discreteValueSpec", "categoricalValueSpec")
LOG_SCALES = ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
GOALS = ("MAXIMIZE", "MINIMIZE")
# Which way a metric improves, by how its name ends: losses and errors fall, accuracies rise.
GOAL_BY_NAME_ENDING = {
    "loss": "MINIMIZE",
    "rmse": "MINIMIZE",
    "error": "MINIMIZE",
    "accuracy": "MAXIMIZE",
    "auc": "MAXIMIZE",
}
METRIC_FLAG = "hypertune-metric"


def _parser_actions() -> list:
    return build_parser()._actions


def _flag_action(flag: str):
    (action,) = [a for a in _parser_actions() if f"--{flag}" in a.option_strings]
    return action


def trainer_flags() -> set[str]:
    """The trainer's long options without their dashes: 'learning-rate', 'batch-size', ..."""
    return {
        option[2:]
        for action in _parser_actions()
        for option in action.option_strings
        if option.startswith("--")
    }


def tunable_flags() -> set[str]:
    """The trainer flags a study may tune: one per hyperparameter (trainer.hparams.HParams)."""
    return {field.name.replace("_", "-") for field in fields(HParams)} & trainer_flags()


def reportable_metrics() -> tuple[str, ...]:
    """The metrics the trainer reports for this project's task type."""
    return TUNING_METRICS[SCHEMA.task_type]


def metric_goal(metric_id: str) -> str | None:
    """MINIMIZE or MAXIMIZE: the way `metric_id` improves; None for a name of neither kind."""
    for ending, goal in GOAL_BY_NAME_ENDING.items():
        if metric_id.endswith(ending):
            return goal
    return None


def _check_trainer_accepts(where: str, flag: str, value) -> None:
    """The trainer's own parser must take `--flag=value`, as a trial would pass it."""
    action = _flag_action(flag)
    try:
        parsed = action.type(str(value)) if action.type else str(value)
    except (ValueError, TypeError, argparse.ArgumentTypeError) as err:
        raise ConfigError(f"{where}: the trainer refuses --{flag}={value} ({err})") from None
    if action.choices and parsed not in action.choices:
        raise ConfigError(
            f"{where}: the trainer refuses --{flag}={value}; choose from "
            f"{', '.join(map(str, action.choices))}"
        )


def _check_parameter(path: Path, parameter, flags: set[str]) -> None:
    if not isinstance(parameter, dict):
        raise ConfigError(f"{path}: each parameter must be a mapping, not {parameter!r}")
    parameter_id = parameter.get("parameterId")
    where = f"{path}: parameter {parameter_id!r}"
    if parameter_id not in flags:
        raise ConfigError(
            f"{where} is not a hyperparameter flag of the trainer; "
            f"use one of {', '.join(sorted(flags))}"
        )
    specs = [key for key in VALUE_SPECS if key in parameter]
    if len(specs) != 1:
        raise ConfigError(f"{where} needs exactly one of {', '.join(VALUE_SPECS)}")
    kind, spec = specs[0], parameter[specs[0]]
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: {kind} must be a mapping")
    if kind in ("doubleValueSpec", "integerValueSpec"):
        low, high = spec.get("minValue"), spec.get("maxValue")
        number = int if kind == "integerValueSpec" else (int, float)
        if not all(isinstance(v, number) and not isinstance(v, bool) for v in (low, high)):
            what = "whole numbers" if kind == "integerValueSpec" else "numbers"
            raise ConfigError(f"{where}: minValue and maxValue must be {what}")
        if not low < high:
            raise ConfigError(f"{where}: minValue ({low}) must be below maxValue ({high})")
        if parameter.get("scaleType") in LOG_SCALES and not low > 0:
            raise ConfigError(
                f"{where}: a log scale needs a range above 0, but minValue is {low}; "
                "raise minValue or use UNIT_LINEAR_SCALE"
            )
        values = [low, high]
    else:
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {kind} needs a list of values")
        if kind == "discreteValueSpec" and not all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in values
        ):
            raise ConfigError(f"{where}: discreteValueSpec values must be numbers")
    for value in values:
        _check_trainer_accepts(where, parameter_id, value)


def _check_metric(path: Path, metric: dict) -> None:
    metrics = reportable_metrics()
    if not isinstance(metric, dict) or metric.get("metricId") not in metrics:
        got = metric.get("metricId") if isinstance(metric, dict) else metric
        raise ConfigError(
            f"{path}: metric {got!r} is not one the trainer reports for {SCHEMA.task_type}; "
            f"use one of {', '.join(metrics)}"
        )
    metric_id, goal = metric["metricId"], metric.get("goal")
    if goal not in GOALS:
        raise ConfigError(
            f"{path}: metric {metric_id!r} needs a goal, MAXIMIZE or MINIMIZE, not {goal!r}"
        )
    improves = metric_goal(metric_id)
    if improves and goal != improves:
        better = "lower" if improves == "MINIMIZE" else "higher"
        raise ConfigError(
            f"{path}: a {better} {metric_id} is better, but the goal is {goal}, which would rank "
            f"the worst trial first: set goal: {improves}"
        )


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
    _check_metric(path, study["metrics"][0])
    flags = tunable_flags()
    for parameter in study["parameters"]:
        _check_parameter(path, parameter, flags)
    ids = [parameter["parameterId"] for parameter in study["parameters"]]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"{path}: parameter {', '.join(twice)} is listed twice")
    for key in TRIAL_COUNT_KEYS:
        required = key != "maxFailedTrialCount"
        if (required or key in config) and not (
            isinstance(config.get(key), int) and config[key] > 0
        ):
            raise ConfigError(f"{path}: {key} must be a positive whole number")
    if config["parallelTrialCount"] > config["maxTrialCount"]:
        raise ConfigError(f"{path}: parallelTrialCount is above maxTrialCount")
    return config


def trial_counts(config: dict) -> dict:
    """maxTrialCount, parallelTrialCount and maxFailedTrialCount of a loaded config, as far as
    the file sets them."""
    return {key: config[key] for key in TRIAL_COUNT_KEYS if key in config}


def metric(config: dict) -> tuple[str, str]:
    """The study's (metricId, goal) from a loaded config."""
    spec = config["studySpec"]["metrics"][0]
    return spec["metricId"], spec["goal"]


def trial_args(config: dict, fixed: Sequence[str] = ()) -> list[str]:
    """The trainer flags of every trial beside the tuned ones: `fixed` (the user's), then the
    study's metric. A fixed flag that the study sets too is refused: which would win?"""
    tuned = {parameter["parameterId"] for parameter in config["studySpec"]["parameters"]}
    for arg in fixed:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--") and flag[2:] in tuned | {METRIC_FLAG}:
            raise ConfigError(
                f"{flag} is set for each trial by the tuning config; leave it out of the "
                "trainer arguments"
            )
    return [*fixed, f"--{METRIC_FLAG}={metric(config)[0]}"]
