"""The prepare in BigQuery (workflow/bigquery/), against bqemulator, which runs every query the
project sends on DuckDB: the same split as the local prepare, row for row; exports in the bucket;
a dry run that prices each query and sends nothing else; labels and a cap on every job; refusals
that change nothing; and a re-run on unchanged data that changes nothing either."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import bigquery_emulator
from conftest import VENV_BIN, free_port, gcloud_config, run, storage_client, write_houses
from serving_endpoints import application_default_credentials

BUCKET = "bq-test-bucket"
PYTHON = str(VENV_BIN / "python")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    started = bigquery_emulator.start(tmp_path_factory.mktemp("bigquery"), free_port())
    yield started
    started.endpoint.stop()
    started.process.terminate()
    started.process.wait(timeout=10)


@pytest.fixture(scope="session")
def cloud(emulator, storage_emulator, tmp_path_factory):
    """The environment of a project whose gcloud points BigQuery at the emulator."""
    work = tmp_path_factory.mktemp("bq-cloud")
    env = gcloud_config(
        work / "gcloud",
        {
            "auth/disable_credentials": "True",
            "project": bigquery_emulator.PROJECT,
            "api_endpoint_overrides/bigquery": f"{emulator.url}/bigquery/v2/",
        },
    )
    storage = storage_client(storage_emulator)
    storage.create_bucket(BUCKET)
    return env | {
        "GOOGLE_APPLICATION_CREDENTIALS": str(application_default_credentials(work / "adc.json")),
        "STORAGE_EMULATOR_HOST": storage_emulator,
        "GCP_PROJECT": bigquery_emulator.PROJECT,
        "BUCKET": BUCKET,
        "REGION": "us-central1",
    }


def prepare(project: Path, source: str, out: Path, env: dict, *flags: str, check: bool = True):
    return run(
        [PYTHON, "-m", "workflow.data", "prepare", source, "--out-dir", str(out), *flags],
        cwd=project,
        env=env,
        check=check,
    )


def rows_of(paths: list[Path]) -> list[tuple[str, ...]]:
    """The data rows of CSV files (their headers checked equal), sorted."""
    headers, rows = set(), []
    for path in paths:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            headers.add(tuple(next(reader)))
            rows += [tuple(row) for row in reader]
    assert len(headers) == 1, headers
    return sorted(rows)


def exported(emulator, manifest: dict, split: str) -> list[Path]:
    return [emulator.exported_file(uri) for uri in manifest["splits"][split]["files"]]


def report(output: str) -> list[str]:
    """The cleaning report's lines of a prepare's output, without the source's name."""
    return [
        line.split(": ", 1)[1]
        for line in output.splitlines()
        if " rows read, " in line or line.startswith("  ")
    ]


def messy_penguins(sample: Path) -> bytes:
    """The sample with what real tables hold: spaces around values, missing values written in
    several ways (an empty field among them), rows without a label, values with commas and
    quotes, and label values with spaces around them."""
    rows = list(csv.reader(sample.read_text().splitlines()))
    header, body = rows[0], rows[1:]
    for n, row in enumerate(body):
        if n % 7 == 0:
            row[1] = f" {row[1]} "
        if n % 11 == 0:
            row[6] = "N/A"
        if n % 13 == 0:
            row[2] = ""
        if n % 17 == 0:
            row[0] = "NA" if n % 2 else " null"
        elif n % 19 == 0:
            row[0] = f"  {row[0]}\t"
        if n % 23 == 0:
            row[1] = f'{row[1].strip()}, "north"'
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    return out.getvalue().encode()


@pytest.mark.parametrize("data", ["sample", "messy"])
def test_files_in_cloud_storage_split_as_the_local_prepare_row_for_row(
    data, default_project, emulator, cloud, storage_emulator, tmp_path
):
    sample = default_project / "data" / "penguins.csv"
    raw = sample.read_bytes() if data == "sample" else messy_penguins(sample)
    (tmp_path / "raw.csv").write_bytes(raw)
    emulator.put_object(storage_client(storage_emulator), f"gs://{BUCKET}/{data}/raw.csv", raw)
    local, remote = tmp_path / "local", tmp_path / "remote"
    by_hand = prepare(default_project, str(tmp_path / "raw.csv"), local, {})
    emulator.forget()
    in_bigquery = prepare(default_project, f"gs://{BUCKET}/{data}/*.csv", remote, cloud)

    manifest = json.loads((remote / "bigquery.json").read_text())
    for split in ("train", "eval"):
        assert rows_of(exported(emulator, manifest, split)) == rows_of([local / f"{split}.csv"])
        assert manifest["splits"][split]["rows"] == len(rows_of([local / f"{split}.csv"]))
    assert report(in_bigquery.stdout) == report(by_hand.stdout)
    if data == "messy":
        assert "dropped" in report(by_hand.stdout)[0] and "0 dropped" not in by_hand.stdout
    instances = (remote / "instances.json").read_text().splitlines()
    assert len(instances) == 3
    assert {json.loads(line)["island"] for line in instances} <= {"Torgersen", "Biscoe", "Dream"}
    jobs = emulator.jobs()
    queries = ["checks", "export-train", "export-eval"]
    # The load, a dry run of each query, then each query.
    assert [
        (job["configuration"]["labels"]["step"], job["configuration"].get("dryRun", False))
        for job in jobs
    ] == [("load", False), *((q, True) for q in queries), *((q, False) for q in queries)]
    for job in jobs:
        configuration = job["configuration"]
        assert configuration["labels"]["project"] == "penguin-species"
        assert configuration["labels"]["commit"]
        if "query" in configuration:
            assert int(configuration["query"]["maximumBytesBilled"]) == 2**40
