"""workflow/data/ on the bundled sample and on a second dataset: the split reproduces the shipped
files, holds its fractions and never moves an old row; the schema proposal matches the expected
answers, copier applies it as printed, and the trainer trains with it.

`prepare` reads the project's schema (trainer/features.py, rendered), so it runs in a rendered
project, as `make prepare` runs it."""

from __future__ import annotations

import csv
import dataclasses
import errno
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN, copier_config, render, run, write_houses

sys.path.insert(0, str(ROOT / "template"))
from trainer.schema import Schema
from trainer.stats import StatsFile
from workflow.data import cli
from workflow.data.describe import describe
from workflow.data.proposal import propose_schema
from workflow.data.settings import SPLITS

SAMPLE = ROOT / "template" / "data"
PYTHON = str(VENV_BIN / "python")
MAKE_VENV = f"VENV={VENV_BIN.parent}"
PENGUIN = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year"
ADELIE = "Adelie,Torgersen,39.1,18.7,181,3750,male,2007"


def _prepare(project: Path, out: Path, source: Path, *flags: str, check: bool = True):
    return run(
        [PYTHON, "-m", "workflow.data", "prepare", str(source), "--out-dir", str(out), *flags],
        cwd=project,
        check=check,
    )


def _rows(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


# ------------------------------------------------------------------------------------- split


def test_prepare_reproduces_the_shipped_split_and_instances_and_repeats_itself(
    default_project, tmp_path
):
    """So that `make prepare` on the sample leaves a fresh project's files unchanged: it only
    adds the stats file."""
    out, again = tmp_path / "out", tmp_path / "again"
    _prepare(default_project, out, SAMPLE / "penguins.csv")
    shipped = ["eval.csv", "instances.json", "train.csv"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*shipped, "stats.json"])
    for name in shipped:
        assert (out / name).read_bytes() == (default_project / "data" / name).read_bytes(), name
    _prepare(default_project, again, SAMPLE / "penguins.csv")
    for name in [*shipped, "stats.json"]:
        assert (again / name).read_bytes() == (out / name).read_bytes()


# The training statistics, as the trainer's own scan computes them in a rendered project.
TRAINER_SCAN = """
import dataclasses, json, sys
from trainer import inputs
from trainer.features import SCHEMA
print(json.dumps(dataclasses.asdict(inputs.scan(sys.argv[1:], SCHEMA))))
"""


def _trainer_scan(project: Path, files: list[Path]) -> dict:
    result = run([PYTHON, "-c", TRAINER_SCAN, *map(str, files)], cwd=project)
    return json.loads(result.stdout.splitlines()[-1])


def _described(stats_file: Path, split: str) -> dict:
    """The statistics of a split, as the trainer reads them from the stats file (where a kind
    without columns may have no sections)."""
    described = getattr(StatsFile.from_json(stats_file.read_text(), str(stats_file)), split)
    return dataclasses.asdict(described.stats)


