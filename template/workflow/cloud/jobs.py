"""Following this project's Vertex AI jobs from the workstation (the Makefile's jobs, logs, wait
and fetch targets):

    python -m workflow.cloud.jobs list [--limit N]
    python -m workflow.cloud.jobs logs JOB
    python -m workflow.cloud.jobs wait JOB [--poll-seconds S]
    python -m workflow.cloud.jobs fetch JOB [--outputs DIR]

JOB is a job's id as `list` shows it (or its full resource name); a custom job and a tuning job
are both found by their id. The jobs are found by the `project` label that the submit scripts put
on every job (workflow.cloud.labels). Every request goes through gcloud, with the answers'
project and region (config/cloud.mk), except the downloads of `fetch` (google-cloud-storage).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workflow.cloud import errors, fetch, gcloud, labels, preflight
from workflow.cloud.settings import CloudSettings, ConfigError, load_settings

# gcloud's command group and the API's collection, by kind of job.
GROUPS = {"custom": "custom-jobs", "tuning": "hp-tuning-jobs"}
COLLECTIONS = {"customJobs": "custom", "hyperparameterTuningJobs": "tuning"}
SUCCEEDED = "JOB_STATE_SUCCEEDED"
ENDED = (
    SUCCEEDED,
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
)
JOB_NAME = re.compile(
    r"projects/[^/]+/locations/(?P<region>[^/]+)/(?P<collection>customJobs|"
    r"hyperparameterTuningJobs)/(?P<id>[^/]+)"
)
JOB_ID = re.compile(r"[0-9A-Za-z_-]+")
# The console page of a job, as google-cloud-aiplatform 2.7 links it.
CONSOLE_URL = (
    "https://console.cloud.google.com/agent-platform/locations/{region}/training/{id}"
    "?project={project}"
)


class JobError(Exception):
    """A job that cannot be followed, or one that did not succeed; the message says which."""


@dataclass(frozen=True)
class JobRef:
    """Where one job is: its id, its region, and its kind once known."""

    id: str
    region: str
    kind: str | None = None

    def gcloud(self, verb: str, settings: CloudSettings, *more: str) -> list[str]:
        return [
            *("ai", GROUPS[self.kind], verb, self.id),
            *("--region", self.region, "--project", settings.project, *more),
        ]


def job_ref(text: str, settings: CloudSettings) -> JobRef:
    """The job that `text` names: an id such as 1234567890, or a full resource name."""
    text = text.strip()
    if not text:
        raise JobError("no job given: name one that `make jobs` lists, as in make wait JOB=123")
    match = JOB_NAME.fullmatch(text)
    if match:
        return JobRef(match["id"], match["region"], COLLECTIONS[match["collection"]])
    if not JOB_ID.fullmatch(text):
        raise JobError(
            f"{text!r} is not a job id: give one that `make jobs` lists, as in make wait JOB=123"
        )
    return JobRef(text, settings.region)


def describe(ref: JobRef, settings: CloudSettings) -> tuple[JobRef, dict]:
    """The job as Vertex AI describes it, and its reference with its kind known: a bare id is
    looked up as a custom job, then as a tuning job."""
    kinds = [ref.kind] if ref.kind else list(GROUPS)
    for kind in kinds:
        known = JobRef(ref.id, ref.region, kind)
        try:
            described = gcloud.run_json(
                known.gcloud("describe", settings, "--format=json"), show=False
            )
        except gcloud.GcloudError as err:
            if "NOT_FOUND" not in err.stderr:
                raise
            continue
        return known, described
    raise JobError(
        f"no job {ref.id} in {ref.region} of project {settings.project}: `make jobs` lists "
        "this project's recent ones"
    )


def age(created: str, now: datetime) -> str:
    """How long ago a time of Vertex AI's was: '45m', '5h', '3d'. Vertex AI writes UTC, with up
    to nine decimals of a second (2026-01-10T11:15:00.123456789Z): the whole seconds do."""
    then = datetime.strptime(created[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


def list_jobs(settings: CloudSettings, limit: int) -> list[dict]:
    """This project's most recent custom and tuning jobs, newest first, each with its kind."""
    project_label = labels.label_value(settings.display_name)
    found = []
    for kind, group in GROUPS.items():
        listed = gcloud.run_json(
            [
                *("ai", group, "list", "--region", settings.region, "--project", settings.project),
                f"--filter=labels.project={project_label}",
                *("--sort-by=~createTime", f"--limit={limit}", "--format=json"),
            ],
            show=False,
        )
        found += [job | {"kind": kind} for job in listed]
    found.sort(key=lambda job: job.get("createTime", ""), reverse=True)
    return found[:limit]


