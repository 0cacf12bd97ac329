"""Staging data in Cloud Storage (workflow/staging.py and `make stage-data`), against the storage
emulator behind a proxy that keeps bucket locations, and endpoints that answer bucket metadata:
the bucket is created the right way, the split `make prepare` wrote lands unchanged, unchanged
files are not sent again, a dry run sends nothing, and wrong buckets or bad input stop everything
before the first upload."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

from endpoints import RecordingEndpoint, bucket_metadata_endpoint, storage_with_locations
from test_answers import BAD_ANSWERS

from conftest import ROOT, VENV_BIN, render, run, storage_client

sys.path.insert(0, str(ROOT / "template"))
from workflow import gcs, staging

COLUMNS = ("species", "island", "bill_length_mm")
MAKE_VENV = f"VENV={VENV_BIN.parent}"
_names = itertools.count()


@pytest.fixture
def bucket_name() -> str:
    """A fresh name per test: the emulator is shared by the session."""
    return f"staging-test-{os.getpid()}-{next(_names)}"


@pytest.fixture
def storage(storage_emulator):
    endpoint = storage_with_locations(storage_emulator)
    yield endpoint
    endpoint.stop()


def _csv(path: Path, rows: int = 3, header: str = ",".join(COLUMNS)) -> Path:
    lines = [header] + [f"Adelie,Dream,{30 + i}.5" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _uploads(endpoint: RecordingEndpoint) -> list:
    return [r for r in endpoint.requests if r.path.startswith("/upload/")]


def _bucket_creations(endpoint: RecordingEndpoint) -> list:
    return [r for r in endpoint.requests if r.method == "POST" and r.path == "/storage/v1/b"]


def _stage(endpoint, files, bucket, region="europe-west4", **kwargs):
    return staging.stage(
        storage_client(endpoint.url),
        files,
        bucket,
        region,
        required_columns=COLUMNS,
        log=lambda _: None,
        **kwargs,
    )


def test_a_missing_bucket_is_created_private_in_the_region_and_files_land(
    storage, bucket_name, tmp_path
):
    files = [_csv(tmp_path / "train.csv", 20), _csv(tmp_path / "eval.csv", 5)]
    staged = _stage(storage, files, bucket_name)

    [create] = _bucket_creations(storage)
    assert "project=test-project" in create.query
    body = create.json()
    assert body["name"] == bucket_name
    assert body["location"] == "europe-west4"
    assert body["iamConfiguration"]["uniformBucketLevelAccess"] == {"enabled": True}
    assert body["iamConfiguration"]["publicAccessPrevention"] == "enforced"

    assert [s.uri for s in staged] == [
        f"gs://{bucket_name}/data/train.csv",
        f"gs://{bucket_name}/data/eval.csv",
    ]
    assert all(s.uploaded for s in staged)
    bucket = storage_client(storage.url).bucket(bucket_name)
    for path in files:
        assert bucket.blob(f"data/{path.name}").download_as_bytes() == path.read_bytes()
    assert staging.training_flags(s.uri for s in staged) == (
        f"--train-files gs://{bucket_name}/data/train.csv "
        f"--eval-files gs://{bucket_name}/data/eval.csv"
    )


def test_a_rerun_sends_nothing_and_a_changed_file_is_sent_again(storage, bucket_name, tmp_path):
    train, eval_ = _csv(tmp_path / "train.csv", 20), _csv(tmp_path / "eval.csv", 5)
    _stage(storage, [train, eval_], bucket_name)
    storage.requests.clear()

    staged = _stage(storage, [train, eval_], bucket_name)
    assert [s.uploaded for s in staged] == [False, False]
    assert _uploads(storage) == []
    assert _bucket_creations(storage) == []

    _csv(eval_, 6)
    staged = _stage(storage, [train, eval_], bucket_name)
    assert [s.uploaded for s in staged] == [False, True]
    assert len(_uploads(storage)) == 1
    remote = storage_client(storage.url).bucket(bucket_name).blob("data/eval.csv")
    assert remote.download_as_bytes() == eval_.read_bytes()


def test_a_large_file_goes_up_resumably_with_a_progress_bar(storage, bucket_name, tmp_path, capsys):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(gcs.RESUMABLE_THRESHOLD + 3 * 1024 * 1024))
    [staged] = _stage(storage, [big], bucket_name)
    assert staged.uploaded
    uploads = _uploads(storage)
    assert "uploadType=resumable" in uploads[0].query
    chunks = [r for r in uploads if r.method == "PUT"]
    assert len(chunks) == -(-big.stat().st_size // gcs.CHUNK_SIZE)  # ceil: 8 MiB chunks
    assert "data/big.bin" in capsys.readouterr().err  # tqdm's bar, on stderr
    remote = storage_client(storage.url).bucket(bucket_name).blob("data/big.bin")
    assert remote.download_as_bytes() == big.read_bytes()


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (("US", "multi-region"), "is a multi-region bucket (us)"),
        (("NAM4", "dual-region"), "is a dual-region bucket (nam4)"),
        (("US-EAST1", "region"), "is in us-east1, but the job runs in europe-west4"),
    ],
    ids=["multi-region", "dual-region", "other-region"],
)
def test_a_wrong_bucket_is_refused_before_any_upload(tmp_path, location, message):
    endpoint = bucket_metadata_endpoint({"existing": location})
    try:
        with pytest.raises(gcs.BucketError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _stage(endpoint, [_csv(tmp_path / "train.csv")], "existing")
        assert [(r.method, r.path) for r in endpoint.requests] == [
            ("GET", "/storage/v1/b/existing")
        ]
    finally:
        endpoint.stop()


def test_allow_multi_region_only_warns(storage, bucket_name, tmp_path, caplog):
    storage_client(storage.url).create_bucket(bucket_name, location="US")
    train = _csv(tmp_path / "train.csv")
    with pytest.raises(gcs.BucketError, match="multi-region"):
        _stage(storage, [train], bucket_name)
    assert _uploads(storage) == []

    [staged] = _stage(storage, [train], bucket_name, allow_multi_region=True)
    assert staged.uploaded
    assert "is a multi-region bucket (us)" in caplog.text


def test_a_name_owned_elsewhere_is_a_clear_error(tmp_path):
    endpoint = RecordingEndpoint()
    endpoint.route("GET", r"/storage/v1/b/taken", lambda r, m: (404, {"error": {"code": 404}}))
    endpoint.route("POST", r"/storage/v1/b", lambda r, m: (409, {"error": {"code": 409}}))
    endpoint.route("GET", r"/storage/v1/b/private", lambda r, m: (403, {"error": {"code": 403}}))
    endpoint.start()
    try:
        with pytest.raises(gcs.BucketError, match="gs://taken is taken"):
            _stage(endpoint, [_csv(tmp_path / "train.csv")], "taken")
        with pytest.raises(gcs.BucketError, match="no access to gs://private"):
            _stage(endpoint, [_csv(tmp_path / "train.csv")], "private")
        assert not [r for r in endpoint.requests if r.path.startswith("/upload/")]
    finally:
        endpoint.stop()


@pytest.mark.parametrize(
    ("content", "bucket", "message"),
    [
        (None, "good-name", "train.csv: no such file"),
        (
            "Adelie,Dream,39.5\n",
            "good-name",
            "train.csv: the first line looks like data, not a header of column names",
        ),
        (
            "kind,island,bill_length_mm\nAdelie,Dream,39.5\n",
            "good-name",
            "declared column(s) species missing from the header (kind, island, bill_length_mm)",
        ),
        (
            "species,island,bill_length_mm\nAdelie,Dream,39.5\n",
            "Bad_Bucket",
            "bucket: 'Bad_Bucket' is not a valid bucket name",
        ),
    ],
    ids=["missing-file", "no-header", "no-label", "bad-bucket"],
)
def test_bad_input_is_refused_before_any_request(tmp_path, content, bucket, message):
    good = _csv(tmp_path / "eval.csv")
    bad = tmp_path / "train.csv"
    if content is not None:
        bad.write_text(content)
    endpoint = RecordingEndpoint().start()
    try:
        with pytest.raises(staging.StagingError) as error:
            _stage(endpoint, [good, bad], bucket)
        assert message in str(error.value)
        assert endpoint.requests == []
    finally:
        endpoint.stop()


@pytest.mark.parametrize(
    "name", [answer for question, answer, _ in BAD_ANSWERS if question == "bucket"]
)
def test_every_bucket_name_the_questionnaire_refuses_is_refused_here_too(name):
    """`make stage-data BUCKET=...` bypasses copier's validator: the same rules apply."""
    assert gcs.bucket_name_problem(name)