def test_prepare_in_shards_is_the_same_split_row_for_row_with_the_trainers_statistics(
    default_project, tmp_path
):
    """Rows fill the shards in turn: taking them back in turn gives the single file, byte for
    byte, header apart. The stats file holds what the trainer's scan computes of the shards, and
    the same numbers (to rounding) as for one file."""
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    _prepare(default_project, single, SAMPLE / "penguins.csv")
    result = _prepare(
        default_project, sharded, SAMPLE / "penguins.csv", "--shards", "4", "--eval-shards", "3"
    )
    assert (
        f"{sharded}/train-00000-of-00004.csv ... {sharded}/train-00003-of-00004.csv: 263 rows "
        "(76.5%) in 4 shards"
    ) in result.stdout
    for split, count in (("train", 4), ("eval", 3)):
        shards = [sharded / f"{split}-{i:05d}-of-{count:05d}.csv" for i in range(count)]
        header, *rows = (single / f"{split}.csv").read_text().splitlines(keepends=True)
        parts = [path.read_text().splitlines(keepends=True) for path in shards]
        assert all(part[0] == header for part in parts)
        assert [len(part) - 1 for part in parts] == [
            len(rows[i::count]) for i in range(count)
        ]  # sizes differ by one row at most
        assert "".join(parts[i % count][1 + i // count] for i in range(len(rows))) == "".join(rows)

        scanned = _trainer_scan(default_project, shards)
        assert _described(sharded / "stats.json", split) == scanned
        # One file sums the same values in other blocks: the same numbers, to rounding.
        one_file = _described(single / "stats.json", split)
        for key in ("mean", "variance"):
            assert one_file.pop(key) == pytest.approx(scanned.pop(key), rel=1e-12), key
        assert one_file == scanned
    names = [f["name"] for f in json.loads((sharded / "stats.json").read_text())["train"]["files"]]
    assert names == [f"train-{i:05d}-of-00004.csv" for i in range(4)]


def test_a_new_layout_replaces_the_old_files(default_project, tmp_path):
    out = tmp_path / "out"
    for flags in (["--shards", "4"], ["--shards", "2"], []):
        _prepare(default_project, out, SAMPLE / "penguins.csv", *flags)
    assert sorted(p.name for p in out.iterdir()) == [
        "eval.csv",
        "instances.json",
        "stats.json",
        "train.csv",
    ]
    _prepare(default_project, out, SAMPLE / "penguins.csv", "--shards", "2")
    assert sorted(p.name for p in out.glob("train*")) == [
        "train-00000-of-00002.csv",
        "train-00001-of-00002.csv",
    ]


def _contents(directory: Path) -> dict[str, bytes]:
    """The files of `directory`, hidden ones apart."""
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--label", "price"],
            "error: --label price: the project's schema (trainer/features.py) reads the label "
            "'species'; apply the proposal of `make schema RAW_DATA={houses} LABEL=price` first",
        ),
        (
            [],
            "error: {houses}: the label column 'species' is not in the header (listing_id, "
            "listing_date, city, agent_id, rooms, notes, area_m2, price); apply the schema that "
            "`make schema RAW_DATA={houses}` proposes for this file (copier update), or rename "
            "the columns as trainer/features.py declares them",
        ),
    ],
    ids=["another-label", "other-columns"],
)
def test_data_the_schema_does_not_read_is_refused_and_the_split_stays(
    default_project, tmp_path, flags, message
):
    """Before, it replaced the split and deleted the stats file, and exited 0."""
    out = tmp_path / "out"
    _prepare(default_project, out, SAMPLE / "penguins.csv")
    before = _contents(out)
    houses = write_houses(tmp_path / "houses.csv")
    result = _prepare(default_project, out, houses, *flags, check=False)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(message.format(houses=houses))
    assert _contents(out) == before


def test_the_instances_are_eval_penguins_of_each_species_in_order(default_project):
    with (SAMPLE / "eval.csv").open() as f:
        eval_rows = list(csv.DictReader(f))
    species = []
    for line in (default_project / "data/instances.json").read_text().splitlines():
        instance = json.loads(line)
        matches = [
            row["species"]
            for row in eval_rows
            if all(
                float(row[k]) == v if isinstance(v, float) else row[k] == v
                for k, v in instance.items()
            )
        ]
        assert len(matches) == 1, instance
        species += matches
    assert species == ["Adelie", "Gentoo", "Chinstrap"]


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.2, 0.0), (0.7, 0.15, 0.15), (0.5, 0.25, 0.25)], ids=str
)
def test_fractions_hold_on_the_sample_within_three_standard_deviations(
    default_project, tmp_path, fractions
):
    flags = [f"--{name}-fraction={value}" for name, value in zip(SPLITS, fractions, strict=True)]
    out = tmp_path / "out"
    _prepare(default_project, out, SAMPLE / "penguins.csv", *flags)
    total = len(_rows(SAMPLE / "penguins.csv"))
    for name, fraction in zip(SPLITS, fractions, strict=True):
        path = out / f"{name}.csv"
        if fraction == 0:
            assert not path.exists()
            continue
        n = len(_rows(path))
        sigma = math.sqrt(total * fraction * (1 - fraction))
        assert abs(n - total * fraction) <= 3 * sigma, (name, n, total * fraction)