def print_jobs(jobs: list[dict], settings: CloudSettings) -> None:
    if not jobs:
        print(
            f"No jobs labelled project={labels.label_value(settings.display_name)} in "
            f"{settings.region} of project {settings.project}."
        )
        return
    now = datetime.now(timezone.utc)
    rows = [("JOB", "KIND", "STATE", "AGE", "TIER", "SUBMITTER", "DISPLAY NAME")]
    for job in jobs:
        job_labels = job.get("labels", {})
        rows.append(
            (
                job["name"].rsplit("/", 1)[-1],
                job["kind"],
                job.get("state", "?").removeprefix("JOB_STATE_"),
                age(job["createTime"], now) if "createTime" in job else "?",
                job_labels.get("tier", "-"),
                job_labels.get("submitter", "-"),
                job.get("displayName", ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def stream_logs(ref: JobRef, settings: CloudSettings, poll_seconds: float) -> int:
    """Streams a custom job's logs through gcloud until the job ends; returns gcloud's status."""
    ref, _ = describe(ref, settings)
    if ref.kind == "tuning":
        url = CONSOLE_URL.format(region=ref.region, id=ref.id, project=settings.project)
        raise JobError(
            f"job {ref.id} is a tuning job, and gcloud streams the logs of custom jobs only; "
            f"its trials' logs are on its console page: {url}"
        )
    interval = f"--polling-interval={max(1, round(poll_seconds))}"
    command = ["gcloud", *ref.gcloud("stream-logs", settings, interval)]
    return subprocess.run([gcloud.executable(), *command[1:]], check=False).returncode


def wait(ref: JobRef, settings: CloudSettings, poll_seconds: float) -> tuple[JobRef, dict]:
    """Polls the job until it ends, printing each new state; raises JobError with the job's own
    error message unless it succeeded."""
    state = None
    while True:
        ref, job = describe(ref, settings)
        if job.get("state") != state:
            state = job.get("state")
            print(f"job {ref.id} ({ref.kind}): {state}", file=sys.stderr, flush=True)
        if state in ENDED:
            break
        time.sleep(poll_seconds)
    if state != SUCCEEDED:
        message = job.get("error", {}).get("message") or "Vertex AI gave no error message"
        raise JobError(f"job {ref.id} ended {state.removeprefix('JOB_STATE_')}: {message}")
    print(f"job {ref.id} succeeded; outputs in {fetch.output_uri(job)}")
    return ref, job


def fetch_outputs(ref: JobRef, settings: CloudSettings, outputs: Path, job: dict | None = None):
    """Downloads a finished job's results into outputs/<job id>/ and prints its final metrics."""
    if job is None:
        ref, job = describe(ref, settings)
    if job.get("state") != SUCCEEDED:
        raise JobError(
            f"job {ref.id} is {job.get('state', 'in an unknown state')}, not SUCCEEDED: "
            f"nothing to fetch yet (make wait JOB={ref.id} waits for it)"
        )
    client = preflight.storage_client(settings.project)
    destination = fetch.download(client, job, outputs / ref.id)
    print(f"Fetched job {ref.id} into {destination}/")
    print(f"  predict: make predict JOB_DIR={destination}")


def follow(name: str, settings: CloudSettings, poll_seconds: float, outputs: Path) -> None:
    """Waits for a job just submitted, then fetches its results (scripts/submit.sh --wait)."""
    ref, job = wait(job_ref(name, settings), settings, poll_seconds)
    fetch_outputs(ref, settings, outputs, job)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.cloud.jobs",
        description="Follow this project's Vertex AI jobs (make jobs, logs, wait, fetch).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="this project's recent jobs, newest first")
    listing.add_argument("--limit", type=int, default=20, help="how many jobs (default: 20)")
    for name, text in (
        ("logs", "stream a custom job's logs until it ends"),
        ("wait", "wait until a job ends; fail with its error unless it succeeded"),
        ("fetch", "download a finished job's metrics.json and model into outputs/<job id>/"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("job", metavar="JOB", help="the job's id, as `make jobs` lists it")
        command.add_argument(
            "--poll-seconds", type=float, default=30, help="seconds between checks (default: 30)"
        )
        command.add_argument(
            "--outputs", type=Path, default=Path("outputs"), help="where fetch puts <job id>/"
        )
    return parser


def run(args: argparse.Namespace, settings: CloudSettings) -> int:
    if args.command == "list":
        print_jobs(list_jobs(settings, args.limit), settings)
        return 0
    ref = job_ref(args.job, settings)
    if args.command == "logs":
        return stream_logs(ref, settings, args.poll_seconds)
    if args.command == "wait":
        wait(ref, settings, args.poll_seconds)
    else:
        fetch_outputs(ref, settings, args.outputs)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)

    def follow() -> int:
        gcloud.executable()
        return run(args, load_settings(Path("config")))

    return errors.exit_status(
        follow,
        (ConfigError, JobError, fetch.FetchError, gcloud.GcloudError, preflight.PreflightError),
    )


if __name__ == "__main__":
    sys.exit(main())
