"""Which `tf.distribute` strategy the job trains under, read from the environment.

| the environment                                              | strategy                    |
|--------------------------------------------------------------|-----------------------------|
| a Cloud TPU (`TPU_NAME`, or TPU chips on this VM)            | TPUStrategy                 |
| a cluster of 2+ training tasks (`TF_CONFIG`, `CLUSTER_SPEC`) | MultiWorkerMirroredStrategy |
| 2+ GPUs on this machine                                      | MirroredStrategy            |
| anything else                                                | the default strategy        |

Vertex AI sets `TF_CONFIG` and `CLUSTER_SPEC` on every replica of a distributed job;
`gcloud ai-platform local train --distributed` sets `TF_CONFIG` for each local process.
Only the chief writes the job's outputs: other workers write to temporary directories
(`worker_dirs`), the pattern TensorFlow documents for MultiWorkerMirroredStrategy.

TensorFlow is imported only by the functions that need it: `trainer.task` and, through
`trainer.trial`, the workstation's tools import this module, and `python -m trainer.task --help`
returns without loading TensorFlow (3 s; tests/test_task.py).
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

DEFAULT = "default"
MIRRORED = "mirrored"
MULTI_WORKER_MIRRORED = "multi_worker_mirrored"
TPU = "tpu"

# The task types that train; `master` is TF1's name for the chief.
TRAINING_TASKS = ("chief", "master", "worker")
# Vertex AI's worker pools as CLUSTER_SPEC names them, and the TF_CONFIG task type of each.
VERTEX_POOLS = {
    "workerpool0": "chief",
    "workerpool1": "worker",
    "workerpool2": "ps",
    "workerpool3": "evaluator",
}
# Environment variables that name a Cloud TPU node, in the order TPUClusterResolver reads them.
TPU_ENV_VARS = ("KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_NAME")
# Device files of TPU chips attached to this VM (TPU VMs, such as Vertex AI's ct5lp machines).
TPU_DEVICE_PATTERNS = ("/dev/accel[0-9]*", "/dev/vfio/[0-9]*")


class ClusterError(ValueError):
    """A cluster layout the trainer cannot train on; the message says what to change."""


@dataclass(frozen=True)
class Cluster:
    """The training cluster and this process's place in it."""

    jobs: dict[str, list[str]]  # task type -> addresses; no empty jobs
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return sum(len(self.jobs.get(task, [])) for task in TRAINING_TASKS)

    @property
    def is_chief(self) -> bool:
        """The chief, or worker 0 of a cluster without a chief (as TensorFlow decides)."""
        if self.task_type in ("chief", "master"):
            return True
        has_chief = any(task in self.jobs for task in ("chief", "master"))
        return self.task_type == "worker" and self.task_index == 0 and not has_chief

    def tf_config(self) -> str:
        """TF_CONFIG as TensorFlow reads it: the training tasks only, so no empty job (which
        crashes TF 2.21) and no evaluator (which is not part of a TensorFlow cluster)."""
        jobs = {task: self.jobs[task] for task in TRAINING_TASKS if task in self.jobs}
        task = {"type": self.task_type, "index": self.task_index}
        return json.dumps({"cluster": jobs, "task": task})


def read_cluster(env: Mapping[str, str]) -> Cluster | None:
    """The cluster in TF_CONFIG, else in Vertex AI's CLUSTER_SPEC; None when neither names one.

    Empty jobs are dropped: gcloud writes `"ps": []`, and TensorFlow 2.21 segfaults on it.
    """
    for name in ("TF_CONFIG", "CLUSTER_SPEC"):
        if env.get(name, "").strip():
            try:
                config = json.loads(env[name])
            except json.JSONDecodeError as err:
                raise ClusterError(f"{name} is not valid JSON: {err}") from None
            break
    else:
        return None
    jobs = {
        VERTEX_POOLS.get(job, job): list(addresses)
        for job, addresses in (config.get("cluster") or {}).items()
        if addresses
    }
    task = config.get("task") or {}
    if not jobs or "type" not in task:
        return None  # `gcloud ai-platform local train` without --distributed: no cluster
    task_type = VERTEX_POOLS.get(task["type"], task["type"])
    return Cluster(jobs, task_type, int(task.get("index", 0)))


def tpu_address(env: Mapping[str, str], device_files: Sequence[str]) -> str | None:
    """The TPU to connect to: a TPU node's name or endpoints from the environment, "local" for
    chips on this VM, or None for no TPU."""
    for name in TPU_ENV_VARS:
        if env.get(name):
            return env[name]
    return "local" if device_files else None


@dataclass(frozen=True)
class Plan:
    """The strategy to create, and why."""

    kind: str
    cluster: Cluster | None = None
    tpu: str | None = None
    gpus: int = 0

    @property
    def is_chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief

    def describe(self) -> str:
        if self.kind == TPU:
            return (
                f"TPUStrategy on {'the TPU chips of this VM' if self.tpu == 'local' else self.tpu}"
            )
        if self.kind == MULTI_WORKER_MIRRORED:
            cluster = self.cluster
            role = "the chief" if cluster.is_chief else "a worker"
            return (
                f"MultiWorkerMirroredStrategy over {cluster.num_workers} workers; this is "
                f"{role} ({cluster.task_type} {cluster.task_index})"
            )
        if self.kind == MIRRORED:
            return f"MirroredStrategy over {self.gpus} GPUs"
        gpus = f"{self.gpus} GPU" if self.gpus == 1 else f"{self.gpus or 'no'} GPUs"
        return f"the default strategy (one process, {gpus})"


