"""Following a job, without the cloud: which job a JOB names, how old a job is, and which trial
of a tuning job is the best. (The template's own tests run make jobs, wait and fetch through
the real gcloud.)"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from workflow.cloud import fetch, gcloud, jobs
from workflow.cloud.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = load_settings(ROOT / "config", environ={})


def test_a_job_is_named_by_its_id_or_its_resource_name():
    assert jobs.job_ref("1234", SETTINGS) == jobs.JobRef("1234", SETTINGS.region)
    name = "projects/p/locations/europe-west4/hyperparameterTuningJobs/987"
    assert jobs.job_ref(name, SETTINGS) == jobs.JobRef("987", "europe-west4", "tuning")
    for bad in ("", "12 34", "../1"):
        with pytest.raises(jobs.JobError, match="make wait JOB=123"):
            jobs.job_ref(bad, SETTINGS)


@pytest.mark.parametrize(
    ("created", "age"),
    [
        ("2026-01-10T11:59:30Z", "0m"),
        ("2026-01-10T11:14:59.123456789Z", "45m"),
        ("2026-01-10T07:00:00Z", "5h"),
        ("2026-01-07T11:00:00Z", "3d"),
    ],
)
def test_the_age_of_a_job(created, age):
    assert jobs.age(created, datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)) == age


def trial(trial_id: str, value: float | None) -> dict:
    measured = {"finalMeasurement": {"metrics": [{"metricId": "val_loss", "value": value}]}}
    return {"id": trial_id, "state": "SUCCEEDED", **(measured if value is not None else {})}


def test_the_best_trial_comes_first_by_the_studys_goal():
    job = {
        "studySpec": {"metrics": [{"metricId": "val_loss", "goal": "MINIMIZE"}]},
        "trials": [trial("1", 0.5), trial("2", None), trial("10", 0.2), trial("3", 0.9)],
        "trialJobSpec": {"baseOutputDirectory": {"outputUriPrefix": "gs://b/jobs/x/"}},
    }
    rows, metric, goal = fetch.trial_table(job)
    assert [row["trial"] for row in rows] == ["10", "1", "3", "2"]
    assert (metric, goal) == ("val_loss", "MINIMIZE")
    assert fetch.output_uri(job) == "gs://b/jobs/x"


def test_what_gcloud_said_is_its_error_on_one_line():
    said = (
        "Using endpoint [https://us-central1-aiplatform.googleapis.com/]\n"
        "ERROR: (gcloud.ai.custom-jobs.describe) NOT_FOUND: job 7 not found.\n"
        "Run:\n\n  $ gcloud ai custom-jobs list\n\nto list them.\n"
    )
    assert gcloud.what_gcloud_said(said) == (
        "NOT_FOUND: job 7 not found. Run: `gcloud ai custom-jobs list` to list them."
    )
    # Without an ERROR line (a crash), its last lines.
    assert (
        gcloud.what_gcloud_said("\n".join(map(str, range(20)))) == "10 11 12 13 14 15 16 17 18 19"
    )
