"""Serving's logic, without the cloud: config/serving.yaml and its checks, the gcloud commands,
the order in which an endpoint is emptied, the model directory's checks, the prediction request
and table, the batch prediction job's body and checks, and the parity check's comparison. (The
template's own tests send these through the real gcloud, and run the parity check in both
TensorFlows.)"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from workflow.cloud.settings import ConfigError, load_settings
from workflow.serving import batch, commands, config, model_dir, parity, predict, vertex

ROOT = Path(__file__).resolve().parent.parent
SERVING_FILE = ROOT / config.DEFAULT_PATH


@pytest.fixture
def write_serving(tmp_path):
    """Writes config/serving.yaml with `changes` over the project's own; returns its path."""

    def write(**changes) -> Path:
        data = yaml.safe_load(SERVING_FILE.read_text()) | changes
        path = tmp_path / "serving.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def test_the_projects_serving_config_loads_on_the_cpu_image():
    serving = config.load(SERVING_FILE)
    assert serving.image.endswith("/vertex-ai/prediction/tf2-cpu.2-15:latest")
    assert serving.accelerator is None
    assert 1 <= serving.min_replica_count <= serving.max_replica_count
    assert 1 <= serving.batch.starting_replica_count <= serving.batch.max_replica_count


def test_the_gpu_variant_takes_the_gpu_image_and_the_accelerator(write_serving):
    gpu = yaml.safe_load(SERVING_FILE.read_text())["gpu"] | {"enabled": True}
    serving = config.load(write_serving(gpu=gpu))
    assert serving.image == gpu["image"]
    assert serving.accelerator == config.Accelerator(gpu["accelerator_type"], 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_replica_count": 2}, "max_replica_count (1) must not be below min_replica_count (2)"),
        ({"max_replica_count": 0}, "max_replica_count must be a whole number >= 1, not 0"),
        ({"min_replica_count": True}, "min_replica_count must be a whole number >= 1, not True"),
        ({"machine_tpye": "n1-standard-4"}, "unknown machine_tpye"),
        ({"image": ""}, "missing image"),
        ({"image": "tf2 cpu"}, "image 'tf2 cpu' is not a container image URI"),
        ({"labels": {"Team": "ml"}}, "label Team: 'ml' is not a Google Cloud label"),
        ({"labels": {"team": "ML Ops"}}, "label team: 'ML Ops' is not a Google Cloud label"),
        ({"model_display_name": "m" * 129}, "model_display_name is longer than 128 characters"),
        ({"gpu": {"enabled": "yes"}}, "gpu: missing image, accelerator_type, accelerator_count"),
        ({"batch": {"machine_type": "n1-standard-2"}}, "batch: missing starting_replica_count"),
        (
            {
                "batch": {
                    "machine_type": "n1-standard-2",
                    "starting_replica_count": 3,
                    "max_replica_count": 2,
                }
            },
            "batch: max_replica_count (2) must not be below starting_replica_count (3)",
        ),
    ],
)
def test_a_bad_serving_config_names_the_key(write_serving, changes, message):
    path = write_serving(**changes)
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    assert str(raised.value).startswith(f"{path}: {message}"), raised.value


def test_a_gpu_section_is_checked_even_when_disabled(write_serving):
    gpu = yaml.safe_load(SERVING_FILE.read_text())["gpu"]
    path = write_serving(gpu=gpu | {"accelerator_type": "nvidia-t4"})
    with pytest.raises(ConfigError, match="accelerator_type 'nvidia-t4' is not a Vertex AI"):
        config.load(path)


def test_label_values_follow_google_clouds_rules():
    assert config.label_value("Job #12 (rerun)") == "job--12--rerun-"
    assert len(config.label_value("x" * 100)) == 63


@pytest.fixture
def settings():
    return load_settings(ROOT / "config", environ={}), config.load(SERVING_FILE)


def test_every_command_names_the_project_and_region(settings):
    cloud, serving = settings
    built = [
        commands.describe_job(cloud, "123"),
        commands.list_models(cloud, serving),
        commands.list_model_versions(cloud, "5"),
        commands.upload_model(cloud, serving, "gs://b/m", {"project": "p"}, None),
        commands.list_endpoints(cloud, serving),
        commands.create_endpoint(cloud, serving),
        commands.describe_endpoint(cloud, "7"),
        commands.deploy_model(cloud, serving, "7", "5", "2"),
        commands.undeploy_model(cloud, "7", "9"),
        commands.delete_endpoint(cloud, "7"),
        commands.predict(cloud, "7", "request.json"),
    ]
    for args in built:
        assert args[args.index("--project") + 1] == cloud.project, args
        assert args[args.index("--region") + 1] == cloud.region, args