@pytest.mark.parametrize("name", ["my_bucket.v2-data", "my-gcp-project-penguin-species", "a1b"])
def test_a_valid_bucket_name_passes(name):
    assert gcs.bucket_name_problem(name) is None


# ------------------------------------------------------------------- the generated project


@pytest.fixture(scope="module")
def project(template, tmp_path_factory) -> Path:
    return render(template, tmp_path_factory.mktemp("staging") / "project")


def test_make_stage_data_uploads_the_prepared_split_and_then_sends_only_changes(project, storage):
    env = {"STORAGE_EMULATOR_HOST": storage.url.rstrip("/")}
    bucket = "my-gcp-project-penguin-species"  # the default answers
    # One's own CSV, prepared: staging sends its split, and does not prepare the sample again.
    header, *rows = (project / "data/penguins.csv").read_text().splitlines()
    (project / "own.csv").write_text("\n".join([header, *rows[::2]]) + "\n")
    run(["make", "prepare", MAKE_VENV, "RAW_DATA=own.csv"], cwd=project)
    prepared = {name: (project / "data" / name).read_bytes() for name in ("train.csv", "eval.csv")}
    assert prepared["train.csv"] != (ROOT / "template/data/train.csv").read_bytes()

    result = run(["make", "stage-data", MAKE_VENV], cwd=project, env=env)
    for name, content in prepared.items():
        assert (project / "data" / name).read_bytes() == content
    assert f"Created gs://{bucket} in us-central1" in result.stdout
    assert (
        f"--train-files gs://{bucket}/data/train.csv --eval-files gs://{bucket}/data/eval.csv"
        in result.stdout
    )
    [create] = _bucket_creations(storage)
    assert "project=my-gcp-project" in create.query
    assert create.json()["location"] == "us-central1"
    remote = storage_client(storage.url).bucket(bucket)
    for name in ("train.csv", "eval.csv"):
        assert (
            remote.blob(f"data/{name}").download_as_bytes()
            == (project / "data" / name).read_bytes()
        )

    storage.requests.clear()
    result = run(["make", "stage-data", MAKE_VENV], cwd=project, env=env)
    assert result.stdout.count("unchanged, not sent") == 3  # the split and its stats file
    assert _uploads(storage) == []

    # New rows land in one split or the other; only the files that changed go up again: that
    # split, and the stats file that describes it.
    with (project / "own.csv").open("a") as f:
        f.write("Gentoo,Biscoe,50.1,15.2,220,5300,male,2010\n")
    result = run(
        ["make", "prepare", "stage-data", MAKE_VENV, "RAW_DATA=own.csv"], cwd=project, env=env
    )
    assert result.stdout.count("unchanged, not sent") == 1
    assert len(_uploads(storage)) == 2
    for name in ("train.csv", "eval.csv"):
        assert (
            remote.blob(f"data/{name}").download_as_bytes()
            == (project / "data" / name).read_bytes()
        )


