"""Submits the trainer to Vertex AI with a scale-tier preset (scripts/submit.sh), or a
hyperparameter tuning job whose trials run on that tier (scripts/hptune.sh):

    python -m workflow.cloud.submit [TIER] [--tune] [--dry-run]
        [--spot | --flex-start [--max-wait DURATION]] [--timeout DURATION] [--wait]
        [-- TRAINER_ARGS...]

The steps: read config/cloud.mk, config/cloud.yaml and config/tiers.yaml; print the bound (the
most the job can use under its timeout); check everything the job needs (preflight); ship the
trainer (upload the sdist, or build the image with Cloud Build); then `gcloud ai custom-jobs
create` (or `hp-tuning-jobs create`) with the spec written to a file, and the project's labels.
With --dry-run, it prints the bound, those gcloud commands and the spec, and sends nothing.
With --wait, it then waits for the job and fetches its results (workflow.cloud.jobs).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from workflow import gcs, shards
from workflow.cloud import (
    bound,
    cloudbuild,
    errors,
    fetch,
    gcloud,
    hptuning,
    jobs,
    jobspec,
    labels,
    package,
    preflight,
    scheduling,
    tiers,
)
from workflow.cloud.settings import CONTAINERS, CloudSettings, ConfigError, load_settings

BUILD_DIR = Path("build/cloud")


def build_parser(tune: bool) -> argparse.ArgumentParser:
    """The options of scripts/submit.sh, or with `tune` those of scripts/hptune.sh (which passes
    --tune): the same options, each script with its own usage."""
    if tune:
        parser = argparse.ArgumentParser(
            prog="scripts/hptune.sh",
            description="Run a hyperparameter tuning job on Vertex AI: the study in "
            "config/hptuning.yaml, each trial on a scale-tier preset (config/tiers.yaml). "
            "Arguments after -- go to every trial's trainer.",
        )
    else:
        parser = argparse.ArgumentParser(
            prog="scripts/submit.sh",
            description="Run the trainer on Vertex AI with a scale-tier preset "
            "(config/tiers.yaml). Arguments after -- go to the trainer.",
        )
    parser.add_argument(
        "tier",
        nargs="?",
        help="a preset of config/tiers.yaml (any case); default: config/cloud.yaml's default_tier",
    )
    parser.add_argument("--tune", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the gcloud commands and the spec; build nothing remotely, send nothing",
    )
    parser.add_argument(
        "--container", choices=CONTAINERS, help="how to ship the trainer; default: config's"
    )
    parser.add_argument("--train-files", nargs="+", metavar="URI", help="default: config's")
    parser.add_argument("--eval-files", nargs="+", metavar="URI", help="default: config's")
    parser.add_argument(
        "--allow-multi-region",
        action="store_true",
        help="accept a bucket outside the job's region, with a warning",
    )
    capacity = parser.add_mutually_exclusive_group()
    capacity.add_argument(
        "--spot", action="store_true", help="run on Spot VMs: cheaper, and may be preempted"
    )
    capacity.add_argument(
        "--flex-start",
        action="store_true",
        help="wait for the machines with Dynamic Workload Scheduler (FLEX_START; some GPUs only)",
    )
    parser.add_argument(
        "--max-wait",
        metavar="DURATION",
        help="with --flex-start: how long to wait for the machines (such as 2h; 0s: no limit)",
    )
    parser.add_argument(
        "--timeout",
        metavar="DURATION",
        help="stop the job (each trial) after this long, such as 90m, 24h, 7d; at most 7d; "
        "default: the tier's, else config/cloud.yaml's",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="then wait for the job to end, and fetch its metrics and model into outputs/",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=10,
        help="seconds between checks of the image build (and, with --wait, of the job)",
    )
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    own, trainer_args = argv, []
    if "--" in argv:
        split = argv.index("--")
        own, trainer_args = argv[:split], argv[split + 1 :]
    args = build_parser(tune="--tune" in own).parse_args(own)
    args.trainer_args = trainer_args
    return args


@dataclass
class Plan:
    """What will be sent: the job, and how the trainer gets to the cloud."""

    settings: CloudSettings
    tier: str
    container: str
    variant: str  # cpu, gpu or tpu: the TensorFlow build the pools need
    digest: str
    job_id: str
    job_file: Path
    create_command: list[str]
    body: dict
    data_files: list[str]
    bound_line: str
    sdist: Path | None = None
    package_uri: str | None = None
    image: str | None = None
    build_file: Path | None = None
    build_command: list[str] | None = None


def schedule(
    args: argparse.Namespace, settings: CloudSettings, presets: dict, tier: str, pools: list
) -> scheduling.Scheduling:
    """The job's scheduling: config/cloud.yaml's, then the tier's, then this run's options."""
    chosen = scheduling.resolve(
        [
            ("config/cloud.yaml: scheduling", settings.scheduling),
            tiers.tier_scheduling(presets, tier),
            scheduling.run_layer(args.spot, args.flex_start, args.max_wait, args.timeout),
        ]
    )
    if chosen.strategy == "FLEX_START":
        scheduling.check_flex_start(tier, pools)
    return chosen


def make_plan(args: argparse.Namespace, root: Path) -> Plan:
    settings = load_settings(root / "config")
    presets = tiers.load_tiers(root / "config/tiers.yaml")
    tier = tiers.tier_name(presets, args.tier or settings.default_tier)
    pools = tiers.worker_pools(presets, tier)
    chosen = schedule(args, settings, presets, tier, pools)
    job_fields = {"scheduling": chosen.fields} if chosen.fields else {}
    job_fields |= scheduling.identity_fields(settings)
    job_labels = labels.project_labels(settings, root, tier=tier.lower())
    variant = tiers.accelerator_kind(pools)
    container = args.container or settings.container
    if variant == "tpu" and container != "custom":
        print(f"{tier} runs on TPUs: using the custom container", file=sys.stderr)
        container = "custom"
    tuning = hptuning.load(root / hptuning.DEFAULT_PATH) if args.tune else None
    # The answers' project (config/cloud.mk, or GCP_PROJECT), given to every gcloud command as
    # --project: gcloud's own configured project may be unset, or another one.
    project = settings.project
    digest = package.source_hash(root)
    # By default the staged data: its shards and stats file when data/ holds them.
    train_files, eval_files, args.trainer_args = shards.cloud_data(root, settings, pools, args)
    extra_args = hptuning.trial_args(tuning, args.trainer_args) if tuning else args.trainer_args
    trainer_args = jobspec.trainer_args(train_files, eval_files, extra_args)

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    job_id = f"{'hptune-' if args.tune else ''}{tier.lower()}-{stamp}-{secrets.token_hex(2)}"
    plan_fields: dict = {}
    if container == "prebuilt":
        executor = settings.executor_images["gpu" if variant == "gpu" else "cpu"]
        # Checked first: pinning the image's TensorFlow would not help here.
        if len(pools) > 1:
            raise preflight.PreflightError(
                f"{tier} trains on several machines, and the trainer's multi-worker fix "
                "(trainer/keras_compat.py) is proven on the custom container's TensorFlow and "
                "Keras only, not on a prebuilt image's: fit would fail (keras-team/keras#20585). "
                "Use the custom container: --container custom"
            )
        preflight.executor_matches_pin(executor, root / "requirements.txt")
        sdist = package.build_sdist(root, root / BUILD_DIR / digest)
        package_uri = f"gs://{settings.bucket}/staging/packages/{digest}/{sdist.name}"
        runner = jobspec.package_runner(executor, package_uri, trainer_args)
        plan_fields |= {"sdist": sdist, "package_uri": package_uri}
    else:
        image = cloudbuild.image_uri(
            settings.region,
            project,
            settings.artifact_repository,
            settings.image_name,
            f"{digest}-{variant}",
        )
        build_file = cloudbuild.write_build_config(
            BUILD_DIR / digest / f"cloudbuild-{variant}.yaml",
            image,
            variant,
            labels.build_tags(job_labels),
        )
        build_command = cloudbuild.submit_command(
            build_file, settings.region, project, f"gs://{settings.bucket}/staging/source"
        )
        runner = jobspec.container_runner(image, trainer_args)
        plan_fields |= {"image": image, "build_file": build_file, "build_command": build_command}

    spec = jobspec.custom_job_spec(
        pools, runner, f"gs://{settings.bucket}/jobs/{job_id}", job_fields
    )
    if tuning:
        body = jobspec.tuning_job_config(tuning["studySpec"], hptuning.trial_counts(tuning), spec)
    else:
        body = spec
    bound_line = bound.line(
        bound.of_pools(pools, chosen.timeout_seconds),
        chosen,
        hptuning.trial_counts(tuning) if tuning else None,
    )
    job_file = BUILD_DIR / "jobs" / f"{job_id}.yaml"
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(yaml.safe_dump(body, sort_keys=False))
    display_name = f"{settings.display_name} {'hptune ' if tuning else ''}{tier} {stamp}"
    create_command = [
        *("ai", "hp-tuning-jobs" if tuning else "custom-jobs", "create"),
        *("--region", settings.region, "--project", project),
        *("--display-name", display_name, "--config", str(job_file)),
        f"--labels={labels.gcloud_flag(job_labels)}",
        "--format=json",
    ]
    return Plan(
        settings=settings,
        tier=tier,
        container=container,
        variant=variant,
        digest=digest,
        job_id=job_id,
        job_file=job_file,
        create_command=create_command,
        body=body,
        data_files=[*train_files, *eval_files],
        bound_line=bound_line,
        **plan_fields,
    )


def print_dry_run(plan: Plan) -> None:
    print(
        f"# Dry run: {plan.tier} on Vertex AI in project {plan.settings.project} (GCP_PROJECT, "
        "from config/cloud.mk or the environment); nothing is built remotely or sent."
    )
    print(f"# {plan.bound_line}")
    if plan.build_command:
        print(f"\n# 1. Build the image {plan.image} with Cloud Build, from {plan.build_file}:")
        print(f"gcloud {shlex.join(plan.build_command)}")
        print(plan.build_file.read_text(), end="")
    else:
        sdist = os.path.relpath(plan.sdist)
        print(f"\n# 1. Upload the package {sdist} to {plan.package_uri}")
    print(f"\n# 2. Submit the job, from {plan.job_file}:")
    print(f"gcloud {shlex.join(plan.create_command)}")
    print(yaml.safe_dump(plan.body, sort_keys=False), end="")


def check(plan: Plan, args: argparse.Namespace, root: Path):
    """The preflight: everything the job needs, before anything is uploaded. Returns the bucket."""
    client = preflight.storage_client(plan.settings.project)
    bucket = preflight.bucket(client, plan.settings, args.allow_multi_region)
    preflight.data_files(client, plan.data_files)
    sdist = plan.sdist or package.build_sdist(root, root / BUILD_DIR / plan.digest)
    verified = root / BUILD_DIR / plan.digest / "imports-ok"
    if not verified.exists():
        preflight.package_imports(sdist)
        verified.touch()
    if plan.container == "custom":
        preflight.artifact_repository(plan.settings)
    return bucket


def ship(plan: Plan, bucket, poll_seconds: float) -> None:
    """Puts the trainer where the job will run it: the sdist in the bucket, or the image in
    Artifact Registry. Either is keyed by the content hash, so an unchanged trainer ships once."""
    if plan.container == "prebuilt":
        blob = gcs.split_uri(plan.package_uri)[1]
        uploaded = gcs.upload_if_changed(bucket, str(plan.sdist), blob)
        print(
            f"{'uploaded' if uploaded else 'already staged'}: {plan.package_uri}", file=sys.stderr
        )
        return
    if cloudbuild.image_exists(plan.image, plan.settings.project):
        print(f"already built: {plan.image}", file=sys.stderr)
        return
    build = gcloud.run_json(plan.build_command)
    print(f"building {plan.image}; log: {build.get('logUrl', '?')}", file=sys.stderr)
    cloudbuild.wait(build["id"], plan.settings.region, plan.settings.project, poll_seconds)


def submit(plan: Plan) -> str:
    """Creates the job; returns its resource name."""
    settings = plan.settings
    job = gcloud.run_json(plan.create_command)
    name = job["name"]
    job_id = name.rsplit("/", 1)[-1]
    group = plan.create_command[1]
    where = f"--region {settings.region} --project {settings.project}"
    print(f"Submitted {name}")
    url = jobs.CONSOLE_URL.format(region=settings.region, id=job_id, project=settings.project)
    print(f"  console: {url}")
    if group == "custom-jobs":  # gcloud streams the logs of custom jobs only
        print(f"  logs:    make logs JOB={job_id}")
    print(f"  wait:    make wait JOB={job_id}")
    print(f"  fetch:   make fetch JOB={job_id}")
    print(f"  cancel:  gcloud ai {group} cancel {job_id} {where}")
    spec = plan.body.get("trialJobSpec", plan.body)
    print(f"  outputs: {spec['baseOutputDirectory']['outputUriPrefix']}")
    return name


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    root = Path.cwd()

    def submit_and_follow() -> None:
        gcloud.executable()
        plan = make_plan(args, root)
        if args.dry_run:
            print_dry_run(plan)
            return
        print(plan.bound_line, flush=True)
        bucket = check(plan, args, root)
        ship(plan, bucket, args.poll_seconds)
        name = submit(plan)
        if args.wait:
            jobs.follow(name, plan.settings, args.poll_seconds, Path("outputs"))

    return errors.exit_status(
        submit_and_follow,
        (
            ConfigError,
            preflight.PreflightError,
            gcloud.GcloudError,
            package.PackageError,
            jobs.JobError,
            fetch.FetchError,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
