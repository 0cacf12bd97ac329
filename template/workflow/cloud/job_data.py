"""What a cloud job reads: its training and evaluation files, and the stats file it is given.

Files given on the command line or in config/cloud.yaml win. Otherwise the job reads what
`make stage-data` uploaded from data/ to the bucket's folder of the same name: the staged shards
when data/ holds shards, and the staged stats file (`--stats-file`) when data/stats.json
describes those very training files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trainer.csv_reader import DataError
from trainer.features import SCHEMA
from trainer.stats import STATS_FILE_NAME, StatsFile
from workflow.bigquery import MANIFEST_NAME
from workflow.cloud.settings import CloudSettings, staged_uri
from workflow.shards import DATA_DIR, SHARD, describe_paths, local_files


@dataclass(frozen=True)
class JobData:
    train_files: list[str]
    eval_files: list[str]
    # The run's trainer arguments, with `--stats-file` added when the staged one fits.
    trainer_args: list[str]


def choose(
    root: Path,
    settings: CloudSettings,
    pools: list[dict],
    *,
    train_files: Sequence[str] | None = None,
    eval_files: Sequence[str] | None = None,
    trainer_args: Sequence[str] = (),
) -> JobData:
    """The job's data: `train_files` and `eval_files` (the command line's) when given, else
    config/cloud.yaml's, else what the last `make prepare` wrote: the files BigQuery exported
    (data/bigquery.json), or the staged data/. A warning goes to stderr when the tier has more
    machines than the job has training files."""
    uris: dict[str, list[str]] = {}
    counts: dict[str, int | None] = {}  # split -> its files, when known
    staged: dict[str, list[Path]] = {}  # split -> the local files whose staged copies it reads
    exported = _exported(root)
    read_exported = set()  # the splits whose exported files the job reads
    for split, chosen, configured in (
        ("train", train_files, settings.train_files),
        ("eval", eval_files, settings.eval_files),
    ):
        local = [path.relative_to(root) for path in local_files(root / DATA_DIR, split)]
        default = (staged_uri(settings.bucket, f"{split}.csv"),)
        if not chosen and tuple(configured) == default and split in exported.get("splits", {}):
            uris[split] = [f"{exported['prefix']}{split}-*.csv"]
            counts[split] = len(exported["splits"][split]["files"])
            read_exported.add(split)
        elif local and not chosen and tuple(configured) == default:
            uris[split] = [_staged_pattern(settings.bucket, local, split)]
            staged[split] = local
            counts[split] = len(local)
        else:
            uris[split] = list(chosen or configured)
            counts[split] = _count(uris[split])
    _warn_of_idle_reading(pools, counts["train"])
    if "train" in read_exported:  # BigQuery's stats file describes the exported files
        given = any(arg.split("=", 1)[0] == "--stats-file" for arg in trainer_args)
        stats_file = exported.get("stats")
        stats = ["--stats-file", stats_file] if stats_file and not given else []
    else:
        stats = stats_args(root, settings.bucket, staged, trainer_args)
    return JobData(uris["train"], uris["eval"], [*trainer_args, *stats])


def stats_args(
    root: Path, bucket: str, staged: dict[str, list[Path]], trainer_args: Sequence[str] = ()
) -> list[str]:
    """`--stats-file` and the staged stats file, when the job reads the staged training files
    and data/stats.json describes them, and `trainer_args` do not name a stats file already.
    A stats file that does not fit is left out, with a warning."""
    stats_path = Path(DATA_DIR, STATS_FILE_NAME)
    given = any(arg.split("=", 1)[0] == "--stats-file" for arg in trainer_args)
    if "train" not in staged or not (root / stats_path).exists() or given:
        return []
    problem = _stats_problem(root, stats_path, staged)
    if problem:
        print(f"warning: not passing {stats_path} to the job: {problem}", file=sys.stderr)
        return []
    return ["--stats-file", staged_uri(bucket, STATS_FILE_NAME)]


def _staged_pattern(bucket: str, files: list[Path], split: str) -> str:
    """The gs:// URI (a pattern, for shards) of the files `make stage-data` uploaded."""
    if len(files) > 1:
        count = SHARD.fullmatch(files[0].name)["count"]
        return staged_uri(bucket, f"{split}-*-of-{count}.csv")
    return staged_uri(bucket, f"{split}.csv")


def _stats_problem(
    root: Path, stats_path: Path, described_files: dict[str, list[Path]]
) -> str | None:
    """Why data/stats.json does not describe the data beside it, or None when it does (by name,
    schema and size: the job checks the content, and `make stage-data` the whole checksums)."""
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


def _exported(root: Path) -> dict:
    """What the last prepare in BigQuery wrote (data/bigquery.json): its folder, the files of
    each split and its stats file; {} when the last prepare ran here."""
    path = root / DATA_DIR / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
        valid = isinstance(manifest["prefix"], str) and all(
            isinstance(written["files"], list) for written in manifest["splits"].values()
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise DataError(f"{path.relative_to(root)} is not what `make prepare` writes; run it again")
    return manifest


def _warn_of_idle_reading(pools: list[dict], files: int | None) -> None:
    """A warning when the tier runs more machines than the job has training files: each machine
    then reads every row."""
    machines = sum(pool.get("replicaCount", 1) for pool in pools if pool)
    if files is not None and machines > files:
        print(
            f"warning: the tier runs {machines} machines on {files} training file(s): each "
            "machine then reads every training row. Split the data so that each reads only "
            f"its own: make prepare SHARDS={machines} && make stage-data",
            file=sys.stderr,
        )


def _count(uris: list[str]) -> int | None:
    """The number of files that `uris` name, or None when a pattern makes it unknown here."""
    return None if any(set("*?[") & set(uri) for uri in uris) else len(uris)