@pytest.mark.parametrize(
    ("make_args", "file_content", "message"),
    [
        (["BUCKET=Not_A_Bucket"], None, "error: bucket: 'Not_A_Bucket' is not a valid bucket name"),
        (
            ["STAGE_FILES=data/train.csv data/nope.csv"],
            None,
            "error: data/nope.csv: no such file; `make prepare RAW_DATA=your.csv` writes the split",
        ),
        (
            ["STAGE_FILES=extra.csv"],
            "Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n",
            "error: extra.csv: the first line looks like data",
        ),
        (
            ["STAGE_FILES=extra.csv"],
            "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n",
            "error: extra.csv: declared column(s) species missing from the header",
        ),
    ],
    ids=["bad-bucket", "missing-file", "no-header", "no-label"],
)
def test_make_stage_data_refuses_bad_input_with_one_line(
    project, storage, make_args, file_content, message
):
    if file_content is not None:
        (project / "extra.csv").write_text(file_content)
    env = {"STORAGE_EMULATOR_HOST": storage.url.rstrip("/")}
    result = run(
        ["make", "--silent", "stage-data", MAKE_VENV, *make_args], cwd=project, env=env, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert storage.requests == []


def test_make_stage_data_dry_run_shows_the_bucket_and_uploads_and_sends_nothing(project):
    endpoint = RecordingEndpoint().start()  # records every request, and answers each with 404
    try:
        result = run(
            ["make", "--silent", "stage-data", MAKE_VENV, "STAGE_ARGS=--dry-run"],
            cwd=project,
            env={"STORAGE_EMULATOR_HOST": endpoint.url.rstrip("/")},
        )
        assert endpoint.requests == []
    finally:
        endpoint.stop()
    bucket = "gs://my-gcp-project-penguin-species"
    assert "Dry run, nothing sent" in result.stdout
    assert (
        f"gcloud storage buckets create {bucket} --project=my-gcp-project --location=us-central1 "
        "--uniform-bucket-level-access --public-access-prevention"
    ) in result.stdout
    for name in ("train.csv", "eval.csv"):
        size = (project / "data" / name).stat().st_size
        assert f"data/{name} -> {bucket}/data/{name} ({size:,} bytes)" in " ".join(
            result.stdout.split()
        )
    assert f"--train-files {bucket}/data/train.csv --eval-files {bucket}/data/eval.csv" in (
        result.stdout
    )


@pytest.fixture
def sharded_project(template, tmp_path) -> Path:
    """A default project whose sample is prepared in 4 training shards."""
    project = render(template, tmp_path / "project")
    run(["make", "prepare", MAKE_VENV, "SHARDS=4"], cwd=project)
    return project


def test_make_stage_data_uploads_every_shard_and_the_stats_file_beside_them(
    sharded_project, storage, bucket_name
):
    bucket = bucket_name  # the emulator outlives the test: a bucket of its own
    env = {"STORAGE_EMULATOR_HOST": storage.url.rstrip("/")}
    result = run(
        ["make", "stage-data", MAKE_VENV, f"BUCKET={bucket}"], cwd=sharded_project, env=env
    )
    names = [f"train-{i:05d}-of-00004.csv" for i in range(4)] + ["eval.csv", "stats.json"]
    remote = storage_client(storage.url).bucket(bucket)
    for name in names:
        local = (sharded_project / "data" / name).read_bytes()
        assert remote.blob(f"data/{name}").download_as_bytes() == local, name
    assert (
        f"--train-files gs://{bucket}/data/train-*-of-00004.csv "
        f"--eval-files gs://{bucket}/data/eval.csv --stats-file gs://{bucket}/data/stats.json"
    ) in result.stdout


@pytest.mark.parametrize(
    ("change", "stage_files", "message"),
    [
        (
            "append",
            None,
            "error: data/train-00001-of-00004.csv: changed since data/stats.json was written; "
            "run `make prepare` again",
        ),
        (
            None,
            "data/eval.csv data/stats.json",
            "error: data/stats.json describes train-00000-of-00004.csv, which is not among the "
            "files given with it",
        ),
    ],
    ids=["changed-since", "without-its-files"],
)
def test_a_stats_file_is_staged_only_with_the_files_it_describes(
    sharded_project, storage, change, stage_files, message
):
    if change:
        with (sharded_project / "data/train-00001-of-00004.csv").open("a") as f:
            f.write("Gentoo,Biscoe,50.1,15.2,220,5300,male,2010\n")
    env = {"STORAGE_EMULATOR_HOST": storage.url.rstrip("/")}
    make_args = [f"STAGE_FILES={stage_files}"] if stage_files else []
    result = run(
        ["make", "--silent", "stage-data", MAKE_VENV, *make_args],
        cwd=sharded_project,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert storage.requests == []
