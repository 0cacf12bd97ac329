"""The stats file: written once on the workstation with the trainer's own numbers, used by the
trainer instead of a scan, and refused when the files it describes have changed."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from trainer import inputs
from trainer.features import SCHEMA
from trainer.schema import Schema
from trainer.stats import StatsFile
from workflow import split_stats

from conftest import run_trainer, synthetic_rows, the_error_line, write_csv

ROOT = Path(__file__).parent.parent


def _awkward_csv(path: Path, n: int, seed: int) -> Path:
    """Synthetic rows as files come: Windows line ends, blank lines, a quoted comma in an unused
    column, a byte-order mark, missing values of every spelling."""
    rows = synthetic_rows(SCHEMA, n, seed)
    for i, row in enumerate(rows):
        row["unused_note"] = f"row {i}, quoted"
    plain = write_csv(path, rows)
    lines = plain.read_text().splitlines()
    lines[5:5] = ["", "   "]
    path.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode() + b"\r\n")
    return path


@pytest.fixture
def split(tmp_path) -> tuple[list[str], list[str]]:
    """Two training files, one of several scan blocks (4096 lines), and an evaluation file."""
    train = [
        str(_awkward_csv(tmp_path / "train-00000-of-00002.csv", 20_000, seed=1)),
        str(_awkward_csv(tmp_path / "train-00001-of-00002.csv", 700, seed=2)),
    ]
    return train, [str(write_csv(tmp_path / "eval.csv", synthetic_rows(SCHEMA, 90, seed=3)))]


def _write_stats(split, path: Path) -> Path:
    train, eval_ = split
    split_stats.write(split_stats.describe(train, eval_, SCHEMA), path)
    return path


def _rchar() -> int:
    """Bytes this process has read so far, TensorFlow's threads included."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"])


def test_the_workstation_computes_what_the_trainers_scan_computes(split, tmp_path):
    train, _ = split
    scanned = inputs.scan(train, SCHEMA)
    assert split_stats.scan(train, SCHEMA) == scanned  # the same blocks: the very same floats
    written = StatsFile.from_json(_write_stats(split, tmp_path / "stats.json").read_text(), "x")
    assert written.train.stats == scanned
    assert written.schema == SCHEMA
    assert [f.name for f in written.train.files] == [Path(p).name for p in train]


def test_with_the_stats_file_the_trainer_reads_no_training_rows_before_training(split, tmp_path):
    train, eval_ = split
    stats_path = str(_write_stats(split, tmp_path / "stats.json"))
    size = sum(Path(p).stat().st_size for p in train)
    inputs.statistics(SCHEMA, train, eval_)  # a first run, so that both measure the same work

    before = _rchar()
    scanned = inputs.statistics(SCHEMA, train, eval_)
    scanning = _rchar() - before
    before = _rchar()
    read = inputs.statistics(SCHEMA, train, eval_, stats_path)
    with_stats = _rchar() - before

    assert read == scanned
    assert scanning > size
    # The headers, and each file's probe blocks (its first and last 64 KiB): 1 MB and 35 KB here.
    assert with_stats < 0.3 * size, (with_stats, size)


def _refusal(split, stats_path: Path, train=None, eval_=None) -> str:
    with pytest.raises(inputs.DataError) as error:
        inputs.statistics(SCHEMA, train or split[0], eval_ or split[1], str(stats_path))
    return str(error.value)


def test_a_training_file_changed_since_is_named(split, tmp_path):
    stats_path = _write_stats(split, tmp_path / "stats.json")
    changed = Path(split[0][1])
    with changed.open("a") as f:
        f.write(changed.read_text().splitlines()[-1] + "\n")
    message = _refusal(split, stats_path)
    assert message.startswith(f"{changed}: changed since {stats_path} was written (")
    assert "bytes, not" in message


def test_an_edit_of_the_same_length_is_caught_in_the_probed_blocks(split, tmp_path):
    stats_path = _write_stats(split, tmp_path / "stats.json")
    changed = Path(split[0][0])
    content = changed.read_bytes()
    last = content.rstrip().rsplit(b"\r\n", 1)[-1]
    edited = last.replace(b"row 19999", b"row 99999")
    assert edited != last
    changed.write_bytes(content.replace(last, edited))
    assert f"{changed}: changed since {stats_path} was written (the same size, other content)" in (
        _refusal(split, stats_path)
    )


def test_files_other_than_the_described_ones_are_refused(split, tmp_path):
    stats_path = _write_stats(split, tmp_path / "stats.json")
    train = split[0]
    assert _refusal(split, stats_path, train=train[:1]) == (
        f"{stats_path}: describes the training file train-00001-of-00002.csv, not given"
    )
    other = str(write_csv(tmp_path / "other.csv", synthetic_rows(SCHEMA, 30, seed=9)))
    assert _refusal(split, stats_path, train=[*train, other]).startswith(
        f"{other}: not a training file of {stats_path}"
    )


def test_a_stats_file_of_another_schema_or_none_at_all_is_refused(split, tmp_path):
    stats_path = _write_stats(split, tmp_path / "stats.json")
    content = json.loads(stats_path.read_text())
    content["schema"]["label"] = "something_else"
    stats_path.write_text(json.dumps(content))
    assert "written for another schema (label 'something_else'" in _refusal(split, stats_path)
    content["format"] = 1  # before the quantiles: an older release's file
    stats_path.write_text(json.dumps(content))
    assert _refusal(split, stats_path) == (
        f"{stats_path}: written by an older release of the template (format 1; the trainer "
        "reads format 2); run `make prepare` again"
    )
    stats_path.write_text("{}")
    assert _refusal(split, stats_path).startswith(f"{stats_path}: not a stats file")
    assert _refusal(split, tmp_path / "missing.json") == (
        f"{tmp_path / 'missing.json'}: no such file; `make prepare` writes it"
    )


