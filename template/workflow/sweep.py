"""A local hyperparameter sweep over the study in config/hptuning.yaml (`make hptune-local`):

    python -m workflow.sweep [--trials N] [--parallel K] [--seed S] [--algorithm grid|random]
        [--num-epochs E] [--train-files F ...] [--eval-files F ...] [--output-dir DIR]
        [-- TRAINER_ARGS...]

It reads the same config as `scripts/hptune.sh`, samples N trials from its parameters, and runs
each as its own `python -m trainer.task` process, K at a time, as Vertex AI runs trials: with
`CLOUD_ML_TRIAL_ID` set, so that the trainer writes to its own `<output-dir>/<trial>/`, and with
`CLOUD_ML_HP_METRIC_FILE` pointing into that directory, where cloudml-hypertune writes the metric.
The ranking comes from those files. Bayesian optimization (Vertex AI's default algorithm) has no
local equivalent: the sweep samples at random then, or walks a grid.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import random
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from trainer import trial as trial_paths
from workflow.cloud import hptuning
from workflow.cloud.settings import ConfigError
from workflow.shards import DATA_DIR

ALGORITHMS = ("random", "grid")
METRIC_FILE = "hypertune.metrics"
LOG_FILE = "train.log"
RESULTS_FILE = "results.csv"
# Vertex AI's directories and cluster: a trial of the sweep is one local process.
CLOUD_ONLY_ENV = (
    "AIP_MODEL_DIR",
    "AIP_CHECKPOINT_DIR",
    "AIP_TENSORBOARD_LOG_DIR",
    "TF_CONFIG",
    "CLUSTER_SPEC",
)
SIGNIFICANT_DIGITS = 4  # sampled real values, so that the table shows exactly what ran


# ---------------------------------------------------------------- sampling


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _from_unit(u: float, low: float, high: float, scale: str | None) -> float:
    """The point at `u` in [0, 1] along [low, high] on the parameter's scale: even steps for a
    linear scale, even ratios for a log scale, and a log scale mirrored (denser near `high`)
    for a reverse log scale."""
    if scale == "UNIT_LOG_SCALE":
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    if scale == "UNIT_REVERSE_LOG_SCALE":
        return low + high - _from_unit(1 - u, low, high, "UNIT_LOG_SCALE")
    return low + u * (high - low)


def _spec(parameter: dict) -> tuple[str, dict]:
    (kind,) = [key for key in hptuning.VALUE_SPECS if key in parameter]
    return kind, parameter[kind]


def _value_at(parameter: dict, u: float):
    kind, spec = _spec(parameter)
    low, high = spec["minValue"], spec["maxValue"]
    value = _from_unit(u, low, high, parameter.get("scaleType"))
    if kind == "integerValueSpec":
        return min(max(round(value), low), high)
    return min(max(_round(value), low), high)


def random_value(parameter: dict, rng: random.Random):
    kind, spec = _spec(parameter)
    if kind in ("discreteValueSpec", "categoricalValueSpec"):
        return rng.choice(spec["values"])
    return _value_at(parameter, rng.random())


def grid_values(parameter: dict, points: int) -> list:
    """Every value of a listed parameter; `points` values spread over a range (all the whole
    numbers of an integer range that has no more than that)."""
    kind, spec = _spec(parameter)
    if kind in ("discreteValueSpec", "categoricalValueSpec"):
        return list(spec["values"])
    if kind == "integerValueSpec" and spec["maxValue"] - spec["minValue"] < points:
        return list(range(spec["minValue"], spec["maxValue"] + 1))
    steps = [i / (points - 1) for i in range(points)] if points > 1 else [0.5]
    return sorted({_value_at(parameter, u) for u in steps})


def sample_trials(
    parameters: list[dict], n: int, algorithm: str, seed: int, grid_points: int = 3
) -> list[dict]:
    """Up to `n` distinct settings {parameterId: value}, the same for the same seed. A grid
    smaller than `n` is walked whole; a larger one gives `n` of its points, chosen by the seed."""
    rng = random.Random(seed)
    ids = [parameter["parameterId"] for parameter in parameters]
    if algorithm == "grid":
        points = list(
            itertools.product(*(grid_values(parameter, grid_points) for parameter in parameters))
        )
        if len(points) > n:
            points = [points[i] for i in sorted(rng.sample(range(len(points)), n))]
        return [dict(zip(ids, point, strict=True)) for point in points]
    trials, seen = [], set()
    for _ in range(100 * n):
        if len(trials) == n:
            break
        point = tuple(random_value(parameter, rng) for parameter in parameters)
        if point not in seen:
            seen.add(point)
            trials.append(dict(zip(ids, point, strict=True)))
    return trials


def flag_args(params: dict) -> list[str]:
    """`--<parameterId>=<value>`, as Vertex AI passes each parameter to a trial."""
    return [f"--{name}={value}" for name, value in params.items()]


# ---------------------------------------------------------------- results


def read_metric_file(path: Path, metric: str) -> list[tuple[int, float]]:
    """(global_step, value) of each report of `metric` that cloudml-hypertune wrote, in order."""
    reports = []
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)
            if metric in entry:
                reports.append((int(entry.get("global_step") or 0), float(entry[metric])))
    return reports


def final_measurement(
    reports: list[tuple[int, float]], goal: str, selection: str | None
) -> tuple[int, float]:
    """The report Vertex AI would take as the trial's result: the last one, unless the study's
    measurementSelectionType is BEST_MEASUREMENT."""
    if selection == "BEST_MEASUREMENT":
        pick = max if goal == "MAXIMIZE" else min
        return pick(reports, key=lambda report: report[1])
    return reports[-1]


@dataclass
class Trial:
    id: str
    params: dict
    job_dir: Path
    status: str = "pending"  # then: done, failed, skipped
    seconds: float = 0.0
    step: int | None = None
    value: float | None = None
    note: str = ""

    @property
    def metric_file(self) -> Path:
        return self.job_dir / METRIC_FILE

    @property
    def log_file(self) -> Path:
        return self.job_dir / LOG_FILE


@dataclass
class Sweep:
    config: dict
    trials: list[Trial]
    command: list[str]  # the trainer command every trial shares; each adds its own flags
    output_dir: Path
    parallel: int
    algorithm: str
    fixed_args: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return hptuning.metric(self.config)[0]

    @property
    def goal(self) -> str:
        return hptuning.metric(self.config)[1]

    def ranked(self, trials: Sequence[Trial] | None = None) -> list[Trial]:
        """Finished trials best first (ties: the earlier trial), then the others by id."""
        trials = self.trials if trials is None else trials
        sign = -1 if self.goal == "MAXIMIZE" else 1
        done = sorted(
            (t for t in trials if t.status == "done"), key=lambda t: (sign * t.value, int(t.id))
        )
        return done + [t for t in trials if t.status != "done"]

    def best(self, trials: Sequence[Trial] | None = None) -> Trial | None:
        ranked = self.ranked(trials)
        return ranked[0] if ranked and ranked[0].status == "done" else None


def _trial_env(trial: Trial, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLOUD_ONLY_ENV}
    env[trial_paths.TRIAL_ID_ENV] = trial.id
    env[trial_paths.METRIC_FILE_ENV] = str(trial.metric_file)
    # K trials share the machine's cores instead of each starting a thread per core.
    env.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))
    env.setdefault("TF_NUM_INTEROP_THREADS", str(min(threads, 2)))
    return env


class FailureBudget:
    """Vertex AI's maxFailedTrialCount: once that many trials failed, no new trial starts."""

    def __init__(self, max_failed: int | None):
        self.max_failed = max_failed
        self.failed = 0
        self._lock = threading.Lock()

    def spent(self) -> bool:
        with self._lock:
            return bool(self.max_failed) and self.failed >= self.max_failed

    def record_failure(self) -> None:
        with self._lock:
            self.failed += 1