def test_deploy_gives_the_new_version_all_traffic_and_names_the_accelerator_as_gcloud_does(
    settings, write_serving
):
    cloud, serving = settings
    args = commands.deploy_model(cloud, serving, "7", "5", "2")
    assert args[args.index("--model") + 1] == "5@2"
    assert "--traffic-split=0=100" in args
    assert not any(arg.startswith("--accelerator") for arg in args)
    gpu = yaml.safe_load(SERVING_FILE.read_text())["gpu"] | {
        "enabled": True,
        "accelerator_type": "NVIDIA_TESLA_T4",
    }
    on_gpu = commands.deploy_model(cloud, config.load(write_serving(gpu=gpu)), "7", "5", "2")
    assert "--accelerator=type=nvidia-tesla-t4,count=1" in on_gpu


def test_the_display_name_filter_is_quoted_for_gcloud(settings):
    cloud, serving = settings
    named = dataclasses.replace(serving, model_display_name='my "best" model')
    args = commands.list_models(cloud, named)
    assert '--filter=displayName="my \\"best\\" model"' in args
    assert shlex.split(shlex.join(args)) == args


def test_upload_names_the_parent_model_only_for_a_new_version(settings):
    cloud, serving = settings
    first = commands.upload_model(cloud, serving, "gs://b/m", {"project": "p"}, None)
    assert "--parent-model" not in first
    assert first[first.index("--labels") + 1] == "project=p"
    parent = commands.model_name(cloud, "5")
    assert parent == f"projects/{cloud.project}/locations/{cloud.region}/models/5"
    again = commands.upload_model(cloud, serving, "gs://b/m", {"a": "1", "b": "2"}, parent)
    assert again[again.index("--parent-model") + 1] == parent
    assert again[again.index("--labels") + 1] == "a=1,b=2"


def endpoint(traffic: dict[str, int], *ids: str) -> dict:
    return {"deployedModels": [{"id": i} for i in ids], "trafficSplit": traffic}


@pytest.mark.parametrize(
    ("state", "keep", "steps"),
    [
        ({}, None, []),  # gcloud leaves out an empty endpoint's lists
        (endpoint({"1": 100}, "1"), None, [("1", None)]),
        # After a deploy, the old versions have no traffic left: they go, the new one stays.
        (endpoint({"2": 100}, "1", "2"), "2", [("1", None)]),
        # Traffic split by hand: each model with traffic hands it over before it goes.
        (
            endpoint({"1": 30, "2": 70}, "1", "2", "3"),
            None,
            [("3", None), ("1", {"2": 100}), ("2", None)],
        ),
        (endpoint({"1": 30, "3": 70}, "1", "2", "3"), "2", [("1", {"2": 100}), ("3", {"2": 100})]),
    ],
)
def test_an_endpoint_is_emptied_in_an_order_vertex_ai_accepts(state, keep, steps):
    assert vertex.undeploy_steps(state, keep) == steps


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("outputs/local/model", "outputs/local/model is not a gs:// URI"),
        (
            "gs://other/jobs/a/model",
            "gs://other/jobs/a/model is not in the project's bucket gs://b",
        ),
        ("gs://b/", "gs://b/ is the bucket itself"),
    ],
)
def test_the_model_directory_must_be_in_the_projects_bucket(uri, message):
    assert model_dir.problem("gs://b/jobs/a/model", "b") is None
    assert model_dir.problem(uri, "b").startswith(message)


def test_the_instances_become_one_prediction_request(tmp_path):
    instances = predict.read_instances(ROOT / "data/instances.json")
    lines = (ROOT / "data/instances.json").read_text().splitlines()
    assert instances == [json.loads(line) for line in lines if line.strip()]

    bad = tmp_path / "instances.json"
    bad.write_text('{"a": 1}\n\n{"a": 2,}\n')
    with pytest.raises(vertex.ServingError, match=rf"{bad}, line 3: not one JSON instance"):
        predict.read_instances(bad)
    bad.write_text("\n")
    with pytest.raises(vertex.ServingError, match="holds no instance"):
        predict.read_instances(bad)


def test_predictions_print_as_a_table_like_local_predict():
    table = predict.prediction_table(
        [
            {"classes": "Adelie", "probabilities": [0.9, 0.1]},
            {"classes": "Gentoo", "probabilities": [0.2, 0.8]},
        ]
    )
    assert table.splitlines() == [
        "CLASSES  PROBABILITIES",
        "Adelie   [0.9, 0.1]",
        "Gentoo   [0.2, 0.8]",
    ]
    assert predict.prediction_table([3.5, 4.25]) == "3.5\n4.25"


