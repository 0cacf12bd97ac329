"""The most a job can use before Vertex AI stops it at its timeout, in resource-hours that a team
can price (no prices here): machines x hours, vCPU-hours, and GPU or TPU hours. A tuning job
may run its maximum trial count, each up to the timeout.

The vCPUs of each machine type are read from its name where Compute Engine's naming says them
(n1-standard-4: 4), else from the table below; any other machine type is "unknown", not a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from workflow.cloud.scheduling import MAX_TIMEOUT_SECONDS, Scheduling, readable

# Families whose last number is the machine's vCPU count.
VCPUS_IN_NAME = re.compile(
    r"(?:n1|n2|n2d|e2|c2|c2d|c3|g2)-(?:standard|highmem|highcpu)-(?P<vcpus>\d+)"
)
# Accelerator-optimized and TPU VMs, whose names count GPUs or TPU chips instead (Compute
# Engine's GPU machine tables; TPU v5e: https://cloud.google.com/tpu/docs/v5e).
VCPUS = {
    "a2-highgpu-1g": 12,
    "a2-highgpu-2g": 24,
    "a2-highgpu-4g": 48,
    "a2-highgpu-8g": 96,
    "a2-megagpu-16g": 96,
    "a2-ultragpu-1g": 12,
    "a2-ultragpu-2g": 24,
    "a2-ultragpu-4g": 48,
    "a2-ultragpu-8g": 96,
    "a3-highgpu-8g": 208,
    "a3-megagpu-8g": 208,
    "ct5lp-hightpu-1t": 24,
    "ct5lp-hightpu-4t": 112,
    "ct5lp-hightpu-8t": 224,
}
# TPU VMs whose name counts their chips: ct5lp-hightpu-4t has 4.
TPU_CHIPS_IN_NAME = re.compile(r"ct\d+\w*-\w+-(?P<chips>\d+)t")


def vcpus(machine_type: str) -> int | None:
    """The vCPUs of one machine, or None when this file does not know them."""
    match = VCPUS_IN_NAME.fullmatch(machine_type)
    return int(match["vcpus"]) if match else VCPUS.get(machine_type)


def tpu_chips(machine: dict) -> int:
    """The TPU chips (or, for TPU_V2/V3 accelerators, cores) of one machine; 0 without a TPU."""
    if machine.get("acceleratorType", "").startswith("TPU"):
        return machine.get("acceleratorCount", 0)
    match = TPU_CHIPS_IN_NAME.fullmatch(machine["machineType"])
    if match:
        return int(match["chips"])
    if "tpuTopology" in machine:
        return math.prod(int(side) for side in machine["tpuTopology"].split("x"))
    return 0


def gpus(machine: dict) -> int:
    return machine.get("acceleratorCount", 0) if tpu_chips(machine) == 0 else 0


@dataclass(frozen=True)
class Bound:
    """One job's (or one trial's) machines, and the hours it may hold them."""

    machines: int
    vcpus: int | None  # None when a machine type's vCPUs are unknown
    gpus: int
    tpu_chips: int
    gpu_types: tuple[str, ...]
    unknown: tuple[str, ...]  # machine types whose vCPUs are unknown
    seconds: int  # how long each machine may run: the timeout


def of_pools(pools: list[dict], timeout_seconds: int | None) -> Bound:
    """The bound of one CustomJobSpec's pools, each replica running until the timeout."""
    used = [pool for pool in pools if pool]
    machines = [(pool["machineSpec"], pool["replicaCount"]) for pool in used]
    unknown = sorted({m["machineType"] for m, _ in machines if vcpus(m["machineType"]) is None})
    return Bound(
        machines=sum(n for _, n in machines),
        vcpus=None if unknown else sum(n * vcpus(m["machineType"]) for m, n in machines),
        gpus=sum(n * gpus(m) for m, n in machines),
        tpu_chips=sum(n * tpu_chips(m) for m, n in machines),
        gpu_types=tuple(sorted({m["acceleratorType"] for m, _ in machines if gpus(m)})),
        unknown=tuple(unknown),
        seconds=timeout_seconds or MAX_TIMEOUT_SECONDS,
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def line(bound: Bound, scheduling: Scheduling, trials: dict | None = None) -> str:
    """The one line printed before a submit: for a tuning job (`trials`: its maxTrialCount and
    parallelTrialCount), every trial may run until the timeout."""
    runs = trials["maxTrialCount"] if trials else 1
    hours = runs * bound.seconds / 3600
    size = f"{_plural(bound.machines, 'machine')} x {readable(bound.seconds)}"
    if trials:
        size = f"{_plural(runs, 'trial')} x {size}"
    if bound.vcpus is None:
        cpu = f"unknown vCPU-hours (unknown vCPUs: {', '.join(bound.unknown)})"
    else:
        cpu = f"{_number(bound.vcpus * hours)} vCPU-hours"
    accelerators = []
    if bound.gpus:
        accelerators.append(
            f"{_number(bound.gpus * hours)} GPU-hours ({', '.join(bound.gpu_types)})"
        )
    if bound.tpu_chips:
        accelerators.append(f"{_number(bound.tpu_chips * hours)} TPU chip-hours")
    used = ", ".join([cpu, *accelerators]) + ("" if accelerators else ", no GPU or TPU")
    at_once = ""
    if trials:
        parallel = trials["parallelTrialCount"]
        at_once = (
            f" ({_plural(parallel, 'trial')}, {_plural(parallel * bound.machines, 'machine')} "
            "at a time)"
        )
    limit = (
        f"timeout {readable(scheduling.timeout_seconds)}"
        if scheduling.timeout_seconds
        else f"no timeout set: Vertex AI's limit, {readable(MAX_TIMEOUT_SECONDS)}"
    )
    return (
        f"Bound: {size} = {_number(bound.machines * hours)} machine-hours, {used}{at_once}; "
        f"{scheduling.strategy} capacity, {limit}{' per trial' if trials else ''}"
    )
