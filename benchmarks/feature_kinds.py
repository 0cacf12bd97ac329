"""Benchmark 8: what the feature kinds are worth, in held-out error, on one table that needs each.

Orders: a day, a customer id of 5,000 values (about ten rows each), and a place on a map
(lat, lon). The amount follows the season, the customer's own level, and the neighbourhood:
5 x 5 squares of the map, dear and cheap in turn, so that neither coordinate carries it alone.
The same wide_deep model trains on the numbers alone, as the trainer read this table before its
dates, hashed ids and bucketized numbers; then with each of those added in turn. Each figure is
the RMSE on held-out orders (of the same customers), against the first.

Run inside a generated project (cwd), by benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import datetime
import io
import math
import os
import random
import sys
import tempfile
from pathlib import Path

import quick

CUSTOMERS = 5_000


def write_orders(path: Path, rows: int, seed: int) -> None:
    levels = random.Random(0)  # the customers' levels: the same in every file
    level = [levels.gauss(0, 20) for _ in range(CUSTOMERS)]
    rng = random.Random(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["day", "customer_id", "lat", "lon", "amount"])
        for _ in range(rows):
            customer = rng.randrange(CUSTOMERS)
            day = datetime.date(2022, 1, 1) + datetime.timedelta(days=rng.randrange(3 * 365))
            lat, lon = rng.uniform(0, 10), rng.uniform(0, 10)
            dear = (int(lat // 2) + int(lon // 2)) % 2
            season = math.sin(2 * math.pi * day.timetuple().tm_yday / 365.25)
            amount = 200 + level[customer] + 30 * season + 40 * dear + rng.gauss(0, 5)
            writer.writerow(
                [day.isoformat(), f"C{customer:04d}", f"{lat:.4f}", f"{lon:.4f}", f"{amount:.2f}"]
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000, help="training rows")
    parser.add_argument("--epochs", type=int, default=8)
    args = quick.parse_args(parser, {"rows": 2_000, "epochs": 1})

    sys.path.insert(0, os.getcwd())  # the generated project's trainer
    import keras  # noqa: PLC0415 -- after the arguments, as the trainer does
    import numpy as np  # noqa: PLC0415

    from trainer import model, task  # noqa: PLC0415
    from trainer.hparams import HParams  # noqa: PLC0415
    from trainer.schema import Schema  # noqa: PLC0415

    # Each step adds one kind to the one before: (what it reads, its schema fields, buckets).
    numbers = {"numeric": ("lat", "lon")}
    steps = [
        ("numbers alone (before: date dropped, id left out, no buckets)", numbers, 0),
        ("+ the date (datetime)", {**numbers, "datetime": ("day",)}, 0),
        (
            "+ the customer id, hashed",
            {**numbers, "datetime": ("day",), "categorical": ("customer_id",)},
            0,
        ),
        (
            "+ the numbers in 10 buckets, crossed",
            {**numbers, "datetime": ("day",), "categorical": ("customer_id",)},
            10,
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_orders(data / "train.csv", args.rows, seed=1)
        write_orders(data / "eval.csv", max(args.rows // 4, 500), seed=2)
        with (data / "eval.csv").open() as f:
            amounts = np.array([float(row["amount"]) for row in csv.DictReader(f)])
        spread = float(amounts.std())
        errors = []
        for i, (_, fields, buckets) in enumerate(steps):
            keras.utils.set_random_seed(0)
            schema = Schema(label="amount", task_type="regression", max_vocabulary=1000, **fields)
            hp = HParams(
                model_type="wide_deep",
                num_epochs=args.epochs,
                batch_size=256,
                early_stopping_patience=0,
                numeric_buckets=buckets,
            )
            job = data / f"job-{i}"
            with contextlib.redirect_stdout(io.StringIO()):  # Keras' epoch lines: not tables
                result = model.train_and_evaluate(
                    schema,
                    [str(data / "train.csv")],
                    [str(data / "eval.csv")],
                    hp,
                    **dataclasses.asdict(task.output_paths(str(job), {})),
                )
            errors.append(result.metrics["rmse"])

    print("### 8. What the feature kinds are worth (held-out RMSE, wide_deep)")
    print()
    print(
        f"{args.rows:,} training orders of {CUSTOMERS:,} customers, {args.epochs} epochs at "
        f"batch 256; the held-out amounts' standard deviation is {spread:.1f} (the error of "
        "always predicting their mean)."
    )
    print()
    print("| the model reads | held-out RMSE | ratio to the numbers alone |")
    print("|---|---:|---:|")
    for (name, _, _), error in zip(steps, errors, strict=True):
        print(f"| {name} | {error:.2f} | {error / errors[0]:.2f}x |")
    print()


if __name__ == "__main__":
    main()
