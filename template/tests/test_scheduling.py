"""A job's scheduling and identity, before anything is sent: durations as people write them and
as Vertex AI takes them, the layers (config/cloud.yaml, the tier, the run), and what Vertex AI
would reject."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from workflow.cloud import scheduling, tiers
from workflow.cloud.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = load_settings(ROOT / "config", environ={})
L4 = {"machineType": "g2-standard-8", "acceleratorType": "NVIDIA_L4", "acceleratorCount": 1}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("24h", 86400), ("7d", 604800), ("3600s", 3600), ("1h30m", 5400), ("0s", 0)],
)
def test_durations_are_written_as_people_write_them_and_sent_in_seconds(text, seconds):
    assert scheduling.parse_duration("--timeout", text) == seconds
    assert scheduling.vertex_duration(seconds) == f"{seconds}s"


@pytest.mark.parametrize("text", ["90", "2 weeks", "1.5h", "h", "", 3600, None])
def test_a_duration_that_does_not_parse_is_refused_with_examples(text):
    with pytest.raises(ConfigError, match=r"--timeout: .* is not a duration; write it like 90m"):
        scheduling.parse_duration("--timeout", text)


def test_the_project_defaults_to_a_day_and_no_strategy():
    chosen = scheduling.resolve([("config/cloud.yaml: scheduling", SETTINGS.scheduling)])
    assert chosen.fields == {"timeout": "86400s"}
    assert (chosen.timeout_seconds, chosen.strategy) == (86400, "STANDARD")


def test_a_later_layer_wins_field_by_field():
    chosen = scheduling.resolve(
        [
            ("project", {"timeout": "24h", "restartJobOnWorkerRestart": True}),
            ("tier", {"strategy": "FLEX_START", "maxWaitDuration": "30m"}),
            scheduling.run_layer(spot=False, flex_start=False, max_wait=None, timeout="2h"),
        ]
    )
    assert chosen.fields == {
        "strategy": "FLEX_START",
        "timeout": "7200s",
        "maxWaitDuration": "1800s",
        "restartJobOnWorkerRestart": True,
    }
    # Another strategy for the run drops the wait, which only FLEX_START has.
    spot = scheduling.resolve(
        [
            ("tier", {"strategy": "FLEX_START", "maxWaitDuration": "30m"}),
            scheduling.run_layer(spot=True, flex_start=False, max_wait=None, timeout=None),
        ]
    )
    assert spot.fields == {"strategy": "SPOT"}


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"strategy": "LOW_COST"}, "strategy LOW_COST is deprecated; write SPOT"),
        ({"strategy": "CHEAP"}, "strategy must be one of STANDARD, SPOT, FLEX_START"),
        ({"maxWaitDuration": "1h"}, "set strategy: FLEX_START beside it"),
        ({"disableRetries": "yes"}, "disableRetries must be true or false"),
        ({"timeOut": "1h"}, "unknown timeOut"),
        ({"timeout": "8d"}, "tier: timeout: 8d is outside Vertex AI's limit: give more than 0s"),
        ({"timeout": "0s"}, "tier: timeout: 0s is outside Vertex AI's limit"),
    ],
)
def test_fields_vertex_ai_would_reject_are_refused(layer, message):
    with pytest.raises(ConfigError, match=message):
        scheduling.resolve([("tier", layer)])


def test_max_wait_needs_flex_start():
    with pytest.raises(ConfigError, match="--max-wait is how long --flex-start waits"):
        scheduling.run_layer(spot=False, flex_start=False, max_wait="1h", timeout=None)


def test_flex_start_takes_the_same_gpu_machine_in_every_pool():
    pools = [{"machineSpec": L4, "replicaCount": 1}, {"machineSpec": L4, "replicaCount": 3}]
    scheduling.check_flex_start("MY_TIER", pools)
    mixed = [pools[0], {"machineSpec": {**L4, "machineType": "g2-standard-16"}, "replicaCount": 3}]
    with pytest.raises(ConfigError, match="the same machine in every pool, but MY_TIER has"):
        scheduling.check_flex_start("MY_TIER", mixed)


@pytest.mark.parametrize("tier", list(tiers.load_tiers(ROOT / "config/tiers.yaml")))
def test_flex_start_refuses_a_tier_without_a_gpu_it_serves(tier):
    presets = tiers.load_tiers(ROOT / "config/tiers.yaml")
    pools = tiers.worker_pools(presets, tier)
    gpus = {pool["machineSpec"].get("acceleratorType") for pool in pools}
    if gpus <= set(scheduling.FLEX_START_GPUS) and len({str(p["machineSpec"]) for p in pools}) == 1:
        scheduling.check_flex_start(tier, pools)
    else:
        with pytest.raises(ConfigError, match="FLEX_START"):
            scheduling.check_flex_start(tier, pools)


def test_a_tensorboard_needs_a_service_account():
    board = "projects/p/locations/us-central1/tensorboards/1"
    with pytest.raises(ConfigError, match="a tensorboard needs a service_account too"):
        scheduling.identity_fields(replace(SETTINGS, tensorboard=board))
    account = "trainer@p.iam.gserviceaccount.com"
    fields = scheduling.identity_fields(
        replace(SETTINGS, tensorboard=board, service_account=account, enable_web_access=True)
    )
    assert fields == {"serviceAccount": account, "tensorboard": board, "enableWebAccess": True}
    with pytest.raises(ConfigError, match="is not a Vertex AI TensorBoard instance"):
        scheduling.identity_fields(
            replace(SETTINGS, tensorboard="my-board", service_account=account)
        )


def test_the_generated_project_sets_no_identity():
    assert scheduling.identity_fields(SETTINGS) == {}