def test_a_batch_job_runs_the_model_version_on_the_batch_machines(settings, write_serving):
    _, serving = settings
    version = "projects/p/locations/r/models/5@2"
    body = batch.job_body(serving, version, ["gs://b/in/*.jsonl"], "gs://b/out", "a name")
    assert body == {
        "displayName": "a name",
        "model": version,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in/*.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://b/out"},
        },
        "dedicatedResources": {
            "machineSpec": {"machineType": serving.batch.machine_type},
            "startingReplicaCount": serving.batch.starting_replica_count,
            "maxReplicaCount": serving.batch.max_replica_count,
        },
        "labels": serving.labels,
    }
    gpu = yaml.safe_load(SERVING_FILE.read_text())["gpu"] | {"enabled": True}
    on_gpu = batch.job_body(config.load(write_serving(gpu=gpu)), version, [], "gs://b", "n")
    assert on_gpu["dedicatedResources"]["machineSpec"] == {
        "machineType": serving.batch.machine_type,
        "acceleratorType": gpu["accelerator_type"],
        "acceleratorCount": gpu["accelerator_count"],
    }


def test_a_batch_jobs_display_name_fits_vertex_ai(settings):
    _, serving = settings
    now = datetime(2026, 12, 2, 10, 11, 12, tzinfo=timezone.utc)
    assert batch.display_name(serving, now) == f"{serving.model_display_name} batch 20261202-101112"
    long = dataclasses.replace(serving, model_display_name="m" * 128)
    name = batch.display_name(long, now)
    assert len(name) == 128 and name.endswith(" batch 20261202-101112")


@pytest.mark.parametrize(
    ("uri", "role", "message"),
    [
        ("gs://b-b/in/*.jsonl", "input", None),
        ("gs://b-b", "output", None),
        ("data/instances.json", "input", "the input data/instances.json is not a gs:// URI"),
        ("gs://b-b/", "input", "the input gs://b-b/ is a whole bucket"),
        ("gs://b-b/data/eval.CSV", "input", "the input gs://b-b/data/eval.CSV is a CSV file"),
        ("gs://Upper/out", "output", "the output gs://Upper/out: 'Upper' is not a valid bucket"),
    ],
)
def test_batch_inputs_and_outputs_are_gs_uris_of_valid_buckets(uri, role, message):
    found = batch.uri_problem(uri, role)
    assert found == message if message is None else found.startswith(message), found


@pytest.mark.parametrize(
    ("create_time", "directory"),
    [
        ("2026-12-02T10:11:12Z", "2026-12-02T10:11:12.000Z"),
        ("2026-12-02T10:11:12.5Z", "2026-12-02T10:11:12.500Z"),
        ("2026-12-02T10:11:12.123456789Z", "2026-12-02T10:11:12.123Z"),
        (None, "<created>"),
    ],
)
def test_batch_results_land_in_a_directory_named_after_the_model_and_the_jobs_creation(
    create_time, directory
):
    assert batch.results_directory("gs://b/out/", "m", create_time) == (
        f"gs://b/out/prediction-m-{directory}/"
    )


def test_the_parity_check_reads_the_tensorflow_of_the_prediction_image():
    image = config.load(SERVING_FILE).image
    assert parity.serving_tensorflow(image) == "2.15"
    gpu = "asia-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest"
    assert parity.serving_tensorflow(gpu) == "2.15"
    assert parity.serving_tensorflow("europe-docker.pkg.dev/p/serving/tf-serving:2.21") is None
    assert parity.pip_requirement("2.15").endswith("==2.15.*")


CLASSIFIED = {"classes": ["Adelie", "Gentoo"], "probabilities": [[0.9, 0.1], [0.2, 0.8]]}


@pytest.mark.parametrize(
    ("served", "ok", "details"),
    [
        (CLASSIFIED, True, ["identical", "max abs difference 0"]),
        (
            CLASSIFIED | {"probabilities": [[0.9, 0.1], [0.2, 0.800004]]},
            True,
            ["identical", "max abs difference 4e-06"],
        ),
        (
            {"classes": ["Adelie", "Adelie"], "probabilities": [[0.9, 0.1], [0.6, 0.4]]},
            False,
            [
                "differ on 1 of 2, first at index 1 ('Gentoo' trained, 'Adelie' served)",
                "max abs difference 0.4 > 1e-05",
            ],
        ),
        ({"classes": ["Adelie", "Gentoo"]}, False, ["identical", "not served"]),
        (
            CLASSIFIED | {"probabilities": [[0.9, 0.1]]},
            False,
            ["identical", "4 values trained, 2 served"],
        ),
    ],
    ids=["same", "within-tolerance", "other-class", "missing-output", "other-shape"],
)
def test_the_parity_check_wants_identical_strings_and_numbers_within_tolerance(served, ok, details):
    differences = parity.compare(CLASSIFIED, served, 1e-5)
    assert [d.name for d in differences] == ["classes", "probabilities"]
    assert [d.detail for d in differences] == details
    assert all(d.ok for d in differences) is ok


def test_the_parity_check_takes_nan_on_both_sides_as_equal():
    (same,) = parity.compare({"predictions": [math.nan, 1.0]}, {"predictions": [math.nan, 1.0]}, 0)
    assert same.ok
    (other,) = parity.compare({"predictions": [math.nan]}, {"predictions": [1.0]}, 1e-5)
    assert not other.ok and other.max_difference == math.inf


def test_a_custom_serving_image_leaves_nothing_to_compare(write_serving, tmp_path, capsys):
    path = write_serving(image="europe-docker.pkg.dev/p/serving/tf-serving:2.21")
    args = argparse.Namespace(venv=tmp_path / "venv", model_dirs=["outputs/local/model"])
    parity.check(args, path)
    assert "Nothing to compare: europe-docker.pkg.dev/p/serving/tf-serving:2.21" in (
        capsys.readouterr().out
    )
    assert not args.venv.exists()
