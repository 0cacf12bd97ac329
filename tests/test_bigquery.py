"""The prepare in BigQuery (workflow/bigquery/), against bqemulator, which runs every query the
project sends on DuckDB: the same split as the local prepare, row for row; exports in the bucket;
a dry run that prices each query and sends nothing else; labels and a cap on every job; refusals
that change nothing; and a re-run on unchanged data that changes nothing either."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import bigquery_emulator
from endpoints import storage_with_locations
from serving_endpoints import application_default_credentials

from conftest import (
    HOUSES_ANSWERS,
    ROOT,
    VENV_BIN,
    free_port,
    gcloud_config,
    render,
    run,
    storage_client,
    write_houses,
)

sys.path.insert(0, str(ROOT / "template"))
from workflow.split_stats import fingerprint

BUCKET = "bq-test-bucket"
PYTHON = str(VENV_BIN / "python")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    started = bigquery_emulator.start(tmp_path_factory.mktemp("bigquery"), free_port())
    yield started
    started.endpoint.stop()
    started.process.terminate()
    started.process.wait(timeout=10)


@dataclass
class Cloud:
    env: dict[str, str]  # a project's, whose gcloud points BigQuery at the emulator
    emulator: bigquery_emulator.BigQueryEmulator
    storage: object  # a google-cloud-storage client of the storage emulator

    def put(self, uri: str, content: bytes) -> None:
        self.emulator.put_object(self.storage, uri, content)

    def read(self, uri: str) -> bytes:
        """An object the project wrote with the storage client."""
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        return self.storage.bucket(bucket).blob(name).download_as_bytes()


@pytest.fixture(scope="session")
def cloud(emulator, storage_emulator, tmp_path_factory) -> Cloud:
    work = tmp_path_factory.mktemp("bq-cloud")
    env = gcloud_config(
        work / "gcloud",
        {
            "auth/disable_credentials": "True",
            "project": bigquery_emulator.PROJECT,
            "api_endpoint_overrides/bigquery": f"{emulator.url}/bigquery/v2/",
        },
    )
    # Buckets keep their location (storage_with_locations), and BigQuery's exports show in them.
    located = storage_with_locations(storage_emulator)
    storage_client(located.url).create_bucket(BUCKET, location="us-central1")
    storage = storage_client(storage_emulator)
    bridge = emulator.storage_endpoint(located.url.rstrip("/"), storage)
    env |= {
        "GOOGLE_APPLICATION_CREDENTIALS": str(application_default_credentials(work / "adc.json")),
        "STORAGE_EMULATOR_HOST": bridge.url.rstrip("/"),
        "GCP_PROJECT": bigquery_emulator.PROJECT,
        "BUCKET": BUCKET,
        "REGION": "us-central1",
    }
    return Cloud(env, emulator, storage)


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


@pytest.mark.parametrize("data", ["sample", "messy", "houses"])
def test_files_in_cloud_storage_prepare_as_the_local_prepare_row_for_row(
    data, default_project, houses, cloud, tmp_path
):
    """The split, row for row; the cleaning report; the stats file; instances; and the jobs."""
    emulator = cloud.emulator
    project, flags, sample = default_project, (), default_project / "data" / "penguins.csv"
    raw = sample.read_bytes()
    if data == "messy":
        raw = messy_penguins(sample)
    elif data == "houses":  # every kind, missing values in each; keyed by its id
        project, flags = houses, ("--key", "listing_id")
        raw = write_houses(tmp_path / "houses.csv", n=700).read_bytes()
    (tmp_path / "raw.csv").write_bytes(raw)
    cloud.put(f"gs://{BUCKET}/{data}/raw.csv", raw)
    local, remote = tmp_path / "local", tmp_path / "remote"
    by_hand = prepare(project, str(tmp_path / "raw.csv"), local, {}, *flags)
    emulator.forget()
    in_bigquery = prepare(project, f"gs://{BUCKET}/{data}/*.csv", remote, cloud.env, *flags)

    manifest = json.loads((remote / "bigquery.json").read_text())
    for split in ("train", "eval"):
        assert rows_of(exported(emulator, manifest, split)) == rows_of([local / f"{split}.csv"])
        assert manifest["splits"][split]["rows"] == len(rows_of([local / f"{split}.csv"]))
    assert report(in_bigquery.stdout) == report(by_hand.stdout)
    if data == "messy":
        assert "dropped" in report(by_hand.stdout)[0] and "0 dropped" not in by_hand.stdout
    assert_same_stats(
        json.loads((local / "stats.json").read_text()),
        json.loads(cloud.read(manifest["stats"])),
        {split: exported(emulator, manifest, split) for split in ("train", "eval")},
    )
    instances = [json.loads(line) for line in (remote / "instances.json").read_text().splitlines()]
    assert len(instances) == 3
    jobs = emulator.jobs()
    queries = ["checks", "export-train", "export-eval", "statistics", "vocabularies"]
    # The load, a dry run of each query, then each query.
    assert [
        (job["configuration"]["labels"]["step"], job["configuration"].get("dryRun", False))
        for job in jobs
    ] == [("load", False), *((q, True) for q in queries), *((q, False) for q in queries)]
    for job in jobs:
        configuration = job["configuration"]
        assert configuration["labels"]["project"] in ("penguin-species", "house-prices")
        assert configuration["labels"]["commit"]
        if "query" in configuration:
            assert int(configuration["query"]["maximumBytesBilled"]) == 2**40


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)


def assert_same_stats(here: dict, there: dict, files: dict[str, list[Path]]) -> None:
    """BigQuery's stats file (`there`) holds the local one's statistics: counts, percentiles,
    vocabularies in their order, hashed counts and classes equal, means and variances within
    1e-9; and it describes the exported `files`, fingerprinted as the workstation does."""
    assert there["format"] == here["format"] and there["schema"] == here["schema"]
    assert set(there) == set(here)
    for split in ("train", "eval"):
        assert there[split].pop("files") == [
            dataclasses.asdict(fingerprint(path)) for path in files[split]
        ]
        del here[split]["files"]
        assert set(there[split]) == set(here[split])
        for statistic, value in here[split].items():
            if statistic in ("mean", "variance", "days_mean", "days_variance"):
                assert value.keys() == there[split][statistic].keys()
                far = {
                    k: (v, there[split][statistic][k])
                    for k, v in value.items()
                    if not close(v, there[split][statistic][k])
                }
                assert not far, (statistic, far)
            else:
                assert there[split][statistic] == value, statistic
    # What the files' statistics hold: every kind's sections, with something in them.
    train = here["train"]
    assert (
        train["rows"]
        and train["quantiles"]
        and all(len(q) == 99 for q in train["quantiles"].values())
    )
    if "days_mean" in train:
        assert train["hashed"] == {"agent_id": 40} and train["has_time"] == {"listing_date": True}
    else:
        assert train["vocabularies"]["island"] and train["classes"]


def bigquery_client(cloud: Cloud):
    from google.api_core.client_options import ClientOptions  # noqa: PLC0415
    from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415
    from google.cloud import bigquery  # noqa: PLC0415

    return bigquery.Client(
        project=bigquery_emulator.PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=cloud.emulator.url),
    )


TYPED = [
    ("id", "INT64"),
    ("species", "STRING"),
    ("island", "STRING"),
    ("bill_length_mm", "FLOAT64"),
    ("bill_depth_mm", "FLOAT64"),
    ("flipper_length_mm", "INT64"),
    ("body_mass_g", "INT64"),
    ("sex", "STRING"),
    ("year", "INT64"),
]


@pytest.fixture(scope="session")
def typed_table(default_project, cloud, tmp_path_factory) -> tuple[str, Path]:
    """The sample as a typed BigQuery table with an id column: bq://test-project.raw.penguins,
    and the same rows as a local CSV file."""
    from google.cloud import bigquery  # noqa: PLC0415

    rows = list(csv.reader((default_project / "data" / "penguins.csv").read_text().splitlines()))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [
            ["id", *rows[0]],
            # An empty field: NULL in a typed column (the emulator ignores null_marker).
            *(
                [str(1000 + n), *("" if v == "NA" else v for v in row)]
                for n, row in enumerate(rows[1:])
            ),
        ]
    )
    local = tmp_path_factory.mktemp("typed") / "penguins.csv"
    local.write_text(out.getvalue())
    cloud.put(f"gs://{BUCKET}/typed/penguins.csv", out.getvalue().encode())
    client = bigquery_client(cloud)
    dataset = bigquery.Dataset(f"{bigquery_emulator.PROJECT}.raw")
    dataset.location = "US"
    client.create_dataset(dataset, exists_ok=True)
    config = bigquery.LoadJobConfig(
        source_format="CSV",
        skip_leading_rows=1,
        schema=[bigquery.SchemaField(name, kind) for name, kind in TYPED],
    )
    table = f"{bigquery_emulator.PROJECT}.raw.penguins"
    client.load_table_from_uri(
        f"gs://{BUCKET}/typed/penguins.csv", table, job_config=config
    ).result()
    return f"bq://{table}", local


def ids(paths: list[Path]) -> set[str]:
    return {row[0] for row in rows_of(paths)}


def test_a_typed_table_split_by_its_key_puts_each_id_where_the_local_prepare_does(
    default_project, cloud, typed_table, tmp_path
):
    table, local_file = typed_table
    local, remote = tmp_path / "local", tmp_path / "remote"
    prepare(default_project, str(local_file), local, {}, "--key", "id")
    result = prepare(default_project, table, remote, cloud.env, "--key", "id")
    manifest = json.loads((remote / "bigquery.json").read_text())
    for split in ("train", "eval"):
        assert ids(exported(cloud.emulator, manifest, split)) == ids([local / f"{split}.csv"])
    assert "344 rows read, 0 dropped" in result.stdout

    # Again on the same table: nothing is sent, and nothing changes.
    before = (remote / "bigquery.json").read_bytes()
    cloud.emulator.forget()
    again = prepare(default_project, table, remote, cloud.env, "--key", "id")
    assert "unchanged since the prepare of" in again.stdout
    assert cloud.emulator.jobs() == []
    assert (remote / "bigquery.json").read_bytes() == before


def test_a_dry_run_prices_every_query_and_sends_nothing_else(
    default_project, cloud, typed_table, tmp_path
):
    table, _ = typed_table
    out = tmp_path / "data"
    cloud.emulator.forget()
    result = prepare(default_project, table, out, cloud.env, "--dry-run", "--shards", "2")
    assert result.stdout.startswith("BigQuery dry run: 6 queries will scan ")
    assert "per TiB, price checked 2026-12-07" in result.stdout
    jobs = cloud.emulator.jobs()
    assert [job["configuration"]["labels"]["step"] for job in jobs] == [
        "checks",
        "export-train",
        "export-train",
        "export-eval",
        "statistics",
        "vocabularies",
    ]
    assert all(job["configuration"]["dryRun"] for job in jobs)
    assert not out.exists()

    # Files in Cloud Storage: not even loaded; their size stands for each query's scan.
    raw = (default_project / "data" / "penguins.csv").read_bytes()
    cloud.put(f"gs://{BUCKET}/dry/penguins.csv", raw)
    cloud.emulator.forget()
    result = prepare(default_project, f"gs://{BUCKET}/dry/*.csv", out, cloud.env, "--dry-run")
    size = f"{5 * len(raw) / 1024:.1f} KiB"
    assert f"5 queries will scan {size} (about the files' size each" in result.stdout
    assert cloud.emulator.jobs() == []


@pytest.fixture(scope="module")
def prepared(default_project, cloud, tmp_path_factory) -> Path:
    """A data dir of the sample, prepared in BigQuery."""
    out = tmp_path_factory.mktemp("prepared") / "data"
    cloud.put(
        f"gs://{BUCKET}/good/penguins.csv", (default_project / "data" / "penguins.csv").read_bytes()
    )
    prepare(default_project, f"gs://{BUCKET}/good/*.csv", out, cloud.env)
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda text: text.replace("species,", "kind,", 1),
            "the label column 'species' is not in the header",
        ),
        (
            lambda text: text.replace("Torgersen,39.1", '"Torger\nsen",39.1', 1),
            "1 row(s) have a value with a line break, but the trainer reads a row per line",
        ),
        (
            lambda text: text.replace("39.1", "n.a.", 1),
            "column 'bill_length_mm' has 1 value(s) such as 'n.a.', but the project's schema "
            "reads 'bill_length_mm' as a number",
        ),
        (
            lambda text: "\n".join(
                line for line in text.splitlines() if not line.startswith("Chinstrap")
            ).replace("Gentoo", "Adelie"),
            "the label 'species' has a single class ('Adelie')",
        ),
    ],
)
def test_a_refused_source_changes_nothing(
    change, message, *, prepared, default_project, cloud, tmp_path
):
    out = tmp_path / "data"
    shutil.copytree(prepared, out)
    raw = (default_project / "data" / "penguins.csv").read_bytes()
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    exported_before = set(cloud.emulator.gcs_root.rglob("*.csv"))

    bad = change(raw.decode()).encode()
    cloud.put(f"gs://{BUCKET}/bad/penguins.csv", bad)
    result = prepare(default_project, f"gs://{BUCKET}/bad/*.csv", out, cloud.env, check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    new = set(cloud.emulator.gcs_root.rglob("*.csv")) - exported_before
    assert new <= {cloud.emulator.gcs_root / BUCKET / "bad" / "penguins.csv"}


def test_the_cloud_jobs_train_on_the_exported_files(default_project, cloud, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(default_project, project, symlinks=True)
    raw = (project / "data" / "penguins.csv").read_bytes()
    cloud.put(f"gs://{BUCKET}/jobs/penguins.csv", raw)
    prepare(project, f"gs://{BUCKET}/jobs/*.csv", project / "data", cloud.env, "--shards", "2")
    prefix = json.loads((project / "data" / "bigquery.json").read_text())["prefix"]

    env = {"CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "PYTHON": PYTHON, "BUCKET": BUCKET}
    result = run(["bash", "scripts/submit.sh", "STANDARD_1", "--dry-run"], cwd=project, env=env)
    args = " ".join(result.stdout.split())
    assert (
        f"- --train-files - {prefix}train-*.csv - --eval-files - {prefix}eval-*.csv "
        f"- --stats-file - {prefix}stats.json"
    ) in args
    assert "warning: the tier runs 5 machines on 2 training file(s)" in result.stderr

    # A local prepare takes the cloud jobs back to the staged split.
    prepare(project, "data/penguins.csv", project / "data", {})
    assert not (project / "data" / "bigquery.json").exists()
    result = run(["bash", "scripts/submit.sh", "BASIC", "--dry-run"], cwd=project, env=env)
    assert f"--train-files - gs://{BUCKET}/data/train.csv" in " ".join(result.stdout.split())


@pytest.fixture(scope="module")
def houses(template, tmp_path_factory) -> Path:
    """A regression with every kind: numbers, a date with and without times, a city and an agent
    id that max_vocabulary 10 hashes, and missing values in each."""
    return render(template, tmp_path_factory.mktemp("houses") / "project", **HOUSES_ANSWERS)


def test_shards_hold_their_splits_rows_and_the_trainer_trains_on_them_with_their_stats(
    default_project, cloud, tmp_path
):
    raw = (default_project / "data" / "penguins.csv").read_bytes()
    cloud.put(f"gs://{BUCKET}/shards/penguins.csv", raw)
    local, remote = tmp_path / "local", tmp_path / "remote"
    prepare(default_project, "data/penguins.csv", local, {})
    prepare(default_project, f"gs://{BUCKET}/shards/*.csv", remote, cloud.env, "--shards", "3")
    manifest = json.loads((remote / "bigquery.json").read_text())
    files = {split: exported(cloud.emulator, manifest, split) for split in ("train", "eval")}
    assert [path.name for path in files["train"]] == [
        f"train-0000{i}-of-00003-000000000000.csv" for i in range(3)
    ]
    shards = [rows_of([path]) for path in files["train"]]
    assert sorted(row for shard in shards for row in shard) == rows_of([local / "train.csv"])
    assert min(map(len, shards)) > 0.2 * len(rows_of([local / "train.csv"]))

    stats = tmp_path / "stats.json"
    stats.write_bytes(cloud.read(manifest["stats"]))
    task = [PYTHON, "-m", "trainer.task", "--num-epochs", "1", "--job-dir", str(tmp_path / "job")]
    data = ["--train-files", *map(str, files["train"]), "--eval-files", *map(str, files["eval"])]
    result = run([*task, *data, "--stats-file", str(stats)], cwd=default_project)
    log = result.stdout + result.stderr
    assert "Statistics from" in log and "which describes these 3 training file(s)" in log
    assert (tmp_path / "job" / "model" / "saved_model.pb").exists()


def test_a_date_past_its_months_end_is_refused_here_and_in_bigquery(houses, cloud, tmp_path):
    raw = write_houses(tmp_path / "houses.csv").read_text().replace("2021-02-08", "2021-02-30")
    (tmp_path / "houses.csv").write_text(raw)
    cloud.put(f"gs://{BUCKET}/dates/houses.csv", raw.encode())
    here = prepare(houses, str(tmp_path / "houses.csv"), tmp_path / "here", {}, check=False)
    there = prepare(
        houses, f"gs://{BUCKET}/dates/*.csv", tmp_path / "there", cloud.env, check=False
    )
    for result in (here, there):
        assert result.returncode == 1
        assert "column 'listing_date' has" in result.stderr and "'2021-02-30'" in result.stderr


def test_data_outside_the_projects_region_is_refused_before_any_job(
    cloud, default_project, tmp_path
):
    from google.cloud import bigquery  # noqa: PLC0415

    client = bigquery_client(cloud)
    dataset = bigquery.Dataset(f"{bigquery_emulator.PROJECT}.europe")
    dataset.location = "EU"
    client.create_dataset(dataset, exists_ok=True)
    client.query(
        "CREATE TABLE IF NOT EXISTS `test-project.europe.penguins` AS "
        "SELECT 'Adelie' AS species, 'Dream' AS island"
    ).result()
    cloud.emulator.forget()
    result = prepare(
        default_project, "bq://test-project.europe.penguins", tmp_path, cloud.env, check=False
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert (
        "error: bq://test-project.europe.penguins: its BigQuery dataset is in EU, but the "
        f"project's bucket gs://{BUCKET} is in us-central1"
    ) in result.stderr
    assert cloud.emulator.jobs() == []
    assert not list(tmp_path.iterdir())


def data_command(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return run([PYTHON, "-m", "workflow.data", *args], cwd=project, env=env)


@pytest.mark.parametrize("data", ["penguins", "messy", "houses"])
def test_describe_and_schema_of_bigquery_data_are_the_local_ones(
    data, default_project, houses, cloud, tmp_path
):
    project, raw = default_project, (default_project / "data" / "penguins.csv").read_bytes()
    if data == "messy":
        raw = messy_penguins(default_project / "data" / "penguins.csv")
    elif data == "houses":
        project, raw = houses, write_houses(tmp_path / "h.csv", n=500).read_bytes()
    (tmp_path / "raw.csv").write_bytes(raw)
    cloud.put(f"gs://{BUCKET}/describe-{data}/raw.csv", raw)
    uri = f"gs://{BUCKET}/describe-{data}/*.csv"
    label = "price" if data == "houses" else "species"

    here = data_command(project, {}, "describe", str(tmp_path / "raw.csv"))
    there = data_command(project, cloud.env, "describe", uri)
    cost, *table = there.stdout.splitlines()
    assert cost.startswith("BigQuery dry run: 2 queries will scan ")
    assert table[1:] == here.stdout.splitlines()[1:]  # the first line names the source

    if data == "houses":  # every kind of column, and one left out: the same proposal
        answers = {}
        for where, env, source in (
            ("here", {}, str(tmp_path / "raw.csv")),
            ("there", cloud.env, uri),
        ):
            written = tmp_path / f"{where}.yml"
            data_command(project, env, "schema", source, "--label", label, "--write", str(written))
            answers[where] = written.read_text()
        assert answers["there"] == answers["here"]


def test_the_schema_of_a_typed_table_proposes_its_key(default_project, cloud, typed_table):
    table, _ = typed_table
    result = data_command(default_project, cloud.env, "schema", table, "--label", "species")
    assert "note: split this table by its key 'id': set `key: id` under split:" in result.stdout


def test_a_view_that_cannot_be_read_is_refused_before_any_job_runs(
    default_project, cloud, typed_table, tmp_path
):
    client = bigquery_client(cloud)
    client.query(
        "CREATE TABLE `test-project.raw.gone` AS SELECT * FROM `test-project.raw.penguins`"
    ).result()
    client.query(
        "CREATE VIEW `test-project.raw.broken` AS SELECT * FROM `test-project.raw.gone`"
    ).result()
    client.query("DROP TABLE `test-project.raw.gone`").result()
    cloud.emulator.forget()
    result = prepare(
        default_project, "bq://test-project.raw.broken", tmp_path, cloud.env, check=False
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: BigQuery refused the checks step: ")
    assert "test-project.raw.gone was not found" in result.stderr
    assert all(job["configuration"].get("dryRun") for job in cloud.emulator.jobs())
    assert not list(tmp_path.iterdir())


def test_three_splits_hold_the_local_prepares_rows(default_project, cloud, tmp_path):
    raw = (default_project / "data" / "penguins.csv").read_bytes()
    cloud.put(f"gs://{BUCKET}/three/penguins.csv", raw)
    fractions = ("--train-fraction", "0.7", "--eval-fraction", "0.15", "--test-fraction", "0.15")
    local, remote = tmp_path / "local", tmp_path / "remote"
    prepare(default_project, "data/penguins.csv", local, {}, *fractions)
    prepare(default_project, f"gs://{BUCKET}/three/*.csv", remote, cloud.env, *fractions)
    manifest = json.loads((remote / "bigquery.json").read_text())
    assert set(manifest["splits"]) == {"train", "eval", "test"}
    for split in ("train", "eval", "test"):
        assert rows_of(exported(cloud.emulator, manifest, split)) == rows_of(
            [local / f"{split}.csv"]
        )
