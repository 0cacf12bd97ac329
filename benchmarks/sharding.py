"""Benchmark 7: what each process reads, and how soon it trains, with shards and a stats file.

Bytes: each trainer process's own read counter (`rchar` of /proc/self/io, read as it exits),
for one epoch over a synthetic training set, minus the same run on the same data cut to the
sample's size, divided by the training set's size. Runs: one process that scans the data (as
before the stats file), one with --stats-file; a chief and a worker (MultiWorkerMirroredStrategy,
launched as `gcloud ai-platform local train --distributed` launches them) on one file, and on
4 shards with --stats-file. Every run evaluates on the sample's eval.csv, which the subtraction
removes.

Time to the first step: from the call of `train_and_evaluate` (TensorFlow already imported) to
the end of the first training step, at 1x and 10x the rows, with and without --stats-file.
Also the rates the README's throughput model uses: rows/s of the input pipeline alone and of
training fed by it, in one process.

Run inside a generated project (cwd), by benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import counted
import quick
from synthetic import write_csv

SAMPLE_ROWS = 263  # the bundled sample's training rows
SAMPLE_EVAL = "data/eval.csv"
BATCH_SIZE = 2048
# Runs `python -m trainer.task` and writes the process's rchar to $RCHAR_FILE as it exits.
COUNTED_TRAINER = counted.code("trainer.task")
# Seconds from `train_and_evaluate` to the end of its first training step; and rows/s of the
# pipeline alone and of one epoch of training fed by it.
FIRST_STEP = """
import json, sys, tempfile, time
import keras
from trainer import inputs, model
from trainer.features import SCHEMA
from trainer.hparams import HParams

train_files, stats_file, batch_size, epoch = json.loads(sys.argv[1])

class FirstStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.first = time.perf_counter()
        if not epoch:
            self.model.stop_training = True
    def on_epoch_begin(self, epoch_index, logs=None):
        self.begin = time.perf_counter()
    def on_epoch_end(self, epoch_index, logs=None):
        self.end = time.perf_counter()

callback = FirstStep()
job = tempfile.mkdtemp()
start = time.perf_counter()
result = model.train_and_evaluate(
    SCHEMA, train_files, ["data/eval.csv"],
    HParams(num_epochs=1, batch_size=batch_size, early_stopping_patience=0),
    model_dir=f"{job}/model", checkpoint_dir=f"{job}/checkpoints",
    tensorboard_dir=f"{job}/logs", metrics_path=f"{job}/metrics.json",
    callbacks=[callback], stats_file=stats_file,
)
out = {"first_step": callback.first - start}
if epoch:
    out["training_rows_per_s"] = result.stats.rows / (callback.end - callback.begin)
    files = inputs.expand_files(train_files)
    begin = time.perf_counter()
    for _ in inputs.make_dataset(files, SCHEMA, result.stats.classes, batch_size, True):
        pass
    out["pipeline_rows_per_s"] = result.stats.rows / (time.perf_counter() - begin)
print(json.dumps(out))
"""


def prepare(raw: Path, out: Path, shards: int) -> Path:
    """`workflow.data prepare` with every row in training, in `shards` files, and stats.json."""
    subprocess.run(
        [
            *(sys.executable, "-m", "workflow.data", "prepare", str(raw)),
            *("--out-dir", str(out), "--instances", str(out / "instances.json")),
            *("--train-fraction=1", "--eval-fraction=0", f"--shards={shards}"),
        ],
        check=True,
        capture_output=True,
    )
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counted_run(data: Path, stats: bool, workers: int, job: Path) -> list[int]:
    """rchar of each process of one epoch on data/train*.csv: one process, or a chief and
    workers - 1 workers on local ports."""
    args = [
        *("--train-files", *sorted(map(str, data.glob("train*.csv")))),
        *("--eval-files", SAMPLE_EVAL, "--job-dir", str(job)),
        *("--num-epochs", "1", "--batch-size", str(BATCH_SIZE), "--early-stopping-patience", "0"),
        *(("--stats-file", str(data / "stats.json")) if stats else ()),
    ]
    tasks = [("chief", 0)] + [("worker", i) for i in range(workers - 1)]
    ports = [free_port() for _ in tasks]
    cluster = {"chief": [f"localhost:{ports[0]}"]}
    if workers > 1:
        cluster["worker"] = [f"localhost:{port}" for port in ports[1:]]
    processes = []
    for task, index in tasks:
        env = {**os.environ, "RCHAR_FILE": str(job / f"rchar-{task}-{index}")}
        if workers > 1:
            env["TF_CONFIG"] = json.dumps(
                {"cluster": cluster, "task": {"type": task, "index": index}}
            )
        with (job / f"log-{task}-{index}").open("w") as log:
            command = [sys.executable, "-c", COUNTED_TRAINER, *args]
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
    for (task, index), process in zip(tasks, processes, strict=True):
        if process.wait() != 0:
            log = (job / f"log-{task}-{index}").read_text()
            raise SystemExit(f"training failed ({task} {index}):\n{log[-3000:]}")
    return [int((job / f"rchar-{task}-{index}").read_text()) for task, index in tasks]


def first_step(train_files: list[str], stats_file: str | None, epoch: bool = False) -> dict:
    spec = json.dumps([train_files, stats_file, BATCH_SIZE, epoch])
    result = subprocess.run(
        [sys.executable, "-c", FIRST_STEP, spec],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def bytes_read(root: Path, rows: int, subtract: bool = True) -> tuple[dict[str, list[float]], int]:
    """Each run's training-set bytes per process, as multiples of the training set's size: minus
    the same run on the sample's rows when `subtract`, whole when not."""
    sizes = (rows, SAMPLE_ROWS) if subtract else (rows,)
    layouts = {}
    for n in sizes:
        raw = root / f"raw-{n}.csv"
        write_csv(str(raw), n, seed=3)
        for shards in (1, 4):
            layouts[n, shards] = prepare(raw, root / f"bytes-{n}-{shards}", shards)
    size = sum(p.stat().st_size for p in layouts[rows, 1].glob("train*.csv"))
    runs = {
        "one process, scanning the data (before)": (1, False, 1),
        "one process, --stats-file": (1, True, 1),
        "chief + worker, one file (before)": (1, False, 2),
        "chief + worker, 4 shards, --stats-file": (4, True, 2),
    }
    ratios = {}
    for name, (shards, stats, workers) in runs.items():
        counts = {}
        for n in sizes:
            job = root / f"job-{len(ratios)}-{n}"
            job.mkdir()
            counts[n] = counted_run(layouts[n, shards], stats, workers, job)
        if subtract:
            pairs = zip(counts[rows], counts[SAMPLE_ROWS], strict=True)
            ratios[name] = [(big - small) / size for big, small in pairs]
        else:
            ratios[name] = [count / size for count in counts[rows]]
    return ratios, size