def test_appending_rows_never_moves_an_old_row(default_project, tmp_path):
    header, *rows = (SAMPLE / "penguins.csv").read_text().splitlines()
    first = tmp_path / "first.csv"
    first.write_text("\n".join([header, *rows[:200]]) + "\n")
    fractions = ("--train-fraction=0.6", "--eval-fraction=0.2", "--test-fraction=0.2")
    before, after = tmp_path / "before", tmp_path / "after"
    _prepare(default_project, before, first, *fractions)
    _prepare(default_project, after, SAMPLE / "penguins.csv", *fractions)
    for name in ("train", "eval", "test"):
        old, new = _rows(before / f"{name}.csv"), _rows(after / f"{name}.csv")
        assert new[: len(old)] == old, name  # the old rows, in order, then the appended ones
    moved = sum(len(_rows(after / f"{s}.csv")) - len(_rows(before / f"{s}.csv")) for s in SPLITS)
    assert moved == len(rows) - 200


def test_a_key_column_keeps_a_row_in_place_when_its_other_values_change(tmp_path):
    houses = write_houses(tmp_path / "houses.csv", n=120, missing_rooms="NULL")
    by_key = {}
    for variant in ("original", "edited"):
        if variant == "edited":
            text = houses.read_text().replace("has, a comma", "edited")
            houses.write_text(text)
        out = tmp_path / variant
        assert cli.main(["split", str(houses), "--key", "listing_id", "--out-dir", str(out)]) == 0
        by_key[variant] = {
            line.split(",")[0]: split
            for split in ("train", "eval")
            for line in _rows(out / f"{split}.csv")
        }
    assert by_key["original"] == by_key["edited"]
    assert len(by_key["original"]) == 120


# ------------------------------------------------------------------------------------ schema


# The project's settings that the proposal reads: max_vocabulary at its default.
PROJECT = Schema(
    label="species",
    task_type="classification",
    numeric=("body_mass_g",),
    max_vocabulary=copier_config()["max_vocabulary"]["default"],
)


def test_the_proposal_for_the_sample_is_the_default_answers():
    proposal = propose_schema(describe(SAMPLE / "penguins.csv"), "species", PROJECT)
    config = copier_config()
    assert proposal.answers() == {key: config[key]["default"] for key in proposal.answers()}
    assert list(proposal.left_out) == ["year"]


def test_the_proposal_for_a_regression_skips_unused_columns(tmp_path):
    description = describe(write_houses(tmp_path / "houses.csv", missing_rooms="NULL"))
    proposal = propose_schema(description, "price", PROJECT)
    assert proposal.task_type == "regression"
    # listing_date's name says a date, and its values are ISO 8601: a datetime feature. An
    # agent has many listings: agent_id is a category, whose 40 values a max_vocabulary of 10
    # hashes; a listing has one row: listing_id names rows.
    assert proposal.features == {
        "numeric": ["rooms", "area_m2"],
        "datetime": ["listing_date"],
        "categorical": ["city", "agent_id"],
    }
    assert proposal.left_out == {
        "listing_id": "an identifier, a different value in every row",
        "notes": "a single value in every row",
    }
    assert proposal.notes == {}
    small = propose_schema(description, "price", dataclasses.replace(PROJECT, max_vocabulary=10))
    assert small.notes == {
        "agent_id": "40 distinct values, more than max_vocabulary 10: hashed into the trainer's "
        "--hash-bins bins, not looked up in a vocabulary"
    }
    assert yaml.safe_load(proposal.answers_yaml()) == proposal.answers()


@pytest.fixture(scope="module")
def committed_project(template, tmp_path_factory) -> Path:
    """A fresh default project, committed, as `copier update` needs it, with its .venv (the test
    venv, linked there and kept out of git) installed as `make install` leaves it."""
    project = render(template, tmp_path_factory.mktemp("update") / "project")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    run([*git, "add", "-A"], cwd=project)
    run([*git, "commit", "-qm", "generated"], cwd=project)
    (project / ".venv").symlink_to(VENV_BIN.parent)
    with (project / ".git/info/exclude").open("a") as f:
        f.write(".venv\n")
    return project


