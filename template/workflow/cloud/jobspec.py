"""Vertex AI job specs as plain dicts, in the API's camelCase field names: a CustomJobSpec for
`gcloud ai custom-jobs create --config`, and a tuning config for `gcloud ai hp-tuning-jobs create`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

TRAINER_MODULE = "trainer.task"


def trainer_args(
    train_files: Sequence[str], eval_files: Sequence[str], extra: Sequence[str] = ()
) -> list[str]:
    """The same flags as local training. No --job-dir: Vertex AI sets AIP_MODEL_DIR and the other
    output directories from the job's baseOutputDirectory, and the trainer writes there."""
    return ["--train-files", *train_files, "--eval-files", *eval_files, *extra]


def container_runner(image_uri: str, args: Sequence[str]) -> dict:
    """Runs the trainer in the custom container built from the Dockerfile."""
    return {
        "containerSpec": {
            "imageUri": image_uri,
            "command": ["python", "-m", TRAINER_MODULE],
            "args": list(args),
        }
    }


def package_runner(executor_image: str, package_uri: str, args: Sequence[str]) -> dict:
    """Runs the trainer's sdist on a prebuilt Vertex AI image."""
    return {
        "pythonPackageSpec": {
            "executorImageUri": executor_image,
            "packageUris": [package_uri],
            "pythonModule": TRAINER_MODULE,
            "args": list(args),
        }
    }


def custom_job_spec(
    pools: list[dict], runner: dict, base_output_dir: str, job_fields: dict | None = None
) -> dict:
    """A CustomJobSpec: every used pool runs the same trainer; skipped pools stay `{}`.
    `job_fields` are the spec's other fields, such as scheduling and serviceAccount."""
    return {
        "workerPoolSpecs": [{**pool, **copy.deepcopy(runner)} if pool else {} for pool in pools],
        "baseOutputDirectory": {"outputUriPrefix": base_output_dir},
        **copy.deepcopy(job_fields or {}),
    }


def tuning_job_config(study_spec: dict, trial_counts: dict, trial_job_spec: dict) -> dict:
    """The body of `gcloud ai hp-tuning-jobs create --config`, less the display name."""
    return {"studySpec": study_spec, **trial_counts, "trialJobSpec": trial_job_spec}
