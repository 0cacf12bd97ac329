"""Data in shards: the files of a split that `make prepare SHARDS=N` writes, and what the cloud
scripts make of them.

A split in N shards is N files, train-00000-of-0000N.csv to train-0000{N-1}-of-0000N.csv, which
its rows fill in turn, so that their sizes differ by one row at most. With at least as many
training files as machines, each machine of a cluster reads only its own files; with fewer,
each reads them all (trainer/inputs.py). The split itself does not depend on N: a row's split is
its hash's (workflow/data.py), and the shards only divide each split's rows.

The cloud scripts train on what `make stage-data` uploaded, beside data/: the staged shards when
data/ holds shards, and the staged stats file when data/stats.json describes that data.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SHARD = re.compile(r"(?P<split>[a-z]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.csv")
# Where `make prepare` writes and `make stage-data` uploads from, as the Makefile's DATA_DIR.
DATA_DIR = "data"
MAX_SHARDS = 99_999  # five digits in the names


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.csv"


def split_paths(out_dir: Path, split: str, shards: int = 1) -> list[Path]:
    """The files a split is written to: out_dir/<split>.csv, or its `shards` shards."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"the number of shards must be from 1 to {MAX_SHARDS}, not {shards}")
    if shards == 1:
        return [out_dir / f"{split}.csv"]
    return [out_dir / shard_name(split, i, shards) for i in range(shards)]


def local_files(out_dir: Path, split: str) -> list[Path]:
    """The files of a split in `out_dir`: every shard of it, in order, or else <split>.csv."""
    shards = sorted(p for p in out_dir.glob(f"{split}-*-of-*.csv") if SHARD.fullmatch(p.name))
    single = out_dir / f"{split}.csv"
    return shards or ([single] if single.exists() else [])


def stale_files(out_dir: Path, split: str, written: list[Path]) -> list[Path]:
    """The split's files in `out_dir` that another layout left (<split>.csv, or shards of
    another count): the split just `written` replaces them."""
    keep = set(written)
    candidates = [out_dir / f"{split}.csv", *out_dir.glob(f"{split}-*-of-*.csv")]
    return [
        p
        for p in candidates
        if p not in keep and p.exists() and (p.name == f"{split}.csv" or SHARD.fullmatch(p.name))
    ]


def describe_paths(paths: list[Path]) -> str:
    """'data/train.csv', or 'data/train-00000-of-00004.csv ... data/train-00003-of-00004.csv'."""
    return str(paths[0]) if len(paths) == 1 else f"{paths[0]} ... {paths[-1]}"


def as_patterns(uris: list[str]) -> list[str]:
    """The URIs with each complete set of shards as one pattern: gs://b/data/train-*-of-00004.csv
    for its 4 shards. Other URIs stay as they are."""
    out: list[str] = []
    groups: dict[tuple[str, str, str], list[int]] = {}
    for uri in uris:
        folder, _, name = uri.rpartition("/")
        match = SHARD.fullmatch(name)
        if match:
            groups.setdefault((folder, match["split"], match["count"]), []).append(
                int(match["index"])
            )
    for uri in uris:
        folder, _, name = uri.rpartition("/")
        match = SHARD.fullmatch(name)
        if not match:
            out.append(uri)
            continue
        key = (folder, match["split"], match["count"])
        if sorted(groups[key]) != list(range(int(match["count"]))):
            out.append(uri)  # an incomplete set: each shard by its name
        elif int(match["index"]) == min(groups[key]):
            out.append(f"{folder}/{match['split']}-*-of-{match['count']}.csv")
    return out


# ------------------------------------------------------------------------------- the cloud jobs


def _staged_pattern(bucket: str, files: list[Path], split: str) -> str:
    """The gs:// URI (a pattern, for shards) of the files `make stage-data` uploaded."""
    if len(files) > 1:
        count = SHARD.fullmatch(files[0].name)["count"]
        return f"gs://{bucket}/{DATA_DIR}/{split}-*-of-{count}.csv"
    return f"gs://{bucket}/{DATA_DIR}/{split}.csv"


def _stats_problem(
    root: Path, stats_path: Path, described_files: dict[str, list[Path]]
) -> str | None:
    """Why data/stats.json does not describe the data beside it, or None when it does (by name,
    schema and size: the job checks the content, and `make stage-data` the whole checksums)."""
    from trainer.features import SCHEMA  # noqa: PLC0415 -- the project's schema, rendered
    from trainer.stats import DataError, StatsFile  # noqa: PLC0415 -- numpy: not for data.py

    try:
        stats_file = StatsFile.from_json((root / stats_path).read_text(), str(stats_path))
        stats_file.check_schema(SCHEMA, str(stats_path))
    except DataError as err:
        return str(err)
    for split, files in described_files.items():
        described = stats_file.train if split == "train" else stats_file.eval
        sizes = {path.name: (root / path).stat().st_size for path in files}
        if {f.name: f.size for f in described.files} != sizes:
            return (
                f"it does not describe {describe_paths(files)}; "
                "run `make prepare` and `make stage-data` again"
            )
    return None


def cloud_data(
    root: Path, settings, pools: list[dict], args: argparse.Namespace
) -> tuple[list[str], list[str], list[str]]:
    """The job's training files, evaluation files and trainer arguments.

    Files given on the command line or in config/cloud.yaml win. Otherwise the job reads what
    `make stage-data` uploaded from data/: its shards when there are, and `--stats-file` names
    the staged stats file when data/stats.json describes those training files. A warning goes
    to stderr when the tier has more machines than the job has training files.
    """
    from trainer.stats import STATS_FILE_NAME  # noqa: PLC0415

    uris: dict[str, list[str]] = {}
    staged: dict[str, list[Path]] = {}  # split -> the local files whose staged copies it reads
    for split, chosen, configured in (
        ("train", args.train_files, settings.train_files),
        ("eval", args.eval_files, settings.eval_files),
    ):
        local = [path.relative_to(root) for path in local_files(root / DATA_DIR, split)]
        default = (f"gs://{settings.bucket}/{DATA_DIR}/{split}.csv",)
        if chosen or tuple(configured) != default or not local:
            uris[split] = list(chosen or configured)
        else:
            uris[split] = [_staged_pattern(settings.bucket, local, split)]
            staged[split] = local

    trainer_args = list(args.trainer_args)
    stats_path = Path(DATA_DIR, STATS_FILE_NAME)
    given = any(arg.split("=", 1)[0] == "--stats-file" for arg in trainer_args)
    if "train" in staged and (root / stats_path).exists() and not given:
        problem = _stats_problem(root, stats_path, staged)
        if problem:
            print(f"warning: not passing {stats_path} to the job: {problem}", file=sys.stderr)
        else:
            trainer_args += ["--stats-file", f"gs://{settings.bucket}/{DATA_DIR}/{STATS_FILE_NAME}"]

    machines = sum(pool.get("replicaCount", 1) for pool in pools if pool)
    files = len(staged["train"]) if "train" in staged else _count(uris["train"])
    if files is not None and machines > files:
        print(
            f"warning: the tier runs {machines} machines on {files} training file(s): each "
            "machine then reads every training row. Split the data so that each reads only "
            f"its own: make prepare SHARDS={machines} && make stage-data",
            file=sys.stderr,
        )
    return uris["train"], uris["eval"], trainer_args


def _count(uris: list[str]) -> int | None:
    """The number of files that `uris` name, or None when a pattern makes it unknown here."""
    return None if any(set("*?[") & set(uri) for uri in uris) else len(uris)
