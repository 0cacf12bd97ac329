"""The bound printed before a submit: machines x hours, vCPU-hours and GPU or TPU hours under
the job's timeout, for every tier of config/tiers.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.cloud import bound, scheduling, tiers

ROOT = Path(__file__).resolve().parent.parent
PRESETS = tiers.load_tiers(ROOT / "config/tiers.yaml")
DAY = scheduling.Scheduling({"timeout": "86400s"}, 86400, "STANDARD")


@pytest.mark.parametrize(
    ("machine_type", "vcpus"),
    [
        ("n1-standard-4", 4),
        ("n1-highcpu-16", 16),
        ("e2-highmem-2", 2),
        ("g2-standard-8", 8),
        ("a2-highgpu-1g", 12),
        ("ct5lp-hightpu-4t", 112),
        ("m3-ultramem-32", None),
        ("n1-standard", None),
    ],
)
def test_vcpus_come_from_the_machine_types_name_or_the_table(machine_type, vcpus):
    assert bound.vcpus(machine_type) == vcpus


@pytest.mark.parametrize("tier", list(PRESETS))
def test_every_tier_has_a_bound_in_resource_hours(tier):
    pools = tiers.worker_pools(PRESETS, tier)
    line = bound.line(bound.of_pools(pools, 86400), DAY)
    machines = sum(pool["replicaCount"] for pool in pools)
    assert line.startswith(f"Bound: {machines} machine")
    assert f"= {machines * 24:,} machine-hours, " in line
    assert line.endswith("; STANDARD capacity, timeout 24h")
    assert "unknown" not in line, "a preset's machine type has no vCPU count"


def test_a_tpu_machine_counts_its_chips_and_a_gpu_its_accelerators():
    tpu = [
        {
            "machineSpec": {"machineType": "ct5lp-hightpu-4t", "tpuTopology": "2x2"},
            "replicaCount": 1,
        }
    ]
    assert bound.line(bound.of_pools(tpu, 3600), DAY).startswith(
        "Bound: 1 machine x 1h = 1 machine-hours, 112 vCPU-hours, 4 TPU chip-hours;"
    )
    gpu = [
        {
            "machineSpec": {
                "machineType": "a2-highgpu-2g",
                "acceleratorType": "NVIDIA_TESLA_A100",
                "acceleratorCount": 2,
            },
            "replicaCount": 2,
        }
    ]
    assert "96 vCPU-hours, 8 GPU-hours (NVIDIA_TESLA_A100)" in bound.line(
        bound.of_pools(gpu, 7200), DAY
    )


def test_an_unknown_machine_type_is_named_rather_than_guessed():
    pools = [{"machineSpec": {"machineType": "m3-ultramem-32"}, "replicaCount": 2}]
    line = bound.line(bound.of_pools(pools, 3600), DAY)
    assert "2 machine-hours, unknown vCPU-hours (unknown vCPUs: m3-ultramem-32)" in line


@pytest.mark.parametrize("tier", list(PRESETS))
def test_a_tuning_job_is_bounded_by_its_trials_and_no_timeout_by_vertex_ais_limit(tier):
    """10 trials of the tier as config/tiers.yaml has it, each up to Vertex AI's 7 days."""
    pools = [pool for pool in tiers.worker_pools(PRESETS, tier) if pool]
    machines = sum(pool["replicaCount"] for pool in pools)
    per_machine = [bound.vcpus(pool["machineSpec"]["machineType"]) for pool in pools]
    hours = 10 * 7 * 24
    unset = scheduling.Scheduling({}, None, "SPOT")
    line = bound.line(
        bound.of_pools(pools, None), unset, {"maxTrialCount": 10, "parallelTrialCount": 2}
    )
    machine_hours = f"{machines * hours:,} machine-hours"
    if None in per_machine:
        cpu = "unknown vCPU-hours"
    else:
        vcpus = sum(n * pool["replicaCount"] for n, pool in zip(per_machine, pools, strict=True))
        cpu = f"{vcpus * hours:,} vCPU-hours"
    assert line.startswith(f"Bound: 10 trials x {machines} machine")
    assert f" x 7d = {machine_hours}, {cpu}" in line
    assert line.endswith(
        f" (2 trials, {2 * machines} machines at a time); SPOT capacity, no timeout set: "
        "Vertex AI's limit, 7d per trial"
    )
