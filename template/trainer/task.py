"""The training job's entry point: `python -m trainer.task --train-files ... --eval-files ...`.

Job-level concerns live here: the command line, where outputs go (local paths, `gs://`, or the
`AIP_*` directories Vertex AI sets), and the call into `trainer.model`. TensorFlow is imported
only after the arguments are parsed, so `--help` and argument errors return at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from trainer import distribute, trial
from trainer.features import SCHEMA
from trainer.hparams import MODEL_TYPES, HParams
from trainer.kinds.numeric import MAX_BUCKETS


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _bucket_count(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_BUCKETS:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_BUCKETS}, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def _layer_sizes(text: str) -> tuple[int, ...]:
    """'64,32' -> (64, 32): a string, so that Vertex AI can tune it as a categorical value."""
    try:
        sizes = tuple(_positive_int(part) for part in text.split(","))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers, such as 64,32; not {text!r}"
        ) from None
    return sizes


def build_parser() -> argparse.ArgumentParser:
    defaults = HParams()
    parser = argparse.ArgumentParser(
        prog="python -m trainer.task",
        description=f"Train, evaluate and export the '{SCHEMA.label}' {SCHEMA.task_type} model.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data and outputs (local paths or gs:// URIs)")
    data.add_argument(
        "--train-files",
        nargs="+",
        required=True,
        metavar="FILE",
        help="training CSV files or glob patterns, each with a header row",
    )
    data.add_argument(
        "--eval-files",
        nargs="+",
        required=True,
        metavar="FILE",
        help="evaluation CSV files or glob patterns, each with a header row",
    )
    data.add_argument(
        "--stats-file",
        metavar="FILE",
        help="the training files' statistics, as `make prepare` writes them (data/stats.json, "
        "or its staged copy): training then starts without scanning the data first, once each "
        "file is checked to be the one described; without it, the trainer scans the data",
    )
    data.add_argument(
        "--job-dir",
        help="where checkpoints, logs, metrics and the model go; "
        "required unless Vertex AI sets AIP_MODEL_DIR",
    )

    model = parser.add_argument_group("hyperparameters (each can be tuned on Vertex AI)")
    model.add_argument(
        "--model-type", choices=MODEL_TYPES, default=defaults.model_type, help="the model family"
    )
    model.add_argument(
        "--num-epochs",
        type=_positive_int,
        default=defaults.num_epochs,
        help="passes over the training data (at most: early stopping may end sooner)",
    )
    model.add_argument(
        "--batch-size",
        type=_positive_int,
        default=defaults.batch_size,
        help="rows per training step",
    )
    model.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=defaults.learning_rate,
        help="Adam's learning rate",
    )
    model.add_argument(
        "--hidden-units",
        type=_layer_sizes,
        default=defaults.hidden_units,
        metavar="N[,N...]",
        help="layer widths of the deep part (dnn, wide_deep)",
    )
    model.add_argument(
        "--dropout",
        type=_fraction,
        default=defaults.dropout,
        help="dropout rate after each hidden layer",
    )
    model.add_argument(
        "--embedding-dim",
        type=_positive_int,
        default=defaults.embedding_dim,
        help="embedding width of each categorical feature (dnn, wide_deep)",
    )
    model.add_argument(
        "--cross-bins",
        type=_positive_int,
        default=defaults.cross_bins,
        help="hash buckets per crossed pair of features (wide_deep)",
    )
    model.add_argument(
        "--numeric-buckets",
        type=_bucket_count,
        default=defaults.numeric_buckets,
        help="quantile buckets of each numeric feature in the wide part (wide_deep); 0: none",
    )
    model.add_argument(
        "--hash-bins",
        type=_positive_int,
        default=defaults.hash_bins,
        help="hash bins of a categorical feature with more values than its max_vocabulary",
    )
    model.add_argument(
        "--early-stopping-patience",
        type=int,
        default=defaults.early_stopping_patience,
        help="epochs without a better validation loss before stopping; 0: never",
    )

    tuning = parser.add_argument_group("hyperparameter tuning (scripts/hptune.sh sets these)")
    metrics = trial.TUNING_METRICS[SCHEMA.task_type]
    tuning.add_argument(
        "--hypertune-metric",
        choices=metrics,
        default=metrics[0],
        help="the metric a tuning trial reports after each evaluation (the study's metricId)",
    )
    return parser


@dataclass(frozen=True)
class OutputPaths:
    model_dir: str
    checkpoint_dir: str
    tensorboard_dir: str
    metrics_path: str


def output_paths(job_dir: str | None, env: Mapping[str, str]) -> OutputPaths:
    """Where each output goes: Vertex AI's `AIP_*` directories when set, else under the job dir.

    In a tuning trial, every path is the trial's own (`trainer.trial`): Vertex AI's already are,
    and a job dir shared by the trials gets a subdirectory per trial.
    """
    trial_id = trial.trial_id(env)
    if job_dir is None:
        if "AIP_MODEL_DIR" not in env:
            raise ValueError("--job-dir is required when AIP_MODEL_DIR is not set")
        job_dir = os.path.dirname(trial.trial_output(env["AIP_MODEL_DIR"], trial_id).rstrip("/"))
    job_dir = trial.trial_dir(job_dir, trial_id)

    def vertex_or(name: str, default: str) -> str:
        return trial.trial_output(env[name], trial_id) if env.get(name) else default

    return OutputPaths(
        model_dir=vertex_or("AIP_MODEL_DIR", f"{job_dir}/model"),
        checkpoint_dir=vertex_or("AIP_CHECKPOINT_DIR", f"{job_dir}/checkpoints"),
        tensorboard_dir=vertex_or("AIP_TENSORBOARD_LOG_DIR", f"{job_dir}/logs"),
        metrics_path=f"{job_dir}/metrics.json",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        paths = output_paths(args.job_dir, os.environ)
    except ValueError as err:
        parser.error(str(err))
    hp = HParams(**{f.name: getattr(args, f.name) for f in fields(HParams)})

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    # TensorFlow (3 s) loads only once the job is valid, so that `--help` and argument errors
    # return at once (tests/test_task.py), and after the log level above, which it reads on import.
    from trainer import checkpoints, hypertune_report, inputs, model  # noqa: PLC0415

    logging.info("Hyperparameters: %s", hp)
    try:
        strategy, plan = distribute.strategy_from_environment()
        callbacks = []
        if trial.reports_metric(os.environ):  # the chief of a tuning trial
            logging.info("Tuning: reporting %s to Vertex AI", args.hypertune_metric)
            callbacks.append(hypertune_report.HypertuneReporter(args.hypertune_metric))
        # Only the chief writes the job's outputs; other workers write to scratch copies.
        with distribute.worker_dirs(plan.is_chief, asdict(paths), resume="checkpoint_dir") as out:
            model.train_and_evaluate(
                SCHEMA,
                args.train_files,
                args.eval_files,
                hp,
                strategy=strategy,
                callbacks=callbacks,
                stats_file=args.stats_file,
                **out,
            )
        distribute.wait_for_all_workers(strategy)
    except (inputs.DataError, checkpoints.CheckpointMismatchError, distribute.ClusterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
