"""A hyperparameter tuning trial as the trainer sees it: its id, its own output directory, and
the metric it reports.

Vertex AI gives each trial `CLOUD_ML_TRIAL_ID` (and `task.trial` in TF_CONFIG), and puts the
trial's id into the `AIP_*` directories: `<baseOutputDirectory>/<trial>/model`. A trial whose
directories do not name it yet (a `--job-dir` shared by every trial, as in a local sweep) gets
`<dir>/<trial>`, the same layout, so that no trial writes over another's files.

No TensorFlow here: `python -m trainer.task --help` and the tuning config check import this.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping

from trainer import distribute

# The metrics that `trainer.model` compiles, as Keras names them on the evaluation data (the
# names `fit` logs and `--hypertune-metric` takes): the first of each task type is the default.
# The one list of them: the tuning config's check (workflow/cloud/hptuning.py) reads it, and
# tests hold model.py and config/hptuning.yaml to it.
TUNING_METRICS = {
    "classification": ("val_accuracy", "val_loss"),
    "regression": ("val_rmse", "val_mean_absolute_error", "val_loss"),
}
# The trial id Vertex AI gives each trial (TF_CONFIG's task.trial is the fallback).
TRIAL_ID_ENV = "CLOUD_ML_TRIAL_ID"
# Where cloudml-hypertune writes the reported metrics (it has a default when unset).
METRIC_FILE_ENV = "CLOUD_ML_HP_METRIC_FILE"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]+")


def trial_id(env: Mapping[str, str]) -> str | None:
    """The tuning trial this process runs: `CLOUD_ML_TRIAL_ID`, else `task.trial` in TF_CONFIG;
    None outside a tuning job. It must be usable as a directory name."""
    trial = env.get(TRIAL_ID_ENV, "").strip()
    if not trial:
        try:
            task = json.loads(env.get("TF_CONFIG") or "{}").get("task") or {}
        except (json.JSONDecodeError, AttributeError):
            task = {}  # trainer.distribute reports a broken TF_CONFIG
        trial = str(task.get("trial") or "").strip()
    if not trial:
        return None
    if not _SAFE_ID.fullmatch(trial) or trial in (".", ".."):
        raise ValueError(
            f"the trial id {trial!r} cannot name a directory: use letters, digits, '.', '_', '-'"
        )
    return trial


def trial_dir(job_dir: str, trial: str | None) -> str:
    """The trial's own job directory: `job_dir/<trial>`, unless `job_dir` already ends in it."""
    job_dir = job_dir.rstrip("/")
    if trial is None or posixpath.basename(job_dir) == trial:
        return job_dir
    return f"{job_dir}/{trial}"


def trial_output(path: str, trial: str | None) -> str:
    """An output directory such as Vertex AI's `AIP_MODEL_DIR` (`<base>/<trial>/model`), moved to
    `<base>/<trial>/model` when its parent does not name the trial yet; unchanged otherwise."""
    parent, name = posixpath.split(path.rstrip("/"))
    if trial is None or posixpath.basename(parent) == trial:
        return path
    return f"{trial_dir(parent, trial)}/{name}"


def reports_metric(env: Mapping[str, str]) -> bool:
    """Whether this process reports the tuning metric: the chief does (Vertex AI reads its
    file), in a tuning trial or when a metric file is named. Plain training writes no metric
    file, since cloudml-hypertune's default path is shared by every run on the machine."""
    tuning = trial_id(env) is not None or bool(env.get(METRIC_FILE_ENV))
    return tuning and distribute.is_chief(env)