def run_trial(sweep: Sweep, trial: Trial, budget: FailureBudget) -> Trial:
    """Runs one trial to its end; its output and the trainer's log go to its own directory."""
    if budget.spent():
        trial.status, trial.note = "skipped", f"{budget.failed} trials failed"
        return trial
    trial.job_dir.mkdir(parents=True, exist_ok=False)
    threads = max(1, (os.cpu_count() or 1) // sweep.parallel)
    start = time.monotonic()
    with trial.log_file.open("w") as log:
        process = subprocess.run(
            [*sweep.command, *flag_args(trial.params)],
            env=_trial_env(trial, threads),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    trial.seconds = time.monotonic() - start
    reports = []
    if trial.metric_file.exists():
        reports = read_metric_file(trial.metric_file, sweep.metric)
    if process.returncode != 0 or not reports:
        trial.status = "failed"
        lines = trial.log_file.read_text().strip().splitlines() or [""]
        why = f"exit {process.returncode}" if process.returncode else f"no {sweep.metric} reported"
        trial.note = f"{why}: {lines[-1][:200]}"
        budget.record_failure()
        return trial
    selection = sweep.config["studySpec"].get("measurementSelectionType")
    trial.step, trial.value = final_measurement(reports, sweep.goal, selection)
    trial.status = "done"
    return trial


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_rows(sweep: Sweep) -> tuple[list[str], list[list]]:
    """The ranking: a header and one row per trial, best first; raw values (for the CSV)."""
    param_ids = [p["parameterId"] for p in sweep.config["studySpec"]["parameters"]]
    header = ["rank", "trial", sweep.metric, "epoch", "seconds", *param_ids, "status", "job_dir"]
    rows = []
    for rank, trial in enumerate(sweep.ranked(), start=1):
        done = trial.status == "done"
        rows.append(
            [
                rank if done else "",
                trial.id,
                trial.value if done else "",
                trial.step if done else "",
                round(trial.seconds, 1),
                *(trial.params[name] for name in param_ids),
                trial.status if done else f"{trial.status} ({trial.note})",
                str(trial.job_dir),
            ]
        )
    return header, rows


def write_csv(sweep: Sweep, path: Path) -> None:
    header, rows = table_rows(sweep)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def format_table(sweep: Sweep) -> str:
    """The ranking as aligned text, without the job dirs (every trial's is output-dir/<trial>)."""
    header, rows = table_rows(sweep)
    metric = header.index(sweep.metric)
    cells = [header[:-1]] + [
        [f"{v:.4f}" if i == metric and v != "" else _format(v) for i, v in enumerate(row[:-1])]
        for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


# ---------------------------------------------------------------- the command


def parse_args(argv: list[str]) -> argparse.Namespace:
    own, trainer_args = argv, []
    if "--" in argv:
        split = argv.index("--")
        own, trainer_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m workflow.sweep",
        description="Run a local hyperparameter sweep over the study of config/hptuning.yaml "
        "(as scripts/hptune.sh runs it on Vertex AI). Arguments after -- go to every trial.",
    )
    parser.add_argument("--config", type=Path, default=hptuning.DEFAULT_PATH)
    parser.add_argument(
        "--trials", type=int, help="how many trials (N); default: the config's maxTrialCount"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        help="trials at a time (K); default: the config's parallelTrialCount, at most one per core",
    )
    parser.add_argument("--seed", type=int, default=0, help="the sampling seed")
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        help="default: grid for the config's GRID_SEARCH, else random",
    )
    parser.add_argument(
        "--grid-points", type=int, default=3, help="grid values per range parameter"
    )
    parser.add_argument("--num-epochs", type=int, help="the trainer's --num-epochs, every trial")
    parser.add_argument(
        "--train-files", nargs="+", default=[f"{DATA_DIR}/train.csv"], metavar="FILE"
    )
    parser.add_argument("--eval-files", nargs="+", default=[f"{DATA_DIR}/eval.csv"], metavar="FILE")
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="a new directory for the trials and results.csv; default: outputs/sweeps/<time>",
    )
    args = parser.parse_args(own)
    for name in ("trials", "parallel", "grid_points", "num_epochs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.trainer_args = trainer_args
    return args


def plan(args: argparse.Namespace) -> Sweep:
    """Everything checked and sampled; nothing run or written yet."""
    config = hptuning.load(args.config)
    fixed = [
        *(("--num-epochs", str(args.num_epochs)) if args.num_epochs else ()),
        *args.trainer_args,
    ]
    shared = hptuning.trial_args(config, fixed)
    output_dir = args.output_dir or Path("outputs/sweeps") / datetime.now().strftime(
        "%Y%m%d-%H%M%S"
    )
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ConfigError(f"{output_dir} is not empty: give each sweep a new --output-dir")
    algorithm = args.algorithm or (
        "grid" if config["studySpec"].get("algorithm") == "GRID_SEARCH" else "random"
    )
    parallel = args.parallel or min(config["parallelTrialCount"], os.cpu_count() or 1)
    settings = sample_trials(
        config["studySpec"]["parameters"],
        args.trials or config["maxTrialCount"],
        algorithm,
        args.seed,
        args.grid_points,
    )
    trials = [
        Trial(
            str(i),
            params,
            Path(trial_paths.trial_dir(str(output_dir), str(i))),
        )
        for i, params in enumerate(settings, start=1)
    ]
    command = [
        *(sys.executable, "-m", "trainer.task"),
        *("--train-files", *args.train_files, "--eval-files", *args.eval_files),
        *("--job-dir", str(output_dir)),
        *shared,
    ]
    return Sweep(config, trials, command, output_dir, parallel, algorithm, fixed)


def run(sweep: Sweep) -> None:
    """Runs the trials K at a time and says how each ends, as it ends. Like Vertex AI, it
    starts no new trial once maxFailedTrialCount trials have failed."""
    budget, finished = FailureBudget(sweep.config.get("maxFailedTrialCount")), []
    with ThreadPoolExecutor(max_workers=sweep.parallel) as pool:
        futures = [pool.submit(run_trial, sweep, trial, budget) for trial in sweep.trials]
        for future in as_completed(futures):
            trial = future.result()
            finished.append(trial)
            where = f"[{len(finished)}/{len(sweep.trials)}] trial {trial.id}"
            if trial.status == "done":
                best = sweep.best(finished)
                print(
                    f"{where}: {sweep.metric} {trial.value:.4f} after epoch {trial.step} "
                    f"({trial.seconds:.0f} s); best so far: trial {best.id}, {best.value:.4f}",
                    flush=True,
                )
            elif trial.status == "failed":
                print(f"{where} failed, {trial.note}; log: {trial.log_file}", flush=True)
            else:
                print(f"{where} skipped: {trial.note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sweep = plan(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"Sweep of {len(sweep.trials)} trials ({sweep.algorithm}, seed {args.seed}) from "
        f"{args.config}, {sweep.parallel} at a time, into {sweep.output_dir}/; "
        f"{sweep.goal.lower()} {sweep.metric}",
        flush=True,
    )
    sweep.output_dir.mkdir(parents=True, exist_ok=True)
    run(sweep)

    results = sweep.output_dir / RESULTS_FILE
    write_csv(sweep, results)
    print(f"\n{format_table(sweep)}\n\nThe table, with each trial's directory: {results}")
    best = sweep.best()
    if best is None:
        print("error: no trial finished", file=sys.stderr)
        return 1
    again = shlex.join([*sweep.fixed_args, *flag_args(best.params)])
    print(
        f"Best: trial {best.id}, {sweep.metric} {best.value:.4f}; its model is in "
        f"{best.job_dir}/model.\nIts arguments: {shlex.join(flag_args(best.params))}\n"
        f"Train with them: make train TRAINER_ARGS={shlex.quote(again)}"
    )
    return 0 if all(t.status == "done" for t in sweep.trials) else 1


if __name__ == "__main__":
    sys.exit(main())