@pytest.mark.parametrize("dates", [(), ("sold_on",)], ids=["without-dates", "with-dates"])
def test_the_sections_of_dates_are_in_a_stats_file_only_with_datetime_features(tmp_path, dates):
    """A stats file holds the dates' schema field and sections only when the schema has dates:
    the file of a schema without them has none of them."""
    schema = Schema(label="target", task_type="regression", numeric=("width",), datetime=dates)
    train, eval_ = (
        str(write_csv(tmp_path / f"{name}.csv", synthetic_rows(schema, 40, seed)))
        for name, seed in (("train", 1), ("eval", 2))
    )
    stats_file = split_stats.describe([train], [eval_], schema)
    content = json.loads(stats_file.to_json())
    sections = ("days_mean", "days_variance", "has_time")
    assert ("datetime" in content["schema"]) == bool(dates)
    assert all((section in content["train"]) == bool(dates) for section in sections)
    assert list(content["train"]).index("variance") < list(content["train"]).index("vocabularies")
    assert StatsFile.from_json(stats_file.to_json(), "stats.json") == stats_file


def test_evaluation_files_it_does_not_describe_are_scanned(split, tmp_path):
    stats_path = _write_stats(split, tmp_path / "stats.json")
    rows = synthetic_rows(SCHEMA, 40, seed=4)
    if SCHEMA.numeric or SCHEMA.task_type == "regression":
        column = SCHEMA.numeric[0] if SCHEMA.numeric else SCHEMA.label
        rows[5][column] = "twelve"
        message = f"other-eval.csv, line 7: column '{column}' has the non-numeric"
    else:
        rows[5][SCHEMA.label] = "a-new-class"
        message = "never seen in the training files"
    other = str(write_csv(tmp_path / "other-eval.csv", rows))
    assert message in _refusal(split, stats_path, eval_=[other])


def test_the_job_refuses_a_stale_stats_file_with_one_error_line(split, tmp_path):
    stats_path = _write_stats(split, tmp_path / "stats.json")
    Path(split[0][0]).write_text(Path(split[0][0]).read_text()[:-40] + "\n")
    result = run_trainer(
        *("--train-files", *split[0], "--eval-files", *split[1]),
        *("--job-dir", str(tmp_path / "job"), "--stats-file", str(stats_path)),
        cwd=ROOT,
    )
    error = the_error_line(result)
    assert error.startswith(f"error: {split[0][0]}: changed since {stats_path} was written")
    assert not (tmp_path / "job").exists()


def test_each_worker_reads_only_its_own_files_and_together_every_row(tmp_path):
    files = [
        str(write_csv(tmp_path / f"train-{i:05d}-of-00005.csv", synthetic_rows(SCHEMA, 20 + i, i)))
        for i in range(5)
    ]
    classes = inputs.scan(files, SCHEMA).classes

    def rows_read(worker) -> list[str]:
        dataset = inputs.make_dataset(files, SCHEMA, classes, 8, False, worker=worker)
        return [
            repr(features)
            for batch, _ in dataset.as_numpy_iterator()
            for features in zip(*batch.values(), strict=True)
        ]

    everything = rows_read(None)
    shares = [rows_read((index, 2)) for index in range(2)]
    assert len(shares[0]) == 20 + 22 + 24 and len(shares[1]) == 21 + 23
    assert sorted(shares[0] + shares[1]) == sorted(everything)


def test_with_fewer_files_than_workers_each_reads_all_and_the_chief_warns_once(tmp_path, caplog):
    import tensorflow as tf  # noqa: PLC0415

    path = str(write_csv(tmp_path / "train.csv", synthetic_rows(SCHEMA, 30, seed=1)))
    classes = inputs.scan([path], SCHEMA).classes
    dataset = inputs.make_dataset([path], SCHEMA, classes, 8, True, seed=1, worker=(1, 2))
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    for index in range(2):
        inputs.log_worker_share([path], [path], (index, 2), 30)
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (
        "1 training file(s) for 2 workers: each worker reads all 30 rows and keeps 1/2 of them. "
        "Split the data into at least as many files as workers (make prepare SHARDS=2) so that "
        "each reads only its own."
    )


@pytest.mark.skipif(not SCHEMA.is_classification, reason="a regression has no classes")
def test_a_stats_file_of_a_single_class_is_refused_by_the_job(tmp_path):
    """`make prepare` refuses such data; a stats file written otherwise is refused too."""
    rows = [row | {SCHEMA.label: "low"} for row in synthetic_rows(SCHEMA, 60, seed=4)]
    train = str(write_csv(tmp_path / "train.csv", rows))
    stats_path = _write_stats(([train], [train]), tmp_path / "stats.json")
    result = run_trainer(
        *("--train-files", train, "--eval-files", train, "--job-dir", str(tmp_path / "job")),
        *("--stats-file", str(stats_path)),
        cwd=ROOT,
    )
    assert the_error_line(result).startswith(
        f"error: {train}: the label '{SCHEMA.label}' has a single class ('low') in all 60 "
        "training rows: a classifier needs at least two"
    )
