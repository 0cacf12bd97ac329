"""Benchmark 5: time to first model, from `copier copy` to a served prediction on the sample
data, with dependencies already installed, as a breakdown by stage.

The trainer's own log timestamps split its run into start-up and data checks, training, and
export.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quick
from render import copier_copy

VENV = os.path.dirname(os.path.dirname(sys.executable))
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (.*)$")


def log_times(log: str) -> dict[str, float]:
    """Epoch seconds of the trainer's milestone log lines."""
    milestones = {
        "Training on": "scanned",
        "Final evaluation": "trained",
        "Exported the serving model": "exported",
    }
    times = {}
    for line in log.splitlines():
        match = STAMP.match(line)
        if match:
            for prefix, name in milestones.items():
                if match[2].startswith(prefix):
                    stamp = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
                    times[name] = stamp.timestamp()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", required=True)
    parser.add_argument("--num-epochs", type=int, default=30)
    args = quick.parse_args(parser, {"num_epochs": 1})
    with tempfile.TemporaryDirectory() as tmp:
        project = os.path.join(tmp, "penguins")
        t0 = time.time()
        copier_copy(args.template, project)
        t1 = time.time()
        train = subprocess.run(
            ["make", "train", f"VENV={VENV}", f"TRAINER_ARGS=--num-epochs {args.num_epochs}"],
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        )
        t2 = time.time()
        env = {**os.environ, "CLOUDSDK_CONFIG": os.path.join(tmp, "gcloud")}
        subprocess.run(
            ["make", "predict", f"VENV={VENV}"],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
        t3 = time.time()
    marks = log_times(train.stderr)
    stages = [
        ("render (`copier copy --defaults`)", t1 - t0),
        ("trainer start-up and data checks", marks["scanned"] - t1),
        (
            f"training ({args.num_epochs} epochs at most, early stopping) and evaluation",
            marks["trained"] - marks["scanned"],
        ),
        ("export of the SavedModel", marks["exported"] - marks["trained"]),
        ("trainer exit", t2 - marks["exported"]),
        ("local predict (`gcloud ai-platform local predict`)", t3 - t2),
    ]
    print("### 5. Time to first model (sample data, dependencies installed)")
    print()
    print("| stage | seconds | share |")
    print("|---|---:|---:|")
    total = t3 - t0
    for name, seconds in stages:
        print(f"| {name} | {seconds:.1f} | {seconds / total:.0%} |")
    print(f"| **total: copier copy to a served prediction** | **{total:.1f}** | 100% |")
    print()


if __name__ == "__main__":
    main()
