"""How a job gets its machines and how long it may hold them: Vertex AI's `scheduling` of a
CustomJobSpec, and the job's identity fields (service account, TensorBoard, web access).

The scheduling comes in layers, each in Vertex AI's own field names, a later one winning field by
field: config/cloud.yaml's `scheduling` (the project's defaults), the tier's `scheduling` in
config/tiers.yaml, then the run's options (--spot, --flex-start, --max-wait, --timeout).
Durations are written like 90m, 24h, 7d or 3600s, and sent in Vertex AI's form, "5400s".
A combination that Vertex AI would reject is refused here, before anything is uploaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workflow.cloud.settings import CloudSettings, ConfigError

# The GPUs that Dynamic Workload Scheduler (FLEX_START) serves for Vertex AI custom training:
# "L4, A100, H100, H200, or B200 GPUs", and the same machine configuration in every pool.
# https://cloud.google.com/vertex-ai/docs/training/schedule-jobs-dws (read 2026-12)
FLEX_START_GPUS = (
    "NVIDIA_L4",
    "NVIDIA_TESLA_A100",
    "NVIDIA_A100_80GB",
    "NVIDIA_H100_80GB",
    "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB",
    "NVIDIA_B200",
)
# Vertex AI stops a custom job after at most 7 days, whatever its timeout says.
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
STRATEGIES = ("STANDARD", "SPOT", "FLEX_START")
# Deprecated names of the same capacities, with the one to write instead.
DEPRECATED_STRATEGIES = {"ON_DEMAND": "STANDARD", "LOW_COST": "SPOT"}
FLAG_FIELDS = ("restartJobOnWorkerRestart", "disableRetries")
FIELDS = ("strategy", "timeout", "maxWaitDuration", *FLAG_FIELDS)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_PART = re.compile(r"(\d+)([smhd])")
DURATION = re.compile(rf"(?:{DURATION_PART.pattern})+")
TENSORBOARD = re.compile(r"projects/[^/]+/locations/[^/]+/tensorboards/[^/]+")


def parse_duration(where: str, value: object) -> int:
    """Seconds of a duration such as '90m', '24h', '7d', '3600s' or '1h30m'."""
    text = value.strip().lower() if isinstance(value, str) else None
    if not text or not DURATION.fullmatch(text):
        raise ConfigError(
            f"{where}: {value!r} is not a duration; write it like 90m, 24h, 7d or 3600s"
        )
    return sum(int(n) * UNIT_SECONDS[unit] for n, unit in DURATION_PART.findall(text))


def parse_timeout(where: str, value: object) -> int:
    """Seconds of a job's timeout: a duration above 0 and within Vertex AI's 7 days."""
    seconds = parse_duration(where, value)
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise ConfigError(
            f"{where}: {value} is outside Vertex AI's limit: give more than 0s and at most "
            f"{readable(MAX_TIMEOUT_SECONDS)}"
        )
    return seconds


def vertex_duration(seconds: int) -> str:
    """A duration as Vertex AI's JSON takes it: '5400s'."""
    return f"{seconds}s"


