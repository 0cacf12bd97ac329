"""config/tiers.yaml: the scale-tier presets, turned into Vertex AI worker pools.

The file's keys are the tiers: a preset added or renamed there is one the scripts take.

A tier names its pools by role (chief, workers, parameter_servers, evaluators); Vertex AI wants
them as a list in that order. The API takes an empty placeholder for a skipped pool before a
used one, but gcloud's --config does not (every pool there must name its container or package),
so a gap is refused here.

A tier may also set `scheduling`, in Vertex AI's field names (workflow.cloud.scheduling checks it).
"""

from __future__ import annotations

import re
from pathlib import Path

from workflow.cloud.settings import ConfigError, read_yaml_mapping

# Upper case, so that a tier given in any case on the command line names one preset; the job ids
# and output paths take it in lower case.
TIER_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
POOL_ROLES = ("chief", "workers", "parameter_servers", "evaluators")
SCHEDULING = "scheduling"
MACHINE_FIELDS = ("machineType", "acceleratorType", "acceleratorCount", "tpuTopology")
POOL_FIELDS = (*MACHINE_FIELDS, "replicaCount", "diskSpec")
TPU_MACHINE_PREFIXES = ("cloud-tpu", "ct5", "ct6")  # TPU v2/v3, v5e/v5p, v6e VMs


def tier_name(tiers: dict[str, dict], text: str) -> str:
    """The preset's name in config/tiers.yaml, for any case: 'basic_gpu' -> 'BASIC_GPU'."""
    name = text.strip().upper()
    if name not in tiers:
        raise ConfigError(f"unknown tier {text!r}: choose one of {', '.join(tiers)}")
    return name


def load_tiers(path: Path) -> dict[str, dict]:
    """The presets of config/tiers.yaml, by name, in the file's order."""
    tiers = read_yaml_mapping(path)
    if not tiers:
        raise ConfigError(f"{path} names no tier")
    bad = [str(name) for name in tiers if not TIER_NAME.fullmatch(str(name))]
    if bad:
        raise ConfigError(
            f"{path}: tier names are upper-case letters, digits and underscores, starting with "
            f"a letter (such as BASIC_GPU), not {', '.join(bad)}"
        )
    return tiers


def _pool_spec(where: str, pool: object) -> dict:
    if not isinstance(pool, dict):
        raise ConfigError(f"{where} must be a mapping of {', '.join(POOL_FIELDS)}")
    unknown = sorted(set(pool) - set(POOL_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown {', '.join(unknown)} (use {', '.join(POOL_FIELDS)})")
    if not isinstance(pool.get("machineType"), str):
        raise ConfigError(f"{where} needs a machineType")
    replicas = pool.get("replicaCount", 1)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise ConfigError(f"{where}: replicaCount must be a whole number >= 0, not {replicas!r}")
    if ("acceleratorType" in pool) != ("acceleratorCount" in pool):
        raise ConfigError(f"{where}: acceleratorType and acceleratorCount go together")
    spec = {
        "machineSpec": {key: pool[key] for key in MACHINE_FIELDS if key in pool},
        "replicaCount": replicas,
    }
    if "diskSpec" in pool:
        spec["diskSpec"] = pool["diskSpec"]
    return spec


def worker_pools(tiers: dict[str, dict], tier: str) -> list[dict]:
    """The tier's workerPoolSpecs, without the container or package that they run."""
    roles = tiers[tier]
    where = f"config/tiers.yaml: {tier}"
    if not isinstance(roles, dict) or "chief" not in roles:
        raise ConfigError(f"{where} needs a chief pool")
    unknown = sorted(set(roles) - {*POOL_ROLES, SCHEDULING})
    if unknown:
        raise ConfigError(
            f"{where}: unknown pool {', '.join(unknown)} (use {', '.join(POOL_ROLES)}, "
            f"or {SCHEDULING})"
        )
    pools = []
    for role in POOL_ROLES:
        spec = _pool_spec(f"{where}.{role}", roles[role]) if role in roles else None
        pools.append(spec if spec and spec["replicaCount"] > 0 else {})
    if pools[0].get("replicaCount") != 1:
        raise ConfigError(f"{where}.chief: replicaCount must be 1")
    while not pools[-1]:
        pools.pop()
    if {} in pools:
        gap, after = POOL_ROLES[pools.index({})], POOL_ROLES[len(pools) - 1]
        raise ConfigError(
            f"{where}: {after} come after an empty {gap} pool, which `gcloud ai custom-jobs "
            f"create --config` cannot send; give {gap} a replica, or drop {after}"
        )
    if len(pools) > POOL_ROLES.index("parameter_servers"):
        # The trainer stops a parameter-server or evaluator task with an error (distribute.py),
        # which would fail the whole job once its machines had started: refuse it here instead.
        raise ConfigError(
            f"{where}: the trainer runs only chief and worker tasks (Keras 3 has no "
            "ParameterServerStrategy, and the chief evaluates); set the replicaCount of "
            "parameter_servers and evaluators to 0"
        )
    return pools


def tier_scheduling(tiers: dict[str, dict], tier: str) -> tuple[str, object]:
    """The tier's own `scheduling` (or None), with where it is written, for
    workflow.cloud.scheduling.resolve()."""
    return f"config/tiers.yaml: {tier}.{SCHEDULING}", tiers[tier].get(SCHEDULING)


def accelerator_kind(pools: list[dict]) -> str:
    """'tpu', 'gpu' or 'cpu': which TensorFlow build the pools need."""
    machines = [pool["machineSpec"] for pool in pools if pool]
    if any(
        "tpuTopology" in m
        or m.get("acceleratorType", "").startswith("TPU")
        or m["machineType"].startswith(TPU_MACHINE_PREFIXES)
        for m in machines
    ):
        return "tpu"
    if any(m.get("acceleratorType", "").startswith("NVIDIA") for m in machines):
        return "gpu"
    return "cpu"
