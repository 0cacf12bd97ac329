"""A finished job's results, brought to the workstation: its metrics.json and exported model,
in the layout of a local run (`make predict JOB_DIR=outputs/<job id>` serves the model).

A custom job's trainer wrote them under the job's baseOutputDirectory: `metrics.json` and
`model/`. A tuning job's trials each wrote theirs under `<baseOutputDirectory>/<trial id>/`;
the best trial's are fetched, beside `trials.csv`, the table of every trial.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from workflow import gcs

METRICS_FILE = "metrics.json"
MODEL_DIR = "model"
TRIALS_FILE = "trials.csv"


class FetchError(Exception):
    """The job's results cannot be fetched; the message says why."""


def output_uri(job: dict) -> str:
    """The job's baseOutputDirectory: a custom job's, or a tuning job's trial spec's."""
    spec = job.get("trialJobSpec") or job.get("jobSpec") or {}
    return spec.get("baseOutputDirectory", {}).get("outputUriPrefix", "").rstrip("/")


def _final_value(trial: dict, metric_id: str) -> float | None:
    for metric in trial.get("finalMeasurement", {}).get("metrics", []):
        if metric.get("metricId") == metric_id:
            return float(metric["value"])
    return None


def trial_table(job: dict) -> tuple[list[dict], str, str]:
    """Every trial as a row (trial, state, the metric, each parameter), the best first, then
    the rest by id; and the study's metric and goal."""
    (metric,) = job["studySpec"]["metrics"]
    metric_id, goal = metric["metricId"], metric["goal"]
    rows = []
    for trial in job.get("trials", []):
        value = _final_value(trial, metric_id)
        row = {"trial": trial["id"], "state": trial.get("state", "?"), metric_id: value}
        row |= {p["parameterId"]: p.get("value") for p in trial.get("parameters", [])}
        rows.append(row)
    sign = -1 if goal == "MAXIMIZE" else 1
    # Measured trials best first; the others after them, by id.
    rows.sort(
        key=lambda row: (
            row[metric_id] is None,
            sign * (row[metric_id] or 0),
            int(row["trial"]) if str(row["trial"]).isdigit() else 0,
        )
    )
    return rows, metric_id, goal


def _write_table(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _print_table(rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [columns] + [
        ["" if row.get(c) is None else str(row[c]) for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def _download_tree(client, uri: str, destination: Path) -> int:
    """Every object under the gs:// prefix `uri`, into `destination`; returns how many."""
    bucket, prefix = gcs.split_uri(uri.rstrip("/") + "/")
    count = 0
    for blob in client.list_blobs(bucket, prefix=prefix):
        if blob.name.endswith("/"):  # a folder placeholder, as the console makes them
            continue
        target = destination / blob.name[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
        count += 1
    return count


def download(client, job: dict, destination: Path) -> Path:
    """Downloads the job's (or its best trial's) metrics.json and model into `destination`,
    prints the final metrics (and a tuning job's trial table), and returns `destination`."""
    source = output_uri(job)
    if not source.startswith("gs://"):
        raise FetchError("the job names no gs:// baseOutputDirectory to fetch from")
    destination.mkdir(parents=True, exist_ok=True)
    if "studySpec" in job:
        rows, metric_id, goal = trial_table(job)
        if not rows or rows[0][metric_id] is None:
            raise FetchError(f"no trial of the tuning job reported {metric_id}: nothing to fetch")
        _print_table(rows)
        _write_table(rows, destination / TRIALS_FILE)
        best = rows[0]["trial"]
        print(f"Best: trial {best} ({metric_id} {rows[0][metric_id]}, {goal})")
        source = f"{source}/{best}"
    bucket, path = gcs.split_uri(f"{source}/{METRICS_FILE}")
    blob = client.bucket(bucket).get_blob(path)
    if blob is None:
        raise FetchError(
            f"{source}/{METRICS_FILE} does not exist: did the trainer finish and write there?"
        )
    blob.download_to_filename(str(destination / METRICS_FILE))
    if _download_tree(client, f"{source}/{MODEL_DIR}", destination / MODEL_DIR) == 0:
        raise FetchError(f"{source}/{MODEL_DIR}/ holds no exported model")
    metrics = json.loads((destination / METRICS_FILE).read_text())
    print("Final metrics: " + ", ".join(f"{name} {value:.4g}" for name, value in metrics.items()))
    return destination