def test_the_copier_line_of_make_schema_runs_as_printed_and_training_follows(
    committed_project, tmp_path
):
    houses = write_houses(tmp_path / "houses.csv", missing_rooms="NULL")
    python = str(VENV_BIN / "python")
    result = run(
        ["make", "--silent", "schema", f"RAW_DATA={houses}", "LABEL=price"], cwd=committed_project
    )
    assert "Commit your work first" in result.stdout
    [line] = [x.strip() for x in result.stdout.splitlines() if " update --trust" in x]
    assert shlex.split(line)[0] == ".venv/bin/copier"  # copier is not on PATH: only in .venv
    # Exactly as printed, through the shell, on a PATH without any virtualenv.
    run(line, cwd=committed_project, env={"PATH": "/usr/bin:/bin"})

    features = (committed_project / "trainer/features.py").read_text()
    assert 'label="price"' in features
    assert 'task_type="regression"' in features
    answers = yaml.safe_load((committed_project / ".copier-answers.yml").read_text())
    assert answers["numeric_features"] == ["rooms", "area_m2"]
    assert answers["datetime_features"] == ["listing_date"]
    assert answers["categorical_features"] == ["city", "agent_id"]

    split = tmp_path / "split"
    run(
        [
            python,
            "-m",
            "workflow.data",
            "prepare",
            str(houses),
            "--key",
            "listing_id",
            "--out-dir",
            str(split),
        ],
        cwd=committed_project,
    )
    job_dir = tmp_path / "job"
    result = run(
        [
            python,
            "-m",
            "trainer.task",
            "--train-files",
            str(split / "train.csv"),
            "--eval-files",
            str(split / "eval.csv"),
            "--job-dir",
            str(job_dir),
            "--num-epochs",
            "3",
        ],
        cwd=committed_project,
    )
    metrics = json.loads((job_dir / "metrics.json").read_text())
    assert "rmse" in metrics


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "missing.csv: no such file"),
        (
            "Adelie,Torgersen,39.1,18.7,181,3750,male,2007\n",
            [],
            "the first line looks like data, not a header of column names ('39.1' is not a "
            "column name); add a header row",
        ),
        (
            "kind,island\nAdelie,Dream\n",
            [],
            "the label column 'species' is not in the header (kind, island)",
        ),
        (
            "species,island\nAdelie,Dream\n",
            ["--eval-fraction=0.3"],
            "the split fractions sum to 1.1",
        ),
        (f"{PENGUIN}\n{ADELIE}\nGentoo\n", [], "line 3: 1 fields, but the header has 8"),
        (
            f"{PENGUIN}\n{ADELIE}\n{ADELIE},male\n",
            [],
            "line 3: 9 fields, but the header has 8",
        ),
    ],
    ids=["missing-file", "no-header", "no-label", "bad-fractions", "short-row", "long-row"],
)
def test_bad_input_is_one_error_and_writes_nothing(
    default_project, tmp_path, content, args, message
):
    source = tmp_path / "missing.csv"
    if content is not None:
        source.write_text(content)
    out = tmp_path / "out"
    result = _prepare(default_project, out, source, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------- refusals and interruptions lose nothing


@pytest.fixture(scope="module")
def prepared(template, tmp_path_factory) -> Path:
    """A default project whose data/ holds the sample's split, instances and stats file, as
    `make prepare` left them."""
    project = render(template, tmp_path_factory.mktemp("prepared") / "project")
    run(["make", "--silent", "prepare", MAKE_VENV], cwd=project)
    assert (project / "data/stats.json").is_file()
    return project


def _sample(edit) -> str:
    header, *rows = (SAMPLE / "penguins.csv").read_text().splitlines()
    return "\n".join(edit(header, rows)) + "\n"


def _with_text_in_line_5(header: str, rows: list[str]) -> list[str]:
    fields = rows[3].split(",")
    fields[2] = "about 40"  # bill_length_mm
    return [header, *rows[:3], ",".join(fields), *rows[4:]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda header, rows: [header],
            "error: {raw}, line 1: a header and no data rows after it; add the rows to prepare",
        ),
        (
            lambda header, rows: [
                header.replace("island", "race group").replace("sex", "se-x"),
                *rows,
            ],
            "error: {raw}: declared column(s) island, sex missing from the header (species, race "
            "group, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, se-x, year); "
            "'se-x' is not a usable column name: rename it sex; apply the schema that `make "
            "schema RAW_DATA={raw}` proposes for this file (copier update), or rename the "
            "columns as trainer/features.py declares them",
        ),
        (
            _with_text_in_line_5,
            "error: {raw}, line 5: column 'bill_length_mm' has the value 'about 40', but the "
            "project's schema reads 'bill_length_mm' as a number; correct the value (NA if it is "
            "missing), or apply the schema `make schema` proposes for this file",
        ),
        (
            lambda header, rows: [header, *(row for row in rows if row.startswith("Adelie,"))],
            "error: {raw}: the label 'species' has a single class ('Adelie') in all 152 labelled "
            "rows: a classifier needs at least two; choose another label (make schema "
            "LABEL=...), or add rows of the other classes",
        ),
    ],
    ids=["header-only", "unusable-names", "text-in-a-number", "one-class"],
)
def test_make_prepare_refuses_with_one_line_and_leaves_data_as_it_was(prepared, edit, message):
    """Each of these replaced the split, emptied or left stale instances, deleted the stats file
    and exited 0."""
    raw = prepared / "raw.csv"
    raw.write_text(_sample(edit))
    before = _contents(prepared / "data")
    result = run(
        ["make", "--silent", "prepare", MAKE_VENV, f"RAW_DATA={raw}"], cwd=prepared, check=False
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error == message.format(raw=raw)
    assert _contents(prepared / "data") == before
    assert [p.name for p in (prepared / "data").iterdir() if p.name.startswith(".")] == []


def test_make_prepare_refuses_an_invalid_setting_with_one_line_and_leaves_data_as_it_was(
    prepared,
):
    """config/data.yaml is the team's: a value that is not valid is named before anything is
    read or written."""
    config = prepared / "config/data.yaml"
    original = config.read_text()
    before = _contents(prepared / "data")
    config.write_text(original.replace("train_fraction: 0.8", "train_fraction: most"))
    try:
        result = run(["make", "--silent", "prepare", MAKE_VENV], cwd=prepared, check=False)
    finally:
        config.write_text(original)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error == (
        "error: config/data.yaml: 'split.train_fraction' must be a number from 0 to 1, not \"most\""
    )
    assert _contents(prepared / "data") == before


def _open_for_writing(fifo: Path, reader: subprocess.Popen) -> int:
    """The writing end of a named pipe, once `reader` has opened the other end."""
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if err.errno != errno.ENXIO or reader.poll() is not None:
                pytest.fail(f"prepare did not open {fifo}: {reader.communicate()}")
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return fd


def test_a_prepare_killed_mid_write_leaves_data_as_it_was(prepared, tmp_path):
    """The raw data come through a named pipe that stays open, so that prepare is surely in the
    middle of writing when it is killed: the files already in data/ stay as they were, its
    temporary files match none of the globs that read data/, and the next prepare removes them."""
    data_dir = prepared / "data"
    before = _contents(data_dir)
    fifo = tmp_path / "raw.csv"
    os.mkfifo(fifo)
    prepare = [PYTHON, "-m", "workflow.data", "prepare"]
    flags = ["--out-dir", "data", "--instances", "data/instances.json"]
    process = subprocess.Popen(
        [*prepare, str(fifo), *flags, "--shards", "3"],
        cwd=prepared,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    header, *rows = (SAMPLE / "penguins.csv").read_text().splitlines()
    fd = _open_for_writing(fifo, process)
    with os.fdopen(fd, "w") as pipe:
        pipe.write("\n".join([header, *rows * 100]) + "\n")  # 34,400 rows, ~1.5 MB
        pipe.flush()

        def temporary() -> list[Path]:
            return [p for p in data_dir.iterdir() if p.name.startswith(".")]

        deadline = time.monotonic() + 300  # against a hang, not a measure
        while not any(p.stat().st_size for p in temporary()):  # rows in them, not yet complete
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "prepare wrote no rows"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
    left = temporary()
    assert left
    assert _contents(data_dir) == before

    globs = run(
        ["make", "--dry-run", "train", "stage-data", MAKE_VENV], cwd=prepared, check=True
    ).stdout
    assert "data/train.csv" in globs
    assert not any(p.name in globs for p in left), globs

    run([*prepare, "data/penguins.csv", *flags], cwd=prepared)
    assert temporary() == []
    assert _contents(data_dir) == before  # the sample again: the same files