def choose(env: Mapping[str, str], gpus: int = 0, tpu_devices: Sequence[str] = ()) -> Plan:
    """The strategy for this environment: see the table at the top of this module."""
    cluster = read_cluster(env)
    if cluster is not None:
        if cluster.task_type not in TRAINING_TASKS:
            raise ClusterError(
                f"this process is a '{cluster.task_type}' task; the trainer runs only chief and "
                "worker tasks. Give the job no parameter servers or evaluators "
                "(gcloud: --parameter-server-count 0 --evaluator-count 0)."
            )
        if "ps" in cluster.jobs:
            raise ClusterError(
                "the cluster has parameter servers, which Keras 3 `fit` cannot train with "
                "(keras-team/keras#18624). Use workers only "
                "(gcloud: --parameter-server-count 0; Vertex AI: no worker pool 2)."
            )
    tpu = tpu_address(env, tpu_devices)
    if tpu is not None:
        return Plan(TPU, cluster, tpu=tpu, gpus=gpus)
    if cluster is not None and cluster.num_workers > 1:
        return Plan(MULTI_WORKER_MIRRORED, cluster, gpus=gpus)
    if gpus > 1:
        return Plan(MIRRORED, cluster, gpus=gpus)
    return Plan(DEFAULT, cluster, gpus=gpus)


def is_chief(env: Mapping[str, str] = os.environ) -> bool:
    """Whether this process writes the job's outputs (and reports tuning metrics)."""
    cluster = read_cluster(env)
    return cluster is None or cluster.is_chief


def _local_tpu_devices() -> list[str]:
    return [path for pattern in TPU_DEVICE_PATTERNS for path in glob.glob(pattern)]


def strategy_from_environment(env: MutableMapping[str, str] = os.environ):
    """Chooses, logs and creates the strategy; returns (strategy, plan).

    A cluster's TF_CONFIG is rewritten without empty jobs before TensorFlow reads it
    (and written from CLUSTER_SPEC when Vertex AI set only that).
    """
    import tensorflow as tf  # noqa: PLC0415 -- TensorFlow: see the docstring

    from trainer import keras_compat  # noqa: PLC0415 -- it imports Keras: see the docstring

    gpus = len(tf.config.list_physical_devices("GPU"))
    plan = choose(env, gpus, _local_tpu_devices())
    logging.info("Distribution: %s", plan.describe())

    if plan.kind == TPU:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=plan.tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver), plan
    if plan.kind == MULTI_WORKER_MIRRORED:
        env["TF_CONFIG"] = plan.cluster.tf_config()
        # TensorFlow logs each collective op it builds: a screenful per traced function.
        logging.getLogger("tensorflow").setLevel(logging.WARNING)
        keras_compat.patch_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy(), plan
    if plan.kind == MIRRORED:
        return tf.distribute.MirroredStrategy(), plan
    return tf.distribute.get_strategy(), plan


def worker_share(strategy) -> tuple[int, int] | None:
    """(this worker's index, the number of workers) under MultiWorkerMirroredStrategy, the chief
    first as TensorFlow numbers them; None under any other strategy. Each worker reads its own
    share of the data by it (`trainer.inputs.own_files`)."""
    import tensorflow as tf  # noqa: PLC0415 -- TensorFlow: see the docstring

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    tasks = [(task, i) for task in TRAINING_TASKS for i in range(len(jobs.get(task, [])))]
    return tasks.index((resolver.task_type, resolver.task_id)), len(tasks)


def wait_for_all_workers(strategy) -> None:
    """Returns once every worker of the cluster gets here (at once outside a cluster).

    Launchers end a job when its chief exits, stopping the other workers wherever they are:
    the chief waits, so that they finish writing and delete their temporary directories.
    """
    import tensorflow as tf  # noqa: PLC0415 -- TensorFlow: see the docstring

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1)), axis=None)


@contextlib.contextmanager
def worker_dirs(
    chief: bool, outputs: Mapping[str, str], resume: str | None = None
) -> Iterator[dict[str, str]]:
    """The output paths this process writes to.

    The chief gets `outputs` as they are. Any other worker gets the same names under a local
    temporary directory, deleted on exit: it must still write (saving may need every worker),
    but its files are not the job's. `resume` names the entry (the checkpoint directory) whose
    contents are copied in first, so that every worker resumes from the chief's saved state.
    """
    if chief:
        yield dict(outputs)
        return
    import tensorflow as tf  # noqa: PLC0415 -- TensorFlow (docstring); tf.io.gfile reads gs:// too

    scratch = tempfile.mkdtemp(prefix="worker-")
    try:
        paths = {
            name: os.path.join(scratch, os.path.basename(path.rstrip("/")) or name)
            for name, path in outputs.items()
        }
        source = outputs.get(resume) if resume else None
        if source and tf.io.gfile.isdir(source):
            tf.io.gfile.makedirs(paths[resume])
            for name in tf.io.gfile.listdir(source):
                if not tf.io.gfile.isdir(f"{source.rstrip('/')}/{name}"):
                    tf.io.gfile.copy(
                        f"{source.rstrip('/')}/{name}", os.path.join(paths[resume], name)
                    )
        yield paths
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
