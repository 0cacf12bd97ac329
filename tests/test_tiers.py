"""The scale-tier presets against the mapping the project decided (DESIGN §2), written out here
rather than read from config/tiers.yaml, the file under test: `scripts/submit.sh TIER --dry-run`
on a rendered project, with an empty gcloud configuration, prints each tier's job spec, and its
worker pools must be the table's."""

from __future__ import annotations

import pytest
import yaml

from conftest import VENV_BIN, render, run


def pool(machine_type: str, replicas: int = 1, **machine) -> dict:
    return {"machineSpec": {"machineType": machine_type, **machine}, "replicaCount": replicas}


# Pool 0 is the chief, pool 1 the workers; no tier has parameter servers or evaluators.
EXPECTED_POOLS = {
    "BASIC": [pool("n1-standard-4")],
    "STANDARD_1": [pool("n1-highcpu-8"), pool("n1-highcpu-8", 4)],
    "PREMIUM_1": [pool("n1-highcpu-16"), pool("n1-highcpu-16", 19)],
    "BASIC_GPU": [
        pool("n1-standard-8", acceleratorType="NVIDIA_TESLA_T4", acceleratorCount=1),
    ],
    # A TPU v5e VM with 4 chips.
    "BASIC_TPU": [pool("ct5lp-hightpu-4t", tpuTopology="2x2")],
}
# The TensorFlow build each tier's image is built for: its tag ends in -<variant>.
EXPECTED_VARIANT = {
    "BASIC": "cpu",
    "STANDARD_1": "cpu",
    "PREMIUM_1": "cpu",
    "BASIC_GPU": "gpu",
    "BASIC_TPU": "tpu",
    "CUSTOM": "cpu",
}
# CUSTOM is the team's own values: these, written into its preset by the test.
TEAM_CUSTOM = {
    "chief": {"machineType": "n2-standard-16"},
    "workers": {"machineType": "e2-standard-8", "replicaCount": 3},
    "parameter_servers": {"machineType": "n1-standard-4", "replicaCount": 0},
    "evaluators": {"machineType": "n1-standard-4", "replicaCount": 0},
}


@pytest.fixture(scope="module")
def project(template, tmp_path_factory):
    return render(template, tmp_path_factory.mktemp("tiers") / "project")


def dry_run(project, tmp_path, *args: str, check: bool = True):
    """`scripts/submit.sh ... --dry-run` with a gcloud configuration that holds nothing."""
    config = tmp_path / "gcloud"
    config.mkdir(exist_ok=True)
    return run(
        ["scripts/submit.sh", *args, "--dry-run"],
        cwd=project,
        env={
            "CLOUDSDK_CONFIG": str(config),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "PYTHON": str(VENV_BIN / "python"),
        },
        check=check,
    )


def printed_spec(output: str) -> dict:
    """The job spec the dry run prints after its `gcloud ai custom-jobs create` line."""
    lines = output.splitlines()
    (create,) = [i for i, line in enumerate(lines) if line.startswith("gcloud ai custom-jobs")]
    return yaml.safe_load("\n".join(lines[create + 1 :]))


def machines_and_replicas(spec: dict) -> list[dict]:
    return [
        {"machineSpec": p["machineSpec"], "replicaCount": p["replicaCount"]}
        for p in spec["workerPoolSpecs"]
    ]


def assert_every_pool_runs_the_trainer_image(spec: dict, variant: str) -> None:
    containers = [p["containerSpec"] for p in spec["workerPoolSpecs"]]
    for container in containers:
        assert container["imageUri"].endswith(f"-{variant}"), container["imageUri"]
        assert container["command"] == ["python", "-m", "trainer.task"], container
    assert len({c["imageUri"] for c in containers}) == 1, "the pools run different images"


def test_the_table_covers_every_tier_the_project_offers(project):
    offered = yaml.safe_load((project / "config/tiers.yaml").read_text())
    assert sorted(offered) == sorted([*EXPECTED_POOLS, "CUSTOM"])


@pytest.mark.parametrize("tier", EXPECTED_POOLS)
def test_each_tier_runs_the_designed_worker_pools(project, tmp_path, tier):
    spec = printed_spec(dry_run(project, tmp_path, tier).stdout)
    assert machines_and_replicas(spec) == EXPECTED_POOLS[tier]
    assert_every_pool_runs_the_trainer_image(spec, EXPECTED_VARIANT[tier])


def test_the_tpu_tier_runs_the_custom_container_even_when_prebuilt_is_asked(project, tmp_path):
    result = dry_run(project, tmp_path, "BASIC_TPU", "--container", "prebuilt")
    assert "BASIC_TPU runs on TPUs: using the custom container" in result.stderr
    spec = printed_spec(result.stdout)
    assert machines_and_replicas(spec) == EXPECTED_POOLS["BASIC_TPU"]
    assert_every_pool_runs_the_trainer_image(spec, "tpu")


def with_custom(project, custom: dict) -> None:
    tiers_file = project / "config/tiers.yaml"
    presets = yaml.safe_load(tiers_file.read_text())
    presets["CUSTOM"] = custom
    tiers_file.write_text(yaml.safe_dump(presets, sort_keys=False))


@pytest.fixture
def own_project(template, tmp_path):
    """A project of this test's own, for tests that edit config/tiers.yaml."""
    return render(template, tmp_path / "project")


def test_custom_runs_the_teams_own_machines(own_project, tmp_path):
    with_custom(own_project, TEAM_CUSTOM)
    spec = printed_spec(dry_run(own_project, tmp_path, "CUSTOM").stdout)
    assert machines_and_replicas(spec) == [pool("n2-standard-16"), pool("e2-standard-8", 3)]
    assert_every_pool_runs_the_trainer_image(spec, EXPECTED_VARIANT["CUSTOM"])


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        ({"parameter_servers": {"machineType": "n1-standard-4"}}, "only chief and worker tasks"),
        # Evaluators after no parameter servers leave a gap, which is refused first.
        ({"evaluators": {"machineType": "n1-standard-4"}}, "come after an empty parameter_ser"),
    ],
    ids=["parameter_servers", "evaluators"],
)
def test_custom_refuses_parameter_servers_and_evaluators(own_project, tmp_path, pools, message):
    with_custom(own_project, {**TEAM_CUSTOM, **pools})
    refused = dry_run(own_project, tmp_path, "CUSTOM", check=False)
    assert refused.returncode != 0
    assert message in refused.stderr, refused.stderr
    assert "gcloud ai custom-jobs" not in refused.stdout


@pytest.mark.parametrize("tier", ["STANDARD_1", "PREMIUM_1"])
def test_a_prebuilt_image_is_refused_for_several_machines(project, tmp_path, tier):
    """A prebuilt image runs its own Keras, which the multi-worker fix does not cover: the
    submit refuses before anything is built or sent, and names the way out."""
    result = dry_run(project, tmp_path, tier, "--container", "prebuilt", check=False)
    assert result.returncode == 1
    assert f"error: {tier} trains on several machines" in result.stderr
    assert "--container custom" in result.stderr