def readable(seconds: int) -> str:
    """'7d', '24h', '90m' or '45s': the largest unit that divides `seconds` exactly, in days
    from two days on."""
    for unit in ("d", "h", "m"):
        whole = seconds % UNIT_SECONDS[unit] == 0
        if seconds and whole and (unit != "d" or seconds >= 2 * UNIT_SECONDS["d"]):
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def check_layer(where: str, layer: object) -> dict:
    """One layer of scheduling fields, checked, with its durations in Vertex AI's form."""
    if layer is None:
        return {}
    if not isinstance(layer, dict):
        raise ConfigError(f"{where} must be a mapping of {', '.join(FIELDS)}")
    unknown = sorted(set(layer) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown {', '.join(unknown)} (use {', '.join(FIELDS)})")
    checked = dict(layer)
    strategy = layer.get("strategy")
    if strategy in DEPRECATED_STRATEGIES:
        raise ConfigError(
            f"{where}: strategy {strategy} is deprecated; write {DEPRECATED_STRATEGIES[strategy]}"
        )
    if "strategy" in layer and strategy not in STRATEGIES:
        raise ConfigError(f"{where}: strategy must be one of {', '.join(STRATEGIES)}")
    for name in FLAG_FIELDS:
        if name in layer and not isinstance(layer[name], bool):
            raise ConfigError(f"{where}: {name} must be true or false")
    if "timeout" in layer:
        checked["timeout"] = vertex_duration(parse_timeout(f"{where}: timeout", layer["timeout"]))
    if "maxWaitDuration" in layer:
        wait = parse_duration(f"{where}: maxWaitDuration", layer["maxWaitDuration"])
        checked["maxWaitDuration"] = vertex_duration(wait)
    if "maxWaitDuration" in layer and strategy != "FLEX_START":
        raise ConfigError(
            f"{where}: maxWaitDuration is how long FLEX_START waits for its machines; set "
            "strategy: FLEX_START beside it"
        )
    return checked


@dataclass(frozen=True)
class Scheduling:
    """The job's `scheduling`, as sent, and what the resource bound needs of it."""

    fields: dict
    timeout_seconds: int | None  # None: Vertex AI's own limit, 7 days
    strategy: str  # STANDARD when unset, as Vertex AI takes it


def resolve(layers: list[tuple[str, object]]) -> Scheduling:
    """The scheduling of (where, layer) pairs, a later layer winning field by field. A waiting
    time is dropped when a later layer picks a strategy other than FLEX_START."""
    merged: dict = {}
    for where, layer in layers:
        merged |= check_layer(where, layer)
    if merged.get("strategy") != "FLEX_START":
        merged.pop("maxWaitDuration", None)
    timeout = int(merged["timeout"].removesuffix("s")) if "timeout" in merged else None
    ordered = {name: merged[name] for name in FIELDS if name in merged}
    return Scheduling(ordered, timeout, merged.get("strategy", "STANDARD"))


def run_layer(
    spot: bool, flex_start: bool, max_wait: str | None, timeout: str | None
) -> tuple[str, dict]:
    """The scheduling that one run's options ask for, as a layer of resolve()."""
    if max_wait is not None and not flex_start:
        raise ConfigError("--max-wait is how long --flex-start waits for its machines: add it")
    layer: dict = {}
    if spot or flex_start:
        layer["strategy"] = "SPOT" if spot else "FLEX_START"
    if max_wait is not None:
        layer["maxWaitDuration"] = vertex_duration(parse_duration("--max-wait", max_wait))
    if timeout is not None:
        layer["timeout"] = vertex_duration(parse_timeout("--timeout", timeout))
    return "the command line", layer


def check_flex_start(tier: str, pools: list[dict]) -> None:
    """Dynamic Workload Scheduler serves a job whose pools all run the same machine with one of
    its GPUs; anything else Vertex AI rejects."""
    machines = [pool["machineSpec"] for pool in pools if pool]
    if any(machine != machines[0] for machine in machines):
        described = "; ".join(_describe(machine) for machine in machines)
        raise ConfigError(
            f"FLEX_START needs the same machine in every pool, but {tier} has {described}: "
            "make its pools alike, or drop --flex-start"
        )
    accelerator = machines[0].get("acceleratorType")
    if accelerator not in FLEX_START_GPUS:
        has = f"runs {accelerator}" if accelerator else "has no GPU"
        raise ConfigError(
            f"FLEX_START (Dynamic Workload Scheduler) serves only {', '.join(FLEX_START_GPUS)}; "
            f"{tier} {has}: choose a tier with one of those GPUs, or drop --flex-start"
        )


def _describe(machine: dict) -> str:
    accelerator = machine.get("acceleratorType")
    count = machine.get("acceleratorCount")
    return machine["machineType"] + (f" + {count} x {accelerator}" if accelerator else "")


def identity_fields(settings: CloudSettings) -> dict:
    """serviceAccount, tensorboard and enableWebAccess of the CustomJobSpec, as far as
    config/cloud.yaml sets them."""
    fields: dict = {}
    if settings.service_account:
        if "@" not in settings.service_account:
            raise ConfigError(
                f"config/cloud.yaml: service_account {settings.service_account!r} is not a "
                "service account's email (NAME@PROJECT.iam.gserviceaccount.com)"
            )
        fields["serviceAccount"] = settings.service_account
    if settings.tensorboard:
        if not TENSORBOARD.fullmatch(settings.tensorboard):
            raise ConfigError(
                f"config/cloud.yaml: tensorboard {settings.tensorboard!r} is not a Vertex AI "
                "TensorBoard instance (projects/PROJECT/locations/REGION/tensorboards/ID)"
            )
        if not settings.service_account:
            raise ConfigError(
                "config/cloud.yaml: a tensorboard needs a service_account too: Vertex AI "
                "writes the job's TensorBoard logs as that account"
            )
        fields["tensorboard"] = settings.tensorboard
    if settings.enable_web_access:
        fields["enableWebAccess"] = True
    return fields
