"""Benchmark 9: what the prepare in BigQuery costs the workstation, and what it costs BigQuery.

    .venv/bin/python benchmarks/bigquery_prepare.py [--rows 100000 1000000] [--quick]   (by run.py)

Inside a generated project (cwd), with bqemulator standing in for BigQuery and
gcp-storage-emulator for Cloud Storage (tests/bigquery_emulator.py). Penguin-like tables of each
size are put in the bucket as CSV files, then prepared twice: here (`make prepare` of the local
file) and in BigQuery (`make prepare RAW_DATA='gs://...'`). For each, the bytes that the prepare
process reads (`rchar` of /proc/self/io as it exits: files, sockets and the modules it imports).

Then the queries of one prepare in BigQuery, by step, on the table and on one with twice the
columns: their number, and the bytes that BigQuery would bill for them. The emulator bills
nothing, so the bytes are BigQuery's own rule applied to the loaded table: a STRING value is 2
bytes plus its UTF-8 length, and each query scans every column (the row's hash reads them all).
Not a test: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bigquery_emulator  # noqa: E402
from endpoints import storage_with_locations  # noqa: E402
from serving_endpoints import application_default_credentials  # noqa: E402

import counted  # noqa: E402
import quick  # noqa: E402
from staging import start_emulator  # noqa: E402
from synthetic import write_csv  # noqa: E402

from conftest import free_port, gcloud_config, storage_client  # noqa: E402

BUCKET = "benchmark-bucket"


def counted_prepare(source: str, out: Path, env: dict[str, str]) -> int:
    """rchar of one `python -m workflow.data prepare SOURCE --out-dir OUT`."""
    rchar = out.parent / f"{out.name}.rchar"
    command = [sys.executable, "-c", counted.code("workflow.data")]
    subprocess.run(
        [*command, "prepare", source, "--out-dir", str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, **env, "RCHAR_FILE": str(rchar)},
    )
    return int(rchar.read_text())


def billed_size(path: Path) -> int:
    """The table's size as BigQuery bills a scan of it: each STRING cell 2 bytes plus its UTF-8
    length (an empty field loads as NULL: 0 bytes)."""
    with path.open(newline="") as f:
        rows = csv.reader(f)
        next(rows)
        return sum(len(cell.encode()) + 2 for row in rows for cell in row if cell)


def widen(path: Path, target: Path) -> None:
    """The table with a copy of each column, under another name: twice the columns."""
    with path.open(newline="") as f, target.open("w", newline="") as out:
        rows, writer = csv.reader(f), csv.writer(out, lineterminator="\n")
        header = next(rows)
        writer.writerow([*header, *(f"copy_{name}" for name in header)])
        writer.writerows(row + row for row in rows)


def query_steps(emulator: bigquery_emulator.BigQueryEmulator) -> dict[str, int]:
    """The queries sent since the emulator last forgot, by their `step` label (dry runs left
    out)."""
    return dict(
        collections.Counter(
            job["configuration"]["labels"]["step"]
            for job in emulator.jobs()
            if "query" in job["configuration"] and not job["configuration"].get("dryRun")
        )
    )


def mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs=2, default=[100_000, 1_000_000])
    args = quick.parse_args(parser, {"rows": [2_000, 20_000]})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        emulator = bigquery_emulator.start(work / "bigquery", free_port())
        storage_process, storage_url = start_emulator()
        try:
            located = storage_with_locations(storage_url)
            storage_client(located.url).create_bucket(BUCKET, location="us-central1")
            direct = storage_client(storage_url)
            bridge = emulator.storage_endpoint(located.url.rstrip("/"), direct)
            env = gcloud_config(
                work / "gcloud",
                {
                    "auth/disable_credentials": "True",
                    "project": bigquery_emulator.PROJECT,
                    "api_endpoint_overrides/bigquery": f"{emulator.url}/bigquery/v2/",
                },
            )
            env |= {
                "GOOGLE_APPLICATION_CREDENTIALS": str(
                    application_default_credentials(work / "adc.json")
                ),
                "STORAGE_EMULATOR_HOST": bridge.url.rstrip("/"),
                "GCP_PROJECT": bigquery_emulator.PROJECT,
                "BUCKET": BUCKET,
                "REGION": "us-central1",
            }
            read: dict[str, dict[int, int]] = {"here": {}, "BigQuery": {}}
            queries: dict[str, dict[str, int]] = {}
            for rows in args.rows:
                raw = work / f"penguins-{rows}.csv"
                write_csv(str(raw), rows, seed=rows)
                uri = f"gs://{BUCKET}/raw-{rows}/penguins.csv"
                emulator.put_object(direct, uri, raw.read_bytes())
                read["here"][rows] = counted_prepare(str(raw), work / f"here-{rows}", {})
                emulator.forget()
                read["BigQuery"][rows] = counted_prepare(
                    uri.replace("penguins.csv", "*.csv"), work / f"there-{rows}", env
                )
                if rows == args.rows[0]:
                    queries["8 columns"] = query_steps(emulator)

            # The same table with twice the columns: one more prepare, for its queries.
            small = work / f"penguins-{args.rows[0]}.csv"
            wide = work / "wide.csv"
            widen(small, wide)
            uri = f"gs://{BUCKET}/wide/raw.csv"
            emulator.put_object(direct, uri, wide.read_bytes())
            emulator.forget()
            counted_prepare(uri.replace("raw.csv", "*.csv"), work / "there-wide", env)
            queries["16 columns"] = query_steps(emulator)
            sizes = {"8 columns": billed_size(small), "16 columns": billed_size(wide)}
        finally:
            storage_process.terminate()
            emulator.process.terminate()

    print_tables(args.rows, read, queries, sizes)
    print(json.dumps({"rchar": read, "queries": queries}), file=sys.stderr)


def print_tables(
    rows: list[int],
    read: dict[str, dict[int, int]],
    queries: dict[str, dict[str, int]],
    sizes: dict[str, int],
) -> None:
    small_rows, large_rows = rows
    print("### 9. The prepare in BigQuery: bytes the workstation reads, and what BigQuery scans\n")
    print(
        f"Penguin-like tables of {small_rows:,} and {large_rows:,} rows as CSV files in the "
        "bucket, prepared here (the local file) and in BigQuery (`RAW_DATA='gs://...'`, against "
        "bqemulator). Bytes read: `rchar` of the prepare process, imports included.\n"
    )
    print(f"| prepare | {small_rows:,} rows | {large_rows:,} rows | ratio |")
    print("|---|---:|---:|---:|")
    for where, counts in read.items():
        ratio = counts[large_rows] / counts[small_rows]
        goal = " (goal: at most 1.2x)" if where == "BigQuery" else ""
        print(
            f"| {where} | {mb(counts[small_rows])} | {mb(counts[large_rows])} | "
            f"{ratio:.2f}x{goal} |"
        )
    every = sorted({step for steps in queries.values() for step in steps})
    print(
        f"\nQueries of one prepare in BigQuery ({small_rows:,} rows), by step, and the bytes "
        "BigQuery would bill: each query scans the loaded table whole (BigQuery's sizes: a "
        "STRING value is 2 bytes plus its UTF-8 length; the emulator bills nothing). The load "
        "is free.\n"
    )
    print(f"| table | {' | '.join(every)} | queries | table size | billed |")
    print(f"|---|{'---:|' * len(every)}---:|---:|---:|")
    for name, steps in queries.items():
        total = sum(steps.values())
        counts = " | ".join(str(steps.get(step, 0)) for step in every)
        print(f"| {name} | {counts} | {total} | {mb(sizes[name])} | {mb(total * sizes[name])} |")


if __name__ == "__main__":
    main()