def seconds_to_first_step(
    root: Path, rows: int, repeats: int, whole_epoch: bool = False
) -> tuple[dict[str, float], dict]:
    """Median seconds to the first step, scanning and with the stats file; and the last scanning
    run's output, with the rates of its epoch when it trains a `whole_epoch`."""
    raw = root / f"raw-{rows}.csv"
    write_csv(str(raw), rows, seed=3)
    data = prepare(raw, root / f"time-{rows}", 1)
    files, stats = [str(data / "train.csv")], str(data / "stats.json")
    scans = [first_step(files, None, whole_epoch) for _ in range(repeats)]
    return {
        "scan": statistics.median(scan["first_step"] for scan in scans),
        "stats": statistics.median(first_step(files, stats)["first_step"] for _ in range(repeats)),
    }, scans[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="rows at 1x, for the time")
    parser.add_argument(
        "--bytes-rows",
        type=int,
        default=1_100_000,
        help="rows for the bytes read (the default is about issue 12's 49 MB training set)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = quick.parse_args(
        parser,
        {"rows": 2000, "bytes_rows": SAMPLE_ROWS, "repeats": 1},
        fewer="the bytes read on the sample's rows alone, the runs a full run subtracts, with "
        "nothing subtracted; the time to the first step at 1x only (10x is the same runs at ten "
        "times the rows), its scanning run going on to the end of the epoch for the rates (a "
        "full run repeats it for them)",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ratios, size = bytes_read(root, args.bytes_rows, subtract=not args.quick)
        sizes = (args.rows,) if args.quick else (args.rows, args.rows * 10)
        times, last_scan = {}, {}
        for n in sizes:
            times[n], last_scan[n] = seconds_to_first_step(root, n, args.repeats, args.quick)
        rates = (
            last_scan[args.rows]
            if args.quick
            else first_step([str(root / f"time-{args.rows}/train.csv")], None, epoch=True)
        )

    counted = (
        "whole (a quick pass subtracts no run)"
        if args.quick
        else f"minus the same run on {SAMPLE_ROWS} rows"
    )
    print("### 7. Shards and the stats file")
    print()
    print(
        f"Training set: {args.bytes_rows:,} rows, {size / 2**20:.1f} MiB; one epoch at batch "
        f"{BATCH_SIZE}; bytes per process (rchar) {counted}."
    )
    print()
    print("| run | training-set bytes read, per process | goal |")
    print("|---|---:|---|")
    goals = {
        "one process, --stats-file": "<= 1.10x",
        "chief + worker, 4 shards, --stats-file": "<= 0.55x",
    }
    for name, values in ratios.items():
        shown = ", ".join(f"{value:.3f}x" for value in values)
        print(f"| {name} | {shown} | {goals.get(name, '')} |")
    print()
    print(
        "Seconds from `train_and_evaluate` to the end of the first training step "
        f"(median of {args.repeats}):"
    )
    print()
    print("| training rows | scanning | with --stats-file |")
    print("|---:|---:|---:|")
    for rows, seconds in times.items():
        print(f"| {rows:,} | {seconds['scan']:.2f} | {seconds['stats']:.2f} |")
    if args.rows * 10 in times:
        small, large = times[args.rows], times[args.rows * 10]
        print(
            f"| 10x / 1x | {large['scan'] / small['scan']:.2f}x | "
            f"{large['stats'] / small['stats']:.2f}x (goal <= 1.2x) |"
        )
    print()
    print(
        f"One process, {args.rows:,} rows at batch {BATCH_SIZE}: the input pipeline alone "
        f"{rates['pipeline_rows_per_s']:,.0f} rows/s; training fed by it "
        f"{rates['training_rows_per_s']:,.0f} rows/s."
    )
    print()


if __name__ == "__main__":
    main()
