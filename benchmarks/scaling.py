"""Benchmark 3: peak memory and wall time of one training epoch at 1x and 10x the rows.

Each run is `python -m trainer.task` in its own process; its peak RSS comes from the kernel's
resource usage for that child (os.wait4). Run inside a generated project, by benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quick
from synthetic import write_csv


def train(train_file: str, eval_file: str, job_dir: str, batch_size: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one training run."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer.task",
            "--train-files",
            train_file,
            "--eval-files",
            eval_file,
            "--job-dir",
            job_dir,
            "--num-epochs",
            "1",
            "--batch-size",
            str(batch_size),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training on {train_file} failed")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000, help="rows at 1x")
    parser.add_argument("--batch-size", type=int, default=256)
    args = quick.parse_args(
        parser, {"rows": 2000}, fewer="the 1x run only (10x is the same run at ten times the rows)"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        eval_file = os.path.join(tmp, "eval.csv")
        write_csv(eval_file, 2_000, seed=1)
        for factor in (1,) if args.quick else (1, 10):
            train_file = os.path.join(tmp, f"train-{factor}x.csv")
            write_csv(train_file, args.rows * factor, seed=factor)
            results[factor] = train(
                train_file, eval_file, os.path.join(tmp, f"job{factor}"), args.batch_size
            )
            os.remove(train_file)
    t1, m1 = results[1]
    print(f"### 3. Scaling with data (one epoch, batch {args.batch_size})")
    print()
    print("| training rows | wall seconds | peak RSS (MiB) | time ratio | RSS ratio |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.rows:,} (1x, baseline) | {t1:.1f} | {m1:.0f} | 1.00x | 1.00x |")
    if 10 in results:
        t10, m10 = results[10]
        print(
            f"| {args.rows * 10:,} (10x) | {t10:.1f} | {m10:.0f} | {t10 / t1:.2f}x "
            f"| {m10 / m1:.2f}x |"
        )
    print()


if __name__ == "__main__":
    main()
