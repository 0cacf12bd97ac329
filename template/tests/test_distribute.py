"""Choosing the distribution strategy from the environment each launcher gives the trainer."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from trainer import distribute
from trainer.features import SCHEMA

from conftest import synthetic_rows, write_csv

# TensorFlow and Keras are imported by the tests that need them: the rest of this file checks the
# strategy's choice in milliseconds.
LOCAL_CLUSTER = {"chief": ["localhost:27182"], "ps": [], "worker": ["localhost:27183"]}


def gcloud_local_tf_config(task_type: str | None, index: int = 0) -> str:
    """TF_CONFIG as `gcloud ai-platform local train` writes it (with --distributed: a cluster)."""
    return json.dumps(
        {
            "job": {"job_name": "trainer.task", "args": ["--job-dir", "out"]},
            "task": {"type": task_type, "index": index} if task_type else {},
            "cluster": LOCAL_CLUSTER if task_type else {},
            "environment": "cloud",
        }
    )


def vertex_cluster_spec(task_type: str, index: int, workers: int = 2) -> str:
    """CLUSTER_SPEC as Vertex AI writes it on each replica."""
    pools = {"workerpool0": ["cmle-training-workerpool0-ab-0:2222"]}
    if workers:
        pools["workerpool1"] = [f"cmle-training-workerpool1-ab-{i}:2222" for i in range(workers)]
    return json.dumps(
        {
            "cluster": pools,
            "environment": "cloud",
            "task": {"type": task_type, "index": index, "trial": "1"},
            "job": {"workerPoolSpecs": []},
        }
    )


def test_no_cluster_is_the_default_strategy():
    plan = distribute.choose({})
    assert plan.kind == distribute.DEFAULT
    assert plan.is_chief


def test_gcloud_local_train_without_distributed_is_one_process():
    plan = distribute.choose({"TF_CONFIG": gcloud_local_tf_config(None)})
    assert plan.kind == distribute.DEFAULT
    assert plan.is_chief


def test_gcloud_distributed_chief_drops_the_empty_ps_job():
    plan = distribute.choose({"TF_CONFIG": gcloud_local_tf_config("chief")})
    assert plan.kind == distribute.MULTI_WORKER_MIRRORED
    assert plan.is_chief
    assert plan.cluster.num_workers == 2
    rewritten = json.loads(plan.cluster.tf_config())
    assert rewritten == {
        "cluster": {"chief": ["localhost:27182"], "worker": ["localhost:27183"]},
        "task": {"type": "chief", "index": 0},
    }


def test_gcloud_distributed_worker_is_not_the_chief():
    plan = distribute.choose({"TF_CONFIG": gcloud_local_tf_config("worker", 0)})
    assert plan.kind == distribute.MULTI_WORKER_MIRRORED
    assert not plan.is_chief
    assert "this is a worker (worker 0)" in plan.describe()


def test_vertex_tf_config_with_its_extra_fields():
    tf_config = {
        "cluster": {
            "chief": ["training-workerpool0-x-0:2222"],
            "worker": ["training-workerpool1-x-0:2222", "training-workerpool1-x-1:2222"],
        },
        "environment": "cloud",
        "job": {"workerPoolSpecs": []},
        "task": {"cloud": "abc", "index": 1, "trial": "3", "type": "worker"},
    }
    plan = distribute.choose({"TF_CONFIG": json.dumps(tf_config)})
    assert plan.kind == distribute.MULTI_WORKER_MIRRORED
    assert plan.cluster.num_workers == 3
    assert (plan.cluster.task_type, plan.cluster.task_index) == ("worker", 1)
    assert not plan.is_chief


def test_vertex_cluster_spec_alone_names_the_pools_as_tensorflow_does():
    plan = distribute.choose({"CLUSTER_SPEC": vertex_cluster_spec("workerpool1", 1)})
    assert plan.kind == distribute.MULTI_WORKER_MIRRORED
    assert not plan.is_chief
    assert json.loads(plan.cluster.tf_config()) == {
        "cluster": {
            "chief": ["cmle-training-workerpool0-ab-0:2222"],
            "worker": [
                "cmle-training-workerpool1-ab-0:2222",
                "cmle-training-workerpool1-ab-1:2222",
            ],
        },
        "task": {"type": "worker", "index": 1},
    }
    primary = distribute.choose({"CLUSTER_SPEC": vertex_cluster_spec("workerpool0", 0)})
    assert primary.is_chief


def test_vertex_single_replica_is_one_process():
    plan = distribute.choose({"CLUSTER_SPEC": vertex_cluster_spec("workerpool0", 0, workers=0)})
    assert plan.kind == distribute.DEFAULT
    assert plan.is_chief


def test_tf_config_wins_over_cluster_spec():
    env = {
        "TF_CONFIG": gcloud_local_tf_config("worker", 0),
        "CLUSTER_SPEC": vertex_cluster_spec("workerpool0", 0),
    }
    assert not distribute.choose(env).is_chief


def test_worker_zero_is_the_chief_of_a_cluster_without_one():
    cluster = {"worker": ["a:1", "b:1"]}
    for index, chief in ((0, True), (1, False)):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        assert distribute.is_chief({"TF_CONFIG": tf_config}) is chief


def test_parameter_servers_are_a_clear_error():
    tf_config = json.dumps(
        {"cluster": {"chief": ["a:1"], "ps": ["b:1"]}, "task": {"type": "chief", "index": 0}}
    )
    with pytest.raises(distribute.ClusterError, match=r"parameter servers.*keras#18624"):
        distribute.choose({"TF_CONFIG": tf_config})


@pytest.mark.parametrize("task_type", ["ps", "evaluator"])
def test_a_task_that_does_not_train_is_a_clear_error(task_type):
    tf_config = json.dumps(
        {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": task_type}}
    )
    with pytest.raises(distribute.ClusterError, match=f"'{task_type}' task"):
        distribute.choose({"TF_CONFIG": tf_config})


def test_malformed_tf_config_is_named():
    with pytest.raises(distribute.ClusterError, match="TF_CONFIG is not valid JSON"):
        distribute.choose({"TF_CONFIG": "{chief"})


def test_several_local_gpus_mirror():
    assert distribute.choose({}, gpus=2).kind == distribute.MIRRORED
    assert distribute.choose({}, gpus=1).kind == distribute.DEFAULT


def test_a_cluster_with_gpus_is_still_multi_worker():
    plan = distribute.choose({"TF_CONFIG": gcloud_local_tf_config("chief")}, gpus=4)
    assert plan.kind == distribute.MULTI_WORKER_MIRRORED


def test_tpu_detection():
    assert distribute.tpu_address({}, []) is None
    assert distribute.tpu_address({"TPU_NAME": "my-tpu"}, []) == "my-tpu"
    endpoints = {"KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS": "grpc://10.0.0.2:8470", "TPU_NAME": "x"}
    assert distribute.tpu_address(endpoints, []) == "grpc://10.0.0.2:8470"
    assert distribute.tpu_address({}, ["/dev/accel0"]) == "local"
    assert distribute.tpu_address({}, ["/dev/vfio/0"]) == "local"
    plan = distribute.choose({}, tpu_devices=["/dev/accel0"])
    assert (plan.kind, plan.tpu) == (distribute.TPU, "local")
    assert plan.describe() == "TPUStrategy on the TPU chips of this VM"
    # A TPU VM is one replica to Vertex AI, but its TF_CONFIG may still name a cluster.
    tpu_in_cluster = distribute.choose(
        {"TF_CONFIG": gcloud_local_tf_config("chief")}, tpu_devices=["/dev/accel0"]
    )
    assert tpu_in_cluster.kind == distribute.TPU


def test_the_choice_is_logged_once_and_tf_config_is_left_alone_outside_a_cluster(caplog):
    env = {"TF_CONFIG": gcloud_local_tf_config(None)}
    with caplog.at_level(logging.INFO):
        strategy, plan = distribute.strategy_from_environment(env)
    assert plan.kind == distribute.DEFAULT
    assert strategy.num_replicas_in_sync == 1
    assert env == {"TF_CONFIG": gcloud_local_tf_config(None)}
    assert [r.message for r in caplog.records if r.message.startswith("Distribution:")] == [
        "Distribution: the default strategy (one process, no GPUs)"
    ]


def test_the_chief_writes_the_job_outputs(tmp_path):
    outputs = {"model_dir": str(tmp_path / "model"), "metrics_path": str(tmp_path / "m.json")}
    with distribute.worker_dirs(True, outputs) as paths:
        assert paths == outputs


def test_other_workers_write_to_scratch_that_is_removed(tmp_path):
    checkpoints = tmp_path / "job" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "training_metadata.json").write_text('{"epoch": 2}')
    outputs = {
        "model_dir": str(tmp_path / "job" / "model"),
        "checkpoint_dir": str(checkpoints),
        "metrics_path": str(tmp_path / "job" / "metrics.json"),
    }
    with distribute.worker_dirs(False, outputs, resume="checkpoint_dir") as paths:
        scratch = Path(paths["model_dir"]).parent
        assert all(Path(path).parent == scratch for path in paths.values())
        assert not str(scratch).startswith(str(tmp_path / "job"))
        # A restarted worker resumes from the chief's saved state.
        assert (Path(paths["checkpoint_dir"]) / "training_metadata.json").read_text() == (
            '{"epoch": 2}'
        )
    assert not scratch.exists()
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["checkpoints"]


def test_the_keras_pin_is_a_version_the_multi_worker_fix_was_proven_on():
    from trainer import keras_compat  # noqa: PLC0415 -- Keras (see the top)

    root = Path(__file__).parent.parent
    if re.search(r"^container: '?prebuilt'?$", (root / "config/cloud.yaml").read_text(), re.M):
        pytest.skip("on a prebuilt image the submit refuses the tiers of several machines")
    requirements = (root / "requirements.txt").read_text()
    major, minor = re.search(r"^keras==(\d+)\.(\d+)\.", requirements, re.MULTILINE).groups()
    assert (int(major), int(minor)) in keras_compat.PROVEN_ON


def test_the_multi_worker_fix_is_left_out_on_other_keras_versions(monkeypatch, caplog):
    from trainer import keras_compat  # noqa: PLC0415 -- Keras (see the top)

    monkeypatch.setattr(keras_compat.keras, "__version__", "3.99.0")
    monkeypatch.setattr(keras_compat, "_patched", False)
    original = keras_compat.tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    assert keras_compat.patch_for_multi_worker() is False
    assert keras_compat.tf_trainer.TensorFlowTrainer._maybe_symbolic_build is original
    assert "not applied" in caplog.text


def test_vertex_evaluators_stay_out_of_the_tensorflow_cluster():
    spec = json.loads(vertex_cluster_spec("workerpool0", 0))
    spec["cluster"]["workerpool3"] = ["cmle-training-workerpool3-ab-0:2222"]
    plan = distribute.choose({"CLUSTER_SPEC": json.dumps(spec)})
    assert sorted(json.loads(plan.cluster.tf_config())["cluster"]) == ["chief", "worker"]
    spec["task"] = {"type": "workerpool3", "index": 0}
    with pytest.raises(distribute.ClusterError, match="'evaluator' task"):
        distribute.choose({"CLUSTER_SPEC": json.dumps(spec)})


def test_workers_read_the_same_order_so_their_shares_never_overlap(tmp_path):
    """Each worker keeps its share of every batch of the same stream (tf.data's DATA sharding):
    with the shared seed, every process reads the lines in the same order."""
    import tensorflow as tf  # noqa: PLC0415 -- TensorFlow (see the top)

    from trainer import inputs  # noqa: PLC0415 -- TensorFlow (see the top)

    files = [
        str(write_csv(tmp_path / f"part-{i}.csv", synthetic_rows(SCHEMA, 300, seed=i)))
        for i in range(3)
    ]
    classes = inputs.scan(files, SCHEMA).classes

    def one_epoch() -> str:
        dataset = inputs.make_dataset(
            files, SCHEMA, classes, 16, shuffle=True, seed=inputs.SHUFFLE_SEED
        )
        policy = dataset.options().experimental_distribute.auto_shard_policy
        assert policy == tf.data.experimental.AutoShardPolicy.DATA
        return repr([(features, label) for features, label in dataset.as_numpy_iterator()])

    assert one_epoch() == one_epoch()
