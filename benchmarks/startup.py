"""Benchmark 2: `python -m trainer.task --help` against `python -c 'import tensorflow'`.

Run inside a generated project (cwd), by benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import quick


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = quick.parse_args(parser, {"repeats": 1})
    baseline = median_seconds([sys.executable, "-c", "import tensorflow"], args.repeats)
    help_s = median_seconds([sys.executable, "-m", "trainer.task", "--help"], args.repeats)
    print(f"### 2. Startup (median of {args.repeats})")
    print()
    print("| command | seconds | ratio to importing TensorFlow |")
    print("|---|---:|---:|")
    print(f"| `python -c 'import tensorflow'` (baseline) | {baseline:.3f} | 1.00x |")
    print(f"| `python -m trainer.task --help` | {help_s:.3f} | {help_s / baseline:.3f}x |")
    print()


if __name__ == "__main__":
    main()
