"""Serving's logic, without the cloud: config/serving.yaml and its checks, the gcloud commands,
the order in which an endpoint is emptied, the model directory's checks, and the prediction
request and table. (The template's own tests send these through the real gcloud.)"""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest
import yaml

from workflow.cloud.settings import ConfigError, load_settings
from workflow.serving import commands, config, model_dir, predict, vertex

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
