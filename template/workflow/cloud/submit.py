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

from workflow import gcs
from workflow.cloud import (
    bound,
    cloudbuild,
    errors,
    fetch,
    gcloud,
    hptuning,
    job_data,
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


@dataclass(frozen=True)
class Shipping:
    """How the trainer gets to the cloud: its sdist, run on a prebuilt image (`sdist`,
    `package_uri`, `executor`), or the custom image that Cloud Build makes (`image`,
    `build_file`, `build_command`)."""

    sdist: Path | None = None
    package_uri: str | None = None
    executor: str | None = None
    image: str | None = None
    build_file: Path | None = None
    build_command: list[str] | None = None

    def runner(self, trainer_args: list[str]) -> dict:
        """The job's pythonPackageSpec or containerSpec, running the trainer with its args."""
        if self.image:
            return jobspec.container_runner(self.image, trainer_args)
        return jobspec.package_runner(self.executor, self.package_uri, trainer_args)


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
    shipping: Shipping


def make_plan(args: argparse.Namespace, root: Path) -> Plan:
    """The job that `args` ask for, built step by step. Nothing is sent: the sdist (or the
    image's build config) and the job's config are written under build/cloud/."""
    settings = load_settings(root / "config")
    presets = tiers.load_tiers(root / "config/tiers.yaml")
    tier = tiers.tier_name(presets, args.tier or settings.default_tier)
    pools = tiers.worker_pools(presets, tier)
    tier_layer = tiers.tier_scheduling(presets, tier)
    run_layer = scheduling.run_layer(args.spot, args.flex_start, args.max_wait, args.timeout)
    chosen = schedule(settings, tier_layer, run_layer, tier, pools)
    spec_fields = job_fields(settings, chosen)
    job_labels = labels.project_labels(settings, root, tier=tier.lower())
    variant = tiers.accelerator_kind(pools)
    container = container_for(args.container or settings.container, tier, variant)
    tuning = hptuning.load(root / hptuning.DEFAULT_PATH) if args.tune else None
    digest = package.source_hash(root)
    # By default the staged data: its shards and stats file when data/ holds them.
    data = job_data.choose(
        root,
        settings,
        pools,
        train_files=args.train_files,
        eval_files=args.eval_files,
        trainer_args=args.trainer_args,
    )
    trainer_args = job_trainer_args(data, tuning)
    job_id, display_name = job_names(settings, tier, tuning is not None, datetime.now(timezone.utc))
    if container == "prebuilt":
        shipping = prebuilt_shipping(
            settings, root, digest, tier=tier, variant=variant, pools=pools
        )
    else:
        shipping = image_shipping(settings, digest, variant, job_labels)
    spec = jobspec.custom_job_spec(
        pools,
        shipping.runner(trainer_args),
        f"gs://{settings.bucket}/jobs/{job_id}",
        spec_fields,
    )
    body = job_body(spec, tuning)
    job_file = write_job_file(job_id, body)
    return Plan(
        settings=settings,
        tier=tier,
        container=container,
        variant=variant,
        digest=digest,
        job_id=job_id,
        job_file=job_file,
        create_command=create_command(settings, tuning, display_name, job_file, job_labels),
        body=body,
        data_files=[*data.train_files, *data.eval_files],
        bound_line=bound_line(pools, chosen, tuning),
        shipping=shipping,
    )


# The steps of make_plan, in its order.


def schedule(
    settings: CloudSettings,
    tier_layer: tuple[str, object],
    run_layer: tuple[str, object],
    tier: str,
    pools: list,
) -> scheduling.Scheduling:
    """The job's scheduling: config/cloud.yaml's, then the tier's, then this run's options.
    FLEX_START is refused for pools that Dynamic Workload Scheduler does not serve."""
    chosen = scheduling.resolve(
        [("config/cloud.yaml: scheduling", settings.scheduling), tier_layer, run_layer]
    )
    if chosen.strategy == "FLEX_START":
        scheduling.check_flex_start(tier, pools)
    return chosen


def job_fields(settings: CloudSettings, chosen: scheduling.Scheduling) -> dict:
    """The CustomJobSpec's fields beside its pools and outputs: scheduling and identity."""
    fields = {"scheduling": chosen.fields} if chosen.fields else {}
    return fields | scheduling.identity_fields(settings)


def container_for(asked: str, tier: str, variant: str) -> str:
    """The container asked for, but the custom one on TPUs: no prebuilt image runs TPUs."""
    if variant == "tpu" and asked != "custom":
        print(f"{tier} runs on TPUs: using the custom container", file=sys.stderr)
        return "custom"
    return asked


def job_trainer_args(data: job_data.JobData, tuning: dict | None) -> list[str]:
    """The trainer's arguments in every pool: the data, the run's own arguments and, in a
    tuning job, the study's metric (the tuned flags Vertex AI adds to each trial)."""
    extra = hptuning.trial_args(tuning, data.trainer_args) if tuning else data.trainer_args
    return jobspec.trainer_args(data.train_files, data.eval_files, extra)


def job_names(settings: CloudSettings, tier: str, tune: bool, now: datetime) -> tuple[str, str]:
    """The job's ID (its folder in the bucket and its file in build/cloud/jobs/) and its display
    name, both from the tier and the time; the ID ends in a random token of its own."""
    stamp = now.strftime("%Y%m%d-%H%M%S")
    job_id = f"{'hptune-' if tune else ''}{tier.lower()}-{stamp}-{secrets.token_hex(2)}"
    return job_id, f"{settings.display_name} {'hptune ' if tune else ''}{tier} {stamp}"


def prebuilt_shipping(
    settings: CloudSettings, root: Path, digest: str, *, tier: str, variant: str, pools: list
) -> Shipping:
    """The trainer's sdist, built into build/cloud/DIGEST/, for the prebuilt image of its
    variant; refused for several machines, or an image of another TensorFlow than the pin."""
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
    return Shipping(sdist=sdist, package_uri=package_uri, executor=executor)


def image_shipping(
    settings: CloudSettings, digest: str, variant: str, job_labels: dict[str, str]
) -> Shipping:
    """The custom image of the variant, tagged with the trainer's hash, and the Cloud Build
    config (written to build/cloud/DIGEST/) and command that build it."""
    image = cloudbuild.image_uri(
        settings.region,
        settings.project,
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
        build_file, settings.region, settings.project, f"gs://{settings.bucket}/staging/source"
    )
    return Shipping(image=image, build_file=build_file, build_command=build_command)


def job_body(spec: dict, tuning: dict | None) -> dict:
    """The config gcloud sends: the CustomJobSpec, or a tuning job whose trials run it."""
    if tuning is None:
        return spec
    return jobspec.tuning_job_config(tuning["studySpec"], hptuning.trial_counts(tuning), spec)


def write_job_file(job_id: str, body: dict) -> Path:
    """build/cloud/jobs/JOB_ID.yaml: the body, for gcloud's --config."""
    job_file = BUILD_DIR / "jobs" / f"{job_id}.yaml"
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(yaml.safe_dump(body, sort_keys=False))
    return job_file


def create_command(
    settings: CloudSettings,
    tuning: dict | None,
    display_name: str,
    job_file: Path,
    job_labels: dict[str, str],
) -> list[str]:
    """gcloud's arguments that create the job. Every gcloud command gets the answers' project
    (config/cloud.mk, or GCP_PROJECT) as --project: gcloud's own may be unset, or another."""
    return [
        *("ai", "hp-tuning-jobs" if tuning else "custom-jobs", "create"),
        *("--region", settings.region, "--project", settings.project),
        *("--display-name", display_name, "--config", str(job_file)),
        f"--labels={labels.gcloud_flag(job_labels)}",
        "--format=json",
    ]


def bound_line(pools: list, chosen: scheduling.Scheduling, tuning: dict | None) -> str:
    """The most the job can use under its timeout, in one line."""
    trials = hptuning.trial_counts(tuning) if tuning else None
    return bound.line(bound.of_pools(pools, chosen.timeout_seconds), chosen, trials)


def print_dry_run(plan: Plan) -> None:
    print(
        f"# Dry run: {plan.tier} on Vertex AI in project {plan.settings.project} (GCP_PROJECT, "
        "from config/cloud.mk or the environment); nothing is built remotely or sent."
    )
    print(f"# {plan.bound_line}")
    shipping = plan.shipping
    if shipping.build_command:
        print(
            f"\n# 1. Build the image {shipping.image} with Cloud Build, from {shipping.build_file}:"
        )
        print(f"gcloud {shlex.join(shipping.build_command)}")
        print(shipping.build_file.read_text(), end="")
    else:
        sdist = os.path.relpath(shipping.sdist)
        print(f"\n# 1. Upload the package {sdist} to {shipping.package_uri}")
    print(f"\n# 2. Submit the job, from {plan.job_file}:")
    print(f"gcloud {shlex.join(plan.create_command)}")
    print(yaml.safe_dump(plan.body, sort_keys=False), end="")


def check(plan: Plan, args: argparse.Namespace, root: Path):
    """The preflight: everything the job needs, before anything is uploaded. Returns the bucket."""
    client = preflight.storage_client(plan.settings.project)
    bucket = preflight.bucket(client, plan.settings, args.allow_multi_region)
    preflight.data_files(client, plan.data_files)
    sdist = plan.shipping.sdist or package.build_sdist(root, root / BUILD_DIR / plan.digest)
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
    shipping = plan.shipping
    if plan.container == "prebuilt":
        blob = gcs.split_uri(shipping.package_uri)[1]
        uploaded = gcs.upload_if_changed(bucket, str(shipping.sdist), blob)
        print(
            f"{'uploaded' if uploaded else 'already staged'}: {shipping.package_uri}",
            file=sys.stderr,
        )
        return
    if cloudbuild.image_exists(shipping.image, plan.settings.project):
        print(f"already built: {shipping.image}", file=sys.stderr)
        return
    build = gcloud.run_json(shipping.build_command)
    print(f"building {shipping.image}; log: {build.get('logUrl', '?')}", file=sys.stderr)
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
